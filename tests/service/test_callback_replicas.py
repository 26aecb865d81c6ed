"""Two replicas behind one callback URL: the simulator's own signed callbacks reach replica B
while the drive runs on replica A, and A reports the vendor's word (PLAYBACK_SOURCE_VENDOR).
Duplicates across replicas are applied once, unknown drives are 404 on both, and without
Redis each replica answers at once: what it can apply itself, 200; what it cannot place, 503."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from dhgateway.v1 import gateway_pb2 as pb

from gateway.callbacks.receiver import PATH
from gateway.callbacks.verify import signature
from gateway.config import Credentials, ObservabilityConfig, ServerConfig
from gateway.simulator import Simulator, SimulatorConfig
from gateway.testing import TEST_APP_ID, Harness, running_gateway
from tests.conftest import free_port, redis_server
from tests.observability.conftest import Samples, http_get, parse_samples, value
from tests.service.conftest import chunks, pcm, realtime

CALLBACK_SECRET = "callback-secret-for-replicas-0123456789"


@contextlib.asynccontextmanager
async def two_replicas(redis_url: str) -> AsyncIterator[tuple[Harness, Harness]]:
    """A and B on one Redis and one simulator, whose callbacks go to B."""
    sim_config = SimulatorConfig(
        app_id=TEST_APP_ID, server_secret=secrets.token_hex(16), host="127.0.0.1", port=0
    )
    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(Simulator(sim_config))
        profiles = {
            "default": Credentials(
                app_id=sim.config.app_id,
                server_secret=sim.config.server_secret,
                callback_secret=CALLBACK_SECRET,
            )
        }
        server = ServerConfig(
            listen="127.0.0.1:0",
            callback_listen="127.0.0.1:0",
            callback_grace_ms=600,
            redis_url=redis_url,
        )
        metrics = ObservabilityConfig(metrics_listen="127.0.0.1:0")
        a, b = [
            await stack.enter_async_context(
                running_gateway(sim=sim, profiles=profiles, server=server, observability=metrics)
            )
            for _ in range(2)
        ]
        for replica in (a, b):
            assert await relay(replica).wait_listening(5)
        sim.set_callbacks(url(b), CALLBACK_SECRET, callback_retry_scale=0.1)
        yield a, b


@pytest_asyncio.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[Harness, Harness]]:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    async with two_replicas(redis_url) as pair:
        yield pair


def relay(h: Harness) -> Any:
    assert h.app.callbacks is not None and h.app.callbacks.relay is not None
    return h.app.callbacks.relay


def url(h: Harness) -> str:
    assert h.app.callbacks is not None
    return f"http://{h.app.callbacks.address}{PATH}"


def signed(task: str, detail: dict[str, Any], event_type: int = 4) -> dict[str, Any]:
    """A callback body signed as the vendor signs it."""
    nonce, timestamp = uuid.uuid4().hex, str(int(time.time() * 1000))
    return {
        "AppId": TEST_APP_ID,
        "EventType": event_type,
        "Nonce": nonce,
        "Timestamp": timestamp,
        "Signature": signature(CALLBACK_SECRET, timestamp, nonce),
        "EventTime": int(time.time() * 1000),
        "TaskId": task,
        "Detail": detail,
    }


async def post(h: Harness, body: dict[str, Any]) -> int:
    """POST ``body`` to ``h``'s callback listener (within 5 s); the answer's HTTP status."""
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url(h), data=json.dumps(body)) as answer,
    ):
        return answer.status


async def scrape(h: Harness) -> Samples:
    status, text = await http_get(f"http://{h.app.metrics_address}/metrics")
    assert status == 200
    return parse_samples(text)


def relayed(samples: Samples, outcome: str, event_type: str = "4") -> float:
    return value(samples, "dhgw_callbacks_relayed_total", event_type=event_type, outcome=outcome)


def applied_from_elsewhere(samples: Samples, event_type: str = "4") -> float:
    return value(samples, "dhgw_callbacks_relay_applied_total", event_type=event_type)


def playback(events: list[pb.DriveEvent]) -> tuple[pb.PlaybackStarted, pb.PlaybackFinished]:
    (started,) = [e.playback_started for e in events if e.WhichOneof("event") == "playback_started"]
    (finished,) = [
        e.playback_finished for e in events if e.WhichOneof("event") == "playback_finished"
    ]
    return started, finished


def acknowledged_once(sim: Simulator, drive_id: str) -> Iterator[bool]:
    for record in sim.callbacks_for(drive_id=drive_id):
        yield record.acknowledged and sum(a.ok for a in record.attempts) == 1


@pytest.mark.asyncio
async def test_a_drive_on_a_is_confirmed_by_the_callbacks_that_reach_b(
    replicas: tuple[Harness, Harness],
) -> None:
    a, b = replicas
    events = [e async for e in a.client.drive("relay-task", [pcm(1000)])]
    assert events[-1].WhichOneof("event") == "completed"
    started, finished = playback(events)
    assert started.source == pb.PLAYBACK_SOURCE_VENDOR
    assert finished.source == pb.PLAYBACK_SOURCE_VENDOR
    drive_id = events[0].drive_id
    playout = await a.sim.wait_playout_ended(drive_id)
    assert playout.played_ms is not None
    assert abs(playout.played_ms - finished.played_ms) <= 20
    records = await a.sim.wait_callbacks(
        lambda _: all(r.done for r in a.sim.callbacks_for(drive_id=drive_id)), 10
    )
    ours = [r for r in records if r.drive_id == drive_id]
    assert all(acknowledged_once(a.sim, drive_id)) and {r.status for r in ours} >= {2, 4}
    at_a, at_b = await scrape(a), await scrape(b)
    # Every one reached B, went to A, and was applied there: none was applied on B.
    assert relayed(at_b, "relayed") == len(ours) == applied_from_elsewhere(at_a)
    assert applied_from_elsewhere(at_b) == 0 and relayed(at_a, "relayed") == 0


@pytest.mark.asyncio
async def test_a_duplicate_on_both_replicas_is_applied_once(
    replicas: tuple[Harness, Harness],
) -> None:
    a, b = replicas
    stream = a.client.drive("relay-dup", realtime(chunks(pcm(1500), 3200), 100))
    drive_id = (await anext(stream)).drive_id
    (speaking,) = [
        r
        for r in await a.sim.wait_callbacks(
            lambda rs: any(r.drive_id == drive_id and r.status == 2 and r.acknowledged for r in rs)
        )
        if r.drive_id == drive_id and r.status == 2
    ]
    # The vendor's retry of Status 2, once on A (whose drive it is) and once more on B.
    assert await post(a, speaking.body) == 200
    assert await post(b, speaking.body) == 200
    events = [e async for e in stream]
    assert playback(events)[0].source == pb.PLAYBACK_SOURCE_VENDOR
    await a.sim.wait_callbacks(
        lambda _: all(r.done for r in a.sim.callbacks_for(drive_id=drive_id)), 10
    )
    sent = len(a.sim.callbacks_for(drive_id=drive_id))
    at_a = await scrape(a)
    assert applied_from_elsewhere(at_a) == sent  # each once, through B
    assert relayed(at_a, "duplicate") == 1 and relayed(at_a, "here") == 0


@pytest.mark.asyncio
async def test_an_unknown_drive_is_404_on_either_replica(
    replicas: tuple[Harness, Harness],
) -> None:
    a, b = replicas
    for replica in (a, b, a):
        body = signed("relay-none", {"DriveId": "no-such-drive", "Status": 4})
        assert await post(replica, body) == 404
        assert await post(replica, body) == 404  # its retry too: it was not taken
    assert relayed(await scrape(a), "unknown") == 4


@pytest.mark.asyncio
async def test_a_task_callback_reaches_every_replica_once(
    replicas: tuple[Harness, Harness],
) -> None:
    a, b = replicas
    before = applied_from_elsewhere(await scrape(a), "3")
    body = signed("relay-task-3", {"Status": 3}, event_type=3)
    assert await post(b, body) == 200
    assert await post(a, body) == 200  # the vendor's retry, on the other replica
    at_a = await scrape(a)
    assert applied_from_elsewhere(at_a, "3") - before == 1
    assert relayed(at_a, "duplicate", "3") == 1


@pytest.mark.asyncio
async def test_without_redis_each_replica_answers_at_once_and_listens_again() -> None:
    port = free_port()
    with contextlib.ExitStack() as second, contextlib.ExitStack() as first:
        async with two_replicas(first.enter_context(redis_server(port))) as (a, b):
            events = [e async for e in a.client.drive("relay-outage", [pcm(300)])]
            drive_id = events[0].drive_id
            await a.sim.wait_callbacks(
                lambda _: all(r.done for r in a.sim.callbacks_for(drive_id=drive_id)), 10
            )
            first.close()  # Redis stops
            late = {"DriveId": drive_id, "Status": 4}
            # A ran the drive: it answers from its own memory. B cannot place it: 503, within
            # post()'s 5 s (each Redis call is bounded by server.redis_timeout_s).
            assert await post(a, signed("relay-outage", late)) == 200
            assert await post(b, signed("relay-outage", late)) == 503
            assert await post(b, signed("relay-outage", {"Status": 3}, event_type=3)) == 503
            second.enter_context(redis_server(port))  # back, empty
            for replica in (a, b):
                assert await relay(replica).wait_listening(10)
            events = [e async for e in a.client.drive("relay-outage-2", [pcm(300)])]
            started, finished = playback(events)
            assert started.source == finished.source == pb.PLAYBACK_SOURCE_VENDOR
            at_a = await scrape(a)
            assert value(at_a, "dhgw_callback_relay_subscriptions_total") == 2
            assert relayed(at_a, "unshared") == 1
