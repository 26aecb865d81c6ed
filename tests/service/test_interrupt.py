"""Barge-in end to end (gateway + simulator over loopback): the client's Interrupt, StopDrive
FINISH and INTERRUPT (on this replica or another), and PREEMPT. The simulator's own records
say when the avatar went silent, which frames arrived, and that InterruptDriveTask came
before the Stop; every drive that started gets its Stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc
from dhgateway_client import Drive, DriveError, DriveOptions, Mark

from gateway.config import ServerConfig
from gateway.simulator import Simulator, SimulatorConfig
from gateway.simulator.playout import PlayoutOutcome
from gateway.simulator.records import ApiCall, DriveRecord
from gateway.testing import TEST_APP_ID, Harness, running_gateway
from tests.service.conftest import chunks, pcm, realtime

C = grpc.StatusCode


async def held_open(items: Sequence[bytes | Mark]) -> AsyncIterator[bytes | Mark]:
    """``items`` at once, then nothing: the stream stays open until the client interrupts."""
    for item in items:
        yield item
    await asyncio.Event().wait()


async def until(drive: Drive, kind: str, got: list[pb.DriveEvent]) -> None:
    """Read ``drive``'s events into ``got`` until one of ``kind`` came."""
    async with asyncio.timeout(10):
        async for event in drive:
            got.append(event)
            if event.WhichOneof("event") == kind:
                return
    raise AssertionError(f"the stream ended before {kind}")


async def rest(drive: Drive, got: list[pb.DriveEvent]) -> DriveError | None:
    """Read the rest of ``drive``'s events into ``got``; the error it ended with, if any."""
    try:
        async with asyncio.timeout(10):
            async for event in drive:
                got.append(event)
    except DriveError as error:
        return error
    return None


def of(got: list[pb.DriveEvent], kind: str) -> list[pb.DriveEvent]:
    return [e for e in got if e.WhichOneof("event") == kind]


def interrupts(h: Harness, task: str) -> list[ApiCall]:
    return [c for c in h.sim.api_calls if c.action == "InterruptDriveTask" and c.task_id == task]


def silenced_before_stop(h: Harness, record: DriveRecord) -> ApiCall:
    """The one InterruptDriveTask of ``record``'s task: after its last frame, before its Stop."""
    [call] = interrupts(h, record.task_id)
    assert call.code == 0
    assert record.last_audio_at is not None and record.stopped_at is not None
    assert record.last_audio_at <= call.time <= record.stopped_at  # no frame after it
    assert not any("audio_after_stop" in e for e in record.errors)
    return call


@pytest.mark.asyncio
async def test_an_interrupt_silences_the_avatar_and_completes(harness: Harness) -> None:
    audio = pcm(3000)
    cut = len(audio) * 200 // 3000  # a mark after 200 ms, another after 2500 ms
    late = len(audio) * 2500 // 3000
    items: list[bytes | Mark] = [
        Mark("early"),
        audio[:cut],
        Mark("heard"),
        audio[cut:late],
        Mark("late"),
        audio[late:],
    ]
    drive = harness.client.drive("irq", held_open(items))
    got: list[pb.DriveEvent] = []
    await until(drive, "mark_played", got)  # "early": the avatar speaks
    await until(drive, "mark_played", got)  # "heard": 200 ms played
    await asyncio.sleep(0.3)
    asked_at = time.monotonic()  # the simulator's clock
    await drive.interrupt()
    assert await rest(drive, got) is None  # status OK
    assert [e.mark_played.name for e in of(got, "mark_played")] == ["early", "heard"]
    [finished] = of(got, "playback_finished")
    [completed] = of(got, "completed")
    assert got[-1] is completed and got[-2] is finished  # the finish, then Completed, last
    assert finished.playback_finished.interrupted and completed.completed.interrupted
    played_ms = finished.playback_finished.played_ms
    assert completed.completed.played_ms == played_ms
    done = completed.completed
    assert 400 <= played_ms < done.sent_ms < done.received_ms == 3000
    assert done.dropped_ms == done.received_ms - done.sent_ms > 0
    record = harness.sim.drive(drive.drive_id)
    call = silenced_before_stop(harness, record)
    assert record.audio_bytes == done.bytes_sent  # nothing sent after the Interrupt
    playout = harness.sim.playout(drive.drive_id)
    assert playout.outcome is PlayoutOutcome.INTERRUPTED and playout.ended_at is not None
    assert call.time <= playout.ended_at <= (record.stopped_at or 0)  # silent before the Stop
    assert playout.played_ms is not None and abs(playout.played_ms - played_ms) <= 20
    # Not what the pacer still held (1 s and more, had the Interrupt waited for it to be taken);
    # the latency itself is measured by bench/stop_to_silence.py.
    assert playout.played_ms - playout.played_ms_at(asked_at) < 500
    # The task is free at once: the next utterance (REJECT) starts.
    events = [e async for e in harness.client.drive("irq", [pcm(100)])]
    assert events[-1].WhichOneof("event") == "completed"


Call = grpc.aio.StreamStreamCall[pb.DriveRequest, pb.DriveEvent]


async def read(call: Call) -> pb.DriveEvent | None:
    """The call's next event; None once it ended OK."""
    event = await call.read()
    return event if isinstance(event, pb.DriveEvent) else None


def raw_requests(task: str) -> tuple[pb.DriveRequest, pb.DriveRequest]:
    return (
        pb.DriveRequest(config=pb.DriveConfig(task_id=task)),
        pb.DriveRequest(audio=pcm(2000)),
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("after", "reason"),
    [
        (pb.DriveRequest(interrupt=pb.Interrupt()), "INTERRUPT_REPEATED"),
        (pb.DriveRequest(audio=pcm(100)), "AUDIO_AFTER_INTERRUPT"),
        (pb.DriveRequest(mark=pb.Mark(name="m")), "AUDIO_AFTER_INTERRUPT"),
    ],
)
async def test_nothing_but_the_half_close_may_follow_an_interrupt(
    harness: Harness, after: pb.DriveRequest, reason: str
) -> None:
    task = f"irq-bad-{reason}-{after.WhichOneof('request')}"
    call: Call = pb_grpc.DriveGatewayStub(harness.channel).Drive()  # type: ignore[call-arg]
    for request in raw_requests(task):
        await call.write(request)
    async with asyncio.timeout(10):
        while (event := await read(call)) is None or event.WhichOneof(
            "event"
        ) != "playback_started":
            pass
    await call.write(pb.DriveRequest(interrupt=pb.Interrupt()))
    await call.write(after)
    await call.done_writing()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async with asyncio.timeout(10):
            while (late := await read(call)) is not None:
                assert late.WhichOneof("event") != "completed", late
    error = DriveError.from_rpc_error(caught.value)
    assert (error.code, error.reason) == (C.INVALID_ARGUMENT, reason)
    # The avatar was still silenced, and the drive got its Stop.
    silenced_before_stop(harness, harness.sim.drive(event.drive_id))


@pytest.mark.asyncio
async def test_an_interrupt_before_the_task_is_held_completes_without_the_vendor(
    harness: Harness,
) -> None:
    holder = harness.client.drive("irq-q", realtime(chunks(pcm(3000), 3200), 100))
    assert (await anext(holder)).WhichOneof("event") == "started"
    queued = harness.client.drive("irq-q", held_open([pcm(100)]), DriveOptions(on_conflict="QUEUE"))
    got: list[pb.DriveEvent] = []
    await until(queued, "queued", got)
    await queued.interrupt()
    assert await rest(queued, got) is None
    [completed] = of(got, "completed")
    assert completed.completed.interrupted and completed.completed.played_ms == 0
    assert len(harness.sim.drives_for_task("irq-q")) == 1  # the queued one never reached it
    await holder.aclose()


async def speaking(h: Harness, task: str, ms: int = 5000) -> tuple[Drive, list[pb.DriveEvent]]:
    """A drive of ``task`` streaming at 1x, once its avatar speaks."""
    drive = h.client.drive(task, realtime(chunks(pcm(ms), 3200), 100))
    got: list[pb.DriveEvent] = []
    await until(drive, "playback_started", got)
    await asyncio.sleep(0.3)
    return drive, got


@pytest.mark.asyncio
async def test_stop_drive_finish_lets_the_avatar_play_what_it_was_sent(harness: Harness) -> None:
    drive, got = await speaking(harness, "stop-f")
    result = await harness.client.stop("stop-f", mode="FINISH")
    error = await rest(drive, got)
    assert error is not None and (error.code, error.reason) == (C.ABORTED, "STOPPED_BY_REQUEST")
    [finished] = of(got, "playback_finished")
    assert not finished.playback_finished.interrupted and not result.interrupted
    record = harness.sim.drive(result.drive_id)
    sent_ms = record.audio_bytes * 1000 // 32000
    assert abs(result.played_ms - sent_ms) <= 1 and result.played_ms >= 300  # all of it
    assert interrupts(harness, "stop-f") == [] and record.stopped_at is not None
    assert harness.sim.playout(result.drive_id).outcome is PlayoutOutcome.PLAYED


@pytest.mark.asyncio
async def test_stop_drive_interrupt_silences_the_avatar_now(harness: Harness) -> None:
    drive, got = await speaking(harness, "stop-i")
    result = await harness.client.stop("stop-i", mode="INTERRUPT")
    error = await rest(drive, got)
    assert error is not None and (error.code, error.reason) == (C.ABORTED, "STOPPED_BY_REQUEST")
    [finished] = of(got, "playback_finished")
    assert finished.playback_finished.interrupted and result.interrupted
    assert finished.playback_finished.played_ms == result.played_ms
    assert error.metadata["played_ms"] == str(result.played_ms)
    record = harness.sim.drive(result.drive_id)
    silenced_before_stop(harness, record)
    assert result.played_ms < record.audio_bytes * 1000 // 32000  # the lead was not played
    playout = harness.sim.playout(result.drive_id)
    assert playout.played_ms is not None and abs(playout.played_ms - result.played_ms) <= 20


@pytest.mark.asyncio
async def test_stop_drive_interrupt_silences_the_tail_of_a_finished_drive(
    harness: Harness,
) -> None:
    # All of it sent and half-closed: the drive plays out its lead, its Stop already sent.
    drive = harness.client.drive("tail", [pcm(800)])
    got: list[pb.DriveEvent] = []
    await until(drive, "playback_started", got)
    record = await harness.sim.wait_stopped(drive.drive_id)
    result = await harness.client.stop("tail", mode="INTERRUPT")
    assert result.interrupted and result.played_ms < 800
    error = await rest(drive, got)
    assert error is not None and error.reason == "STOPPED_BY_REQUEST"
    [call] = interrupts(harness, "tail")
    assert record.stopped_at is not None and record.stopped_at <= call.time
    assert harness.sim.playout(drive.drive_id).outcome is PlayoutOutcome.INTERRUPTED
    with pytest.raises(DriveError) as caught:  # nothing is left to silence
        await harness.client.stop("tail", mode="INTERRUPT")
    assert (caught.value.code, caught.value.reason) == (C.NOT_FOUND, "NO_ACTIVE_DRIVE")


@pytest.mark.asyncio
async def test_an_unknown_stop_mode_is_refused(harness: Harness) -> None:
    stub = pb_grpc.DriveGatewayStub(harness.channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.StopDrive(pb.StopDriveRequest(task_id="t", mode=pb.StopMode.ValueType(99)))
    error = DriveError.from_rpc_error(caught.value)
    assert (error.code, error.reason) == (C.INVALID_ARGUMENT, "UNKNOWN_STOP_MODE")


@pytest.mark.asyncio
async def test_preempt_silences_the_old_drive_before_the_new_one_plays(harness: Harness) -> None:
    old, got = await speaking(harness, "pre")
    new = [
        e
        async for e in harness.client.drive("pre", [pcm(200)], DriveOptions(on_conflict="PREEMPT"))
    ]
    assert new[-1].WhichOneof("event") == "completed"
    error = await rest(old, got)
    assert error is not None and (error.code, error.reason) == (C.ABORTED, "PREEMPTED")
    [finished] = of(got, "playback_finished")
    assert finished.playback_finished.interrupted
    assert error.metadata["played_ms"] == str(finished.playback_finished.played_ms)
    record = harness.sim.drive(old.drive_id)
    call = silenced_before_stop(harness, record)
    newer = harness.sim.drive(new[-1].drive_id)
    assert newer.first_audio_at is not None and call.time <= newer.first_audio_at
    playout = harness.sim.playout(old.drive_id)
    assert playout.outcome is PlayoutOutcome.INTERRUPTED and playout.reason == "InterruptDriveTask"
    assert harness.sim.overlaps == []


@pytest_asyncio.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[Harness, Harness]]:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    server = ServerConfig(listen="127.0.0.1:0", redis_url=redis_url)
    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(
            Simulator(SimulatorConfig(app_id=TEST_APP_ID, server_secret="i" * 32))
        )
        a = await stack.enter_async_context(running_gateway(sim=sim, server=server))
        b = await stack.enter_async_context(running_gateway(sim=sim, server=server))
        yield a, b


@pytest.mark.asyncio
async def test_stop_drive_interrupt_from_another_replica(
    replicas: tuple[Harness, Harness],
) -> None:
    a, b = replicas
    drive, got = await speaking(a, "shared-i")
    result = await b.client.stop("shared-i", mode="INTERRUPT")
    assert result.drive_id == drive.drive_id and result.interrupted
    error = await rest(drive, got)
    assert error is not None and error.reason == "STOPPED_BY_REQUEST"
    [finished] = of(got, "playback_finished")
    assert finished.playback_finished.played_ms == result.played_ms  # read through Redis
    record = a.sim.drive(result.drive_id)
    silenced_before_stop(a, record)
    playout = a.sim.playout(result.drive_id)
    assert playout.played_ms is not None and abs(playout.played_ms - result.played_ms) <= 20
