"""What the avatar played of each drive, and when: the source of the EventType 4 callbacks.

The simulator's own account (zego-api.md §10, §12): a drive is **queued** (Status 1) at its
valid Start, **driving** (2) when its first audio plays (the first audio frame's arrival
plus ``render_latency_ms``), and **ended** (4) when, after its Stop, the playhead passes its
last audio. Playback follows the :class:`~.records.PlaybackModel` of the drive (1x, re-anchored
at each underrun), delayed by the render latency. Where the vendor is silent (§17):

- A Start on a task whose avatar is still playing another drive interrupts that drive (a WS
  drive interrupts the current broadcast, §7, §10): it ends (4) at once, ``interrupted``.
- A drive whose connection ends before its Stop (lost, closed, broken by a protocol error)
  fails (3) at once: the avatar stops there. After its Stop the connection may go.
- A drive on a task that ends fails (3) at once.

``InterruptDriveTask`` (§10, §11) stops the task's avatar at once: the drive it plays (or
waits to play) ends (4) ``interrupted`` where its playhead is, and the queued drives are
dropped as by an interrupting drive. Audio that still arrives for an ended drive is recorded on
its connection but never played.

A DriveByText drive (:mod:`.text`) is queued (1) at its answer and begins at once when the
avatar is idle or its ``InterruptMode`` is 1 (the current drive ends, ``interrupted``, and the
queued ones with it), else when the drives queued before it ended: driving (2) the render
latency after it began, ended (4) its render time later. A WS Start interrupts it like any
drive, and drops the queued ones (§7, §10): each ends (4) ``interrupted``, having played
nothing (the vendor documents no status for a dropped drive, §17).

``played_ms`` is how much of the drive's audio the avatar played by the drive's end, and
``ended_at`` when it went silent (its last audio played); ``stop_to_silence_ms`` how long that
came after it was asked to stop (its Stop, or an interruption, whichever came first).
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .records import DriveRecord
from .timers import Timers

__all__ = ["DriveStatus", "Playout", "PlayoutBook", "PlayoutOutcome"]


class DriveStatus(enum.IntEnum):
    """``Detail.Status`` of an EventType 4 callback (zego-api.md §12)."""

    QUEUED = 1
    DRIVING = 2
    FAILED = 3
    ENDED = 4


class PlayoutOutcome(enum.StrEnum):
    """How a drive's playback ended."""

    PLAYED = "played"
    """It played to its end after its Stop (Status 4)."""
    INTERRUPTED = "interrupted"
    """A newer drive of the task started, dropped it from the queue, or InterruptDriveTask
    stopped the task's avatar (Status 4)."""
    FAILED = "failed"
    """Its connection ended before its Stop, or its task ended (Status 3)."""


@dataclass(eq=False, kw_only=True)
class Playout:
    """One drive's playback as the simulated avatar performed it. Times are monotonic.

    ``speaking_at`` stays ``None`` for a drive that ended before any of its audio played.
    """

    drive_id: str
    task_id: str
    latency_s: float
    queued_at: float
    speaking_at: float | None = None
    stopped_at: float | None = None
    ended_at: float | None = None
    status: DriveStatus = DriveStatus.QUEUED
    outcome: PlayoutOutcome | None = None
    reason: str = ""
    played_ms: float | None = None
    """Audio played by ``ended_at``; ``None`` until then (see :meth:`played_ms_at`)."""
    interrupted_at: float | None = None
    """When a newer drive or InterruptDriveTask cut it short (``ended_at`` then too)."""
    audio_ms: float = 0.0
    """Audio received (between Start and Stop); a text drive's render time."""
    text: bool = False
    """A DriveByText drive (no WebSocket)."""
    _segments: list[tuple[float, float]] = field(default_factory=list, repr=False)
    """(when playback (re)started, in arrival time; ms of audio before it), per anchor."""
    _underruns: int = field(default=0, repr=False)

    @property
    def is_ended(self) -> bool:
        return self.ended_at is not None

    @property
    def stop_to_silence_ms(self) -> float | None:
        """From its Stop or its interruption, whichever came first, to its silence (``ended_at``);
        ``None`` while it plays, or when nothing asked it to stop (it failed; a text drive
        that played to its end)."""
        stopped_at = None if self.text else self.stopped_at
        asked = [t for t in (stopped_at, self.interrupted_at) if t is not None]
        if self.ended_at is None or not asked:
            return None
        return (self.ended_at - min(asked)) * 1000.0

    @property
    def drained_at(self) -> float | None:
        """When everything received so far will have played (monotonic); ``None``: no audio."""
        if not self._segments:
            return None
        anchor, offset_ms = self._segments[-1]
        return anchor + (self.audio_ms - offset_ms) / 1000.0 + self.latency_s

    def played_ms_at(self, at: float) -> float:
        """How much of the received audio the avatar has played by ``at`` (monotonic)."""
        t = at - self.latency_s
        played = 0.0
        for i, (anchor, offset_ms) in enumerate(self._segments):
            if t < anchor:
                break
            end_ms = self._segments[i + 1][1] if i + 1 < len(self._segments) else self.audio_ms
            played = offset_ms + min((t - anchor) * 1000.0, end_ms - offset_ms)
        return played

    def to_json(self) -> dict[str, Any]:
        return {
            "drive_id": self.drive_id,
            "task_id": self.task_id,
            "queued_at": self.queued_at,
            "speaking_at": self.speaking_at,
            "stopped_at": self.stopped_at,
            "ended_at": self.ended_at,
            "status": int(self.status),
            "outcome": None if self.outcome is None else str(self.outcome),
            "reason": self.reason,
            "played_ms": self.played_ms,
            "interrupted_at": self.interrupted_at,
            "stop_to_silence_ms": self.stop_to_silence_ms,
            "audio_ms": self.audio_ms,
            "text": self.text,
        }


StatusSink = Callable[[Playout, DriveStatus, float], None]
"""Told each status change: (playout, new status, when it happened)."""
ActivitySink = Callable[[str, bool, float], None]
"""Told when a task's avatar starts (True) or stops (False) playing a drive, and when."""


class PlayoutBook:
    """Every drive's :class:`Playout`; drives the status timers. Lives on one event loop."""

    def __init__(self, latency_ms: float, on_status: StatusSink, on_activity: ActivitySink):
        self._latency_s = latency_ms / 1000.0
        self._on_status = on_status
        self._on_activity = on_activity
        self.playouts: dict[str, Playout] = {}
        self._current: dict[str, Playout] = {}
        """Per TaskId, the drive the avatar is on (queued or driving)."""
        self._queued: dict[str, deque[Playout]] = {}
        """Per TaskId, the text drives waiting for the avatar (InterruptMode 0)."""
        self._timers = Timers()

    def get(self, drive_id: str) -> Playout | None:
        return self.playouts.get(drive_id)

    def reset(self) -> None:
        """Forget every playout (the drives still open go on unrecorded)."""
        self._timers.clear()
        self._current.clear()
        self._queued.clear()
        self.playouts.clear()

    def open(self) -> None:
        """The simulator (re)starts: status changes happen again."""
        self._timers.open()

    def close(self) -> None:
        """The simulator stops: no more status changes; the records stay readable."""
        self._timers.close()

    # Fed by the WebSocket server, with each event's arrival time.

    def on_start(self, record: DriveRecord, now: float) -> None:
        if self._timers.closed:
            return
        self._interrupt(record.task_id, now, "a newer drive started")
        playout = Playout(
            drive_id=record.drive_id,
            task_id=record.task_id,
            latency_s=self._latency_s,
            queued_at=now,
        )
        self.playouts[record.drive_id] = playout
        self._current[record.task_id] = playout
        self._on_activity(record.task_id, True, now)
        self._on_status(playout, DriveStatus.QUEUED, now)

    def on_text(
        self, drive_id: str, task_id: str, render_ms: float, *, interrupt: bool, now: float
    ) -> None:
        """A DriveByText was accepted at ``now``: queue it (1), or begin it now."""
        if self._timers.closed:
            return
        if interrupt:
            self._interrupt(task_id, now, "a text drive interrupted it")
        playout = Playout(
            drive_id=drive_id,
            task_id=task_id,
            latency_s=self._latency_s,
            queued_at=now,
            audio_ms=render_ms,
            text=True,
        )
        self.playouts[drive_id] = playout
        self._on_status(playout, DriveStatus.QUEUED, now)
        current = self._current.get(task_id)
        if current is not None:
            self._catch_up(current, now)
        if task_id in self._current:
            self._queued.setdefault(task_id, deque()).append(playout)
        else:
            self._begin_text(playout, now)

    def on_audio(self, record: DriveRecord, now: float, size: int) -> None:
        """After an accepted audio frame of ``size`` bytes was added to ``record`` (per frame:
        keep it cheap)."""
        playout = self.playouts.get(record.drive_id)
        if self._timers.closed or playout is None or playout.is_ended:
            return
        frame_ms = size * 1000.0 / record.bytes_per_second
        first = not playout._segments
        if first or record.underruns != playout._underruns:
            playout._underruns = record.underruns
            playout._segments.append((now, playout.audio_ms))
        playout.audio_ms += frame_ms
        if first:
            self._arm(playout)

    def on_stop(self, record: DriveRecord, now: float) -> None:
        playout = self.playouts.get(record.drive_id)
        if self._timers.closed or playout is None or playout.is_ended:
            return
        playout.stopped_at = now
        self._arm(playout)

    def on_closed(self, record: DriveRecord, now: float, why: str) -> None:
        """The drive's connection ended: a drive not yet stopped fails here."""
        playout = self.playouts.get(record.drive_id)
        if (
            self._timers.closed
            or playout is None
            or playout.is_ended
            or playout.stopped_at is not None
        ):
            return
        self._catch_up(playout, now)
        self._end(playout, now, PlayoutOutcome.FAILED, why)

    def fail_task(self, task_id: str, now: float) -> None:
        """The task ended: the drive its avatar is on fails, and the queued ones."""
        if self._timers.closed:
            return
        for queued in self._queued.pop(task_id, ()):
            self._end(queued, now, PlayoutOutcome.FAILED, "the task ended")
        playout = self._current.get(task_id)
        if playout is not None:
            self._catch_up(playout, now)
            self._end(playout, now, PlayoutOutcome.FAILED, "the task ended")

    def interrupt(self, task_id: str, now: float) -> None:
        """InterruptDriveTask for ``task_id`` arrived at ``now``: the avatar stops at once."""
        if not self._timers.closed:
            self._interrupt(task_id, now, "InterruptDriveTask")

    def _interrupt(self, task_id: str, now: float, why: str) -> None:
        """Drop the task's queued drives, then end the one its avatar is on (§7, §10)."""
        for queued in self._queued.pop(task_id, ()):
            self._end(queued, now, PlayoutOutcome.INTERRUPTED, "dropped from the queue")
        previous = self._current.get(task_id)
        if previous is not None:
            self._catch_up(previous, now)
        if previous is not None and not previous.is_ended:
            self._end(previous, now, PlayoutOutcome.INTERRUPTED, why)

    def _begin_text(self, playout: Playout, at: float) -> None:
        """The avatar takes up a text drive at ``at``: all of it is there at once."""
        playout._segments.append((at, 0.0))
        playout.stopped_at = at
        self._current[playout.task_id] = playout
        self._on_activity(playout.task_id, True, at)
        self._arm(playout)

    # The timers: one per drive, for its next due status.

    def _due(self, playout: Playout) -> tuple[float, DriveStatus] | None:
        if playout.is_ended:
            return None
        if playout.status is DriveStatus.QUEUED and playout._segments:
            return playout._segments[0][0] + self._latency_s, DriveStatus.DRIVING
        if playout.stopped_at is not None:
            drained = playout.drained_at
            end = playout.stopped_at if drained is None else max(playout.stopped_at, drained)
            return end, DriveStatus.ENDED
        return None

    def _arm(self, playout: Playout) -> None:
        due = self._due(playout)
        if due is None:
            self._timers.cancel(playout.drive_id)
        else:
            self._timers.arm(playout.drive_id, due[0], lambda: self._fire(playout))

    def _fire(self, playout: Playout) -> None:
        self._catch_up(playout, time.monotonic())
        self._arm(playout)

    def _catch_up(self, playout: Playout, now: float) -> None:
        """Apply the status changes due by ``now``, at their model times (at most two)."""
        for _ in range(2):
            due = self._due(playout)
            if due is None or due[0] > now:
                return
            at, status = due
            if status is DriveStatus.DRIVING:
                playout.speaking_at = at
                playout.status = status
                self._on_status(playout, status, at)
            else:
                self._end(playout, at, PlayoutOutcome.PLAYED, "played to its end")

    def _end(self, playout: Playout, at: float, outcome: PlayoutOutcome, why: str) -> None:
        self._timers.cancel(playout.drive_id)
        playout.ended_at = at
        playout.outcome = outcome
        playout.reason = why
        playout.played_ms = playout.played_ms_at(at)
        if outcome is PlayoutOutcome.INTERRUPTED:
            playout.interrupted_at = at
        failed = outcome is PlayoutOutcome.FAILED
        playout.status = DriveStatus.FAILED if failed else DriveStatus.ENDED
        if self._current.get(playout.task_id) is playout:
            del self._current[playout.task_id]
            self._on_activity(playout.task_id, False, at)
        self._on_status(playout, playout.status, at)
        waiting = self._queued.get(playout.task_id)
        if waiting and playout.task_id not in self._current:
            next_text = waiting.popleft()
            if not waiting:
                del self._queued[playout.task_id]
            self._begin_text(next_text, at)
