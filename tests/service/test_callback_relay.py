"""The callback relay on a real redis-server: two relays stand for two replicas, each with its
own apply (a recording one); what a callback received by one becomes on the other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from gateway.callbacks.receiver import Placed
from gateway.callbacks.verify import Callback, DriveStatus, TaskStatus
from gateway.registry.redis_client import shared_client
from gateway.service.callback_relay import CallbackRelay

APP_ID = 1234567890


@dataclass
class Replica:
    """A relay and this replica's own state: its live drives, what it applied."""

    relay: CallbackRelay
    drives: set[str] = field(default_factory=set)
    tasks: set[str] = field(default_factory=set)
    applied: list[Callback] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def apply(self, callback: Callback) -> bool:
        self.applied.append(callback)
        self.changed.set()
        if isinstance(callback, DriveStatus):
            return callback.drive_id in self.drives
        return callback.task_id in self.tasks


def replica(client: aioredis.Redis) -> Replica:
    holder: list[Replica] = []
    relay = CallbackRelay(
        client,
        lambda c: holder[0].apply(c),
        lambda drive_id: drive_id in holder[0].drives,
        window_s=300,
        drive_ttl_s=60,
        timeout_s=1.0,
        ping_s=0.2,
    )
    holder.append(Replica(relay))
    return holder[0]


@pytest_asyncio.fixture
async def pair(
    redis_url: str, redis_client: aioredis.Redis
) -> AsyncIterator[tuple[Replica, Replica]]:
    client = shared_client(redis_url)
    a, b = replica(client), replica(client)
    try:
        for r in (a, b):
            r.relay.start()
            assert await r.relay.wait_listening(5)
        yield a, b
    finally:
        for r in (a, b):
            await r.relay.close()
        await client.aclose()


def drive(drive_id: str, nonce: str, status: int = 2) -> DriveStatus:
    return DriveStatus(APP_ID, "task-1", drive_id, status, 0, nonce=nonce)


async def named(r: Replica, drive_id: str, task: str = "task-1") -> None:
    r.drives.add(drive_id)
    await r.relay.drive_named(f"{APP_ID}:{task}", drive_id)


async def until_applied(r: Replica, n: int) -> None:
    """Wait (at most 5 s) until ``r`` applied ``n`` callbacks."""
    async with asyncio.timeout(5):
        while len(r.applied) < n:  # bounded by the timeout
            r.changed.clear()
            await r.changed.wait()


@pytest.mark.asyncio
async def test_a_drive_callback_goes_to_the_replica_running_the_drive(
    pair: tuple[Replica, Replica],
) -> None:
    a, b = pair
    await named(a, "d-1")
    assert await b.relay.place(drive("d-1", "n-1")) is Placed.APPLIED
    await until_applied(a, 1)
    assert a.applied == [drive("d-1", "n-1")] and b.applied == []
    # The vendor's retry, on either replica, is a duplicate: not applied again.
    assert await a.relay.place(drive("d-1", "n-1")) is Placed.DUPLICATE
    assert await b.relay.place(drive("d-1", "n-1")) is Placed.DUPLICATE
    # Another body under the same Nonce is a replay.
    assert await b.relay.place(drive("d-1", "n-1", status=4)) is Placed.REPLAYED
    # A callback for a drive of A's that reached A is applied there, once.
    assert await a.relay.place(drive("d-1", "n-2", status=4)) is Placed.APPLIED
    assert await b.relay.place(drive("d-1", "n-2", status=4)) is Placed.DUPLICATE
    assert [c.status for c in a.applied] == [2, 4]


@pytest.mark.asyncio
async def test_unknown_ended_and_unreachable_drives(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    assert await b.relay.place(drive("nobody", "n-1")) is Placed.UNKNOWN
    assert await b.relay.place(drive("nobody", "n-1")) is Placed.UNKNOWN  # not remembered
    await named(a, "d-2")
    a.drives.discard("d-2")
    a.relay.drive_ended("d-2")
    await a.relay.close()  # waits for the write of its end
    # Answered 200 (the vendor stops retrying) and applied nowhere.
    assert await b.relay.place(drive("d-2", "n-2", status=4)) is Placed.APPLIED
    assert a.applied == b.applied == []
    # A drive whose replica does not listen cannot be placed; its Nonce is given back.
    await named(a, "d-3")
    assert await b.relay.place(drive("d-3", "n-3")) is Placed.UNPLACED
    a.relay.start()
    assert await a.relay.wait_listening(5)
    assert await b.relay.place(drive("d-3", "n-3")) is Placed.APPLIED
    await until_applied(a, 1)


@pytest.mark.asyncio
async def test_a_task_callback_reaches_every_replica(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    ended = TaskStatus(APP_ID, "task-9", 5, 0, nonce="t-1")
    # No replica drove task-9 and neither apply knows it: 404, and its retry is placed afresh.
    assert await b.relay.place(ended) is Placed.UNKNOWN
    assert await b.relay.place(ended) is Placed.UNKNOWN
    await until_applied(a, 2)  # every replica heard it all the same
    await named(a, "d-9", task="task-9")
    applied_before = len(a.applied)
    assert await b.relay.place(ended) is Placed.APPLIED  # A drove the task
    await until_applied(a, applied_before + 1)
    assert a.applied[-1] == ended and b.applied.count(ended) == 3
    assert await a.relay.place(ended) is Placed.DUPLICATE
