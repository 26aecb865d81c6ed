"""The exclusivity registry: at most one drive per avatar task, whatever the replicas.

The vendor forbids two WebSocket connections on one stream task at a time. Each drive therefore
*acquires* the task (key: AppId and task id) before it calls the vendor and *releases* it only
after its WebSocket is closed. What happens when the task is taken depends on the drive's
policy:

* ``REJECT``: fail at once with :class:`~gateway.errors.DriveConflict` (TASK_BUSY).
* ``QUEUE``: wait in FIFO order, up to a timeout (QUEUE_TIMEOUT).
* ``PREEMPT``: ask the holder to end (:func:`preempted`), go ahead of every queued drive,
  and get the task once the holder released it. A newer PREEMPT supersedes an older one that is
  still waiting (the newest utterance wins); the older one ends PREEMPTED.

``stop`` ends the holder from any replica (a StopDrive that reached another replica than the
drive's) and waits until the task is free.

Implementations: :class:`~gateway.registry.memory.MemoryRegistry` (one process). They all pass
the same contract suite (``tests/registry/test_contract.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from gateway.drive.spec import ConflictPolicy
from gateway.errors import DriveEnded, GatewayError, Reason


def task_key(app_id: int, task_id: str) -> str:
    """The exclusivity key of a task: the same task id under two AppIds is two avatars."""
    return f"{app_id}:{task_id}"


class Holder(Protocol):
    """A drive as the registry sees it."""

    @property
    def drive_id(self) -> str:
        """The upstream DriveId, "" while the drive is being set up."""
        ...

    def end(self, reason: GatewayError) -> None:
        """Ask the drive to end, its stream failing with ``reason``: a newer drive preempted
        it (:func:`preempted`), a StopDrive (:func:`stopped`), or its lease could not be kept.

        The drive must send its Stop, close its WebSocket and only then release its lease.
        Must not block; may be called more than once (the first reason wins).
        """
        ...


def preempted() -> DriveEnded:
    """Why a holder ends when a PREEMPT drive wants its task."""
    return DriveEnded(Reason.PREEMPTED, "a newer drive preempted this task")


def stopped() -> DriveEnded:
    """Why a holder ends when a StopDrive asked for it."""
    return DriveEnded(Reason.STOPPED_BY_REQUEST, "stopped by a StopDrive request")


@dataclass(frozen=True, eq=False)
class Lease:
    """Proof that a drive holds a task; give it back with ``release``."""

    key: str
    holder: Holder


QueuedCallback = Callable[[int], Awaitable[None]]
"""Awaited with the number of drives ahead when a drive starts to wait (QUEUE policy)."""


class TaskRegistry(Protocol):
    """Who holds which task; see the module docstring for the policies."""

    async def acquire(
        self,
        key: str,
        holder: Holder,
        *,
        policy: ConflictPolicy,
        timeout_s: float,
        on_queued: QueuedCallback | None = None,
    ) -> Lease:
        """Take the task for ``holder``, waiting as the policy says.

        Raises:
            DriveConflict: REJECT and the task is taken.
            DriveEnded: QUEUE_TIMEOUT when the wait exceeded ``timeout_s``; PREEMPTED when a
                newer PREEMPT superseded this waiting one.
        """
        ...

    async def update(self, lease: Lease) -> None:
        """The holder's DriveId became known: publish it, so a TASK_BUSY on any replica names
        it. Call it right after the vendor granted the drive."""
        ...

    async def release(self, lease: Lease) -> None:
        """Give the task back (the next waiter gets it). Safe to call twice."""
        ...

    async def stop(self, key: str, timeout_s: float) -> str | None:
        """End the drive holding ``key``, whichever replica runs it (:func:`stopped`), and
        wait until it released the task, at most ``timeout_s``.

        Returns the DriveId of the drive asked to end ("" if it was still being set up), or
        None when no drive held the task. A drive that outlives the wait keeps the task; the
        caller learns nothing more about it.
        """
        ...

    def holder(self, key: str) -> Holder | None:
        """The drive holding ``key`` now, if any (in this process)."""
        ...
