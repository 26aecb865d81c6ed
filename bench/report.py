"""The benchmark's table (markdown) and plot (PNG), from its JSON document.

Each gateway rung is followed by the bare prototype's on the same rung when it ran, and the
gateway's ratios to both baselines (:func:`bench.metrics.gateway_ratios`) sit on its row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.metrics import HOPS, gateway_ratios, rung_ratio

#: The table's name of each path.
PATHS = {"gateway": "gw", "prototype": "proto", "direct": "direct"}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _x(ratio: float | None) -> str:
    return "-" if ratio is None or math.isnan(ratio) else f"{ratio:.2f}x"


def grouped(
    results: list[Mapping[str, Any]],
) -> list[tuple[Mapping[str, Any], Mapping[str, Any] | None, Mapping[str, Any] | None]]:
    """Gateway rungs with the prototype and direct rungs of the same scenario and size
    (None where that path did not run)."""
    rungs = {(r["scenario"], r["streams"], r["mode"]): r for r in results}
    return [
        (
            r,
            rungs.get((r["scenario"], r["streams"], "prototype")),
            rungs.get((r["scenario"], r["streams"], "direct")),
        )
        for r in results
        if r["mode"] == "gateway"
    ]


def gateway_cpu(cpu_pct: Mapping[str, Any], name: str = "gateway") -> str:
    """The CPU % of ``name`` (``gateway`` or ``prototype``): the one process's, or the sum and
    each process's (``120 (61+59)``)."""
    parts = sorted(
        (int(part.rpartition("/")[2]), value)
        for part, value in cpu_pct.items()
        if part.startswith(f"{name}/") and part.rpartition("/")[2].isdigit()
    )
    total = _fmt(cpu_pct.get(name), 0)
    if not parts:
        return total
    return f"{total} ({'+'.join(_fmt(value, 0) for _, value in parts)})"


def _underruns(step: Mapping[str, Any]) -> str:
    """``underruns (streams)``, and ``in N events`` when they bunch into few moments."""
    text = f"{step['underruns']} ({step['streams_with_underruns']})"
    events = step.get("underrun_events")
    if events and step["underruns"] > events:
        text += f" in {events} event{'s' if events > 1 else ''}"
    return text


def _row(
    step: Mapping[str, Any],
    direct: Mapping[str, Any] | None,
    p99_vs_prototype: str = "-",
    cpu_vs_prototype: str = "-",
) -> str:
    """One path's row of a rung; the ratios to the prototype are the gateway row's only."""
    cpu = step["cpu_pct"]
    under = _underruns(step)
    if direct:
        under += f" / {_underruns(direct)}"
    streams = f"{step['streams']}"
    if step.get("refused"):
        streams += f" ({step['refused']} refused)"
    p99_vs_direct = _x(rung_ratio(step["latency_p99_ms"], direct and direct["latency_p99_ms"]))
    return (
        f"| {step['scenario']} | {streams} | {PATHS[step['mode']]} | {under} | "
        f"{_fmt(step['latency_p50_ms'])} / {_fmt(step['latency_p99_ms'])} / "
        f"{_fmt(step['latency_max_ms'])} | {p99_vs_direct} / {p99_vs_prototype} | "
        f"{_fmt(step['setup_p50_ms'])} / {_fmt(step['setup_p99_ms'])} | "
        f"{_fmt(step['stop_lag_p99_ms'])} | {_fmt(step['gateway_us_per_chunk'])} | "
        f"{cpu_vs_prototype} | {_fmt(step['gateway_us_per_stream_s'], 0)} | "
        f"{_fmt(step['gateway_kib_per_stream'])} | "
        f"{gateway_cpu(cpu, step['mode'])} / {_fmt(cpu.get('simulator'), 0)} / "
        f"{_fmt(cpu.get('loadgen'), 0)} | {step['bound_by'] or '-'} |"
    )


def markdown_table(document: Mapping[str, Any]) -> str:
    """The table of docs/performance.md: per rung, the gateway's row (gw) with its ratios to
    the direct path and to the bare prototype, then the prototype's row (proto) when it ran.
    The CPU, memory and "CPU %" figures are the row's own process (gateway or prototype)."""
    lines = [
        f"Command: `{document['command']}` · machine: {document['machine']} · "
        f"{document['seconds_per_rung']:g} s steady per rung · {document['started']}",
        "",
        "| load | streams | path | underruns (streams) / direct | p50 / p99 / max added "
        "latency ms | p99 vs direct / proto | setup p50 / p99 ms | Stop lag p99 ms | CPU µs per "
        "chunk | vs proto | per stream-s | RSS KiB per stream | CPU % path / sim / loadgen | "
        "bound by |",
        "|---|---:|---|---|---|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    results = document["results"]
    for (gw, proto, direct), ratios in zip(grouped(results), gateway_ratios(results), strict=True):
        lines.append(
            _row(gw, direct, _x(ratios.p99_vs_prototype), _x(ratios.cpu_per_chunk_vs_prototype))
        )
        if proto:
            lines.append(_row(proto, direct))
    return "\n".join(lines) + "\n"


def plot(document: Mapping[str, Any], path: Path) -> None:
    """p99 added latency and CPU against concurrency, gateway vs prototype vs direct, per
    scenario (the CPU of each path's busiest hop: the gateway, the prototype, the simulator)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, cpu) = plt.subplots(1, 2, figsize=(12, 4.5))
    results = document["results"]
    for scenario in dict.fromkeys(r["scenario"] for r in results):
        for mode, style in (("gateway", "-o"), ("prototype", "-.^"), ("direct", "--s")):
            rows = [r for r in results if r["scenario"] == scenario and r["mode"] == mode]
            if not rows:
                continue
            streams = [r["streams"] for r in rows]
            label = f"{scenario} {mode}"
            latency.plot(
                streams, [r["latency_p99_ms"] or math.nan for r in rows], style, label=label
            )
            busiest = mode if mode in HOPS else "simulator"
            cpu.plot(
                streams,
                [r["cpu_pct"].get(busiest) or math.nan for r in rows],
                style,
                label=f"{label} ({busiest})",
            )
    latency.set(
        xlabel="concurrent streams", ylabel="p99 added latency (ms, log)", title="Added latency"
    )
    latency.set_yscale("log")
    cpu.set(xlabel="concurrent streams", ylabel="% of one core", title="CPU of the busiest hop")
    for axes in (latency, cpu):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    figure.suptitle(
        f"dh-gateway vs bare prototype vs direct WebSocket — {document['machine']}", fontsize=9
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
