"""What the avatar played, on the Drive stream: PlaybackStarted, MarkPlayed, PlaybackFinished,
each once and in order before Completed; the task held until the avatar finished."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import grpc
import pytest
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc
from dhgateway_client import DriveError

from gateway.testing import Harness
from tests.service.conftest import pcm

ESTIMATED = pb.PLAYBACK_SOURCE_ESTIMATED


async def requests(
    task: str,
    items: Sequence[bytes | str],
    *,
    policy: pb.ConflictPolicy.ValueType = pb.CONFLICT_POLICY_REJECT,
) -> AsyncIterator[pb.DriveRequest]:
    """A config, then audio chunks (bytes) and marks (str), then half-close."""
    yield pb.DriveRequest(config=pb.DriveConfig(task_id=task, on_conflict=policy))
    for item in items:
        if isinstance(item, str):
            yield pb.DriveRequest(mark=pb.Mark(name=item))
        else:
            yield pb.DriveRequest(audio=item)


async def events_of(
    harness: Harness,
    task: str,
    items: Sequence[bytes | str],
    policy: pb.ConflictPolicy.ValueType = pb.CONFLICT_POLICY_REJECT,
) -> list[tuple[float, pb.DriveEvent]]:
    """Every event of one drive, with when it arrived (loop time)."""
    stub = pb_grpc.DriveGatewayStub(harness.channel)
    loop = asyncio.get_running_loop()
    got: list[tuple[float, pb.DriveEvent]] = []
    async with asyncio.timeout(15):
        async for event in stub.Drive(requests(task, items, policy=policy)):
            got.append((loop.time(), event))
    return got


def kinds(events: list[tuple[float, pb.DriveEvent]]) -> list[str]:
    return [str(e.WhichOneof("event")) for _, e in events if e.WhichOneof("event") != "progress"]


@pytest.mark.asyncio
async def test_a_drive_reports_what_the_avatar_played_then_completes(harness: Harness) -> None:
    audio = pcm(1000)
    half = len(audio) // 2
    got = await events_of(
        harness, "play-ok", ["start", audio[:half], "middle", audio[half:], "end"]
    )
    assert kinds(got) == [
        "started",
        "playback_started",
        "mark_played",
        "mark_played",
        "mark_played",
        "playback_finished",
        "completed",
    ]
    by_kind = {e.WhichOneof("event"): (t, e) for t, e in got}
    marks = [e.mark_played for _, e in got if e.WhichOneof("event") == "mark_played"]
    assert [(m.name, m.source) for m in marks] == [
        ("start", ESTIMATED),
        ("middle", ESTIMATED),
        ("end", ESTIMATED),
    ]
    assert [m.at_ms for m in marks] == [0, 500, 1000]
    started_at, started = by_kind["playback_started"]
    finished_at, finished = by_kind["playback_finished"]
    assert started.playback_started.source == ESTIMATED
    assert (finished.playback_finished.played_ms, finished.playback_finished.interrupted) == (
        1000,
        False,
    )
    # The stream stayed open while the avatar played the second of audio sent at once.
    assert finished_at - started_at >= 0.9
    record = await harness.sim.wait_closed(got[0][1].drive_id, timeout=5)
    assert abs(len(record.audio) / 32 - finished.playback_finished.played_ms) <= 20


@pytest.mark.asyncio
async def test_a_queued_drive_waits_until_the_avatar_finished_the_one_before(
    harness: Harness,
) -> None:
    first = asyncio.create_task(events_of(harness, "play-queue", [pcm(1000)]))
    for _ in range(100):  # until the first drive streams (at most 5 s)
        if harness.sim.drives_for_task("play-queue"):
            break
        await asyncio.sleep(0.05)
    second = await events_of(harness, "play-queue", [pcm(100)], policy=pb.CONFLICT_POLICY_QUEUE)
    first_events = await first
    finished_at = next(t for t, e in first_events if e.WhichOneof("event") == "playback_finished")
    second_started_at = next(t for t, e in second if e.WhichOneof("event") == "started")
    assert second_started_at >= finished_at  # the first utterance's tail was not cut
    assert not harness.sim.overlaps


@pytest.mark.asyncio
async def test_a_preempting_drive_cuts_the_tail_and_says_how_much_was_played(
    harness: Harness,
) -> None:
    stub = pb_grpc.DriveGatewayStub(harness.channel)
    first = stub.Drive(requests("play-preempt", [pcm(2000)]))
    seen: list[pb.DriveEvent] = []
    async with asyncio.timeout(10):
        async for event in first:
            seen.append(event)
            if event.WhichOneof("event") == "playback_started":
                break
        await asyncio.sleep(0.3)  # all 2 s were sent at once: the avatar is playing them
        second = await events_of(
            harness, "play-preempt", [pcm(100)], policy=pb.CONFLICT_POLICY_PREEMPT
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for event in first:
                seen.append(event)
    assert kinds(second)[-1] == "completed"
    [finished] = [e.playback_finished for e in seen if e.WhichOneof("event") == "playback_finished"]
    assert finished.interrupted and 200 <= finished.played_ms < 2000
    error = DriveError.from_rpc_error(caught.value)
    assert (error.code, error.reason) == (grpc.StatusCode.ABORTED, "PREEMPTED")
    assert int(error.metadata["played_ms"]) == finished.played_ms


@pytest.mark.parametrize("name", ["", "x" * 1024])
@pytest.mark.asyncio
async def test_a_bad_mark_is_invalid_argument(harness: Harness, name: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await events_of(harness, f"play-bad-{len(name)}", [pcm(100), name])
    error = DriveError.from_rpc_error(caught.value)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_MARK")
