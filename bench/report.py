"""The benchmark's outputs: a Markdown table, a JSON file and a PNG plot of the latency CDFs."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

# The targets (chat, 1,000 clients, 100 mutations/s, one process).
TARGET_P50_MS = 5.0
TARGET_P99_MS = 50.0
TARGET_BYTES_RATIO = 2.0
# Hostile load (the robustness issue): under every attack, the bystander's round trip and the server's memory.
TARGET_HOSTILE_P99_MS = 50.0
TARGET_HOSTILE_RSS_RATIO = 2.0


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _ratio(value: Any, reference: Any) -> str:
    try:
        if value is None or reference is None or math.isnan(value) or math.isnan(reference) or reference == 0:
            return "n/a"
    except TypeError:
        return "n/a"
    return f"{value / reference:.2f}x"


def markdown(results: dict[str, Any]) -> str:
    o = results["options"]
    runs = results["runs"]
    lines = [
        "# reactive benchmark",
        "",
        f"{results['started']}, commit {results.get('commit', '?')}, {results['machine']['cpus']} CPUs, "
        f"Python {results['machine']['python']}; {results['elapsed_seconds']:.0f} s in all. "
        + (
            "Each server process pinned to a core of its own, load generators on the others."
            if o.get("pin", False)
            else "Processes not pinned to CPUs (--no-pin)."
        ),
    ]
    if runs:
        lines += [
            "",
            f'Workload "chat": {o["clients"]:,} clients over {o["channels"]} channels (each subscribed to its '
            f"channel's `messages:list` and to `users:list`), `messages:send` at {o['rate']:g}/s to random channels "
            f"for {o['duration']:g} s; {o['messages']} messages per channel to start with. Latency: client receive "
            "time minus the commit time of the message (outbox `created_at`). An *update* is one new message "
            "reaching one subscribed client.",
            "",
            "| system | mut/s | p50 ms | p95 ms | p99 ms | max ms | delivered | re-runs/mut (messages) | "
            "invalidations/mut | wire B/update | server B/update | CPU s/1k updates | RSS KB/conn |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in runs:
            lat = r["latency_ms"]
            lines.append(
                f"| {r['title']} | {_num(r['mutations_per_s'])} | {_num(lat['p50'])} | {_num(lat['p95'])} | "
                f"{_num(lat['p99'])} | {_num(lat['max'])} | {r['delivered']:,}/{r['expected']:,} | "
                f"{_num(r.get('reruns_per_mutation_messages'), 2)} | {_num(r.get('invalidations_per_mutation'), 2)} | "
                f"{_num(r['wire_bytes_per_update'], 0)} | {_num(r.get('server_bytes_per_update'), 0)} | "
                f"{_num(r['cpu_per_1k_updates'], 3)} | {_num(r['rss_per_connection_kb'])} |"
            )
        reference = next((r for r in runs if r["system"] == "reactive"), None)
        if reference is not None:
            lines += [
                "",
                "Each system as a ratio to `reactive` (lower is better for all but mutations/s):",
                "",
                "| system | mut/s | p50 | p99 | wire B/update | CPU s/1k updates | RSS KB/conn |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
            for r in runs:
                if r is reference:
                    continue
                lines.append(
                    f"| {r['title']} | {_ratio(r['mutations_per_s'], reference['mutations_per_s'])} | "
                    f"{_ratio(r['latency_ms']['p50'], reference['latency_ms']['p50'])} | "
                    f"{_ratio(r['latency_ms']['p99'], reference['latency_ms']['p99'])} | "
                    f"{_ratio(r['wire_bytes_per_update'], reference['wire_bytes_per_update'])} | "
                    f"{_ratio(r['cpu_per_1k_updates'], reference['cpu_per_1k_updates'])} | "
                    f"{_ratio(r['rss_per_connection_kb'], reference['rss_per_connection_kb'])} |"
                )
            lines += ["", *targets(reference, results.get("idle"), o)]
        notes = []
        for r in runs:
            extra = []
            if r["missing"]:
                extra.append(f"{r['missing']:,} deliveries missing at the end of the drain")
            if r["violations"]:
                extra.append(f"{r['violations']} protocol violations, e.g. {r['violation_samples'][:2]}")
            if r["clients_ready"] < r["clients"]:
                extra.append(f"only {r['clients_ready']:,} of {r['clients']:,} clients connected")
            if r["mutations_failed"]:
                extra.append(f"{r['mutations_failed']} mutations failed")
            if r.get("mutations_unsent") or r.get("mutations_abandoned"):
                extra.append(
                    f"{r.get('mutations_unsent', 0)} mutations never sent and {r.get('mutations_abandoned', 0)} "
                    "unanswered by the deadline (duration + 10 s)"
                )
            if r["mutations_late"]:
                extra.append(f"{r['mutations_late']} mutations left >50 ms late (every writer connection busy)")
            if r["poll_errors"]:
                extra.append(f"{r['poll_errors']} failed polls")
            if r["compressed_connections"] == 0 and r["system"] != "polling":
                extra.append("no connection negotiated permessage-deflate")
            extra.append(
                f"server CPU {r['cpu_cores']:.2f} cores, peak RSS {r['rss_peak_mb']:.0f} MB, "
                f"mutation response p50 {_num(r['mutation_response_ms']['p50'])} ms"
            )
            if r.get("other_cpu_cores", 0) > 0.2:
                extra.append(
                    f"**other processes on the machine used {r['other_cpu_cores']:.2f} of its "
                    f"{results['machine']['cpus']} cores during this run** "
                    f"(machine {r.get('machine_busy_pct', 0):.0f}% busy)"
                )
            notes.append(f"- {r['title']}: " + "; ".join(extra) + ".")
        lines += ["", "Notes:", "", *notes]
    if results.get("hostile"):
        lines += ["", *hostile_markdown(results["hostile"])]
    idle = results.get("idle")
    if idle:
        lines += [
            "",
            "## Idle connections (PostgreSQL + Redis, 2 processes)",
            "",
            "| connections | connected in | RSS before | RSS connected | RSS after hold | growth during hold | "
            "slope | KB/conn | CPU while idle |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {idle['clients_ready']:,}/{idle['clients']:,} | {idle['connect_seconds']:.0f} s | "
            f"{idle['rss_before_mb']:.0f} MB | {idle['rss_start_mb']:.0f} MB | {idle['rss_end_mb']:.0f} MB "
            f"({idle['hold_seconds']:g} s) | {idle['rss_growth_during_hold_pct']:+.2f}% | "
            f"{idle['rss_slope_mb_per_min']:+.2f} MB/min | {idle['rss_per_connection_kb']:.1f} | "
            f"{idle['cpu_cores_idle']:.3f} cores |",
        ]
    for name, why in results.get("skipped", {}).items():
        lines.append(f"\nSkipped `{name}`: {why}")
    return "\n".join(lines) + "\n"


def targets(reference: dict[str, Any], idle: dict[str, Any] | None, o: dict[str, Any]) -> list[str]:
    """The issue's targets against this run's numbers (a quick run is smaller than the targets' workload)."""
    lat = reference["latency_ms"]
    ratio = reference["wire_bytes_per_update"] / reference["new_item_json_bytes"]
    scale = "" if o["clients"] >= 1000 and o["rate"] >= 100 else " (at this run's smaller load)"

    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    reruns = reference.get("reruns_per_mutation_messages", math.nan)
    invalidated = reference.get("invalidations_per_mutation", math.nan)
    exact = reruns <= 1.0 and reruns == invalidated and reference.get("reruns_per_mutation_all") == reruns

    rows = [
        "Targets (chat, one process):",
        "",
        f"- p50 <= {TARGET_P50_MS:g} ms{scale}: {lat['p50']:.1f} ms, {mark(lat['p50'] <= TARGET_P50_MS)}",
        f"- p99 <= {TARGET_P99_MS:g} ms{scale}: {lat['p99']:.1f} ms, {mark(lat['p99'] <= TARGET_P99_MS)}",
        f"- re-runs per mutation = distinct affected instances (1.0 for `messages:list`, less when a batch merges two "
        f"writes to one channel; `users:list` never): {_num(reruns, 3)} re-runs for {_num(invalidated, 3)} "
        f"invalidations per mutation, {_num(reference.get('reruns_per_mutation_all'), 3)} counting every query, "
        f"{mark(exact)}",
        f"- appending one message to a {o['messages']}-message list <= {TARGET_BYTES_RATIO:g}x the message's JSON on "
        f"the wire: {reference['wire_bytes_per_update']:.0f} B per update for a "
        f"{reference['new_item_json_bytes']:.0f} B message = {ratio:.2f}x, {mark(ratio <= TARGET_BYTES_RATIO)}",
    ]
    if idle:
        stable = abs(idle["rss_growth_during_hold_pct"]) < 2.0
        rows.append(
            f"- {idle['clients']:,} idle subscribed connections, 2 processes, stable memory: {idle['clients_ready']:,} "
            f"connected, RSS {idle['rss_growth_during_hold_pct']:+.2f}% over {idle['hold_seconds']:g} s, "
            f"{mark(stable and idle['clients_ready'] == idle['clients'])}"
        )
    return rows


def hostile_markdown(hostile: dict[str, Any]) -> list[str]:
    """The hostile-load table: the bystander's round trips and the server's RSS, quiet and under each attack."""
    quiet = hostile["quiet"]
    rows = [
        "## Hostile load",
        "",
        f"One `reactive` server (SQLite, in-memory layer, 1 process), fresh for each row. A bystander "
        f"(one sync-protocol session subscribed to its channel's `messages:list` and `users:list`) writes "
        f"`messages:send` to that channel {hostile['bystander_rate']:g} times a second, one at a time; a round trip "
        "is Mutation sent -> MutationResponse and the Transition holding the new message read. Each row: "
        f"{hostile['seconds']:g} s while one attacker runs (nothing for the quiet row). A round trip lost "
        f"(over {hostile['timeout_s']:g} s, or its connection closed) counts as {hostile['timeout_s']:g} s. "
        f"RSS: the server process, sampled every 0.25 s. Targets: p99 <= {TARGET_HOSTILE_P99_MS:g} ms and peak RSS "
        f"<= {TARGET_HOSTILE_RSS_RATIO:g}x the quiet run's under every attack.",
        "",
        "| attack | round trips done/scheduled (lost) | p50 ms | p99 ms | max ms | p50, p99 vs quiet | RSS before MB "
        "| RSS peak MB | RSS end MB | peak, end vs quiet | targets | what the attacker did |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in [quiet, *hostile["attacks"]]:
        lat = r["round_trip_ms"]
        is_quiet = r is quiet
        met = lat["p99"] <= TARGET_HOSTILE_P99_MS and (is_quiet or r["rss_peak_ratio"] <= TARGET_HOSTILE_RSS_RATIO)
        latency_ratios = "" if is_quiet else f"{_num(r['p50_ratio'], 2)}x, {_num(r['p99_ratio'], 2)}x"
        rss_ratios = "" if is_quiet else f"{_num(r['rss_peak_ratio'], 2)}x, {_num(r['rss_end_ratio'], 2)}x"
        rows.append(
            f"| {r['attack']} ({r['title']}) | {r['round_trips']:,}/{r['round_trips_expected']:,} ({r['lost']:,}) | "
            f"{_num(lat['p50'])} | {_num(lat['p99'])} | {_num(lat['max'])} | {latency_ratios} | "
            f"{r['rss_before_mb']:.0f} | {r['rss_peak_mb']:.0f} | {r['rss_end_mb']:.0f} | {rss_ratios} | "
            f"{'met' if met else 'NOT met'} | {attacker_summary(r)} |"
        )
    return rows


def attacker_summary(r: dict[str, Any]) -> str:
    """What one run's attacker achieved, and how the server answered, in a few words."""
    a = r.get("attacker")
    cores = f"server {r['cpu_cores']:.2f}, clients {r['client_cpu_cores']:.2f}, others {r['other_cpu_cores']:.2f}"
    parts = [f"CPU cores: {cores}"]
    if a is not None:
        sent = f"{a['connections']:,} sockets opened, {a['frames']:,} frames ({a['bytes'] / 2**20:,.0f} MiB) sent"
        parts.insert(0, sent)
        if a["open_now"]:
            parts.append(f"{a['open_now']:,} sockets open at the end")
        if a["failed_connects"]:
            parts.append(f"{a['failed_connects']:,} failed connects")
        if a["closes"]:
            closes = ", ".join(f"{code} x{count:,}" for code, count in sorted(a["closes"].items()))
            parts.append(f"closed by the server: {closes}")
        if a.get("error"):
            parts.append(f"attacker error {a['error']}")
    if r["metrics_answered"]:
        parts.append(f"{r['query_runs']:,.0f} query runs, {r['live_instances_end']:,.0f} live instances at the end")
    else:
        parts.append("/api/reactive/metrics did not answer at the end")
    if r.get("unfinished") and r["round_trips"] < 0.9 * r["round_trips_expected"]:
        parts.append("the last round trip was still running at the end (counted at its time so far)")
    if r["bystander_reconnects"]:
        parts.append(f"bystander reconnected {r['bystander_reconnects']} times")
    if r["bystander_violations"]:
        parts.append(f"**{r['bystander_violations']} protocol violations seen by the bystander**")
    return "; ".join(parts)


def plot(results: dict[str, Any], path: Path) -> bool:
    """Latency CDFs: of every chat system, or (a run with no chat system) of the bystander's round trips per attack."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    o = results["options"]
    if results["runs"]:
        series = [(r["title"], r["latency_ms"]) for r in results["runs"]]
        xlabel, ylabel = "commit-to-client latency (ms, log scale)", "fraction of delivered updates"
        title = f"chat: {o['clients']:,} clients, {o['rate']:g} mutations/s, {o['duration']:g} s"
    else:
        hostile = results["hostile"]
        series = [(r["attack"], r["round_trip_ms"]) for r in [hostile["quiet"], *hostile["attacks"]]]
        xlabel, ylabel = "bystander round trip (ms, log scale)", "fraction of round trips"
        title = f"hostile load: bystander at {hostile['bystander_rate']:g}/s, {hostile['seconds']:g} s per attack"
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for name, stats in series:
        cdf = stats["cdf"]
        if not cdf:
            continue
        ys = [(i + 1) / len(cdf) for i in range(len(cdf))]
        ax.plot([max(x, 0.01) for x in cdf], ys, label=f"{name} (p50 {stats['p50']:.1f} ms)")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def write(results: dict[str, Any], out: Path, label: str = "") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"bench{label}-{stamp}"
    md, js, png = out / f"{base}.md", out / f"{base}.json", out / f"{base}.png"
    md.write_text(markdown(results))
    js.write_text(json.dumps(results, indent=1, default=str))
    written = [md, js]
    if (results["runs"] or results.get("hostile")) and plot(results, png):
        written.append(png)
    for path in written:  # the latest run under a fixed name too
        latest = out / f"latest{label}{path.suffix}"
        latest.write_bytes(path.read_bytes())
    return written


def rerender(json_path: Path) -> Path:
    """Write the Markdown of a saved JSON report again (after a change of this module): ``<name>.md``."""
    results = json.loads(json_path.read_text())
    md = json_path.with_suffix(".md")
    md.write_text(markdown(results))
    return md


if __name__ == "__main__":
    import sys

    for argument in sys.argv[1:]:
        print(rerender(Path(argument)))
