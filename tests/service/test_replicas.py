"""Replicas: two gateways sharing one Redis keep one drive per task, whichever one a client
reached (REJECT names the holder, PREEMPT and StopDrive end the other replica's drive, QUEUE
waits)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from dhgateway_client import DriveError, DriveOptions

from gateway.config import ServerConfig
from gateway.simulator import Simulator, SimulatorConfig
from gateway.testing import TEST_APP_ID, Harness, running_gateway
from tests.conftest import redis_server
from tests.service.conftest import (
    chunks,
    pcm,
    realtime,
    started_drive_id,
    stream_error,
    two_replicas,
)

C = grpc.StatusCode


@pytest_asyncio.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[Harness, Harness]]:
    async with two_replicas(redis_url) as pair:
        yield pair


@pytest.mark.asyncio
async def test_reject_on_another_replica_names_the_holder(
    replicas: tuple[Harness, Harness],
) -> None:
    a, b = replicas
    holder = a.client.drive("shared", realtime(chunks(pcm(5000), 3200), 100))
    holder_id = await started_drive_id(holder)
    error = await stream_error(b.client.drive("shared", [pcm(100)]))
    assert (error.code, error.reason) == (C.ALREADY_EXISTS, "TASK_BUSY")
    assert error.metadata["holder_drive_id"] == holder_id
    await holder.aclose()


@pytest.mark.asyncio
async def test_preempt_across_replicas_never_overlaps(replicas: tuple[Harness, Harness]) -> None:
    a, b = replicas
    holder = a.client.drive("shared-p", realtime(chunks(pcm(5000), 3200), 100))
    holder_id = await started_drive_id(holder)
    options = DriveOptions(on_conflict="PREEMPT")
    events = [e async for e in b.client.drive("shared-p", [pcm(200)], options)]
    assert events[-1].WhichOneof("event") == "completed"
    error = await stream_error(holder)
    assert (error.code, error.reason) == (C.ABORTED, "PREEMPTED")
    old, new = a.sim.drive(holder_id), a.sim.drive(events[0].drive_id)
    assert old.stopped_at is not None and old.closed_at is not None
    assert new.connected_at is not None and old.closed_at <= new.connected_at
    assert a.sim.overlaps == []


@pytest.mark.asyncio
async def test_queue_across_replicas(replicas: tuple[Harness, Harness]) -> None:
    a, b = replicas
    holder = a.client.drive("shared-q", realtime(chunks(pcm(800), 3200), 100))
    await started_drive_id(holder)
    queued = b.client.drive("shared-q", [pcm(200)], DriveOptions(on_conflict="QUEUE"))
    first = await anext(queued)
    assert first.WhichOneof("event") == "queued" and first.queued.ahead == 1
    async for _ in holder:
        pass
    kinds = [e.WhichOneof("event") async for e in queued]
    assert kinds[0] == "started" and kinds[-1] == "completed"
    assert a.sim.overlaps == []


@pytest.mark.asyncio
async def test_stop_drive_on_another_replica_ends_the_drive(
    replicas: tuple[Harness, Harness],
) -> None:
    a, b = replicas
    holder = a.client.drive("shared-s", realtime(chunks(pcm(5000), 3200), 100))
    holder_id = await started_drive_id(holder)
    assert await b.client.stop_drive("shared-s") == holder_id
    assert a.sim.drive(holder_id).closed_at is not None  # Stop sent and closed before the answer
    error = await stream_error(holder)
    assert (error.code, error.reason) == (C.ABORTED, "STOPPED_BY_REQUEST")
    with pytest.raises(DriveError) as caught:
        await b.client.stop_drive("shared-s")
    assert (caught.value.code, caught.value.reason) == (C.NOT_FOUND, "NO_ACTIVE_DRIVE")


@pytest.mark.asyncio
async def test_replicas_keep_the_vendor_rate_together(replicas: tuple[Harness, Harness]) -> None:
    # 12 set-ups on each replica at once: the vendor admits 10 per second per AppId in all.
    a, b = replicas

    async def utterance(harness: Harness, task: str) -> str | None:
        events = [e async for e in harness.client.drive(task, [pcm(40)])]
        return events[-1].WhichOneof("event")

    async with asyncio.timeout(30):
        ends = await asyncio.gather(
            *(utterance(h, f"rate-{i}-{n}") for n, h in enumerate((a, b)) for i in range(12))
        )
    assert ends == ["completed"] * 24
    codes = [call.code for call in a.sim.api_calls]
    assert len(codes) == 24 and set(codes) == {0}  # no 400010009 (rate limited) to retry


@pytest.mark.asyncio
async def test_redis_away_fails_new_drives_unavailable_and_stop_drive_too() -> None:
    with contextlib.ExitStack() as redis:
        url = redis.enter_context(redis_server())
        server = ServerConfig(listen="127.0.0.1:0", redis_url=url)
        async with (
            Simulator(SimulatorConfig(app_id=TEST_APP_ID, server_secret="r" * 32)) as sim,
            running_gateway(sim=sim, server=server) as gateway,
        ):
            redis.close()
            error = await asyncio.wait_for(stream_error(gateway.client.drive("t", [pcm(100)])), 10)
            assert (error.code, error.reason) == (C.UNAVAILABLE, "SHARED_STATE_UNAVAILABLE")
            assert "Redis" in error.message and "redis://" not in error.message
            with pytest.raises(DriveError) as caught:
                await asyncio.wait_for(gateway.client.stop_drive("t"), 10)
            assert (caught.value.code, caught.value.reason) == (
                C.UNAVAILABLE,
                "SHARED_STATE_UNAVAILABLE",
            )
            assert sim.api_calls == []  # nothing reached the vendor without the task's lease
