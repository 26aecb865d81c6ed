"""``DriveByText`` through the HTTP client: the body the vendor documents (zego-api.md §11b), the
limiter and the retry rules of every call, and its typed errors."""

from __future__ import annotations

import json

import pytest

from gateway.config import Credentials
from gateway.errors import Reason, UpstreamApiError, UpstreamUnreachable
from gateway.simulator import Fault, Simulator
from gateway.upstream import UpstreamClient
from tests.upstream.conftest import APP_ID, TASK, short_config, sim_config
from tests.upstream.test_api import CountingLimiter, Scripted, ok, scripted, status

__all__ = ["scripted"]  # the fixture, used by name


@pytest.mark.asyncio
async def test_the_simulator_speaks_what_was_asked(
    sim: Simulator, client: UpstreamClient, credentials: Credentials
) -> None:
    grant = await client.drive_by_text(
        TASK, credentials, text="你好, world", timbre_id="tb", speech_rate=-200, pitch_rate=30
    )
    (call,) = sim.api_calls
    assert (call.action, call.task_id, call.code) == ("DriveByText", TASK, 0)
    (record,) = sim.text_drives
    assert grant.drive_id == call.drive_id == record.drive_id
    assert (grant.request_id, grant.attempts) == (call.request_id, 1)
    request = record.request
    assert (request.text, request.timbre_id, request.interrupt) == ("你好, world", "tb", True)
    assert (request.speech_rate, request.pitch_rate) == (-200, 30)
    queued = await client.drive_by_text(
        TASK, credentials, text="hi", timbre_id="tb", interrupt=False
    )
    assert not sim.text_drives[-1].request.interrupt and queued.drive_id != grant.drive_id


@pytest.mark.asyncio
async def test_a_busy_vendor_is_retried_and_an_unknown_timbre_is_not(
    sim: Simulator, client: UpstreamClient, credentials: Credentials
) -> None:
    sim.set_fault(Fault(force_code=400010002, times=1), task_id=TASK)
    grant = await client.drive_by_text(TASK, credentials, text="again", timbre_id="tb")
    assert grant.attempts == 2 and len(sim.text_drives) == 1
    async with Simulator(sim_config(timbres={"known"})) as picky:
        async with UpstreamClient(short_config(picky.http_url)) as other:
            with pytest.raises(UpstreamApiError) as caught:
                await other.drive_by_text(TASK, credentials, text="x", timbre_id="unknown")
    assert (caught.value.code, caught.value.reason) == (400000004, Reason.UPSTREAM_ERROR)
    assert not caught.value.retryable and len(picky.api_calls) == 1


@pytest.mark.asyncio
async def test_the_request_goes_through_the_limiter_and_needs_a_drive_id(
    scripted: Scripted, credentials: Credentials
) -> None:
    scripted.answers = [status(503), ok({"DriveId": "text-1"}), ok({})]
    limiter = CountingLimiter()
    config = short_config(scripted.url)
    async with UpstreamClient(config, limiter=limiter) as client:
        grant = await client.drive_by_text(TASK, credentials, text="hello", timbre_id="tb")
        assert (grant.drive_id, grant.attempts) == ("text-1", 2)
        with pytest.raises(UpstreamUnreachable) as caught:
            await client.drive_by_text(TASK, credentials, text="hello", timbre_id="tb")
    assert not caught.value.retryable
    assert limiter.keys == [str(APP_ID)] * 3
    _, query, _, body = scripted.requests[0]
    assert query["Action"] == "DriveByText"
    assert json.loads(body) == {
        "TaskId": TASK,
        "Text": "hello",
        "InterruptMode": 1,
        "TTSConfig": {"TimbreId": "tb", "SpeechRate": 0, "PitchRate": 0},
    }
