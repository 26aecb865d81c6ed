"""``InterruptDriveTask`` through the HTTP client: the body the vendor documents (zego-api.md
§11), the limiter and the retry rules of every call, and its typed errors."""

from __future__ import annotations

import json

import pytest

from gateway.config import Credentials
from gateway.errors import Reason, UpstreamApiError
from gateway.simulator import PlayoutOutcome, Simulator
from gateway.upstream import UpstreamClient
from tests.upstream.conftest import APP_ID, TASK, short_config
from tests.upstream.test_api import CountingLimiter, Scripted, ok, scripted, status

__all__ = ["scripted"]  # the fixture, used by name


@pytest.mark.asyncio
async def test_the_simulator_silences_the_task(
    sim: Simulator, client: UpstreamClient, credentials: Credentials
) -> None:
    spoken = await client.drive_by_text(TASK, credentials, text="x" * 200, timbre_id="tb")
    result = await client.interrupt_drive_task(TASK, credentials)
    first, second = sim.api_calls
    assert (second.action, second.task_id, second.code) == ("InterruptDriveTask", TASK, 0)
    assert (result.request_id, result.attempts) == (second.request_id, 1)
    assert first.drive_id == spoken.drive_id
    assert sim.playout(spoken.drive_id).outcome is PlayoutOutcome.INTERRUPTED


@pytest.mark.asyncio
async def test_it_goes_through_the_limiter_and_is_retried(
    scripted: Scripted, credentials: Credentials
) -> None:
    scripted.answers = [status(503), ok({})]
    limiter = CountingLimiter()
    async with UpstreamClient(short_config(scripted.url), limiter=limiter) as client:
        result = await client.interrupt_drive_task(TASK, credentials)
    assert result.attempts == 2 and limiter.keys == [str(APP_ID)] * 2
    _, query, _, body = scripted.requests[0]
    assert query["Action"] == "InterruptDriveTask" and json.loads(body) == {"TaskId": TASK}


@pytest.mark.asyncio
async def test_an_unknown_task_is_not_found(
    sim: Simulator, client: UpstreamClient, credentials: Credentials
) -> None:
    await client.interrupt_drive_task(TASK, credentials)  # the vendor sees the task ...
    assert sim.end_task(TASK)  # ... which then ends: it is no longer known
    with pytest.raises(UpstreamApiError) as caught:
        await client.interrupt_drive_task(TASK, credentials)
    assert (caught.value.code, caught.value.reason) == (400000005, Reason.UPSTREAM_TASK_NOT_FOUND)
    assert not caught.value.retryable
