"""Graceful drain of a real ``dh-gateway serve`` process, against the simulator in this process.

SIGTERM (or SIGINT): health turns NOT_SERVING, new drives get UNAVAILABLE / DRAINING, live
drives may finish for ``drain_timeout_s``, the rest are ended with their Stop sent; exit 0.
A second signal ends the live drives at once, still with their Stop. The first test runs on
both event loops the gateway offers.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator

import grpc
import pytest

from tests.served import runs_uvloop, served
from tests.service.conftest import chunks, pcm, realtime, started_drive_id, stream_error

C = grpc.StatusCode


def speech(ms: int) -> AsyncIterator[bytes]:
    """``ms`` of audio at the pace of a real-time source."""
    return realtime(chunks(pcm(ms), 3200), 100)


@pytest.mark.asyncio
@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
async def test_sigterm_lets_the_live_drive_finish(event_loop: str) -> None:
    async with served(DRAIN_TIMEOUT_S="20", EVENT_LOOP=event_loop) as s:
        assert runs_uvloop(s.process.pid) == (event_loop == "uvloop")
        stream = s.client.drive("live", speech(1500))
        drive_id = await started_drive_id(stream)
        s.process.send_signal(signal.SIGTERM)
        await s.not_serving()
        error = await stream_error(s.client.drive("late", [pcm(100)]))
        assert (error.code, error.reason) == (C.UNAVAILABLE, "DRAINING")
        events = [e.WhichOneof("event") async for e in stream]
        assert events[-1] == "completed"
        assert await s.exit_code() == 0, b"".join(s.stderr)
        record = await s.sim.wait_closed(drive_id)
        assert record.stopped_at is not None and record.clean_close
        assert abs(record.audio_ms - 1500) <= 1
        assert s.sim.drives_for_task("late") == []


@pytest.mark.asyncio
async def test_a_drive_longer_than_the_drain_is_stopped_and_told_draining() -> None:
    async with served(DRAIN_TIMEOUT_S="0.5") as s:
        stream = s.client.drive("long", speech(20_000))
        drive_id = await started_drive_id(stream)
        s.process.send_signal(signal.SIGTERM)
        error = await stream_error(stream)
        assert (error.code, error.reason) == (C.UNAVAILABLE, "DRAINING")
        assert error.metadata["drive_id"] == drive_id
        assert await s.exit_code() == 0, b"".join(s.stderr)
        record = await s.sim.wait_closed(drive_id)
        assert record.stopped_at is not None  # the Stop was sent before the socket closed
        assert record.audio_ms < 20_000


@pytest.mark.asyncio
async def test_a_second_signal_stops_the_drives_at_once_still_with_stop() -> None:
    async with served(DRAIN_TIMEOUT_S="120") as s:
        streams = [s.client.drive(f"t{i}", speech(20_000)) for i in range(3)]
        drive_ids = [await started_drive_id(stream) for stream in streams]
        s.process.send_signal(signal.SIGTERM)
        await s.not_serving()
        s.process.send_signal(signal.SIGINT)
        for stream in streams:
            error = await stream_error(stream)
            assert (error.code, error.reason) == (C.UNAVAILABLE, "DRAINING")
        assert await s.exit_code() == 0, b"".join(s.stderr)
        for drive_id in drive_ids:
            record = await s.sim.wait_closed(drive_id)
            assert record.stopped_at is not None
        stderr = b"".join(s.stderr).decode()
        assert "SIGTERM: draining" in stderr and "SIGINT again" in stderr


@pytest.mark.asyncio
async def test_sigint_without_drives_exits_at_once() -> None:
    async with served() as s:
        s.process.send_signal(signal.SIGINT)
        assert await s.exit_code() == 0, b"".join(s.stderr)
