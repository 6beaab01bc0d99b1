"""The numbers of a run: percentiles and latency summaries, counter deltas, the RSS trend, ratios against a
reference run, and the summary of a chat run from what its clients, writer and servers reported."""

from __future__ import annotations

import math
from typing import Any

from .systems import Options, System


def percentile(sorted_values: list[float], p: float) -> float:
    """The ``p``-th percentile of ascending ``sorted_values``, interpolated linearly; NaN if there are none."""
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * p / 100.0
    low, high = math.floor(k), math.ceil(k)
    if low == high:
        return sorted_values[int(k)]
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (k - low)


def latency_stats(latencies_ms: list[float]) -> dict[str, Any]:
    """Count, p50/p95/p99, max and mean of ``latencies_ms``, and at most about 2,000 of them for the CDF plot."""
    values = sorted(latencies_ms)
    step = max(1, len(values) // 2000)
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": values[-1] if values else math.nan,
        "mean": sum(values) / len(values) if values else math.nan,
        "cdf": values[::step] + ([values[-1]] if values and (len(values) - 1) % step else []),
    }


def delta(after: dict[str, float], before: dict[str, float], name: str) -> float:
    """How much the server counter ``name`` grew between two metrics readings."""
    return after.get(name, 0.0) - before.get(name, 0.0)


def rss_slope_mb_per_min(series: list[tuple[float, int]]) -> float:
    """Least-squares slope of RSS (bytes) over time (seconds), in MB per minute; NaN under two points."""
    slope = math.nan
    if len(series) >= 2:
        mean_t = sum(t for t, _ in series) / len(series)
        mean_r = sum(r for _, r in series) / len(series)
        var = sum((t - mean_t) ** 2 for t, _ in series)
        if var:
            slope = sum((t - mean_t) * (r - mean_r) for t, r in series) / var * 60 / 2**20
    return slope


def ratios(result: dict[str, Any], reference: dict[str, Any]) -> dict[str, float]:
    """A hostile phase's round-trip percentiles and RSS against the quiet run's."""
    out = {
        f"{key}_ratio": result["round_trip_ms"][key] / reference["round_trip_ms"][key] for key in ("p50", "p99", "max")
    }
    out["rss_peak_ratio"] = result["rss_peak_mb"] / reference["rss_peak_mb"]
    out["rss_end_ratio"] = result["rss_end_mb"] / reference["rss_end_mb"]
    return out


def summarise_chat(
    system: System,
    o: Options,
    client_results: list[dict[str, Any]],
    writes: dict[str, Any],
    commits: dict[str, list[float]],
    metrics_before: dict[str, float],
    metrics_after: dict[str, float],
    cpu_seconds: float,
    rss_before: int,
    rss_connected: int,
    rss_peak: int,
    ready: int,
) -> dict[str, Any]:
    """A chat run's numbers: each delivery matched to its message's commit time, counts, bytes, CPU, RSS."""
    window_start = writes["started"]
    # Messages the writer committed in the window, and how many ready clients watch each channel.
    in_window = {
        int(pk): (t, int(ch)) for pk, (t, ch) in commits.items() if ch is not None and t >= window_start - 0.001
    }
    watchers: dict[int, int] = {}
    latencies: list[float] = []
    delivered = 0
    for res in client_results:
        for client in res["per_client"]:
            watchers[client["channel"]] = watchers.get(client["channel"], 0) + 1
            for pk, received in client["deliveries"]:
                commit = in_window.get(pk)
                if commit is not None:
                    delivered += 1
                    latencies.append((received - commit[0]) * 1000.0)
    # Only clients that became ready count as watchers (a failed connection watches nothing).
    not_ready = sum(r["clients"] - r["ready"] for r in client_results)
    expected = sum(watchers.get(ch, 0) for _t, ch in in_window.values())
    mutations = len(in_window)
    elapsed = max(writes["finished"] - writes["started"], 1e-9)
    wire_bytes = sum(r["bytes"] for r in client_results)
    items = sum(r["items"] for r in client_results)
    item_bytes = sum(r["item_bytes"] for r in client_results)
    runs_messages = delta(metrics_after, metrics_before, 'reactive_query_runs_total{function="messages:list"}')
    runs_all = sum(
        delta(metrics_after, metrics_before, name)
        for name in metrics_after
        if name.startswith("reactive_query_runs_total")
    )
    invalidations = delta(metrics_after, metrics_before, "reactive_invalidations_total")
    server_bytes = delta(metrics_after, metrics_before, "reactive_bytes_sent_total")
    transitions = delta(metrics_after, metrics_before, "reactive_transitions_total")
    writer_latency = sorted(x * 1000 for x in writes["latencies"])
    result: dict[str, Any] = {
        "system": system.name,
        "title": system.title,
        "processes": system.processes,
        "database": system.database,
        "clients": o.clients,
        "clients_ready": ready,
        "connect_failures": not_ready,
        "compressed_connections": sum(r["compressed"] for r in client_results),
        "rate_target": o.rate,
        "duration": o.duration,
        "mutations_sent": writes["sent"],
        "mutations_ok": writes["ok"],
        "mutations_failed": writes["failed"],
        "mutations_late": writes["late"],
        "mutations_unsent": writes.get("unsent", 0),
        "mutations_abandoned": writes.get("abandoned", 0),
        "mutations_committed": mutations,
        "mutations_per_s": writes["ok"] / elapsed,
        "mutation_response_ms": {
            "p50": percentile(writer_latency, 50),
            "p99": percentile(writer_latency, 99),
        },
        "latency_ms": latency_stats(latencies),
        "expected": expected,
        "delivered": delivered,
        "missing": expected - delivered,
        "violations": sum(r["violation_count"] for r in client_results),
        "violation_samples": [v for r in client_results for v in r["violations"]][:10],
        "wire_bytes_per_update": wire_bytes / delivered if delivered else math.nan,
        "new_item_json_bytes": item_bytes / items if items else math.nan,
        "polls": sum(r["polls"] for r in client_results),
        "poll_errors": sum(r["poll_errors"] for r in client_results),
        "cpu_seconds": cpu_seconds,
        "cpu_per_1k_updates": cpu_seconds / (delivered / 1000.0) if delivered else math.nan,
        "cpu_cores": cpu_seconds / (elapsed + o.drain),
        "rss_before_mb": rss_before / 2**20,
        "rss_connected_mb": rss_connected / 2**20,
        "rss_peak_mb": rss_peak / 2**20,
        "rss_per_connection_kb": (rss_peak - rss_before) / 1024 / max(ready, 1),
    }
    if system.reactive_metrics:
        result.update(
            {
                "reruns_per_mutation_messages": runs_messages / mutations if mutations else math.nan,
                "reruns_per_mutation_all": runs_all / mutations if mutations else math.nan,
                "invalidations_per_mutation": invalidations / mutations if mutations else math.nan,
                "server_bytes_per_update": server_bytes / delivered if delivered else math.nan,
                "transitions": transitions,
            }
        )
    if o.finals:
        result["finals"] = [
            {"channel": c["channel"], "ids": c["final_ids"]} for r in client_results for c in r["per_client"]
        ]
        result["per_client_counts"] = [
            {
                "channel": c["channel"],
                "received": sum(1 for pk, _t in c["deliveries"] if pk in in_window),
                "expected": sum(1 for _t, ch in in_window.values() if ch == c["channel"]),
            }
            for r in client_results
            for c in r["per_client"]
        ]
    return result
