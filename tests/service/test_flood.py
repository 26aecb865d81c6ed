"""A client that sends a 60-second file as fast as it can, to a real `dh-gateway serve` process:
pacing holds it to 1x, HTTP/2 flow control pushes back, the gateway's memory stays bounded and
the avatar never stutters."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
from dhgateway_client import DriveOptions

from bench.run import read_proc
from tests.served import served

SECONDS = 60
RATE, CHANNELS, WIDTH = 48000, 2, 4  # float stereo: 23 MB, so absorbing it would show
BYTES_PER_MS = RATE * CHANNELS * WIDTH / 1000
CHUNK = int(100 * BYTES_PER_MS)  # 100 ms messages


@pytest.mark.asyncio
@pytest.mark.timeout(150)
async def test_flooding_client_is_held_to_real_time_with_bounded_memory() -> None:
    t = np.arange(RATE * SECONDS) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 330 * t)).astype("<f4")
    audio = np.repeat(tone[:, None], CHANNELS, axis=1).tobytes()
    options = DriveOptions(encoding="FLOAT32", sample_rate_hz=RATE, channels=CHANNELS)
    async with served() as s:
        pid = s.process.pid
        # Warm up (imports, first connection) so the baseline is the idle gateway.
        async for _ in s.client.drive("warm", [audio[: CHUNK * 2]], options):
            pass
        baseline = peak = read_proc(pid)[1]
        written = 0
        ahead_ms: list[float] = []

        async def flood() -> AsyncIterator[bytes]:
            nonlocal written
            for offset in range(0, len(audio), CHUNK):
                yield audio[offset : offset + CHUNK]
                written += CHUNK  # taken by the writer: flow control let it through

        completed = None
        async for event in s.client.drive("flood", flood(), options):
            peak = max(peak, read_proc(pid)[1])
            if event.WhichOneof("event") == "progress":
                ahead_ms.append(written / BYTES_PER_MS - event.progress.sent_ms)
            elif event.WhichOneof("event") == "completed":
                completed = event.completed
        assert completed is not None
        record = await s.sim.wait_closed(s.sim.drives[-1].drive_id, timeout=5)
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
