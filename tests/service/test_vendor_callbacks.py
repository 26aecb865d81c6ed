"""The vendor's drive callbacks confirm the playback events (PLAYBACK_SOURCE_VENDOR) within the
grace window; without them the estimate stands (ESTIMATED)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from dhgateway.v1 import gateway_pb2 as pb

from gateway.callbacks.receiver import PATH
from gateway.callbacks.verify import signature
from gateway.config import Credentials, ServerConfig
from gateway.simulator import Simulator, SimulatorConfig
from gateway.testing import TEST_APP_ID, Harness, running_gateway
from tests.service.conftest import pcm

CALLBACK_SECRET = "callback-secret-for-tests-0123456789"


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    config = SimulatorConfig(
        app_id=TEST_APP_ID, server_secret=secrets.token_hex(16), host="127.0.0.1", port=0
    )
    async with Simulator(config) as sim:
        profiles = {
            "default": Credentials(
                app_id=sim.config.app_id,
                server_secret=sim.config.server_secret,
                callback_secret=CALLBACK_SECRET,
            )
        }
        server = ServerConfig(
            listen="127.0.0.1:0", callback_listen="127.0.0.1:0", callback_grace_ms=600
        )
        async with running_gateway(sim=sim, profiles=profiles, server=server) as h:
            yield h


async def callback(h: Harness, task: str, drive_id: str, status: int) -> int:
    """POST a drive callback signed as the vendor signs it; the answer's HTTP status."""
    assert h.app.callbacks is not None
    nonce, timestamp = uuid.uuid4().hex, str(int(time.time() * 1000))
    body = {
        "AppId": h.app.config.profiles["default"].app_id,
        "EventType": 4,
        "Nonce": nonce,
        "Timestamp": timestamp,
        "Signature": signature(CALLBACK_SECRET, timestamp, nonce),
        "EventTime": int(time.time() * 1000),
        "TaskId": task,
        "Detail": {"DriveId": drive_id, "Status": status},
    }
    url = f"http://{h.app.callbacks.address}{PATH}"
    async with aiohttp.ClientSession() as session, session.post(url, data=json.dumps(body)) as r:
        return r.status


@pytest.mark.asyncio
async def test_the_vendors_word_makes_the_events_vendor_confirmed(harness: Harness) -> None:
    stream = harness.client.drive("cb-task", [pcm(800)])
    events: list[pb.DriveEvent] = []
    async with asyncio.timeout(15):
        async for event in stream:
            events.append(event)
            kind = event.WhichOneof("event")
            if kind == "started":
                assert await callback(harness, "cb-task", event.drive_id, 2) == 200
            elif kind == "playback_started":
                assert await callback(harness, "cb-task", event.drive_id, 4) == 200
    sources = {
        e.WhichOneof("event"): getattr(e, str(e.WhichOneof("event"))).source
        for e in events
        if e.WhichOneof("event") in ("playback_started", "playback_finished")
    }
    assert sources == {
        "playback_started": pb.PLAYBACK_SOURCE_VENDOR,
        "playback_finished": pb.PLAYBACK_SOURCE_VENDOR,
    }
    assert events[-1].WhichOneof("event") == "completed"
    # A late retry for the drive that just ended is answered; an unknown drive is not.
    assert await callback(harness, "cb-task", events[0].drive_id, 4) == 200
    assert await callback(harness, "cb-task", "no-such-drive", 4) == 404


@pytest.mark.asyncio
async def test_without_the_vendors_word_the_estimate_is_reported_after_the_grace(
    harness: Harness,
) -> None:
    events = [e async for e in harness.client.drive("cb-silent", [pcm(300)])]
    started = next(e for e in events if e.WhichOneof("event") == "playback_started")
    finished = next(e for e in events if e.WhichOneof("event") == "playback_finished")
    assert started.playback_started.source == pb.PLAYBACK_SOURCE_ESTIMATED
    assert finished.playback_finished.source == pb.PLAYBACK_SOURCE_ESTIMATED
    assert finished.playback_finished.played_ms == 300


@pytest.mark.asyncio
async def test_the_simulators_own_callbacks_confirm_a_drive_end_to_end(harness: Harness) -> None:
    """The simulated vendor signs and sends EventType 4 from its own playback model: both
    events are VENDOR and played_ms matches its record within 20 ms."""
    assert harness.app.callbacks is not None
    url = f"http://{harness.app.callbacks.address}{PATH}"
    harness.sim.set_callbacks(url, CALLBACK_SECRET)
    events = [e async for e in harness.client.drive("cb-sim", [pcm(1000)])]
    started = next(e for e in events if e.WhichOneof("event") == "playback_started")
    finished = next(e for e in events if e.WhichOneof("event") == "playback_finished")
    assert started.playback_started.source == pb.PLAYBACK_SOURCE_VENDOR
    assert finished.playback_finished.source == pb.PLAYBACK_SOURCE_VENDOR
    playout = await harness.sim.wait_playout_ended(events[0].drive_id)
    assert playout.played_ms is not None
    assert abs(playout.played_ms - finished.playback_finished.played_ms) <= 20
    await harness.sim.wait_callbacks(lambda records: all(r.done for r in records), 10)
