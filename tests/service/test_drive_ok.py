"""A drive that succeeds: bytes, Start/Stop, accounting, sequential DriveIds, cancel."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from dhgateway.v1 import gateway_pb2 as pb
from dhgateway_client import DriveOptions

from gateway.config import PacingConfig
from gateway.simulator import Fault
from gateway.testing import Harness, running_gateway
from tests.service.conftest import chunks, pcm, realtime


@pytest.mark.asyncio
@pytest.mark.parametrize("rate", [16000, 24000])
async def test_byte_exact_delivery_with_start_stop_and_completed(
    harness: Harness, rate: int
) -> None:
    audio = pcm(1500, rate)
    events = [
        e
        async for e in harness.client.drive(
            "task-ok", chunks(audio, 3200), DriveOptions(sample_rate_hz=rate)
        )
    ]
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "started" and kinds[-1] == "completed"
    assert events[0].started.output_sample_rate_hz == rate
    drive_id = events[0].drive_id
    record = await harness.sim.wait_closed(drive_id, timeout=5)
    assert record.audio == audio
    assert record.start is not None and record.sample_rate == rate
    assert record.stopped_at is not None and record.clean_close
    assert record.errors == []
    assert record.stop_lag_ms is not None and record.stop_lag_ms < 20
    assert record.underruns == 0
    done = events[-1].completed
    assert done.bytes_sent == len(audio)
    assert done.sent_ms == 1500 and done.received_ms == 1500
    assert done.frames_sent == record.frame_count
    assert done.stop_lag_ms < 20


@pytest.mark.asyncio
async def test_two_sequential_streams_get_two_drive_ids(harness: Harness) -> None:
    ids = []
    for _ in range(2):
        async for event in harness.client.drive("task-seq", [pcm(100)]):
            ids.append(event.drive_id)
    assert len(set(ids)) == 2
    assert [d.drive_id for d in harness.sim.drives_for_task("task-seq")] == list(dict.fromkeys(ids))


@pytest.mark.asyncio
async def test_realtime_stream_reports_progress_and_no_underruns(harness: Harness) -> None:
    """Longer than the pacing lead (1 s): past it the pacer holds each chunk back and the
    timer loop releases it, which must be woken for every chunk that arrives."""
    events = [
        e async for e in harness.client.drive("task-rt", realtime(chunks(pcm(2500), 640), 20))
    ]
    progress = [e for e in events if e.WhichOneof("event") == "progress"]
    assert 2 <= len(progress) <= 11  # at least 1/s, at most 4/s over ~2.5 s
    record = await harness.sim.wait_closed(events[0].drive_id, timeout=5)
    assert record.underruns == 0
    assert events[-1].completed.underruns == 0
    assert record.audio == pcm(2500)


@pytest.mark.asyncio
@pytest.mark.parametrize(("interval_ms", "fewest", "most"), [(250, 7, 10), (1000, 1, 3)])
async def test_progress_comes_at_the_configured_interval(
    interval_ms: int, fewest: int, most: int
) -> None:
    pacing = PacingConfig(progress_interval_ms=interval_ms)
    async with running_gateway(pacing=pacing) as h:
        audio = realtime(chunks(pcm(2400), 3200), 100)
        began_ms = time.time_ns() // 1_000_000
        events = [e async for e in h.client.drive("task-progress", audio)]
        ended_ms = time.time_ns() // 1_000_000
    # Every event is stamped with the wall clock when it was written.
    assert all(began_ms <= e.time.ToMilliseconds() <= ended_ms for e in events)
    times = [e.time.ToMilliseconds() for e in events if e.WhichOneof("event") == "progress"]
    assert fewest <= len(times) <= most, times  # over ~2.4 s of real-time audio
    assert all(b - a >= interval_ms - 5 for a, b in itertools.pairwise(times)), times


@pytest.mark.asyncio
async def test_client_cancel_sends_stop_within_100ms_and_no_more_audio(harness: Harness) -> None:
    stream = harness.client.drive("task-cancel", realtime(chunks(pcm(10_000), 640), 20))
    drive_id = ""
    async for event in stream:
        drive_id = event.drive_id
        if event.WhichOneof("event") == "progress":
            break
    cancelled_at = time.monotonic()
    await stream.aclose()  # cancels the RPC
    record = await harness.sim.wait_closed(drive_id, timeout=5)
    assert record.stopped_at is not None
    assert (record.stopped_at - cancelled_at) * 1000 < 100
    assert record.last_audio_at is not None and record.last_audio_at <= record.stopped_at
    assert record.errors == []
    await asyncio.wait_for(_until_no_drives(harness), 5)


async def _until_no_drives(harness: Harness) -> None:
    for _ in range(200):
        if not harness.app.drives and harness.app.registry.holder("1234567890:task-cancel") is None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the drive was not released")


@pytest.mark.asyncio
async def test_rate_limited_drive_reports_queued_then_succeeds(harness: Harness) -> None:
    harness.sim.set_fault(Fault(force_code=400010009, times=2), task_id="task-rl")
    events = [e async for e in harness.client.drive("task-rl", [pcm(100)])]
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "queued" and kinds[-1] == "completed"
    assert events[0].queued.reason == pb.Queued.REASON_RATE_LIMITED
    assert kinds.count("queued") == 1
