"""``python -m bench.playback_skew``: how far the vendor's word is from the gateway's playhead
estimate, and how long a stream stays open after the client's half-close for the avatar.

Each run starts the standalone simulator and ``dh-gateway serve`` as processes on loopback
(:mod:`bench.run`; the gateway as shipped, its log as JSON at INFO), then makes ``--drives``
drives (default 50), ``--concurrency`` at a time, each on a task of its own, cycling through
:data:`KINDS`: short (0.6 s) and long (4 s) audio in 20 and 100 ms chunks, sent at 1x as a
streaming TTS sends it (``realtime``) or all at once as a file (``burst``: the gateway paces
it). The runs, each on fresh processes:

* ``baseline``: no callbacks; the stream closes at the estimate;
* ``vendor-<L>ms``: the simulator sends its signed EventType 4 callbacks to the gateway
  (``server.callback_grace_ms`` as shipped, 500 ms), its render latency L being the default (0)
  and each of ``--latencies``.

Per run: the skew, the vendor's time minus the estimate's (signed, ms; from each drive's
``drive completed`` log line, the value ``dhgw_playback_skew_seconds`` observes), of the start
and of the finish; the playout wait (Stop to PlaybackFinished, ``dhgw_drive_playout_wait_seconds``)
and, as the client sees it, half-close to Completed; p50 and p99 each, the last two also as
ratios to the baseline's. The histograms' counts on ``/metrics`` are checked against the log
lines. Bounded: each drive within its audio plus :data:`DRIVE_SLACK_S`, each run within
``--max-run-s``. Writes ``bench/results/playback-skew.json`` and ``.md`` (tables:
:mod:`bench.playback_skew_report`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from dhgateway.v1 import gateway_pb2 as pb
from dhgateway_client import DriveError, DriveGatewayClient, DriveOptions

from bench.__main__ import machine
from bench.lanes import command_line, in_lanes, write_results
from bench.playback_skew_report import (
    DriveResult,
    markdown,
    p50_p99,
    summarise_run,
    with_ratios,
)
from bench.run import ROOT, gateway_via, simulator
from bench.soak import free_port
from gateway.callbacks.receiver import PATH
from gateway.config import ServerConfig

#: A drive may take this long beyond its audio (set-up, the pacing lead, the grace window).
DRIVE_SLACK_S = 20.0
BYTES_PER_MS = 32  # 16 kHz mono s16le, the gateway's default input


@dataclass(frozen=True)
class Kind:
    """One kind of drive: how much audio, in which chunks, at which pace."""

    audio_ms: int
    chunk_ms: int
    pace: str  # "realtime" or "burst"

    @property
    def label(self) -> str:
        return f"{self.audio_ms}ms/{self.chunk_ms}ms/{self.pace}"


KINDS = tuple(
    Kind(audio, chunk, pace)
    for pace in ("realtime", "burst")
    for audio in (600, 4000)
    for chunk in (20, 100)
)


def _source(value: pb.PlaybackSource.ValueType) -> str:
    return pb.PlaybackSource.Name(value).removeprefix("PLAYBACK_SOURCE_")


async def _audio(kind: Kind, half_closed: list[float]) -> AsyncIterator[bytes]:
    """The drive's chunks at its pace; notes when the last was taken (the half-close)."""
    chunk = bytes(BYTES_PER_MS * kind.chunk_ms)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for k in range(kind.audio_ms // kind.chunk_ms):
        if kind.pace == "realtime" and (delay := t0 + k * kind.chunk_ms / 1000 - loop.time()) > 0:
            await asyncio.sleep(delay)
        yield chunk
    half_closed.append(time.monotonic())


async def one_drive(client: DriveGatewayClient, task_id: str, kind: Kind) -> DriveResult:
    """One drive of ``kind`` on ``task_id``, within its audio plus :data:`DRIVE_SLACK_S`."""
    result = DriveResult(kind.label, kind.pace)
    half_closed: list[float] = []
    try:
        async with asyncio.timeout(kind.audio_ms / 1000 + DRIVE_SLACK_S):
            labels = {"pace": kind.pace, "kind": kind.label}
            audio = _audio(kind, half_closed)
            async for event in client.drive(task_id, audio, DriveOptions(labels=labels)):
                which = event.WhichOneof("event")
                if which == "playback_started":
                    result.playback_events += 1
                    result.started = _source(event.playback_started.source)
                elif which == "playback_finished":
                    result.playback_events += 1
                    result.finished = _source(event.playback_finished.source)
                elif which == "completed" and half_closed:
                    waited_s = time.monotonic() - half_closed[0]
                    result.half_close_to_completed_ms = round(waited_s * 1000, 2)
        result.outcome = "OK"
    except DriveError as error:
        result.outcome = f"{error.code.name}/{error.reason}"
    except TimeoutError:
        result.outcome = "TIMEOUT"
    return result


async def drive_all(
    address: str, drives: int, concurrency: int, max_run_s: float, run_name: str
) -> list[DriveResult]:
    """``drives`` drives, ``concurrency`` at a time, each on a task of its own; those not
    done within ``max_run_s`` are cancelled and left out."""

    def one(client: DriveGatewayClient, i: int) -> Awaitable[DriveResult]:
        return one_drive(client, f"skew-{run_name}-{i}", KINDS[i % len(KINDS)])

    return await in_lanes(address, drives, concurrency, max_run_s, one)


# The runs.


def run_once(
    name: str,
    *,
    latency_ms: float | None,
    drives: int,
    concurrency: int,
    max_run_s: float,
    scratch: Path,
) -> dict[str, Any]:
    """One run on fresh processes: with the simulator's callbacks at ``latency_ms`` of render
    latency, or none (None: the baseline)."""
    secret = secrets.token_hex(16)
    metrics_address = f"127.0.0.1:{free_port()}"
    env = {"DHGW_METRICS_LISTEN": metrics_address, "DHGW_LOG_FORMAT": "json"}
    sim_args: list[str] = []
    if latency_ms is not None:
        callback_secret = secrets.token_hex(16)
        callback_address = f"127.0.0.1:{free_port()}"
        env |= {"DHGW_CALLBACK_LISTEN": callback_address}
        env |= {"DHGW_ZEGO_CALLBACK_SECRET": callback_secret}
        sim_args += ["--render-latency-ms", f"{latency_ms:g}"]
        sim_args += ["--callback-url", f"http://{callback_address}{PATH}"]
        sim_args += ["--callback-secret", callback_secret]
    log_path = scratch / f"playback-skew-{name}.log"
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(log_path.open("w"))
        _, sim_url = stack.enter_context(simulator(secret, *sim_args))
        _, address = stack.enter_context(
            gateway_via((), secret, sim_url, env, log, log_level="INFO")
        )
        results = asyncio.run(drive_all(address, drives, concurrency, max_run_s, name))
        with urlopen(f"http://{metrics_address}/metrics", timeout=30) as answer:
            metrics_text = answer.read().decode()
    lines = log_path.read_text().splitlines()  # kept in bench/results/tmp/ for a look
    return summarise_run(name, latency_ms, results, lines, metrics_text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.playback_skew", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--drives", type=int, default=50, help="per run (default 50)")
    parser.add_argument("--concurrency", type=int, default=10, help="drives at once (10)")
    parser.add_argument(
        "--latencies", default="250", help="more render latencies, ms, comma-separated (250)"
    )
    parser.add_argument("--max-run-s", type=float, default=300.0, help="per run (300)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="output folder")
    parser.add_argument("--name", default="playback-skew", help="the result files' name")
    args = parser.parse_args(argv)
    if args.drives < 1 or args.concurrency < 1 or args.max_run_s <= 0:
        parser.error("--drives and --concurrency must be >= 1, --max-run-s > 0")
    latencies = [0.0] + [float(v) for v in args.latencies.split(",") if v.strip()]
    out = Path(args.out)
    scratch = out / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    began = time.time()
    plan: list[tuple[str, float | None]] = [("baseline", None)]
    plan += [(f"vendor-{latency:g}ms", latency) for latency in latencies]
    runs = []
    for name, latency in plan:
        run = run_once(
            name,
            latency_ms=latency,
            drives=args.drives,
            concurrency=args.concurrency,
            max_run_s=args.max_run_s,
            scratch=scratch,
        )
        start, end = p50_p99(run["start_skew_ms"]), p50_p99(run["end_skew_ms"])
        print(
            f"{name:>14}: {run['outcomes']}, finished {run['finished']}, start skew {start} ms, "
            f"finish skew {end} ms, playout wait {p50_p99(run['playout_wait_ms']['all'])} ms",
            flush=True,
        )
        runs.append(run)
    document = {
        "command": command_line("bench.playback_skew", argv),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(began)),
        "grace_ms": ServerConfig().callback_grace_ms,  # as shipped: the gateway's default
        "kinds": [asdict(kind) for kind in KINDS],
        "runs": with_ratios(runs),
    }
    write_results(out, args.name, document, markdown(document))
    disagree = [r["name"] for r in runs if not all(r["metrics_agree"].values())]
    if disagree:
        print(f"/metrics disagrees with the log in: {', '.join(disagree)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
