"""The in-process exclusivity registry (one gateway process)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from gateway.drive.spec import ConflictPolicy
from gateway.errors import DriveConflict, DriveEnded, Reason
from gateway.registry.base import (
    Holder,
    Lease,
    Played,
    QueuedCallback,
    Stopped,
    preempted,
    stopped,
)


@dataclass(eq=False)
class _Waiter:
    holder: Holder
    preempting: bool
    granted: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True)
class _Slot:
    holder: Holder | None = None
    # A list, not a deque: queues are a few drives long, and an empty deque costs 760 bytes
    # for every task that is driven.
    queue: list[_Waiter] = field(default_factory=list)
    # Resolved (with what the avatar played) when the holder releases; made by the first
    # ``stop`` that waits for it.
    released: asyncio.Future[Played | None] | None = None


class MemoryRegistry:
    """:class:`~gateway.registry.base.TaskRegistry` for one process (asyncio, one loop)."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    def holder(self, key: str) -> Holder | None:
        slot = self._slots.get(key)
        return slot.holder if slot else None

    async def acquire(
        self,
        key: str,
        holder: Holder,
        *,
        policy: ConflictPolicy,
        timeout_s: float,
        on_queued: QueuedCallback | None = None,
    ) -> Lease:
        slot = self._slots.setdefault(key, _Slot())
        if slot.holder is None and not slot.queue:
            slot.holder = holder
            return Lease(key, holder)
        if policy is ConflictPolicy.REJECT:
            current = slot.holder
            raise DriveConflict(key.partition(":")[2], current.drive_id if current else "")
        waiter = _Waiter(holder, preempting=policy is ConflictPolicy.PREEMPT)
        if waiter.preempting:
            for older in [w for w in slot.queue if w.preempting]:
                slot.queue.remove(older)
                older.granted.set_exception(preempted())
            slot.queue.insert(0, waiter)
            if slot.holder is not None:
                slot.holder.end(preempted())
        else:
            slot.queue.append(waiter)
        ahead = len(slot.queue) - 1 + (slot.holder is not None)
        try:
            async with asyncio.timeout(timeout_s):
                if on_queued is not None and not waiter.preempting:
                    await on_queued(ahead)
                await asyncio.shield(waiter.granted)
        except BaseException as exc:
            granted = waiter.granted.done() and not waiter.granted.cancelled()
            if granted and waiter.granted.exception() is None:
                # Granted in the same instant we were cancelled: hand the task on.
                await self.release(Lease(key, holder))
            elif waiter in slot.queue:
                slot.queue.remove(waiter)
                self._forget_if_empty(key, slot)
            if not waiter.granted.done():
                waiter.granted.cancel()
            if isinstance(exc, TimeoutError):
                raise DriveEnded(
                    Reason.QUEUE_TIMEOUT,
                    f"task still busy after waiting {timeout_s:g} s",
                ) from None
            raise
        return Lease(key, holder)

    async def update(self, lease: Lease) -> None:
        pass  # the holder's DriveId is read from the holder itself

    async def stop(self, key: str, timeout_s: float, *, interrupt: bool = False) -> Stopped | None:
        slot = self._slots.get(key)
        holder = slot.holder if slot is not None else None
        if slot is None or holder is None:
            return None
        if slot.released is None:
            slot.released = asyncio.get_running_loop().create_future()
        released = slot.released
        holder.end(stopped(interrupt=interrupt))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(released), timeout_s)
        played = released.result() if released.done() else None
        return Stopped(holder.drive_id, played)

    async def release(self, lease: Lease, played: Played | None = None) -> None:
        slot = self._slots.get(lease.key)
        if slot is None or slot.holder is not lease.holder:
            return
        slot.holder = None
        if slot.released is not None:
            slot.released.set_result(played)
            slot.released = None
        while slot.queue:
            waiter = slot.queue.pop(0)
            if not waiter.granted.done():
                slot.holder = waiter.holder
                waiter.granted.set_result(None)
                break
        self._forget_if_empty(lease.key, slot)

    def _forget_if_empty(self, key: str, slot: _Slot) -> None:
        if slot.holder is None and not slot.queue:
            with contextlib.suppress(KeyError):
                if self._slots[key] is slot:
                    del self._slots[key]
