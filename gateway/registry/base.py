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
drive's), letting its avatar play what it was sent or, with ``interrupt``, silencing it now
(:func:`stopped`), and waits until the task is free; the holder says what its avatar played
when it releases the task (``release(lease, played)``), and ``stop`` answers with that.

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
    """Why a holder ends when a PREEMPT drive wants its task: silent now, so the newer drive's
    first words are not delayed by the older one's tail."""
    return DriveEnded(Reason.PREEMPTED, "a newer drive preempted this task", interrupts=True)


def stopped(*, interrupt: bool = False) -> DriveEnded:
    """Why a holder ends when a StopDrive asked for it; ``interrupt``: STOP_MODE_INTERRUPT
    (silent now), else the avatar plays what it was sent."""
    return DriveEnded(
        Reason.STOPPED_BY_REQUEST, "stopped by a StopDrive request", interrupts=interrupt
    )


@dataclass(frozen=True, slots=True)
class Played:
    """What the avatar played of a drive a StopDrive ended (its PlaybackFinished)."""

    played_ms: int
    interrupted: bool


@dataclass(frozen=True, slots=True)
class Stopped:
    """What ``stop`` learns: the DriveId of the drive asked to end ("" if it was still being
    set up) and what its avatar played (None: not known; the drive outlived the wait, or its
    replica does not say)."""

    drive_id: str
    played: Played | None = None


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

    async def release(self, lease: Lease, played: Played | None = None) -> None:
        """Give the task back (the next waiter gets it). Safe to call twice. ``played``: what
        the avatar played of a drive a StopDrive ended (``stop`` answers with it)."""
        ...

    async def stop(self, key: str, timeout_s: float, *, interrupt: bool = False) -> Stopped | None:
        """End the drive holding ``key``, whichever replica runs it (:func:`stopped`; with
        ``interrupt`` its avatar goes silent now), and wait until it released the task, at
        most ``timeout_s``.

        Returns the drive asked to end and what its avatar played, or None when no drive held
        the task. A drive that outlives the wait keeps the task; the caller learns nothing
        more about it (``played`` is None).
        """
        ...

    def holder(self, key: str) -> Holder | None:
        """The drive holding ``key`` now, if any (in this process)."""
        ...
