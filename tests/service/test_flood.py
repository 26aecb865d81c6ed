"""A client that sends a 60-second file as fast as it can, to a real `dh-gateway serve` process:
pacing holds it to 1x, HTTP/2 flow control pushes back, the gateway's memory stays bounded and
the avatar never stutters."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from dhgateway_client import DriveOptions, drive

from gateway.simulator import Simulator, SimulatorConfig

SECONDS = 60
RATE, CHANNELS, WIDTH = 48000, 2, 4  # float stereo: 23 MB, so absorbing it would show
BYTES_PER_MS = RATE * CHANNELS * WIDTH / 1000
CHUNK = int(100 * BYTES_PER_MS)  # 100 ms messages


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match
    return int(match.group(1))


async def start_gateway(sim: Simulator, secret: str) -> tuple[asyncio.subprocess.Process, str]:
    env = dict(
        os.environ,
        DHGW_ZEGO_APP_ID="1234567890",
        DHGW_ZEGO_SERVER_SECRET=secret,
        DHGW_ZEGO_API_URL=sim.http_url,
        DHGW_LISTEN="127.0.0.1:0",
        DHGW_METRICS_LISTEN="",
    )
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "dh-gateway"),
        "--log-level",
        "WARNING",
        "serve",
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    match = re.search(rb"listening on (\S+)", line)
    assert match, line
    return process, match.group(1).decode()


@pytest.mark.asyncio
@pytest.mark.timeout(150)
async def test_flooding_client_is_held_to_real_time_with_bounded_memory() -> None:
    secret = "f" * 32
    t = np.arange(RATE * SECONDS) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 330 * t)).astype("<f4")
    audio = np.repeat(tone[:, None], CHANNELS, axis=1).tobytes()
    async with Simulator(SimulatorConfig(app_id=1234567890, server_secret=secret)) as sim:
        process, address = await start_gateway(sim, secret)
        try:
            options = DriveOptions(encoding="FLOAT32", sample_rate_hz=RATE, channels=CHANNELS)
            async with grpc.aio.insecure_channel(address) as channel:
                # Warm up (imports, first connection) so the baseline is the idle gateway.
                async for _ in drive(channel, "warm", [audio[: CHUNK * 2]], options):
                    pass
                baseline = rss_kib(process.pid)
                written = 0
                peak = baseline
                ahead_ms: list[float] = []

                async def flood() -> AsyncIterator[bytes]:
                    nonlocal written
                    for offset in range(0, len(audio), CHUNK):
                        yield audio[offset : offset + CHUNK]
                        written += CHUNK  # taken by the writer: flow control let it through

                completed = None
                async for event in drive(channel, "flood", flood(), options):
                    peak = max(peak, rss_kib(process.pid))
                    if event.WhichOneof("event") == "progress":
                        ahead_ms.append(written / BYTES_PER_MS - event.progress.sent_ms)
                    elif event.WhichOneof("event") == "completed":
                        completed = event.completed
            assert completed is not None
            record = await sim.wait_closed(sim.drives[-1].drive_id, timeout=5)
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
    growth_mib = (peak - baseline) / 1024
    print(
        f"\nflood: RSS baseline {baseline / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB "
        f"(+{growth_mib:.1f} MiB for a {len(audio) / 2**20:.0f} MiB file); client ahead of "
        f"the avatar by at most {max(ahead_ms):.0f} ms"
    )
    assert record.underruns == 0
    assert abs(record.audio_ms - SECONDS * 1000) <= 1
    assert completed.sent_ms == SECONDS * 1000
    # Backpressure: the client is never more than a few seconds of audio ahead of what the
    # avatar received (the lead, the HTTP/2 window, a frame), and the gateway never holds a
    # meaningful part of the file.
    assert max(ahead_ms) < 5000
    assert growth_mib < len(audio) / 2**20 / 4
