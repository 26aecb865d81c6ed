"""How often admission refuses an idle gateway: sequential single drives, defaults as shipped.

Issue 16 found 2-3 refusals (RESOURCE_EXHAUSTED / GATEWAY_OVERLOADED) in every 500 sequential
single drives, on loop lag alone, with no other drive live. This drives ``--drives`` short
drives one after another, ``--gap-ms`` apart (an idle gateway: about 10 set-ups a second),
through a ``dh-gateway serve`` process (admission by load on, as shipped) in front of the
standalone simulator, and counts the outcomes.

``--noise`` adds a neighbour on the host: one process per core that burns the CPU for
``--burst-ms`` of every ``--every-ms`` (the gateway's loop runs late in bursts, as on a shared
host).

Usage: ``python -m bench.idle_admission [--drives 1000] [--gap-ms 100] [--audio-ms 40]
[--noise]``; prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import grpc
from dhgateway_client import DriveError, DriveGatewayClient

from bench.run import gateway, simulator

#: A neighbour's bursts: busy BURST s of every EVERY s, for at most an hour (bounded).
_NOISE = """
import sys, time
burst_s, every_s = float(sys.argv[1]), float(sys.argv[2])
end = time.monotonic() + 3600
while time.monotonic() < end:
    burst = time.monotonic() + burst_s
    while time.monotonic() < burst:
        pass
    time.sleep(every_s - burst_s)
"""


@contextlib.contextmanager
def noise(processes: int, burst_s: float, every_s: float) -> Iterator[None]:
    """``processes`` neighbours burning the CPU in bursts, for the block."""
    command = [sys.executable, "-c", _NOISE, str(burst_s), str(every_s)]
    spawned = [subprocess.Popen(command) for _ in range(processes)]
    try:
        yield
    finally:
        for process in spawned:
            process.kill()
            process.wait(10)


async def drive_many(
    address: str, drives: int, audio: bytes, gap_s: float
) -> collections.Counter[str]:
    outcomes: collections.Counter[str] = collections.Counter()
    async with grpc.aio.insecure_channel(address) as channel:
        client = DriveGatewayClient(channel)
        for i in range(drives):  # bounded: one drive at a time, each within 10 s
            try:
                async with asyncio.timeout(10):
                    async for _ in client.drive(f"idle-{i % 20}", [audio]):
                        pass
                outcomes["OK"] += 1
            except DriveError as error:
                outcomes[f"{error.code.name}/{error.reason}"] += 1
            except TimeoutError:
                outcomes["TIMEOUT"] += 1
            await asyncio.sleep(gap_s)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drives", type=int, default=1000)
    parser.add_argument("--gap-ms", type=int, default=100)
    parser.add_argument("--audio-ms", type=int, default=40)
    parser.add_argument("--noise", action="store_true", help="neighbours burning CPU in bursts")
    parser.add_argument("--burst-ms", type=int, default=60)
    parser.add_argument("--every-ms", type=int, default=2000)
    args = parser.parse_args(argv)
    secret = secrets.token_hex(16)
    audio = bytes(32 * args.audio_ms)  # 16 kHz mono s16le
    with contextlib.ExitStack() as stack:
        _, sim_url = stack.enter_context(simulator(secret))
        _, address = stack.enter_context(gateway(secret, sim_url))
        if args.noise:
            burst_s, every_s = args.burst_ms / 1000, args.every_ms / 1000
            stack.enter_context(noise(os.cpu_count() or 1, burst_s, every_s))
        started = time.monotonic()
        outcomes = asyncio.run(drive_many(address, args.drives, audio, args.gap_ms / 1000))
        elapsed = time.monotonic() - started
    result: dict[str, Any] = {
        "drives": args.drives,
        "gap_ms": args.gap_ms,
        "noise": f"{args.burst_ms}/{args.every_ms} ms" if args.noise else None,
        "seconds": round(elapsed, 1),
        "refused_overloaded": outcomes["RESOURCE_EXHAUSTED/GATEWAY_OVERLOADED"],
        "per_1000": round(
            1000 * outcomes["RESOURCE_EXHAUSTED/GATEWAY_OVERLOADED"] / args.drives, 2
        ),
        "outcomes": dict(outcomes),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
