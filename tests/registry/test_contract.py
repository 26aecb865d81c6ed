"""One contract, every implementation: the exclusivity registry behaves the same in memory
and on Redis (where it is also shared between replicas)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from gateway.drive.spec import ConflictPolicy
from gateway.errors import DriveConflict, DriveEnded, GatewayError, Reason
from gateway.registry.base import Lease, Played, Stopped, TaskRegistry
from gateway.registry.memory import MemoryRegistry
from gateway.registry.redis import RedisRegistry
from gateway.registry.timing import LeaseTiming

KEY = "1234567890:task"
REJECT, QUEUE, PREEMPT = ConflictPolicy.REJECT, ConflictPolicy.QUEUE, ConflictPolicy.PREEMPT


class FakeDrive:
    """A holder that records requests to end it (and never ends by itself)."""

    def __init__(self, drive_id: str) -> None:
        self.drive_id = drive_id
        self.preempted = asyncio.Event()
        self.stopped = asyncio.Event()
        self.lost = asyncio.Event()  # any other reason: the lease could not be kept
        self.reasons: list[Reason] = []
        self.interrupts: list[bool] = []

    def end(self, reason: GatewayError) -> None:
        self.reasons.append(reason.reason)
        self.interrupts.append(isinstance(reason, DriveEnded) and reason.interrupts)
        {Reason.PREEMPTED: self.preempted, Reason.STOPPED_BY_REQUEST: self.stopped}.get(
            reason.reason, self.lost
        ).set()


Factory = Callable[[], TaskRegistry]


def quick(ttl_s: float) -> LeaseTiming:
    """A short lease for a holder that ends at once, renewed every quarter of its TTL."""
    return LeaseTiming(ttl_s=ttl_s, renew_s=ttl_s / 4, attempt_s=ttl_s / 4)


@pytest_asyncio.fixture(params=["memory", "redis"])
async def make(
    request: pytest.FixtureRequest, redis_client: aioredis.Redis
) -> AsyncIterator[Factory]:
    """Makes registries; Redis ones share one server, like replicas (flushed per test)."""
    async with AsyncExitStack() as stack:
        if request.param == "memory":
            shared = MemoryRegistry()
            yield lambda: shared
            return

        def new() -> TaskRegistry:
            registry = RedisRegistry(redis_client, timing=quick(1.0), poll_s=0.1)
            stack.push_async_callback(registry.close)
            return registry

        yield new


async def acquire(
    registry: TaskRegistry,
    drive: FakeDrive,
    policy: ConflictPolicy,
    timeout_s: float = 5,
    queued: asyncio.Event | None = None,
) -> Lease:
    """Acquire for ``drive``; ``queued`` is set once a QUEUE drive waits in line."""

    async def on_queued(ahead: int) -> None:
        if queued is not None:
            queued.set()

    return await registry.acquire(
        KEY, drive, policy=policy, timeout_s=timeout_s, on_queued=on_queued
    )


def waiting(registry: TaskRegistry, drive: FakeDrive) -> tuple[asyncio.Task[Lease], asyncio.Event]:
    """A QUEUE acquire in the background, and the event set once it waits in line."""
    queued = asyncio.Event()
    return asyncio.create_task(acquire(registry, drive, QUEUE, queued=queued)), queued


@pytest.mark.asyncio
async def test_free_task_is_taken_and_released(make: Factory) -> None:
    registry = make()
    a = FakeDrive("a")
    lease = await acquire(registry, a, REJECT)
    assert registry.holder(KEY) is a
    await registry.release(lease)
    await registry.release(lease)  # twice is harmless
    assert registry.holder(KEY) is None
    await registry.release(await acquire(registry, FakeDrive("b"), REJECT))


@pytest.mark.asyncio
async def test_reject_names_the_holder(make: Factory) -> None:
    registry, other = make(), make()
    lease = await acquire(registry, FakeDrive("drive-a"), REJECT)
    with pytest.raises(DriveConflict) as caught:
        await acquire(other, FakeDrive("b"), REJECT)
    assert caught.value.reason is Reason.TASK_BUSY
    assert caught.value.metadata["holder_drive_id"] == "drive-a"
    await registry.release(lease)


@pytest.mark.asyncio
async def test_queue_is_fifo_and_reports_how_many_are_ahead(make: Factory) -> None:
    registry = make()
    lease_a = await acquire(registry, FakeDrive("a"), REJECT)
    aheads: list[int] = []
    order: list[str] = []

    async def queued(name: str) -> tuple[TaskRegistry, Lease]:
        async def on_queued(ahead: int) -> None:
            aheads.append(ahead)

        replica = make()
        lease = await replica.acquire(
            KEY, FakeDrive(name), policy=QUEUE, timeout_s=5, on_queued=on_queued
        )
        order.append(name)
        return replica, lease

    b = asyncio.create_task(queued("b"))
    for _ in range(500):
        if aheads:
            break
        await asyncio.sleep(0.005)
    c = asyncio.create_task(queued("c"))
    for _ in range(500):
        if len(aheads) == 2:
            break
        await asyncio.sleep(0.005)
    assert aheads == [1, 2]
    await registry.release(lease_a)
    replica_b, lease_b = await asyncio.wait_for(b, 5)
    assert order == ["b"] and not c.done()
    await replica_b.release(lease_b)  # only the registry that acquired can release
    await asyncio.wait_for(c, 5)
    assert order == ["b", "c"]


@pytest.mark.asyncio
async def test_queue_timeout_leaves_no_trace(make: Factory) -> None:
    registry = make()
    lease = await acquire(registry, FakeDrive("a"), REJECT)
    with pytest.raises(DriveEnded) as caught:
        await acquire(make(), FakeDrive("b"), QUEUE, timeout_s=0.2)
    assert caught.value.reason is Reason.QUEUE_TIMEOUT
    await registry.release(lease)
    await asyncio.wait_for(acquire(make(), FakeDrive("c"), REJECT), 5)


@pytest.mark.asyncio
async def test_cancelled_waiter_does_not_block_the_next(make: Factory) -> None:
    registry = make()
    lease = await acquire(registry, FakeDrive("a"), REJECT)
    b, b_queued = waiting(make(), FakeDrive("b"))
    await asyncio.wait_for(b_queued.wait(), 5)
    c, c_queued = waiting(make(), FakeDrive("c"))
    await asyncio.wait_for(c_queued.wait(), 5)
    b.cancel()
    with pytest.raises(asyncio.CancelledError):
        await b
    await registry.release(lease)
    assert (await asyncio.wait_for(c, 5)).holder.drive_id == "c"


@pytest.mark.asyncio
async def test_preempt_asks_the_holder_and_goes_ahead_of_the_queue(make: Factory) -> None:
    holder_registry = make()
    a = FakeDrive("a")
    lease_a = await acquire(holder_registry, a, REJECT)
    queued, in_line = waiting(make(), FakeDrive("queued"))
    await asyncio.wait_for(in_line.wait(), 5)
    preemptor = asyncio.create_task(acquire(make(), FakeDrive("new"), PREEMPT))
    await asyncio.wait_for(a.preempted.wait(), 5)  # the holder is asked to end
    assert not preemptor.done()  # ...and keeps the task until it released it
    await holder_registry.release(lease_a)
    lease_new = await asyncio.wait_for(preemptor, 5)
    assert lease_new.holder.drive_id == "new" and not queued.done()
    queued.cancel()  # awaited: its way out of the line still talks to Redis
    with pytest.raises(asyncio.CancelledError):
        await queued


@pytest.mark.asyncio
async def test_a_newer_preempt_supersedes_a_waiting_one(make: Factory) -> None:
    registry = make()
    a = FakeDrive("a")  # never lets go until released below
    lease = await acquire(registry, a, REJECT)
    first = asyncio.create_task(acquire(make(), FakeDrive("first"), PREEMPT))
    await asyncio.wait_for(a.preempted.wait(), 5)  # the first preemptor is in line
    second = asyncio.create_task(acquire(make(), FakeDrive("second"), PREEMPT))
    with pytest.raises(DriveEnded) as caught:
        await asyncio.wait_for(first, 5)
    assert caught.value.reason is Reason.PREEMPTED
    await registry.release(lease)
    assert (await asyncio.wait_for(second, 5)).holder.drive_id == "second"


@pytest.mark.asyncio
async def test_redis_lease_expires_when_its_replica_dies(redis_client: aioredis.Redis) -> None:
    dead = RedisRegistry(redis_client, timing=quick(0.3), poll_s=0.05)
    await acquire(dead, FakeDrive("a"), REJECT)
    await dead.close()  # the replica is gone: no release, no renewal
    async with RedisRegistry(redis_client, timing=quick(0.3), poll_s=0.05) as alive:
        lease = await acquire(alive, FakeDrive("b"), QUEUE, timeout_s=5)
        assert lease.holder.drive_id == "b"
        await alive.release(lease)


@pytest.mark.asyncio
async def test_a_closed_redis_registry_leaves_no_task_behind(redis_client: aioredis.Redis) -> None:
    registry = RedisRegistry(redis_client, timing=quick(0.3), poll_s=0.05)
    await registry.start()
    await acquire(registry, FakeDrive("a"), REJECT)  # held at close, never released
    await asyncio.sleep(0.1)  # it renews every 0.075 s: mid-cycle now
    await registry.close()
    # Left pending, a refresher would be destroyed with the loop, its connection unclosed.
    names = ("lease ", "registry events")
    left = [t for t in asyncio.all_tasks() if t.get_name().startswith(names)]
    assert [t for t in left if not t.done()] == []


@pytest.mark.asyncio
async def test_a_wait_still_in_line_at_close_gets_no_lease(redis_client: aioredis.Redis) -> None:
    async with RedisRegistry(redis_client, timing=quick(1.0), poll_s=0.05) as holder_replica:
        lease = await acquire(holder_replica, FakeDrive("a"), REJECT)
        closing = RedisRegistry(redis_client, timing=quick(1.0), poll_s=0.05)
        behind, in_line = waiting(closing, FakeDrive("b"))
        await asyncio.wait_for(in_line.wait(), 5)
        await closing.close()
        await holder_replica.release(lease)  # the task is free, the waiter's turn comes
        with pytest.raises(DriveEnded) as caught:
            await asyncio.wait_for(behind, 5)
        assert caught.value.reason is Reason.DRAINING
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("lease ")]


@pytest.mark.asyncio
async def test_a_waiter_whose_replica_died_does_not_block_the_task(
    redis_client: aioredis.Redis,
) -> None:
    async with (
        RedisRegistry(redis_client, timing=quick(1.0), poll_s=0.05) as holder_replica,
        RedisRegistry(redis_client, timing=quick(1.0), poll_s=0.05) as other,
    ):
        lease = await acquire(holder_replica, FakeDrive("a"), REJECT)
        # A replica queued a drive and died: its token stays in line, its sign of life
        # (renewed at every look while it waited) lapses.
        await redis_client.set("dhgw:waiting:ghost", "1", px=200)
        await redis_client.rpush(f"dhgw:queue:{KEY}", "ghost")
        behind, in_line = waiting(other, FakeDrive("b"))
        await asyncio.wait_for(in_line.wait(), 5)
        await holder_replica.release(lease)
        lease = await asyncio.wait_for(behind, 5)  # the ghost was dropped, not waited for
        assert lease.holder.drive_id == "b"
        await other.release(lease)
        # Nothing is left in line: a REJECT drive gets the task at once.
        await holder_replica.release(await acquire(holder_replica, FakeDrive("c"), REJECT))
        assert await redis_client.llen(f"dhgw:queue:{KEY}") == 0


@pytest.mark.asyncio
async def test_a_drive_id_known_after_acquire_is_named_once_updated(make: Factory) -> None:
    registry, other = make(), make()
    drive = FakeDrive("")  # still being set up
    lease = await acquire(registry, drive, REJECT)
    with pytest.raises(DriveConflict) as caught:
        await acquire(other, FakeDrive("b"), REJECT)
    assert caught.value.metadata["holder_drive_id"] == ""
    drive.drive_id = "granted"
    await registry.update(lease)
    with pytest.raises(DriveConflict) as caught:
        await acquire(other, FakeDrive("b"), REJECT)
    assert caught.value.metadata["holder_drive_id"] == "granted"
    await registry.release(lease)


@pytest.mark.asyncio
async def test_stop_ends_the_holder_from_any_replica_and_waits_for_the_release(
    make: Factory,
) -> None:
    holder_registry, other = make(), make()
    a = FakeDrive("drive-a")
    lease = await acquire(holder_registry, a, REJECT)
    stopping = asyncio.create_task(other.stop(KEY, 5))
    await asyncio.wait_for(a.stopped.wait(), 5)
    assert not a.preempted.is_set()  # a StopDrive, not a newer drive
    await asyncio.sleep(0.05)
    assert not stopping.done()  # the answer waits until the task is free
    await holder_registry.release(lease)
    assert await asyncio.wait_for(stopping, 5) == Stopped("drive-a")  # it said nothing played
    assert holder_registry.holder(KEY) is None
    await other.release(await acquire(other, FakeDrive("next"), REJECT))


@pytest.mark.asyncio
async def test_stop_interrupt_says_so_and_answers_what_the_avatar_played(make: Factory) -> None:
    holder_registry, other = make(), make()
    a = FakeDrive("drive-a")
    lease = await acquire(holder_registry, a, REJECT)
    stopping = asyncio.create_task(other.stop(KEY, 5, interrupt=True))
    await asyncio.wait_for(a.stopped.wait(), 5)
    assert a.interrupts[0]  # silent now, not after what it was sent
    await holder_registry.release(lease, Played(640, interrupted=True))
    assert await asyncio.wait_for(stopping, 5) == Stopped("drive-a", Played(640, True))


@pytest.mark.asyncio
async def test_a_preempted_holder_is_interrupted(make: Factory) -> None:
    holder_registry, other = make(), make()
    a = FakeDrive("drive-a")
    lease = await acquire(holder_registry, a, REJECT)
    preempting = asyncio.create_task(acquire(other, FakeDrive("b"), PREEMPT))
    await asyncio.wait_for(a.preempted.wait(), 5)
    assert a.interrupts[0]
    await holder_registry.release(lease)
    await other.release(await asyncio.wait_for(preempting, 5))


@pytest.mark.asyncio
async def test_stop_of_a_free_task_finds_nothing(make: Factory) -> None:
    assert await make().stop(KEY, 5) is None


@pytest.mark.asyncio
async def test_stop_gives_up_waiting_and_the_drive_keeps_the_task(make: Factory) -> None:
    registry = make()
    a = FakeDrive("")  # still being set up, and deaf to the request
    lease = await acquire(registry, a, REJECT)
    assert await asyncio.wait_for(make().stop(KEY, 0.2), 5) == Stopped("")
    assert a.stopped.is_set() and registry.holder(KEY) is a
    with pytest.raises(DriveConflict):
        await acquire(make(), FakeDrive("b"), REJECT)
    await registry.release(lease)
