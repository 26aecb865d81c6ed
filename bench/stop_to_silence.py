"""``python -m bench.stop_to_silence``: how long the avatar goes on speaking once a client wants
it silent, for each way of asking, side by side in one run.

The standalone simulator and ``dh-gateway serve`` run as processes on loopback (:mod:`bench.run`,
the gateway as shipped). Each drive streams speech as a fast TTS does (``--speed`` times real
time, so the gateway holds audio and the avatar is the pacing lead ahead), on a task of its
own; ``--ask-after-ms`` after PlaybackStarted the client asks for silence in one of four ways:

* ``cancel``: it cancels its stream (the only way before barge-in): Stop, the avatar plays
  what it was sent;
* ``stop-finish``: StopDrive FINISH: the same, by another call;
* ``interrupt``: ``DriveRequest.interrupt`` on its own stream;
* ``stop-interrupt``: StopDrive INTERRUPT.

The figure is stop-to-silence: from the ask (the client's ``time.monotonic()``, the same clock
as the simulator's on one host) to the simulator's own record of the avatar's silence (its
playout's ``ended_at``), p50 and p99 per way, and each as a ratio to ``cancel``. Also: what the
avatar played after the ask, and for the interrupts how far the gateway's ``played_ms`` is
from the simulator's. Bounded: each drive within :data:`DRIVE_BOUND_S`, the run within
``--max-run-s``. Writes ``bench/results/stop-to-silence.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from dhgateway_client import DriveError, DriveGatewayClient

from bench.__main__ import machine
from bench.lanes import command_line, in_lanes, write_results
from bench.playback_skew_report import percentiles
from bench.run import ROOT, gateway_via, simulator

WAYS = ("cancel", "stop-finish", "interrupt", "stop-interrupt")
BYTES_PER_MS = 32  # 16 kHz mono s16le, the gateway's default input
CHUNK_MS = 20
AUDIO_MS = 8000  # longer than any ask: the drive is always cut short
DRIVE_BOUND_S = 30.0
PLAYOUT_BOUND_S = 10.0


@dataclass
class Result:
    way: str
    outcome: str = ""
    drive_id: str = ""
    asked_at: float | None = None  # time.monotonic(), the simulator's clock
    gateway_played_ms: int | None = None  # StopDrive's answer, or the stream's PlaybackFinished


async def _speech(speed: float) -> AsyncIterator[bytes]:
    """:data:`AUDIO_MS` of audio in :data:`CHUNK_MS` chunks at ``speed`` times real time."""
    chunk = bytes(BYTES_PER_MS * CHUNK_MS)
    loop = asyncio.get_running_loop()
    began = loop.time()
    for k in range(AUDIO_MS // CHUNK_MS):
        if (delay := began + k * CHUNK_MS / 1000 / speed - loop.time()) > 0:
            await asyncio.sleep(delay)
        yield chunk


async def one_drive(
    client: DriveGatewayClient, task_id: str, way: str, speed: float, ask_after_s: float
) -> Result:
    result = Result(way)
    drive = client.drive(task_id, _speech(speed))
    try:
        async with asyncio.timeout(DRIVE_BOUND_S):
            async for event in drive:
                which = event.WhichOneof("event")
                if which == "playback_finished":
                    result.gateway_played_ms = event.playback_finished.played_ms
                if which != "playback_started":
                    continue
                await asyncio.sleep(ask_after_s)
                result.drive_id = drive.drive_id
                result.asked_at = time.monotonic()
                if way == "cancel":
                    await drive.aclose()
                    break
                if way == "interrupt":
                    await drive.interrupt()
                    continue
                if way == "stop-finish":
                    stopped = await client.stop(task_id, mode="FINISH")
                else:
                    stopped = await client.stop(task_id, mode="INTERRUPT")
                result.gateway_played_ms = stopped.played_ms
        result.outcome = "OK"
    except DriveError as error:
        result.outcome = "OK" if error.reason == "STOPPED_BY_REQUEST" else error.reason
    except TimeoutError:
        result.outcome = "TIMEOUT"
    return result


async def drive_all(
    address: str, drives: int, concurrency: int, speed: float, ask_after_s: float, bound_s: float
) -> list[Result]:
    """``drives`` drives of each way, interleaved, ``concurrency`` at a time."""

    def one(client: DriveGatewayClient, i: int) -> Awaitable[Result]:
        return one_drive(client, f"silence-{i}", WAYS[i % len(WAYS)], speed, ask_after_s)

    return await in_lanes(address, drives * len(WAYS), concurrency, bound_s, one)


def ended_playouts(sim_url: str, drive_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The simulator's playouts by drive id, once each of ``drive_ids`` has ended (a cancelled
    drive's avatar goes on for the pacing lead after the stream closed), or after
    :data:`PLAYOUT_BOUND_S`."""
    deadline = time.monotonic() + PLAYOUT_BOUND_S
    while True:
        with urlopen(f"{sim_url.rstrip('/')}/_sim/state", timeout=30) as answer:
            playouts = {p["drive_id"]: p for p in json.loads(answer.read())["playouts"]}
        ended = {i for i, p in playouts.items() if p["ended_at"]}
        if drive_ids <= ended or time.monotonic() > deadline:
            return playouts
        time.sleep(0.1)


def summarise(results: list[Result], playouts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per way: stop-to-silence, what played after the ask, the gateway's played_ms error."""
    ways: dict[str, Any] = {}
    for way in WAYS:
        mine = [r for r in results if r.way == way]
        silence, after, error = [], [], []
        for r in mine:
            playout = playouts.get(r.drive_id)
            if r.outcome != "OK" or r.asked_at is None or not playout or not playout["ended_at"]:
                continue
            silence.append((playout["ended_at"] - r.asked_at) * 1000)
            played_ms = playout["played_ms"] or 0.0
            # What the avatar had played at the ask: its playhead then, by its own record.
            start = playout["speaking_at"] or r.asked_at
            after.append(played_ms - min(played_ms, (r.asked_at - start) * 1000))
            if r.gateway_played_ms is not None and way != "cancel":
                error.append(r.gateway_played_ms - played_ms)
        ways[way] = {
            "drives": len(mine),
            "outcomes": {o: sum(r.outcome == o for r in mine) for o in {r.outcome for r in mine}},
            "stop_to_silence_ms": percentiles(silence),
            "played_after_ask_ms": percentiles(after),
            "played_ms_error_ms": percentiles(error) if error else None,
        }
    base = ways["cancel"]["stop_to_silence_ms"]
    for way in WAYS:
        stats = ways[way]["stop_to_silence_ms"]
        ways[way]["ratio_to_cancel"] = {
            q: round(stats[q] / base[q], 3) if stats[q] is not None and base[q] else None
            for q in ("p50", "p99")
        }
    return ways


def markdown(document: dict[str, Any]) -> str:
    def pair(stats: dict[str, Any] | None) -> str:
        if not stats or stats["p50"] is None:
            return "-"
        return f"{stats['p50']:.1f} / {stats['p99']:.1f}"

    lines = [
        "# Stop to silence",
        "",
        f"`{document['command']}` on {document['machine']}, {document['started']}.",
        f"Speech at {document['speed']}x real time, asked {document['ask_after_ms']} ms after "
        f"PlaybackStarted; {document['drives_per_way']} drives per way, "
        f"{document['concurrency']} at a time.",
        "",
        "| way | outcomes | stop-to-silence p50 / p99 (ms) | vs cancel p50 / p99 "
        "| played after the ask p50 / p99 (ms) | gateway played_ms - simulator's p50 / p99 |",
        "|---|---|---|---|---|---|",
    ]
    for way, figures in document["ways"].items():
        ratio = figures["ratio_to_cancel"]
        ratios = "-" if ratio["p50"] is None else f"{ratio['p50']:.3f}x / {ratio['p99']:.3f}x"
        lines.append(
            f"| {way} | {figures['outcomes']} | {pair(figures['stop_to_silence_ms'])} | {ratios} "
            f"| {pair(figures['played_after_ask_ms'])} | {pair(figures['played_ms_error_ms'])} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stop_to_silence", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--drives", type=int, default=30, help="per way (default 30)")
    parser.add_argument("--concurrency", type=int, default=8, help="drives at once (8)")
    parser.add_argument("--speed", type=float, default=2.0, help="the TTS's pace (2x)")
    parser.add_argument("--ask-after-ms", type=int, default=1500, help="after PlaybackStarted")
    parser.add_argument("--max-run-s", type=float, default=600.0, help="the run's bound (600)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="output folder")
    args = parser.parse_args(argv)
    if args.drives < 1 or args.concurrency < 1 or args.speed <= 0 or args.max_run_s <= 0:
        parser.error("--drives, --concurrency must be >= 1; --speed, --max-run-s > 0")
    began = time.time()
    secret = secrets.token_hex(16)
    with contextlib.ExitStack() as stack:
        _, sim_url = stack.enter_context(simulator(secret))
        _, address = stack.enter_context(gateway_via((), secret, sim_url, {}))
        results = asyncio.run(
            drive_all(
                address,
                args.drives,
                args.concurrency,
                args.speed,
                args.ask_after_ms / 1000,
                args.max_run_s,
            )
        )
        playouts = ended_playouts(sim_url, {r.drive_id for r in results if r.drive_id})
    document = {
        "command": command_line("bench.stop_to_silence", argv),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(began)),
        "speed": args.speed,
        "ask_after_ms": args.ask_after_ms,
        "drives_per_way": args.drives,
        "concurrency": args.concurrency,
        "ways": summarise(results, playouts),
        "drives": [asdict(r) for r in results],
    }
    write_results(Path(args.out), "stop-to-silence", document, markdown(document))
    bad = [r for r in results if r.outcome != "OK"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
