"""The vendor's drive callbacks confirm the playback events (PLAYBACK_SOURCE_VENDOR) within the
grace window; without them the estimate stands (ESTIMATED). The metrics count the skew between
the two, the events by source and the playout wait."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from dhgateway.v1 import gateway_pb2 as pb
from dhgateway_client import AudioItem, Mark

from gateway.callbacks.receiver import PATH
from gateway.callbacks.verify import signature
from gateway.simulator import Fault
from gateway.testing import Harness
from tests.observability.conftest import Samples, http_get, parse_samples, value
from tests.service.conftest import CALLBACK_SECRET, callback_gateway, pcm


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    async with callback_gateway(grace_ms=600) as h:
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
    sim_callbacks(harness)
    events = [e async for e in harness.client.drive("cb-sim", [pcm(1000)])]
    started = next(e for e in events if e.WhichOneof("event") == "playback_started")
    finished = next(e for e in events if e.WhichOneof("event") == "playback_finished")
    assert started.playback_started.source == pb.PLAYBACK_SOURCE_VENDOR
    assert finished.playback_finished.source == pb.PLAYBACK_SOURCE_VENDOR
    playout = await harness.sim.wait_playout_ended(events[0].drive_id)
    assert playout.played_ms is not None
    assert abs(playout.played_ms - finished.playback_finished.played_ms) <= 20
    await harness.sim.wait_callbacks(lambda records: all(r.done for r in records), 10)


def sim_callbacks(h: Harness) -> None:
    """Point the simulator's own signed callbacks at the gateway."""
    assert h.app.callbacks is not None
    h.sim.set_callbacks(f"http://{h.app.callbacks.address}{PATH}", CALLBACK_SECRET)


async def scrape(h: Harness) -> Samples:
    status, text = await http_get(f"http://{h.app.metrics_address}/metrics")
    assert status == 200
    return parse_samples(text)


def skews(samples: Samples, edge: str) -> float:
    """How many skews of ``edge`` were observed, late and early together."""
    return sum(
        value(samples, "dhgw_playback_skew_seconds_count", edge=edge, direction=direction)
        for direction in ("late", "early")
    )


def events(samples: Samples, event: str, source: str) -> float:
    return value(samples, "dhgw_playback_events_total", event=event, source=source)


@pytest.mark.asyncio
async def test_each_confirmed_drive_adds_one_skew_of_each_edge(harness: Harness) -> None:
    """The metrics count one skew of each edge per drive the simulator's callbacks confirmed,
    one playout wait per completed drive, and each event by how it was known."""
    sim_callbacks(harness)
    before = await scrape(harness)
    drives = [(300, "short"), (900, "long"), (500, "marked")]
    for ms, task in drives:
        audio: list[AudioItem] = [pcm(ms // 2), Mark("half"), pcm(ms - ms // 2)]
        got = [e async for e in harness.client.drive(f"skew-{task}", audio)]
        finished = next(e for e in got if e.WhichOneof("event") == "playback_finished")
        assert finished.playback_finished.source == pb.PLAYBACK_SOURCE_VENDOR
    after = await scrape(harness)

    n = len(drives)
    assert skews(after, "started") - skews(before, "started") == n
    assert skews(after, "finished") - skews(before, "finished") == n
    for event in ("started", "finished"):
        assert events(after, event, "vendor") - events(before, event, "vendor") == n
        assert events(after, event, "estimated") == events(before, event, "estimated")
    assert events(after, "mark", "estimated") - events(before, "mark", "estimated") == n
    waits = "dhgw_drive_playout_wait_seconds_count"
    assert value(after, waits) - value(before, waits) == n
    # The simulator's avatar starts and ends on arrival (no render latency): the vendor's word
    # comes within the grace window, after the estimate or at most a hair before it.
    late = value(
        after, "dhgw_playback_skew_seconds_bucket", edge="finished", direction="late", le="0.5"
    )
    early = value(after, "dhgw_playback_skew_seconds_count", edge="finished", direction="early")
    assert late + early == n


@pytest.mark.asyncio
async def test_a_finish_the_vendor_never_confirms_adds_no_skew(harness: Harness) -> None:
    sim_callbacks(harness)
    harness.sim.set_fault(Fault(callback_drop=True, callback_event_type=4, callback_status=4))
    before = await scrape(harness)
    got = [e async for e in harness.client.drive("skew-dropped", [pcm(300)])]
    kinds = {e.WhichOneof("event"): e for e in got}
    assert kinds["playback_started"].playback_started.source == pb.PLAYBACK_SOURCE_VENDOR
    assert kinds["playback_finished"].playback_finished.source == pb.PLAYBACK_SOURCE_ESTIMATED
    after = await scrape(harness)

    assert skews(after, "started") - skews(before, "started") == 1
    assert skews(after, "finished") == skews(before, "finished")
    assert events(after, "finished", "estimated") - events(before, "finished", "estimated") == 1
    # The stream stayed open for the grace window after the estimated end.
    wait_s = "dhgw_drive_playout_wait_seconds_sum"
    grace_s = harness.app.config.server.callback_grace_ms / 1000
    assert value(after, wait_s) - value(before, wait_s) >= grace_s
