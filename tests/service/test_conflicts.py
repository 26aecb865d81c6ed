"""Exclusivity: REJECT, QUEUE, PREEMPT, StopDrive, ListDrives; never two connections per task."""

from __future__ import annotations

import asyncio
import random

import grpc
import pytest
from dhgateway_client import DriveError, DriveOptions

from gateway.testing import Harness, running_gateway
from gateway.upstream import LocalRateLimiter
from tests.service.conftest import chunks, pcm, realtime, started_drive_id

C = grpc.StatusCode


@pytest.mark.asyncio
async def test_reject_answers_task_busy_with_the_holders_drive_id(harness: Harness) -> None:
    holder = harness.client.drive("busy", realtime(chunks(pcm(2000), 3200), 100))
    holder_id = await started_drive_id(holder)
    with pytest.raises(DriveError) as caught:
        async for _ in harness.client.drive("busy", [pcm(100)]):
            pass
    assert (caught.value.code, caught.value.reason) == (C.ALREADY_EXISTS, "TASK_BUSY")
    assert caught.value.metadata["holder_drive_id"] == holder_id
    await holder.aclose()


@pytest.mark.asyncio
async def test_queue_waits_its_turn_with_a_queued_event(harness: Harness) -> None:
    holder = harness.client.drive("q", realtime(chunks(pcm(600), 3200), 100))
    await started_drive_id(holder)
    queued = harness.client.drive("q", [pcm(100)], DriveOptions(on_conflict="QUEUE"))
    first = await anext(queued)
    assert first.WhichOneof("event") == "queued"
    assert first.queued.ahead == 1
    async for _ in holder:
        pass
    kinds = [e.WhichOneof("event") async for e in queued]
    assert kinds[0] == "started" and kinds[-1] == "completed"
    assert not harness.sim.overlaps


@pytest.mark.asyncio
async def test_queue_timeout(harness: Harness) -> None:
    holder = harness.client.drive("qt", realtime(chunks(pcm(3000), 3200), 100))
    await started_drive_id(holder)
    with pytest.raises(DriveError) as caught:
        options = DriveOptions(on_conflict="QUEUE", queue_timeout_s=0.2)
        async for _ in harness.client.drive("qt", [pcm(100)], options):
            pass
    assert (caught.value.code, caught.value.reason) == (C.DEADLINE_EXCEEDED, "QUEUE_TIMEOUT")
    await holder.aclose()


@pytest.mark.asyncio
async def test_preempt_ends_the_holder_with_stop_before_the_new_connection(
    harness: Harness,
) -> None:
    holder = harness.client.drive("p", realtime(chunks(pcm(3000), 3200), 100))
    holder_id = await started_drive_id(holder)
    new = [
        e async for e in harness.client.drive("p", [pcm(200)], DriveOptions(on_conflict="PREEMPT"))
    ]
    assert new[-1].WhichOneof("event") == "completed"
    with pytest.raises(DriveError) as caught:
        async for _ in holder:
            pass
    assert (caught.value.code, caught.value.reason) == (C.ABORTED, "PREEMPTED")
    old = harness.sim.drive(holder_id)
    assert old.stopped_at is not None and old.closed_at is not None
    fresh = harness.sim.drive(new[0].drive_id)
    assert fresh.connected_at is not None and old.closed_at <= fresh.connected_at
    assert not harness.sim.overlaps


@pytest.mark.asyncio
async def test_stop_drive_and_list_drives(harness: Harness) -> None:
    with pytest.raises(DriveError) as caught:
        await harness.client.stop_drive("nobody")
    assert (caught.value.code, caught.value.reason) == (C.NOT_FOUND, "NO_ACTIVE_DRIVE")
    options = DriveOptions(labels={"who": "test"})
    holder = harness.client.drive("s", realtime(chunks(pcm(3000), 3200), 100), options)
    holder_id = await started_drive_id(holder)
    (info,) = await harness.client.list_drives()
    assert (info.task_id, info.drive_id, dict(info.labels)) == ("s", holder_id, {"who": "test"})
    assert info.started_time.seconds > 0
    assert await harness.client.stop_drive("s") == holder_id
    assert harness.sim.drive(holder_id).stopped_at is not None  # Stop sent before the answer
    with pytest.raises(DriveError) as caught:
        async for _ in holder:
            pass
    assert (caught.value.code, caught.value.reason) == (C.ABORTED, "STOPPED_BY_REQUEST")
    assert await harness.client.list_drives() == []


@pytest.mark.asyncio
async def test_no_overlap_over_200_randomized_interleavings() -> None:
    rng = random.Random(20261125)
    # Hundreds of drives: lift the vendor's 10 requests/s on both sides for this test only.
    async with running_gateway(simulator={"requests_per_second": 10_000}) as h:
        h.app.upstream._limiter = LocalRateLimiter(10_000)

        async def one(task: str, policy: str, delay: float) -> None:
            await asyncio.sleep(delay)
            audio = chunks(pcm(rng.choice([20, 60, 120])), 640)
            options = DriveOptions(on_conflict=policy, queue_timeout_s=5)  # type: ignore[arg-type]
            try:
                async for _ in h.client.drive(task, audio, options):
                    pass
            except DriveError as error:
                assert error.reason in {"TASK_BUSY", "PREEMPTED"}, error

        for round_ in range(200):
            task = f"i{round_ % 7}"
            drives = [
                one(task, rng.choice(["REJECT", "QUEUE", "PREEMPT"]), rng.random() * 0.02)
                for _ in range(rng.randint(2, 4))
            ]
            await asyncio.wait_for(asyncio.gather(*drives), 20)
        assert h.sim.overlaps == []
        assert all(r.stopped_at is not None for r in h.sim.drives if r.start is not None)
