"""The servicer's listener: a report whose write fails after its drive was cancelled (the client
went away mid-write) ends quietly, not as an asyncio "exception never retrieved" error."""

from __future__ import annotations

import asyncio
import gc
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.drive.progress import ProgressSnapshot
from gateway.service.servicer import _StreamListener


class _StreamGoneMidWrite:
    """Stands in for grpc.aio's servicer context: its write fails once released, as grpc's
    does for a call the client has left (ExecuteBatchError)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def write(self, message: Any) -> None:
        await self.release.wait()
        raise RuntimeError("execute_batch failed: the call is gone")


@pytest.mark.asyncio
async def test_a_write_failing_after_its_drive_was_cancelled_is_not_logged_as_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    context = _StreamGoneMidWrite()
    listener = _StreamListener(context)  # type: ignore[arg-type]
    drive: Any = SimpleNamespace(drive_id="d-1")
    report = asyncio.create_task(listener.progress(drive, ProgressSnapshot(20, 20, 0, 0)))
    await asyncio.sleep(0.01)
    report.cancel()  # the drive's task is cancelled; the shielded write goes on
    with pytest.raises(asyncio.CancelledError):
        await report
    context.release.set()
    await listener.settle()  # the write has failed by now
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        del report, listener
        gc.collect()
        await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text
