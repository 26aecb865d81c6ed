"""The arithmetic and the tables of :mod:`bench.playback_skew`: what the client saw of each
drive, what the gateway's log and ``/metrics`` said, the figures of a run, their ratios to the
baseline run's, and the Markdown docs/performance.md shows."""

from __future__ import annotations

import collections
import contextlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.metrics import percentile, rung_ratio


@dataclass
class DriveResult:
    """What the client saw of one drive."""

    kind: str
    pace: str
    outcome: str = ""
    started: str = ""  # the PlaybackStarted's source (VENDOR, ESTIMATED), "" when none
    finished: str = ""
    playback_events: int = 0  # PlaybackStarted + PlaybackFinished (2 when each came once)
    half_close_to_completed_ms: float | None = None


_LOG_FIELDS = ("playback_start_skew_ms", "playback_end_skew_ms", "playout_wait_ms")


def completed_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The ``drive completed`` records of a JSON log (other lines are skipped)."""
    found = []
    for line in lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("event") == "drive completed":
                found.append(record)
    return found


def metric_counts(text: str) -> dict[str, float]:
    """From a ``/metrics`` page: the skews observed per edge (both directions), the playout
    waits, and the playback events by ``event/source``."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "dhgw_playback_skew_seconds_count":
                key = f"skew_{labels['edge']}"
                counts[key] = counts.get(key, 0.0) + sample.value
            elif sample.name == "dhgw_drive_playout_wait_seconds_count":
                counts["playout_wait"] = sample.value
            elif sample.name == "dhgw_playback_events_total":
                counts[f"events_{labels['event']}/{labels['source']}"] = sample.value
    return counts


def percentiles(values: Sequence[float]) -> dict[str, Any]:
    """n, p50, p99, min and max of ``values``; None for each figure of an empty list."""
    return {
        "n": len(values),
        "p50": _round(percentile(values, 0.5)),
        "p99": _round(percentile(values, 0.99)),
        "min": _round(min(values, default=math.nan)),
        "max": _round(max(values, default=math.nan)),
    }


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


def summarise_run(
    name: str,
    latency_ms: float | None,
    drives: Sequence[DriveResult],
    log_lines: Iterable[str],
    metrics_text: str,
) -> dict[str, Any]:
    """One run's figures: outcomes and sources (the client's), skews and playout waits (the
    log's), half-close to Completed (the client's), and whether ``/metrics`` agrees."""
    completed = completed_lines(log_lines)
    values = {f: [float(r[f]) for r in completed if f in r] for f in _LOG_FIELDS}
    ok = [d for d in drives if d.outcome == "OK"]
    counts = metric_counts(metrics_text)
    agrees = {
        "skew_started": counts.get("skew_started", 0.0) == len(values["playback_start_skew_ms"]),
        "skew_finished": counts.get("skew_finished", 0.0) == len(values["playback_end_skew_ms"]),
        "playout_wait": counts.get("playout_wait", 0.0) == len(values["playout_wait_ms"]),
        "each_event_once": all(d.playback_events == 2 for d in ok),
    }
    half_close: dict[str, list[float]] = {"all": []}
    for d in ok:
        if d.half_close_to_completed_ms is not None:
            half_close["all"].append(d.half_close_to_completed_ms)
            half_close.setdefault(d.pace, []).append(d.half_close_to_completed_ms)
    waits: dict[str, list[float]] = {"all": values["playout_wait_ms"]}
    for record in completed:
        if "playout_wait_ms" in record:
            pace = str(record.get("labels", {}).get("pace", "unknown"))
            waits.setdefault(pace, []).append(float(record["playout_wait_ms"]))
    return {
        "name": name,
        "callbacks": latency_ms is not None,
        "render_latency_ms": latency_ms,
        "drives": len(drives),
        "outcomes": _count(d.outcome for d in drives),
        "started": _count(d.started for d in ok),
        "finished": _count(d.finished for d in ok),
        "start_skew_ms": percentiles(values["playback_start_skew_ms"]),
        "end_skew_ms": percentiles(values["playback_end_skew_ms"]),
        "playout_wait_ms": {k: percentiles(v) for k, v in sorted(waits.items())},
        "half_close_to_completed_ms": {k: percentiles(v) for k, v in sorted(half_close.items())},
        "metrics": counts,
        "metrics_agree": agrees,
    }


def _count(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(collections.Counter(value or "none" for value in values).items()))


PACES = ("all", "realtime", "burst")
_WAITS = ("playout_wait_ms", "half_close_to_completed_ms")


def with_ratios(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run with the ratios of its playout wait and half-close to Completed (p50, p99; all
    drives and per pace) to the first run's (the baseline)."""
    base = runs[0]
    out = []
    for run in runs:
        ratios: dict[str, float | None] = {}
        for figure in _WAITS:
            for pace in PACES:
                for q in ("p50", "p99"):
                    value = run[figure].get(pace, {}).get(q)
                    baseline = base[figure].get(pace, {}).get(q)
                    ratio = rung_ratio(value, baseline)
                    ratios[f"{figure}/{pace}/{q}"] = None if math.isnan(ratio) else round(ratio, 2)
        out.append({**run, "vs_baseline": ratios})
    return out


def p50_p99(stats: Mapping[str, Any] | None) -> str:
    """``p50 / p99`` of a figure's stats, in ms ("-" where there are none)."""

    def one(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    return "-" if not stats else f"{one(stats['p50'])} / {one(stats['p99'])}"


def _x(ratios: Mapping[str, Any], figure: str, pace: str = "all") -> str:
    p50, p99 = ratios[f"{figure}/{pace}/p50"], ratios[f"{figure}/{pace}/p99"]
    return "-" if p50 is None or p99 is None else f"{p50:.2f}x / {p99:.2f}x"


def markdown(document: Mapping[str, Any]) -> str:
    """The tables docs/performance.md shows: the skews per run, then the waits per pace."""
    lines = [
        f"Command: `{document['command']}` · machine: {document['machine']} · "
        f"{document['started']} · grace {document['grace_ms']} ms",
        "",
        "| run | render latency ms | drives OK | started / finished by the vendor "
        "| start skew p50 / p99 ms | finish skew p50 / p99 ms | playout wait p50 / p99 ms "
        "| vs baseline |",
        "|---|---:|---:|---|---|---|---|---:|",
    ]
    for run in document["runs"]:
        ok = run["outcomes"].get("OK", 0)
        vendor = f"{run['started'].get('VENDOR', 0)} / {run['finished'].get('VENDOR', 0)}"
        latency = "-" if run["render_latency_ms"] is None else f"{run['render_latency_ms']:g}"
        lines.append(
            f"| {run['name']} | {latency} | {ok} of {run['drives']} | {vendor} "
            f"| {p50_p99(run['start_skew_ms'])} | {p50_p99(run['end_skew_ms'])} "
            f"| {p50_p99(run['playout_wait_ms']['all'])} | {_x(run['vs_baseline'], _WAITS[0])} |"
        )
    lines += [
        "",
        "| run | pace | playout wait p50 / p99 ms | vs baseline "
        "| half-close to Completed p50 / p99 ms | vs baseline |",
        "|---|---|---|---:|---|---:|",
    ]
    for run in document["runs"]:
        for pace in PACES[1:]:
            waits = [p50_p99(run[figure].get(pace)) for figure in _WAITS]
            ratios = [_x(run["vs_baseline"], figure, pace) for figure in _WAITS]
            lines.append(
                f"| {run['name']} | {pace} | {waits[0]} | {ratios[0]} | {waits[1]} | {ratios[1]} |"
            )
    return "\n".join(lines) + "\n"
