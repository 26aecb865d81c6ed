"""Completed.time_to_first_frame_ms and time_to_speaking_ms against the client's own clock, and
the histograms that count them: bounds only (the client cannot see the gateway's clock, but it
knows what came before and after each of its points)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from dhgateway.v1 import gateway_pb2 as pb

from gateway.callbacks.receiver import PATH
from gateway.testing import Harness
from tests.observability.conftest import Samples, http_get, observed_gateway, parse_samples, value
from tests.service.conftest import CALLBACK_SECRET, callback_gateway, chunks, pcm


@dataclass
class Timed:
    """One drive as its client saw it (``time.monotonic()``, the gateway's clock in-process
    is the loop's, so only differences of the client's own points are compared)."""

    began: float = 0.0  # before the stream opened (the config goes out after)
    started: float | None = None  # Started received
    first_chunk: float | None = None  # the first audio chunk handed to the stream
    speaking: float | None = None  # PlaybackStarted received
    events: list[pb.DriveEvent] = field(default_factory=list)

    def of(self, kind: str) -> pb.DriveEvent:
        return next(e for e in self.events if e.WhichOneof("event") == kind)


async def timed_drive(h: Harness, task: str, audio: bytes, *, wait_s: float | None) -> Timed:
    """A drive of ``audio`` in 20 ms chunks; with ``wait_s`` its first chunk goes that long
    after Started arrived (a client that waits for Started), else at once."""
    timed = Timed()
    started = asyncio.Event()

    async def source() -> AsyncIterator[bytes]:
        if wait_s is not None:
            await started.wait()
            await asyncio.sleep(wait_s)
        for index, piece in enumerate(chunks(audio, 640)):
            if index == 0:
                timed.first_chunk = time.monotonic()
            yield piece

    timed.began = time.monotonic()
    async with asyncio.timeout(30):
        async for event in h.client.drive(task, source()):
            now = time.monotonic()
            timed.events.append(event)
            kind = event.WhichOneof("event")
            if kind == "started":
                timed.started = now
                started.set()
            elif kind == "playback_started":
                timed.speaking = now
    assert timed.events[-1].WhichOneof("event") == "completed"
    return timed


def check_bounds(timed: Timed) -> pb.Completed:
    """The bounds every drive keeps; its Completed."""
    completed = timed.of("completed").completed
    setup_ms = timed.of("started").started.setup_ms
    assert timed.started is not None and timed.first_chunk is not None
    assert timed.speaking is not None
    ttff, tts = completed.time_to_first_frame_ms, completed.time_to_speaking_ms
    # No frame before Start, no PlaybackStarted before a frame.
    assert setup_ms <= ttff <= tts
    # The config came after ``began``, the PlaybackStarted went before the client got it.
    assert tts <= math.ceil((timed.speaking - timed.began) * 1000) + 1
    # The config came before Started was received; the first frame after the first chunk left.
    assert ttff >= math.floor((timed.first_chunk - timed.started) * 1000) - 1
    return completed


async def scrape(url: str) -> Samples:
    status, text = await http_get(f"{url}/metrics")
    assert status == 200
    return parse_samples(text)


@pytest.mark.asyncio
async def test_completed_says_how_soon_the_avatar_spoke_and_the_histograms_count_it() -> None:
    async with observed_gateway() as o:
        h = o.harness
        eager = await timed_drive(h, "ttff-eager", pcm(400), wait_s=None)
        waiting = await timed_drive(h, "ttff-waiting", pcm(400), wait_s=0.15)
        samples = await o.scrape()

    drives = [check_bounds(eager), check_bounds(waiting)]
    # The client that waited for Started and then 150 ms: its first frame came at least that
    # long after the config (the bound above); the eager one's audio was there at Start.
    assert waiting.of("completed").completed.time_to_first_frame_ms >= 149
    for name, ms in (
        ("dhgw_time_to_first_frame_seconds", [c.time_to_first_frame_ms for c in drives]),
        ("dhgw_time_to_speaking_seconds", [c.time_to_speaking_ms for c in drives]),
    ):
        assert value(samples, f"{name}_count") == len(drives)
        # Each drive's value rounded to the millisecond in Completed: half of one apart each.
        assert value(samples, f"{name}_sum") == pytest.approx(sum(ms) / 1000, abs=0.001)
        assert value(samples, f"{name}_bucket", le="+Inf") == len(drives)


@pytest.mark.asyncio
async def test_the_vendors_word_after_its_render_latency_is_the_time_to_speaking() -> None:
    """With the simulator's callbacks and a render latency, PlaybackStarted waits for the
    vendor's Status 2: at least that latency after the first frame."""
    latency_ms = 120
    async with callback_gateway(grace_ms=2000, simulator={"render_latency_ms": latency_ms}) as h:
        assert h.app.callbacks is not None
        h.sim.set_callbacks(f"http://{h.app.callbacks.address}{PATH}", CALLBACK_SECRET)
        timed = await timed_drive(h, "ttff-vendor", pcm(600), wait_s=None)
        samples = await scrape(f"http://{h.app.metrics_address}")

    completed = check_bounds(timed)
    started = timed.of("playback_started").playback_started
    assert started.source == pb.PLAYBACK_SOURCE_VENDOR
    # The avatar began after the first frame reached it plus the render latency.
    assert completed.time_to_speaking_ms - completed.time_to_first_frame_ms >= latency_ms - 1
    assert value(samples, "dhgw_time_to_speaking_seconds_count") == 1
    assert value(samples, "dhgw_time_to_speaking_seconds_sum") >= latency_ms / 1000
