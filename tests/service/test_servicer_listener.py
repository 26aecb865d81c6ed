"""The servicer's listener: a report whose write fails after its drive was cancelled (the client
went away mid-write) ends quietly, not as an asyncio "exception never retrieved" error; and
Progress never queues behind a write the client has not taken."""

from __future__ import annotations

import asyncio
import gc
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.drive.audio import OutputFormat
from gateway.drive.progress import ProgressSnapshot
from gateway.service.servicer import _StreamListener


class _StreamGoneMidWrite:
    """Stands in for grpc.aio's servicer context: its writes wait until released, then fail
    as grpc's do for a call the client has left (ExecuteBatchError)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.writes: list[Any] = []

    async def write(self, message: Any) -> None:
        self.writes.append(message)
        await self.release.wait()
        raise RuntimeError("execute_batch failed: the call is gone")


#: The task room's side of the listener, which these tests do not look at.
NO_TASKS: Any = SimpleNamespace(
    drive_started=lambda drive: None, playback=lambda drive, event: None
)


@pytest.mark.asyncio
async def test_a_write_failing_after_its_drive_was_cancelled_is_not_logged_as_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    context = _StreamGoneMidWrite()
    listener = _StreamListener(context, NO_TASKS)  # type: ignore[arg-type]
    drive: Any = SimpleNamespace(drive_id="d-1")
    output = OutputFormat(sample_rate_hz=16000, channels=1, voice_channel=0)
    report = asyncio.create_task(listener.started(drive, output, 5))
    await asyncio.sleep(0.01)
    report.cancel()  # the drive's task is cancelled; the shielded write goes on
    with pytest.raises(asyncio.CancelledError):
        await report
    context.release.set()
    await listener.settle()  # the write has failed by now
    listener.progress(drive, ProgressSnapshot(20, 20, 0, 0))  # fails too, unawaited
    await listener.settle()
    assert len(context.writes) == 2
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        del report, listener
        gc.collect()
        await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text


@pytest.mark.asyncio
async def test_progress_is_dropped_while_the_client_has_not_taken_the_last_write() -> None:
    context = _StreamGoneMidWrite()
    listener = _StreamListener(context, NO_TASKS)  # type: ignore[arg-type]
    drive: Any = SimpleNamespace(drive_id="d-1")
    for sent in (20, 40, 60):
        listener.progress(drive, ProgressSnapshot(sent, sent, 0, 0))
        await asyncio.sleep(0)
    assert [m.progress.sent_ms for m in context.writes] == [20]  # never a backlog
    context.release.set()
    await listener.settle()
    listener.progress(drive, ProgressSnapshot(80, 80, 0, 0))  # the stream is free again
    await asyncio.sleep(0)
    assert [m.progress.sent_ms for m in context.writes] == [20, 80]
    await listener.settle()
