"""``python -m bench.soak [--seconds 3600] [--lanes 8]``: the gateway under a realistic mix of
drives for a long time, watched for what grows.

The simulator and the gateway run as processes on loopback (:func:`bench.run.simulator`,
:func:`bench.run.gateway`: as shipped, admission on), the gateway through
:mod:`bench.gateway_probe` so that its count of live asyncio tasks can be read (``/metrics`` has
none). ``--lanes`` clients, each on its own gRPC channel (reopened every
:data:`SCENARIOS_PER_CHANNEL` scenarios: connections come and go too), run one scenario after
another until the time is up, each lane starting at a different point of :data:`KINDS` and
then choosing by :data:`WEIGHTS`:

* ``short``: 0.5-3 s of 16 kHz mono audio in 20 ms chunks at real-time pace (from ``Started``);
* ``long``: 20-60 s the same way;
* ``cancel``: a 5-20 s drive the client cancels after 0.3 s to 80 % of it;
* ``preempt``: a 5-15 s drive (``preempt_holder``), then, 0.5-2 s after it started, a 1-3 s
  drive of the same task with ``on_conflict=PREEMPT`` (``preempt``): the holder ends
  ``ABORTED/PREEMPTED``;
* ``bad_config``: one of :data:`BAD_CONFIGS`, refused with ``INVALID_ARGUMENT``;
* ``fault``: one of :data:`FAULTS` armed at the simulator (``POST /_sim/faults``) for the lane's
  fault task, then a 1-5 s drive of it: API 5xx once or always, a slow API, vendor codes,
  refused handshakes, connections dropped mid-drive, a vendor that stops reading.

No drive is longer than a sixth of the run or than the time left (a short run stays short).

Every ``--sample-s`` it reads the gateway's RSS, threads and open fds from /proc, its live
asyncio tasks from the probe, and ``/metrics`` (drives active and queued, loop lag, the mean
set-up time of the window); each drive's set-up latency is the client's wait from the call to
``Started`` (``short``, ``long`` and ``cancel`` drives: the others wait for faults or preempt
on purpose). At the end, once no drive is live, it samples once more, reads the simulator's
overlaps (two connections of one task at once) and open connections, and prints each series'
least-squares slope per hour, over the whole run and after the warm-up (the first
:data:`WARMUP_FRACTION` of it). Writes ``<out>/<name>.json`` (the summary and the samples),
``<name>.csv`` (the samples), ``<name>-drives.csv`` (every drive) and ``<name>.png`` (the
series against time with their fitted lines); the gateway's log goes to
``<out>/tmp/<name>-gateway.log``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import math
import os
import random
import re
import secrets
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import grpc
from dhgateway.v1 import gateway_pb2 as pb
from dhgateway_client import DriveError, DriveGatewayClient, DriveOptions

from bench.__main__ import machine
from bench.run import ROOT, gateway_via, read_proc, simulator

#: The scenarios a lane runs, in the order a lane starts from, and how often each is chosen after.
KINDS = ("short", "long", "cancel", "preempt", "bad_config", "fault")
WEIGHTS = (30, 8, 15, 10, 12, 25)
#: The kinds a drive record can have (``preempt`` makes two drives).
DRIVE_KINDS = ("short", "long", "cancel", "preempt_holder", "preempt", "bad_config", "fault")
#: The drives whose set-up latency is the series: the others wait on purpose.
LATENCY_KINDS = frozenset({"short", "long", "cancel"})
#: The share of the run left out of the "after warm-up" slopes.
WARMUP_FRACTION = 0.2
#: A lane's channel is closed and opened again after this many scenarios.
SCENARIOS_PER_CHANNEL = 25
CHUNK_MS = 20
CHUNK = bytes(32 * CHUNK_MS)  # 16 kHz mono s16le
#: How long a drive may take past its audio (set-up, retries, the avatar's playback, Stop).
DRIVE_SLACK_S = 30.0
#: How long the audio waits for ``Started`` before it half-closes without sending any.
STARTED_WAIT_S = 20.0

#: Configs the gateway must refuse with INVALID_ARGUMENT: (name, task id or None, options).
BAD_CONFIGS: tuple[tuple[str, str | None, DriveOptions], ...] = (
    ("channels_3", None, DriveOptions(channels=3)),
    ("output_8k", None, DriveOptions(output_sample_rate_hz=8000)),
    ("queue_timeout_negative", None, DriveOptions(on_conflict="QUEUE", queue_timeout_s=-1)),
    ("unknown_profile", None, DriveOptions(profile="soak-no-such-profile")),
    ("no_task_id", "", DriveOptions()),
)

#: The vendor's faults (:class:`gateway.simulator.faults.Fault` fields): name -> a maker of
#: the fields from the lane's random source.
FAULTS: dict[str, Callable[[random.Random], dict[str, Any]]] = {
    "api_5xx_once": lambda r: {"http_status": r.choice((500, 502, 503)), "times": 1},
    "api_5xx_always": lambda r: {"http_status": 503},
    "api_slow": lambda r: {"api_delay_s": round(r.uniform(0.3, 2.0), 2), "times": 1},
    "api_busy_once": lambda r: {"force_code": 400010002, "times": 1},
    "api_task_not_found": lambda r: {"force_code": 400000005, "times": 1},
    "ws_refused": lambda r: {
        "refuse_handshake": True,
        "refuse_status": r.choice((403, 500, 503)),
        "times": 1,
    },
    "ws_drop": lambda r: {"drop_after_bytes": r.randrange(3_200, 64_000), "times": 1},
    "ws_stall": lambda r: {
        "silent_after_bytes": 16_000,
        "silent_for_s": round(r.uniform(1.0, 4.0), 1),
        "times": 1,
    },
    "ws_slow_reader": lambda r: {"read_delay_s": 0.03, "times": 1},
}


@dataclass
class DriveRecord:
    """One drive as the client saw it; times in seconds from the start of the run."""

    kind: str
    lane: int
    task_id: str
    detail: str
    planned_s: float
    began_s: float = math.nan
    setup_ms: float | None = None
    gateway_setup_ms: int | None = None
    ended_s: float = math.nan
    outcome: str = ""
    expected: bool = False


@dataclass
class Sample:
    """The gateway process at one moment (``t_s`` from the start of the run); None: not read."""

    t_s: float
    rss_kib: int
    fds: int
    #: Of the fds, the sockets (gRPC clients, the vendor's API and WebSockets, listeners).
    sockets: int
    threads: int
    cpu_s: float
    tasks: int | None = None
    drives_active: float | None = None
    drives_queued: float | None = None
    loop_lag_ms: float | None = None
    setup_ms_mean: float | None = None
    sim_rss_kib: int | None = None


def expected(kind: str, outcome: str) -> bool:
    """Whether ``outcome`` (``OK``, ``CODE/REASON``, ``CANCELLED``, ``TIMEOUT``) is what a drive
    of ``kind`` should end with. A faulted drive may end either way, but always with a reason:
    never INTERNAL, UNKNOWN, without ErrorInfo, or stuck."""
    if kind in ("short", "long", "preempt"):
        return outcome == "OK"
    if kind == "cancel":
        return outcome == "CANCELLED"
    if kind == "preempt_holder":
        return outcome == "ABORTED/PREEMPTED"
    if kind == "bad_config":
        return outcome.startswith("INVALID_ARGUMENT/")
    if kind == "fault":
        code = outcome.partition("/")[0]
        return outcome == "OK" or ("/" in outcome and code not in ("INTERNAL", "UNKNOWN"))
    raise ValueError(f"unknown kind {kind!r}")


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float | None:
    """The least-squares slope of (seconds, value) points, per hour; None under 3 points or
    when every point has the same time."""
    if len(points) < 3 or min(x for x, _ in points) == max(x for x, _ in points):
        return None
    xs = [x / 3600 for x, _ in points]
    ys = [y for _, y in points]
    x_mean, y_mean = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - x_mean) ** 2 for x in xs)
    return sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True)) / spread


def series(
    samples: Sequence[Sample], drives: Sequence[DriveRecord]
) -> dict[str, list[tuple[float, float]]]:
    """The watched series as (seconds, value) points: RSS (MiB), fds and the sockets among
    them, threads, tasks (when the probe gave them) and each clean drive's set-up latency (ms)."""
    points: dict[str, list[tuple[float, float]]] = {
        "rss_mib": [(s.t_s, s.rss_kib / 1024) for s in samples],
        "fds": [(s.t_s, s.fds) for s in samples],
        "sockets": [(s.t_s, s.sockets) for s in samples],
        "threads": [(s.t_s, s.threads) for s in samples],
        "tasks": [(s.t_s, s.tasks) for s in samples if s.tasks is not None],
        "setup_ms": [
            (d.began_s, d.setup_ms)
            for d in drives
            if d.kind in LATENCY_KINDS and d.setup_ms is not None
        ],
    }
    return points


def describe(points: Sequence[tuple[float, float]], warmup_s: float) -> dict[str, Any]:
    """One series' summary: its points, first and last values, range, median, the medians of
    its first and last fifths (by count: robust to the odd slow set-up), and slopes per hour
    (whole run, and after ``warmup_s``)."""
    if not points:
        return {
            "points": 0,
            "first": None,
            "last": None,
            "min": None,
            "max": None,
            "median": None,
            "median_first_fifth": None,
            "median_last_fifth": None,
            "slope_per_h": None,
            "slope_per_h_after_warmup": None,
        }
    fifth = max(1, len(points) // 5)
    return {
        "points": len(points),
        "first": round(points[0][1], 3),
        "last": round(points[-1][1], 3),
        "min": round(min(y for _, y in points), 3),
        "max": round(max(y for _, y in points), 3),
        "median": _median(points),
        "median_first_fifth": _median(points[:fifth]),
        "median_last_fifth": _median(points[-fifth:]),
        "slope_per_h": _round(slope_per_hour(points)),
        "slope_per_h_after_warmup": _round(slope_per_hour([p for p in points if p[0] >= warmup_s])),
    }


def _median(points: Sequence[tuple[float, float]]) -> float:
    values = sorted(y for _, y in points)
    return round(values[len(values) // 2], 3)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def summarise(
    *,
    seconds: float,
    lanes: int,
    samples: Sequence[Sample],
    drives: Sequence[DriveRecord],
    before: Sample,
    after: Sample,
    sim: Mapping[str, Any],
) -> dict[str, Any]:
    """The soak's summary: drives by kind and outcome, the unexpected outcomes, every series'
    slopes, and the state at the end against the start."""
    warmup_s = seconds * WARMUP_FRACTION
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in DRIVE_KINDS:
        mine = [d for d in drives if d.kind == kind]
        by_kind[kind] = {
            "drives": len(mine),
            "outcomes": dict(Counter(d.outcome for d in mine).most_common()),
        }
    faults: dict[str, Counter[str]] = {}
    for d in drives:
        if d.kind == "fault":
            faults.setdefault(d.detail, Counter())[d.outcome] += 1
    unexpected = Counter(f"{d.kind}: {d.outcome}" for d in drives if not d.expected)
    cpu_pct = None
    if len(samples) >= 2 and samples[-1].t_s > samples[0].t_s:
        busy_s = samples[-1].cpu_s - samples[0].cpu_s
        cpu_pct = round(100 * busy_s / (samples[-1].t_s - samples[0].t_s), 1)
    return {
        "seconds": seconds,
        "lanes": lanes,
        "warmup_s": warmup_s,
        "drives": len(drives),
        "drives_per_min": round(60 * len(drives) / seconds, 1),
        "gateway_cpu_pct": cpu_pct,
        "unexpected": dict(unexpected.most_common()),
        "by_kind": by_kind,
        "faults": {name: dict(outcomes) for name, outcomes in sorted(faults.items())},
        "series": {
            name: describe(points, warmup_s) for name, points in series(samples, drives).items()
        },
        "end": {
            "rss_mib": [round(before.rss_kib / 1024, 1), round(after.rss_kib / 1024, 1)],
            "fds": [before.fds, after.fds],
            "sockets": [before.sockets, after.sockets],
            "threads": [before.threads, after.threads],
            "tasks": [before.tasks, after.tasks],
            "drives_active": after.drives_active,
            "drives_queued": after.drives_queued,
            "open_at_simulator": sim.get("open_connections"),
            "overlaps": sim.get("overlaps"),
            "simulator_drives": sim.get("drives"),
        },
    }


# The gateway, sampled.


def free_port() -> int:
    """A free loopback port (for the gateway's metrics, whose bound port it does not print)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_METRIC = re.compile(r"^([a-z_]+) ([-+0-9.eE]+|NaN)$", re.MULTILINE)


def parse_metrics(text: str) -> dict[str, float]:
    """The unlabelled samples of a Prometheus text page (name -> value)."""
    return {name: float(value) for name, value in _METRIC.findall(text)}


class Probe:
    """Reads the gateway's process (and the simulator's RSS) into :class:`Sample` s."""

    def __init__(self, pid: int, sim_pid: int, metrics_url: str, tasks_file: Path) -> None:
        self.pid = pid
        self.sim_pid = sim_pid
        self.metrics_url = metrics_url
        self.tasks_file = tasks_file
        self._setup = (0.0, 0.0)  # the set-up histogram's sum and count at the last sample

    def sample(self, t_s: float) -> Sample:
        status = Path(f"/proc/{self.pid}/status").read_text()
        cpu_s, rss_kib = read_proc(self.pid)
        threads = re.search(r"Threads:\s+(\d+)", status)
        fds = _fd_targets(self.pid)
        sample = Sample(
            t_s=round(t_s, 2),
            rss_kib=rss_kib,
            fds=len(fds),
            sockets=sum(1 for target in fds if target.startswith("socket:")),
            threads=int(threads.group(1)) if threads else 0,
            cpu_s=round(cpu_s, 2),
        )
        with contextlib.suppress(OSError, ValueError):
            sample.tasks = int(self.tasks_file.read_text())
        with contextlib.suppress(OSError):
            sample.sim_rss_kib = read_proc(self.sim_pid)[1]
        try:
            with urlopen(self.metrics_url, timeout=5) as answer:
                metrics = parse_metrics(answer.read().decode())
        except OSError:
            return sample
        sample.drives_active = metrics.get("dhgw_drives_active")
        sample.drives_queued = metrics.get("dhgw_drives_queued")
        lag = metrics.get("dhgw_event_loop_lag_seconds")
        sample.loop_lag_ms = None if lag is None else round(lag * 1000, 2)
        total = metrics.get("dhgw_drive_setup_seconds_sum", 0.0)
        count = metrics.get("dhgw_drive_setup_seconds_count", 0.0)
        if count > self._setup[1]:
            mean_s = (total - self._setup[0]) / (count - self._setup[1])
            sample.setup_ms_mean = round(mean_s * 1000, 2)
        self._setup = (total, count)
        return sample


def _fd_targets(pid: int) -> list[str]:
    """What each open fd of ``pid`` is (``socket:[N]``, ``pipe:[N]``, a path...)."""
    folder = f"/proc/{pid}/fd"
    targets = []
    for name in os.listdir(folder):
        with contextlib.suppress(OSError):  # closed meanwhile
            targets.append(os.readlink(f"{folder}/{name}"))
    return targets


def _post_json(url: str, body: Mapping[str, Any]) -> None:
    request = Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urlopen(request, timeout=10) as answer:
        answer.read()


def simulator_end_state(sim_url: str) -> dict[str, int]:
    """What the simulator saw: drives, overlaps (two connections of one task at once) and the
    connections still open."""
    with urlopen(f"{sim_url}_sim/state", timeout=120) as answer:
        state = json.load(answer)
    return {
        "drives": len(state["drives"]),
        "overlaps": len(state["overlaps"]),
        "open_connections": sum(len(ids) for ids in state["open_connections"].values()),
    }


# The load.


@dataclass
class Run:
    """What every lane shares: the clock, the deadline, the simulator's URL and the records."""

    t0: float
    deadline: float
    seconds: float
    sim_url: str
    max_scenarios: int
    drives: list[DriveRecord] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def audio_s(self, low: float, high: float, rng: random.Random) -> float:
        """A duration in [low, high], capped at a sixth of the run and at the time left."""
        cap = min(self.seconds / 6, self.deadline - time.monotonic())
        return round(max(0.2, min(rng.uniform(low, high), cap)), 2)


async def _paced(seconds: float, started: asyncio.Event) -> AsyncIterator[bytes]:
    """``seconds`` of audio in :data:`CHUNK_MS` chunks, each due at its time from ``Started``
    (none if it does not come within :data:`STARTED_WAIT_S`)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(STARTED_WAIT_S):
            await started.wait()
    if not started.is_set():
        return
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for k in range(max(1, round(seconds * 1000 / CHUNK_MS))):
        delay = t0 + k * CHUNK_MS / 1000 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield CHUNK


async def drive(
    run: Run,
    client: DriveGatewayClient,
    record: DriveRecord,
    options: DriveOptions | None = None,
    *,
    cancel_after_s: float | None = None,
    started: asyncio.Event | None = None,
) -> DriveRecord:
    """One drive of ``record.planned_s`` of audio, recorded in ``record`` (and in ``run``);
    cancelled by the client after ``cancel_after_s``; ``started`` is set at ``Started``."""
    started = started or asyncio.Event()
    record.began_s = round(run.now(), 3)
    run.drives.append(record)
    began = time.monotonic()

    async def consume() -> None:
        audio = _paced(record.planned_s, started)
        event: pb.DriveEvent
        async for event in client.drive(record.task_id, audio, options):
            if event.WhichOneof("event") == "started" and not started.is_set():
                record.setup_ms = round((time.monotonic() - began) * 1000, 2)
                record.gateway_setup_ms = event.started.setup_ms
                started.set()

    task = asyncio.create_task(consume())
    try:
        async with asyncio.timeout(record.planned_s + DRIVE_SLACK_S):
            done, _ = await asyncio.wait({task}, timeout=cancel_after_s)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                record.outcome = "CANCELLED"
            else:
                task.result()
                record.outcome = "OK"
    except DriveError as error:
        record.outcome = f"{error.code.name}/{error.reason}" if error.reason else error.code.name
    except TimeoutError:
        record.outcome = "TIMEOUT"
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, DriveError):
                await task
    record.ended_s = round(run.now(), 3)
    record.expected = expected(record.kind, record.outcome)
    return record


async def scenario(
    run: Run, client: DriveGatewayClient, kind: str, lane: int, task_id: str, rng: random.Random
) -> None:
    """One scenario of ``kind`` on ``task_id`` (a fault's on the lane's own fault task)."""
    if kind in ("short", "long"):
        low, high = (0.5, 3.0) if kind == "short" else (20.0, 60.0)
        await drive(run, client, DriveRecord(kind, lane, task_id, "", run.audio_s(low, high, rng)))
    elif kind == "cancel":
        planned = run.audio_s(5.0, 20.0, rng)
        record = DriveRecord(kind, lane, task_id, "", planned)
        await drive(run, client, record, cancel_after_s=rng.uniform(0.3, max(0.3, planned * 0.8)))
    elif kind == "preempt":
        holder = DriveRecord("preempt_holder", lane, task_id, "", run.audio_s(5.0, 15.0, rng))
        started = asyncio.Event()
        holding = asyncio.create_task(drive(run, client, holder, started=started))
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STARTED_WAIT_S):
                    await started.wait()
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            preempter = DriveRecord(kind, lane, task_id, "", run.audio_s(1.0, 3.0, rng))
            await drive(run, client, preempter, DriveOptions(on_conflict="PREEMPT"))
        finally:
            await holding
    elif kind == "bad_config":
        name, bad_task, options = rng.choice(BAD_CONFIGS)
        record = DriveRecord(kind, lane, task_id if bad_task is None else bad_task, name, 0.2)
        await drive(run, client, record, options)
    elif kind == "fault":
        name = rng.choice(sorted(FAULTS))
        fault_task = f"soak-{lane}-fault"
        body = {"fault": FAULTS[name](rng), "task_id": fault_task}
        await asyncio.to_thread(_post_json, f"{run.sim_url}_sim/faults", body)
        try:
            record = DriveRecord(kind, lane, fault_task, name, run.audio_s(1.0, 5.0, rng))
            await drive(run, client, record)
        finally:
            clear = {"clear": True, "task_id": fault_task}
            await asyncio.to_thread(_post_json, f"{run.sim_url}_sim/faults", clear)
    else:
        raise ValueError(f"unknown kind {kind!r}")


async def lane(run: Run, address: str, index: int, lanes: int, seed: int) -> None:
    """Client ``index`` of ``lanes``: scenarios one after another on its own tasks, until the
    deadline or ``run.max_scenarios``; its channel reopened every :data:`SCENARIOS_PER_CHANNEL`."""
    rng = random.Random(f"{seed}-{index}")
    # The lanes start at points of KINDS spread over it: a short run still has every kind.
    offset = index * math.ceil(len(KINDS) / lanes)
    channel: grpc.aio.Channel | None = None
    try:
        for n in range(run.max_scenarios):
            if time.monotonic() >= run.deadline:
                break
            if n % SCENARIOS_PER_CHANNEL == 0:
                if channel is not None:
                    await channel.close(None)
                channel = grpc.aio.insecure_channel(address)
            assert channel is not None
            client = DriveGatewayClient(channel)
            if n < len(KINDS):
                kind = KINDS[(offset + n) % len(KINDS)]
            else:
                kind = rng.choices(KINDS, WEIGHTS)[0]
            await scenario(run, client, kind, index, f"soak-{index}-{n % 4}", rng)
            await asyncio.sleep(rng.uniform(0.0, 0.5))
    finally:
        if channel is not None:
            await channel.close(None)


async def sampler(run: Run, probe: Probe, every_s: float, samples: list[Sample]) -> None:
    """A sample every ``every_s`` before the deadline (bounded by the count that fits): none as
    the load winds down, which :func:`quiesce` samples apart."""
    for k in range(1, math.ceil(run.seconds / every_s) + 1):
        due = run.t0 + k * every_s
        if due >= run.deadline:
            return
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        samples.append(await asyncio.to_thread(probe.sample, run.now()))


async def quiesce(run: Run, probe: Probe, wait_s: float = 15.0) -> Sample:
    """The sample once no drive is live at the gateway (or after ``wait_s``)."""
    sample = await asyncio.to_thread(probe.sample, run.now())
    for _ in range(math.ceil(wait_s / 0.5)):
        if sample.drives_active == 0 and sample.drives_queued == 0:
            break
        await asyncio.sleep(0.5)
        sample = await asyncio.to_thread(probe.sample, run.now())
    await asyncio.sleep(1.0)  # the probe's count is a second old at most
    return await asyncio.to_thread(probe.sample, run.now())


async def soak(
    address: str,
    probe: Probe,
    sim_url: str,
    *,
    seconds: float,
    lanes: int,
    sample_s: float,
    seed: int,
    max_scenarios: int,
) -> tuple[list[Sample], list[DriveRecord], Sample, Sample]:
    """Run the lanes and the sampler for ``seconds``; the samples under load, the drives, and
    the samples before the load and after it (once no drive is live)."""
    async with grpc.aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)
    await asyncio.sleep(1.0)
    before = await asyncio.to_thread(probe.sample, 0.0)
    t0 = time.monotonic()
    run = Run(t0, t0 + seconds, seconds, sim_url, max_scenarios)
    samples: list[Sample] = []
    watching = asyncio.create_task(sampler(run, probe, sample_s, samples))
    try:
        await asyncio.gather(*(lane(run, address, i, lanes, seed) for i in range(lanes)))
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    after = await quiesce(run, probe)
    return samples, run.drives, before, after


# The results.


def write_csv(path: Path, rows: Sequence[Any], kind: type) -> None:
    """Dataclass rows as CSV, one column a field."""
    names = [f.name for f in fields(kind)]
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(names)
        for row in rows:
            writer.writerow(["" if v is None else v for v in (getattr(row, n) for n in names)])


def _fit(points: Sequence[tuple[float, float]]) -> tuple[list[float], list[float]] | None:
    slope = slope_per_hour(points)
    if slope is None:
        return None
    xs = [x for x, _ in points]
    x_mean, y_mean = sum(xs) / len(xs), sum(y for _, y in points) / len(points)
    ends = [min(xs), max(xs)]
    return [x / 60 for x in ends], [y_mean + slope * (x - x_mean) / 3600 for x in ends]


def _medians(
    points: Sequence[tuple[float, float]], bin_s: float
) -> tuple[list[float], list[float]]:
    """The median of the points in each ``bin_s`` of time, at the bin's middle (minutes)."""
    bins: dict[int, list[float]] = {}
    for x, y in points:
        bins.setdefault(int(x // bin_s), []).append(y)
    middles, medians = [], []
    for index, values in sorted(bins.items()):
        values.sort()
        middles.append((index + 0.5) * bin_s / 60)
        medians.append(values[len(values) // 2])
    return middles, medians


def plot(
    document: Mapping[str, Any],
    samples: Sequence[Sample],
    drives: Sequence[DriveRecord],
    path: Path,
) -> None:
    """RSS, fds and threads, tasks and live drives, and set-up latency against time, each with
    its least-squares line and slope per hour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = series(samples, drives)
    summary = document["summary"]
    described = summary["series"]
    figure, axes = plt.subplots(2, 2, figsize=(12, 7.5), sharex=True)
    panels = (
        (axes[0][0], ("rss_mib",), "RSS (MiB)"),
        (axes[0][1], ("fds", "sockets", "threads"), "open fds (sockets among them), threads"),
        (axes[1][0], ("tasks",), "live asyncio tasks"),
        (axes[1][1], ("setup_ms",), "set-up latency (ms, client: call to Started)"),
    )
    for ax, names, title in panels:
        for name in names:
            data = points[name]
            if not data:
                continue
            minutes = [x / 60 for x, _ in data]
            values = [y for _, y in data]
            slope = described[name]["slope_per_h"]
            label = f"{name}: {slope:+.3g}/h" if slope is not None else name
            if name == "setup_ms":
                ax.plot(minutes, values, ".", markersize=2, alpha=0.3, label=label)
                ax.plot(*_medians(data, summary["seconds"] / 30), "-", label="median (30 bins)")
                ranked = sorted(values)
                ax.set_ylim(0, 1.3 * ranked[min(len(ranked) - 1, int(0.99 * len(ranked)))])
            else:
                ax.plot(minutes, values, "-", linewidth=1, label=label)
            fitted = _fit(data)
            if fitted:
                ax.plot(*fitted, "--", color="black", linewidth=0.8)
        if title.startswith("live"):
            active = [(s.t_s / 60, s.drives_active) for s in samples if s.drives_active is not None]
            if active:
                ax.plot(
                    *zip(*active, strict=True),
                    "-",
                    linewidth=0.6,
                    alpha=0.6,
                    label="drives active (metrics)",
                )
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[1]:
        ax.set_xlabel("minutes")
    figure.suptitle(
        f"dh-gateway soak: {summary['seconds']:g} s, {summary['lanes']} lanes, "
        f"{summary['drives']} drives — {document['machine']}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def report(summary: Mapping[str, Any]) -> str:
    """The summary as text: the slopes, the outcomes, the end state."""
    lines = [
        f"soak: {summary['seconds']:g} s, {summary['lanes']} lanes, {summary['drives']} drives "
        f"({summary['drives_per_min']:g} a minute), {sum(summary['unexpected'].values())} "
        f"unexpected outcomes; the gateway's CPU {summary['gateway_cpu_pct']} % of a core",
        f"{'series':>10} {'points':>6} {'first':>9} {'last':>9} {'p50 1st 5th':>12} "
        f"{'p50 last 5th':>12} {'slope/h':>10} {'after warm-up':>14}",
    ]
    for name, row in summary["series"].items():
        lines.append(
            f"{name:>10} {row['points']:6d} {_text(row['first']):>9} {_text(row['last']):>9} "
            f"{_text(row['median_first_fifth']):>12} {_text(row['median_last_fifth']):>12} "
            f"{_text(row['slope_per_h']):>10} {_text(row['slope_per_h_after_warmup']):>14}"
        )
    for kind, row in summary["by_kind"].items():
        outcomes = ", ".join(f"{name} {n}" for name, n in row["outcomes"].items())
        lines.append(f"{kind:>14}: {row['drives']} ({outcomes or '-'})")
    for name, outcomes in summary["faults"].items():
        lines.append(f"  fault {name}: {', '.join(f'{o} {n}' for o, n in outcomes.items())}")
    if summary["unexpected"]:
        lines.append(f"unexpected: {json.dumps(summary['unexpected'])}")
    end = summary["end"]
    lines.append(
        f"end: simulator open {end['open_at_simulator']}, overlaps {end['overlaps']}, "
        f"drives active {end['drives_active']}; start -> end: RSS {end['rss_mib']} MiB, "
        f"fds {end['fds']} (sockets {end['sockets']}), threads {end['threads']}, "
        f"tasks {end['tasks']}"
    )
    return "\n".join(lines)


def _text(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3600.0, help="how long (default 3600)")
    parser.add_argument("--lanes", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument(
        "--sample-s",
        type=float,
        help="seconds between samples (default: 5, or a 60th of a run shorter than 5 min)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-scenarios", type=int, help="per lane, at the most (default: 2 a second of the run)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="output folder")
    parser.add_argument("--name", default="soak", help="the result files' name (default soak)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.lanes < 1:
        parser.error("--seconds must be > 0 and --lanes >= 1")
    sample_s = args.sample_s or (5.0 if args.seconds >= 300 else max(0.2, args.seconds / 60))
    max_scenarios = args.max_scenarios or math.ceil(2 * args.seconds) + len(KINDS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scratch = out / "tmp"  # the gateway's log and the probe's file (bench/results/tmp/)
    scratch.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(16)
    tasks_file = scratch / f"{args.name}-tasks-{secrets.token_hex(4)}"
    began = time.time()
    metrics_address = f"127.0.0.1:{free_port()}"
    probe_command = [sys.executable, "-m", "bench.gateway_probe", "--tasks-file", str(tasks_file)]
    with contextlib.ExitStack() as stack:
        log = stack.enter_context((scratch / f"{args.name}-gateway.log").open("w"))
        stack.callback(tasks_file.unlink, missing_ok=True)
        sim, sim_url = stack.enter_context(simulator(secret))
        gw, address = stack.enter_context(
            gateway_via(
                probe_command, secret, sim_url, {"DHGW_METRICS_LISTEN": metrics_address}, log
            )
        )
        probe = Probe(gw.pid, sim.pid, f"http://{metrics_address}/metrics", tasks_file)
        samples, drives, before, after = asyncio.run(
            soak(
                address,
                probe,
                sim_url,
                seconds=args.seconds,
                lanes=args.lanes,
                sample_s=sample_s,
                seed=args.seed,
                max_scenarios=max_scenarios,
            )
        )
        sim_state = simulator_end_state(sim_url)
    summary = summarise(
        seconds=args.seconds,
        lanes=args.lanes,
        samples=samples,
        drives=drives,
        before=before,
        after=after,
        sim=sim_state,
    )
    document = {
        "command": "python -m bench.soak " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(began)),
        "sample_s": sample_s,
        "seed": args.seed,
        "summary": summary,
        "before": asdict(before),
        "after": asdict(after),
        "samples": [asdict(s) for s in samples],
    }
    name = out / args.name
    Path(f"{name}.json").write_text(json.dumps(document, indent=1) + "\n")
    write_csv(Path(f"{name}.csv"), samples, Sample)
    write_csv(Path(f"{name}-drives.csv"), drives, DriveRecord)
    plot(document, samples, drives, Path(f"{name}.png"))
    print(report(summary))
    print(f"wrote {name}.json, .csv, -drives.csv, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
