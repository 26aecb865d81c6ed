"""Pure computations of the benchmark: latency, percentiles, CPU and memory per step.

Everything here works on plain numbers and dicts (the load generator's JSON and the simulator's
``/_sim/state``), so it is tested without running anything.

Added latency of one chunk = when the simulator received the frame holding the chunk's last
byte, minus when the load generator sent the chunk. Both clocks are CLOCK_MONOTONIC of this
machine. With conversion the gateway's output position of a chunk's end is its input duration
times the output byte rate, so the resampler's delay counts as added latency, as it should.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.simulator.records import PlaybackModel


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


def chunk_latencies_ms(
    stream: Mapping[str, Any],
    frames: Sequence[Sequence[float]],
    *,
    chunk_ms: float,
    out_bytes_per_ms: float,
    skip_ms: float = 0.0,
) -> list[float]:
    """Added latency of each chunk of one stream (those sent after ``skip_ms``)."""
    ends: list[float] = []  # cumulative bytes at the end of each frame
    total = 0.0
    for _, size in frames:
        total += size
        ends.append(total)
    t0 = float(stream["t0_mono_s"])
    latencies = []
    for index, offset_us in enumerate(stream["send_offsets_us"]):
        if offset_us / 1000 < skip_ms:
            continue
        last_byte = (index + 1) * chunk_ms * out_bytes_per_ms - 1
        frame = bisect.bisect_right(ends, last_byte)
        if frame >= len(frames):
            break  # the stream was cut before this chunk arrived
        arrival = float(frames[frame][0])
        latencies.append((arrival - (t0 + offset_us / 1e6)) * 1000)
    return latencies


def underrun_times(
    frames: Sequence[Sequence[float]], *, out_bytes_per_ms: float, tolerance_ms: float = 20.0
) -> list[float]:
    """When each underrun of one drive happened: its frames replayed through the simulator's
    own playback model (the one that counted them)."""
    model = PlaybackModel(tolerance_ms)
    return [
        arrival for arrival, size in frames if model.feed(arrival, size / out_bytes_per_ms / 1000)
    ]


def stall_events(times: Iterable[float], *, bin_s: float = 0.1) -> int:
    """How many distinct moments (``bin_s`` wide) the underruns of all drives fall in: one
    process-wide pause that every stream feels at once is one event, not N underruns."""
    return len({math.floor(t / bin_s) for t in times})


@dataclass(frozen=True)
class CpuSample:
    """Cumulative CPU seconds and RSS of one process at one time."""

    at: float
    cpu_s: float
    rss_kib: int


def cpu_between(samples: Sequence[CpuSample], start: float, end: float) -> tuple[float, float]:
    """CPU seconds used in [start, end] (interpolated) and the window's length."""
    inside = [s for s in samples if start <= s.at <= end]
    if len(inside) < 2:
        return math.nan, end - start
    return inside[-1].cpu_s - inside[0].cpu_s, inside[-1].at - inside[0].at


def peak_rss_kib(samples: Iterable[CpuSample], start: float, end: float) -> int:
    """The largest RSS seen in [start, end]."""
    return max((s.rss_kib for s in samples if start <= s.at <= end), default=0)


def part_name(name: str, index: int) -> str:
    """The sampler's name of process ``index`` of a group run as several (``gateway/1``)."""
    return f"{name}/{index}"


def with_totals(samples: Mapping[str, Sequence[CpuSample]]) -> dict[str, list[CpuSample]]:
    """``samples`` plus, for each group sampled as parts (``gateway/0``, ``gateway/1``, ...),
    a series under the group's name summing CPU and RSS of every part.

    The sampler reads every process in one round with one timestamp, so parts line up by
    ``at``; a round that missed a part (not started yet, or gone) is left out of the sum.
    A name sampled whole is left as it is.
    """
    result = {name: list(series) for name, series in samples.items()}
    groups: dict[str, list[Sequence[CpuSample]]] = {}
    for name, series in samples.items():
        group, sep, index = name.rpartition("/")
        if sep and index.isdigit():
            groups.setdefault(group, []).append(series)
    for group, parts in groups.items():
        if group in result:
            continue
        rounds = set.intersection(*({s.at for s in series} for series in parts))
        by_at = [{s.at: s for s in series} for series in parts]
        result[group] = [
            CpuSample(
                at,
                sum(part[at].cpu_s for part in by_at),
                sum(part[at].rss_kib for part in by_at),
            )
            for at in sorted(rounds)
        ]
    return result


#: The paths with a process in front of the simulator, sampled under the path's name; the
#: per-chunk, per-stream-second and per-stream figures are its CPU and memory.
HOPS = frozenset({"gateway", "prototype"})


@dataclass(frozen=True)
class StepResult:
    """One rung of the ladder, for one path (gateway, prototype or direct).

    The ``gateway_*`` figures are the process in front of the simulator: the gateway's, or on
    the prototype path the prototype's (:data:`HOPS`); NaN on the direct path.
    """

    scenario: str
    mode: str
    streams: int
    refused: int  # RESOURCE_EXHAUSTED at admission (over capacity)
    errors: int  # any other failure
    underruns: int
    streams_with_underruns: int
    underrun_events: int  # distinct 100 ms moments with an underrun (see stall_events)
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    setup_p50_ms: float
    setup_p99_ms: float
    stop_lag_p50_ms: float
    stop_lag_p99_ms: float
    window_s: float
    #: Process name -> % of one core over the window (``gateway``, ``prototype``,
    #: ``simulator``, ``loadgen``). With several gateway processes, ``gateway`` is their sum
    #: and ``gateway/0``, ``gateway/1``, ... each one's share.
    cpu_pct: Mapping[str, float]
    gateway_us_per_stream_s: float
    gateway_us_per_chunk: float
    gateway_kib_per_stream: float
    #: "", the processes at >= 90 % of a core, and/or "machine" when all of them together
    #: used >= 90 % of the machine's cores.
    bound_by: str
    #: Gateway processes sharing the listen address (1 on the prototype path, 0 on the direct).
    processes: int = 1
    #: The load generator's gRPC connections to the gateway or the prototype (0 on the direct
    #: path).
    conns: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in vars(self).items()
        }


def summarise(
    *,
    scenario: str,
    mode: str,
    load: Mapping[str, Any],
    sim_state: Mapping[str, Any],
    samples: Mapping[str, Sequence[CpuSample]],
    chunk_ms: float,
    out_bytes_per_ms: float,
    baseline_rss_kib: int,
    processes: int = 1,
    cores: int = 0,
) -> StepResult:
    """Turn one step's raw records into its figures.

    The per-chunk, per-stream-second and per-stream figures are those of ``mode``'s process in
    front of the simulator (:data:`HOPS`: ``gateway`` or ``prototype``), sampled under that name.
    ``samples`` may hold the gateway as one series (``gateway``) or as one per process
    (``gateway/0``, ...; see :func:`with_totals`): the gateway's figures are then the sum, and
    ``bound_by`` looks at each process, since each has a core of its own to fill. With
    ``cores`` (the machine's), ``bound_by`` also says "machine" when the sampled processes
    together used 90 % of them: no process is at its limit, the machine is.
    """
    samples = with_totals(samples)
    hop = mode if mode in HOPS else None
    groups = {name.rpartition("/")[0] for name in samples if "/" in name}
    streams = load["streams"]
    drives = {d["drive_id"]: d for d in sim_state["drives"]}
    # A drive refused at admission (RESOURCE_EXHAUSTED: over capacity) is the gateway
    # degrading as designed, not an error; the per-stream figures count admitted streams.
    refused = sum(1 for s in streams if (s.get("error") or "").startswith("RESOURCE_EXHAUSTED"))
    errors = sum(1 for s in streams if s.get("error")) - refused
    admitted = len(streams) - refused
    latencies: list[float] = []
    underruns = with_underruns = 0
    when: list[float] = []
    stop_lags: list[float] = []
    for stream in streams:
        drive = drives.get(stream.get("drive_id") or "")
        if drive is None:
            continue
        underruns += drive["underruns"]
        with_underruns += drive["underruns"] > 0
        if drive["underruns"]:
            when += underrun_times(drive["frames"], out_bytes_per_ms=out_bytes_per_ms)
        if drive.get("stop_lag_ms") is not None:
            stop_lags.append(drive["stop_lag_ms"])
        latencies += chunk_latencies_ms(
            stream, drive["frames"], chunk_ms=chunk_ms, out_bytes_per_ms=out_bytes_per_ms,
            skip_ms=1000,
        )  # fmt: skip
    setups = [s["setup_ms"] for s in streams if s.get("setup_ms") is not None]
    # The steady window: every stream started and none ended yet.
    starts = [s["t0_mono_s"] for s in streams if s.get("t0_mono_s")]
    ends = [
        s["t0_mono_s"] + s["send_offsets_us"][-1] / 1e6 for s in streams if s.get("send_offsets_us")
    ]
    start, end = (max(starts), min(ends)) if starts and ends else (math.nan, math.nan)
    cpu_pct: dict[str, float] = {}
    gateway_cpu_s = math.nan
    window_s = end - start
    for name, series in samples.items():
        used, length = cpu_between(series, start, end)
        cpu_pct[name] = 100 * used / length if length > 0 else math.nan
        if name == hop:
            gateway_cpu_s, window_s = used, length
    stream_seconds = admitted * window_s
    chunks = stream_seconds * 1000 / chunk_ms
    gateway_rss = peak_rss_kib(samples.get(hop or "", ()), start, end)
    busy = [n for n, pct in cpu_pct.items() if pct >= 90 and n not in groups]
    used = sum(pct for n, pct in cpu_pct.items() if n not in groups and not math.isnan(pct))
    if cores and used >= 90 * cores:
        busy.append("machine")
    return StepResult(
        scenario=scenario,
        mode=mode,
        streams=len(streams),
        refused=refused,
        errors=errors,
        underruns=underruns,
        streams_with_underruns=with_underruns,
        underrun_events=stall_events(when),
        latency_p50_ms=percentile(latencies, 0.5),
        latency_p99_ms=percentile(latencies, 0.99),
        latency_max_ms=max(latencies, default=math.nan),
        setup_p50_ms=percentile(setups, 0.5),
        setup_p99_ms=percentile(setups, 0.99),
        stop_lag_p50_ms=percentile(stop_lags, 0.5),
        stop_lag_p99_ms=percentile(stop_lags, 0.99),
        window_s=window_s,
        cpu_pct=cpu_pct,
        gateway_us_per_stream_s=1e6 * gateway_cpu_s / stream_seconds
        if stream_seconds > 0
        else math.nan,
        gateway_us_per_chunk=1e6 * gateway_cpu_s / chunks if chunks > 0 else math.nan,
        gateway_kib_per_stream=(gateway_rss - baseline_rss_kib) / admitted
        if admitted and gateway_rss
        else math.nan,
        bound_by=",".join(busy),
        processes=processes,
        conns=int(load.get("config", {}).get("conns") or 0),
    )


def rung_ratio(value: Any, baseline: Any) -> float:
    """``value / baseline``, NaN where either is missing, zero or NaN (no figure)."""
    if not value or not baseline or math.isnan(value) or math.isnan(baseline):
        return math.nan
    return float(value / baseline)


@dataclass(frozen=True)
class Ratios:
    """The gateway's figures on one rung over those of its baselines on the same rung.

    NaN where a baseline did not run (no prototype on a scenario it cannot carry) or a side
    has no figure.
    """

    scenario: str
    streams: int
    p99_vs_direct: float
    p99_vs_prototype: float
    #: The gateway's CPU per chunk over the bare prototype's: below 1 when it does more for
    #: less.
    cpu_per_chunk_vs_prototype: float

    def as_dict(self) -> dict[str, Any]:
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in vars(self).items()
        }


def gateway_ratios(results: Iterable[Mapping[str, Any]]) -> list[Ratios]:
    """The :class:`Ratios` of every gateway rung, in order.

    ``results`` are :meth:`StepResult.as_dict` documents (missing figures are None), as in
    the benchmark's JSON; the baselines of a rung are the rows of the same scenario, size and
    mode ``direct`` or ``prototype``.
    """
    results = list(results)
    by_rung = {(r["scenario"], r["streams"], r["mode"]): r for r in results}
    ratios = []
    for gw in results:
        if gw["mode"] != "gateway":
            continue
        direct = by_rung.get((gw["scenario"], gw["streams"], "direct"), {})
        proto = by_rung.get((gw["scenario"], gw["streams"], "prototype"), {})
        ratios.append(
            Ratios(
                scenario=gw["scenario"],
                streams=gw["streams"],
                p99_vs_direct=rung_ratio(gw["latency_p99_ms"], direct.get("latency_p99_ms")),
                p99_vs_prototype=rung_ratio(gw["latency_p99_ms"], proto.get("latency_p99_ms")),
                cpu_per_chunk_vs_prototype=rung_ratio(
                    gw["gateway_us_per_chunk"], proto.get("gateway_us_per_chunk")
                ),
            )
        )
    return ratios
