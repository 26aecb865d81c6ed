"""The benchmark's table (markdown) and plot (PNG), from its JSON document."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ratio(gateway: Any, direct: Any) -> str:
    if (
        not gateway
        or not direct
        or any(isinstance(v, float) and math.isnan(v) for v in (gateway, direct))
    ):
        return "-"
    return f"{gateway / direct:.2f}x"


def paired(
    results: list[Mapping[str, Any]],
) -> list[tuple[Mapping[str, Any], Mapping[str, Any] | None]]:
    """Gateway rungs with the direct rung of the same scenario and size."""
    direct = {(r["scenario"], r["streams"]): r for r in results if r["mode"] == "direct"}
    return [
        (r, direct.get((r["scenario"], r["streams"]))) for r in results if r["mode"] == "gateway"
    ]


def gateway_cpu(cpu_pct: Mapping[str, Any]) -> str:
    """The gateway's CPU %: the one process's, or the sum and each process's (``120 (61+59)``)."""
    parts = sorted(
        (int(name.rpartition("/")[2]), value)
        for name, value in cpu_pct.items()
        if name.startswith("gateway/") and name.rpartition("/")[2].isdigit()
    )
    total = _fmt(cpu_pct.get("gateway"), 0)
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


def markdown_table(document: Mapping[str, Any]) -> str:
    """The README's Performance table."""
    lines = [
        f"Command: `{document['command']}` · machine: {document['machine']} · "
        f"{document['seconds_per_rung']:g} s steady per rung · {document['started']}",
        "",
        "| load | streams | underruns (streams) gw / direct | p50 / p99 / max added latency ms "
        "(gw) | p99 vs direct | setup p50 / p99 ms | Stop lag p99 ms | gateway CPU µs per chunk "
        "| per stream-s | RSS KiB per stream | CPU % gw / sim / loadgen | bound by |",
        "|---|---:|---|---|---:|---|---:|---:|---:|---:|---|---|",
    ]
    for gw, direct in paired(document["results"]):
        cpu = gw["cpu_pct"]
        under = _underruns(gw)
        if direct:
            under += f" / {_underruns(direct)}"
        streams = f"{gw['streams']}"
        if gw.get("refused"):
            streams += f" ({gw['refused']} refused)"
        lines.append(
            f"| {gw['scenario']} | {streams} | {under} | "
            f"{_fmt(gw['latency_p50_ms'])} / {_fmt(gw['latency_p99_ms'])} / "
            f"{_fmt(gw['latency_max_ms'])} | "
            f"{_ratio(gw['latency_p99_ms'], direct['latency_p99_ms'] if direct else None)} | "
            f"{_fmt(gw['setup_p50_ms'])} / {_fmt(gw['setup_p99_ms'])} | "
            f"{_fmt(gw['stop_lag_p99_ms'])} | {_fmt(gw['gateway_us_per_chunk'])} | "
            f"{_fmt(gw['gateway_us_per_stream_s'], 0)} | {_fmt(gw['gateway_kib_per_stream'])} | "
            f"{gateway_cpu(cpu)} / {_fmt(cpu.get('simulator'), 0)} / "
            f"{_fmt(cpu.get('loadgen'), 0)} | {gw['bound_by'] or '-'} |"
        )
    return "\n".join(lines) + "\n"


def plot(document: Mapping[str, Any], path: Path) -> None:
    """p99 added latency and CPU against concurrency, gateway vs direct, per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, cpu) = plt.subplots(1, 2, figsize=(12, 4.5))
    results = document["results"]
    for scenario in dict.fromkeys(r["scenario"] for r in results):
        for mode, style in (("gateway", "-o"), ("direct", "--s")):
            rows = [r for r in results if r["scenario"] == scenario and r["mode"] == mode]
            if not rows:
                continue
            streams = [r["streams"] for r in rows]
            label = f"{scenario} {mode}"
            latency.plot(
                streams, [r["latency_p99_ms"] or math.nan for r in rows], style, label=label
            )
            busiest = "gateway" if mode == "gateway" else "simulator"
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
    figure.suptitle(f"dh-gateway vs direct WebSocket — {document['machine']}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
