"""Process-local counters and gauges, rendered in Prometheus' text format."""

from __future__ import annotations

import threading
from collections.abc import Iterator


class Counter:
    """A monotonically increasing number, optionally split by one label."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, label: str | None = None) -> None:
        self.name, self.help, self.label = name, help_text, label
        self._values: dict[str, float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1, *, _key: str = "") -> None:
        with self._lock:
            self._values[_key] = self._values.get(_key, 0) + amount

    def labels(self, value: str) -> _Bound:
        return _Bound(self, value)

    def value(self, label: str = "") -> float:
        return self._values.get(label, 0)

    def samples(self) -> Iterator[tuple[str, float]]:
        if not self._values and self.label is None:
            yield self.name, 0
        for key, value in sorted(self._values.items()):
            if self.label is None:
                yield self.name, value
            else:
                escaped = key.replace("\\", "\\\\").replace('"', '\\"')
                yield f'{self.name}{{{self.label}="{escaped}"}}', value


class _Bound:
    def __init__(self, counter: Counter, key: str) -> None:
        self.counter, self.key = counter, key

    def inc(self, amount: float = 1) -> None:
        self.counter.inc(amount, _key=self.key)


class Gauge(Counter):
    """A number that goes up and down."""

    kind = "gauge"

    def set(self, value: float) -> None:
        with self._lock:
            self._values[""] = value

    def dec(self, amount: float = 1) -> None:
        self.inc(-amount)


CONNECTIONS = Gauge("reactive_connections", "Open WebSocket connections.")
LIVE_INSTANCES = Gauge("reactive_live_query_instances", "Live query instances (shared by subscribers).")
QUERY_RUNS = Counter("reactive_query_runs_total", "Query runs, by function.", label="function")
INVALIDATIONS = Counter("reactive_invalidations_total", "Query instances invalidated by commits.")
TRANSITIONS = Counter("reactive_transitions_total", "Transition messages sent.")
MESSAGES_SENT = Counter("reactive_messages_sent_total", "WebSocket messages sent.")
BYTES_SENT = Counter("reactive_bytes_sent_total", "Bytes of WebSocket messages sent.")
MUTATIONS = Counter("reactive_mutations_total", "Mutation requests handled, by function.", label="function")
INBOUND_BYTES = Gauge("reactive_inbound_bytes", "Bytes of WebSocket messages received and not yet handled.")
INBOUND_PAUSES = Counter("reactive_inbound_pauses_total", "Times a socket stopped being read: its input was full.")

ALL = [
    CONNECTIONS,
    LIVE_INSTANCES,
    QUERY_RUNS,
    INVALIDATIONS,
    TRANSITIONS,
    MESSAGES_SENT,
    BYTES_SENT,
    MUTATIONS,
    INBOUND_BYTES,
    INBOUND_PAUSES,
]


def render() -> str:
    """Every metric in Prometheus text exposition format."""
    lines = []
    for metric in ALL:
        lines.append(f"# HELP {metric.name} {metric.help}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for name, value in metric.samples():
            lines.append(f"{name} {value:g}")
    return "\n".join(lines) + "\n"
