"""The task's life over real sockets: GetTask and WatchTask answer from the vendor's status,
its callbacks and the gateway's drives; a task's end ends its drives TASK_ENDED, the active
one and those queued, at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
import pytest_asyncio
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc
from dhgateway_client import DriveError, DriveOptions

from gateway.callbacks.receiver import PATH
from gateway.testing import Harness, running_gateway
from tests.service.conftest import (
    CALLBACK_SECRET,
    callback_gateway,
    chunks,
    pcm,
    realtime,
    started_drive_id,
    stream_error,
    two_replicas,
)


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    async with callback_gateway(grace_ms=300) as h:
        assert h.app.callbacks is not None
        h.sim.set_callbacks(f"http://{h.app.callbacks.address}{PATH}", CALLBACK_SECRET)
        yield h


def stub(h: Harness) -> pb_grpc.DriveGatewayAsyncStub:
    return pb_grpc.DriveGatewayStub(h.channel)


async def get_task(h: Harness, task_id: str, *, refresh: bool = False) -> pb.TaskInfo:
    request = pb.GetTaskRequest(task_id=task_id, refresh=refresh)
    return await stub(h).GetTask(request, timeout=10)


async def drain(stream: AsyncIterator[pb.DriveEvent]) -> list[pb.DriveEvent]:
    return [event async for event in stream]


async def watch_until(h: Harness, task_id: str, done: Callable[[pb.TaskInfo], bool]) -> pb.TaskInfo:
    """The first TaskInfo of ``h``'s WatchTask that is ``done`` (within 5 s): how a replica
    waits for what another wrote to Redis."""
    watch = stub(h).WatchTask(pb.WatchTaskRequest(task_id=task_id), timeout=10)
    try:
        async with asyncio.timeout(5):
            async for info in watch:
                if done(info):
                    return info
    finally:
        watch.cancel()
    raise AssertionError(f"the watch of {task_id} ended first")


@pytest.mark.asyncio
async def test_get_task_says_the_vendors_status_and_the_idle_deadline(harness: Harness) -> None:
    before = time.time()
    info = await get_task(harness, "task-life-1")
    assert info.status == pb.TASK_STATUS_STREAMING
    assert info.status_source == pb.TASK_STATUS_SOURCE_QUERY
    record = harness.sim.task("task-life-1")
    assert record is not None
    assert (info.room_id, info.stream_id) == (record.room_id, record.stream_id)
    assert info.create_time.seconds == record.create_time
    # Never driven: MaxIdleTime counts from the task's creation (the profile's 900 s).
    assert info.idle_deadline.seconds == record.create_time + 900
    assert not info.speaking and not info.HasField("active_drive")

    events = await drain(harness.client.drive("task-life-1", [pcm(300)]))
    assert events[-1].WhichOneof("event") == "completed"
    after = await get_task(harness, "task-life-1")
    driven = after.last_driven_time.ToNanoseconds() / 1e9
    assert before <= driven <= time.time()
    assert abs(after.idle_deadline.ToNanoseconds() / 1e9 - (driven + 900)) < 0.001
    # The status was fresh: the vendor was asked once for the two answers.
    calls = [c for c in harness.sim.api_calls if c.action == "GetDigitalHumanStreamTaskStatus"]
    assert len(calls) == 1
    await get_task(harness, "task-life-1", refresh=True)
    calls = [c for c in harness.sim.api_calls if c.action == "GetDigitalHumanStreamTaskStatus"]
    assert len(calls) == 2


@pytest.mark.asyncio
async def test_get_task_shows_the_active_drive_and_who_speaks(harness: Harness) -> None:
    stream = harness.client.drive("task-life-2", [pcm(2000)])
    async with asyncio.timeout(15):
        async for event in stream:
            if event.WhichOneof("event") == "playback_started":
                info = await get_task(harness, "task-life-2")
                assert info.speaking and info.speaking_drive_id == event.drive_id
                assert info.active_drive.drive_id == event.drive_id
                assert info.active_drive.state == pb.DRIVE_STATE_STREAMING
                assert not info.HasField("idle_deadline")  # a drive holds the task
    info = await get_task(harness, "task-life-2")
    assert not info.speaking and not info.HasField("active_drive")


@pytest.mark.asyncio
async def test_an_unknown_task_is_not_found_and_a_missing_id_is_invalid() -> None:
    async with running_gateway(tasks=frozenset({"known"})) as h:
        api: pb_grpc.DriveGatewayAsyncStub = pb_grpc.DriveGatewayStub(h.channel)
        for task_id, code, reason in [
            ("unknown", grpc.StatusCode.NOT_FOUND, "UPSTREAM_TASK_NOT_FOUND"),
            ("", grpc.StatusCode.INVALID_ARGUMENT, "TASK_ID_REQUIRED"),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await api.GetTask(pb.GetTaskRequest(task_id=task_id), timeout=10)
            assert caught.value.code() is code
            assert DriveError.from_rpc_error(caught.value).reason == reason


@pytest.mark.asyncio
async def test_a_tasks_end_ends_its_active_and_queued_drives_at_once(harness: Harness) -> None:
    queue = DriveOptions(on_conflict="QUEUE")
    active = harness.client.drive("task-life-3", chunks(pcm(20_000), 3200))
    async with asyncio.timeout(10):
        assert (await anext(active)).WhichOneof("event") == "started"
    waiting = [harness.client.drive("task-life-3", [pcm(200)], queue) for _ in range(2)]
    for stream in waiting:
        assert (await anext(stream)).WhichOneof("event") == "queued"
    watch = stub(harness).WatchTask(pb.WatchTaskRequest(task_id="task-life-3"), timeout=20)
    first = await anext(aiter(watch))
    assert first.status == pb.TASK_STATUS_STREAMING and first.queued_drives == 2

    assert harness.sim.end_task("task-life-3")  # as MaxIdleTime or TTL would: Status 5
    async with asyncio.timeout(10):  # a bound, not a measure
        errors = await asyncio.gather(*(stream_error(s) for s in [active, *waiting]))
    for error in errors:  # the task's end, not a timeout, ended each of them
        assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "TASK_ENDED")
    # Its Stop still went out, and the watch's last word says the task ended.
    last = None
    async with asyncio.timeout(10):
        async for info in watch:
            last = info
    assert last is not None and last.status == pb.TASK_STATUS_STOPPED
    assert last.status_source == pb.TASK_STATUS_SOURCE_CALLBACK
    # A new drive of it is refused at once.
    error = await stream_error(harness.client.drive("task-life-3", [pcm(100)]))
    assert error.reason == "TASK_ENDED"
    assert not any(r.drive_id == "" for r in harness.sim.drives_for_task("task-life-3"))


@pytest.mark.asyncio
async def test_without_callbacks_400000005_for_a_task_seen_alive_is_task_ended() -> None:
    async with running_gateway(tasks=frozenset({"task-life-4"})) as h:
        events = await drain(h.client.drive("task-life-4", [pcm(200)]))
        assert events[-1].WhichOneof("event") == "completed"
        h.sim.end_task("task-life-4")
        error = await stream_error(h.client.drive("task-life-4", [pcm(200)]))
        assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "TASK_ENDED")
        # A task the gateway never saw keeps the vendor's answer.
        error = await stream_error(h.client.drive("task-life-5", [pcm(200)]))
        assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "UPSTREAM_TASK_NOT_FOUND")
        api: pb_grpc.DriveGatewayAsyncStub = pb_grpc.DriveGatewayStub(h.channel)
        info = await api.GetTask(pb.GetTaskRequest(task_id="task-life-4"), timeout=10)
        assert info.status == pb.TASK_STATUS_STOPPED


@pytest.mark.asyncio
async def test_a_websocket_the_vendor_closed_for_an_ended_task_is_task_ended() -> None:
    # No callbacks: the gateway asks the vendor why the WebSocket closed.
    async with running_gateway() as h:
        stream = h.client.drive("task-life-6", realtime(chunks(pcm(5000), 3200), 100))
        await started_drive_id(stream)
        h.sim.end_task("task-life-6")
        async with asyncio.timeout(10):
            error = await stream_error(stream)
        assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "TASK_ENDED")


@pytest.mark.asyncio
async def test_any_replica_answers_for_a_drive_another_runs(redis_url: str) -> None:
    async with two_replicas(redis_url) as (a, b):
        stream = a.client.drive("task-life-7", realtime(chunks(pcm(3000), 3200), 100))
        async with asyncio.timeout(15):
            async for event in stream:
                if event.WhichOneof("event") == "playback_started":
                    break
        drive_id = event.drive_id
        # Shared through a Redis write A makes as it tells its client: B sees it a moment later.
        info = await watch_until(b, "task-life-7", lambda info: info.speaking)
        assert info.active_drive.drive_id == drive_id
        assert info.speaking_drive_id == drive_id
        assert info.status == pb.TASK_STATUS_STREAMING
        await drain(stream)
        # Its end reaches the other replica too: the avatar's last word, no drive.
        watch = stub(b).WatchTask(pb.WatchTaskRequest(task_id="task-life-7"), timeout=10)
        async with asyncio.timeout(5):
            async for info in watch:  # its changes, through Redis
                if not info.HasField("active_drive"):
                    break
        watch.cancel()
        assert info.HasField("last_driven_time") and not info.speaking


@pytest.mark.asyncio
async def test_every_replica_counts_the_drives_queued_on_another(redis_url: str) -> None:
    async with two_replicas(redis_url) as (a, b):
        holder = a.client.drive("task-life-8", realtime(chunks(pcm(3000), 3200), 100))
        await started_drive_id(holder)
        waiting = b.client.drive("task-life-8", [pcm(200)], DriveOptions(on_conflict="QUEUE"))
        async with asyncio.timeout(10):
            assert (await anext(waiting)).WhichOneof("event") == "queued"
        info = await watch_until(a, "task-life-8", lambda info: info.queued_drives == 1)
        assert info.active_drive.replica == a.app.tasks.replica
        await holder.aclose()
        await drain(waiting)  # its turn came: it spoke
        await watch_until(a, "task-life-8", lambda info: info.queued_drives == 0)
