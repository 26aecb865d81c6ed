"""What the gateway knows of each vendor task: a pure book, fed facts with the time they came.

Theory of operation
-------------------
A task's life is the vendor's: it is created outside the gateway, streams, and ends (a Stop,
``MaxIdleTime``, ``TTL``, or a failed start); once ended it never comes back. The gateway
learns about it from four places, each a method of :class:`TaskBook`:

* the vendor's answer to ``GetDigitalHumanStreamTaskStatus`` (:meth:`TaskBook.queried`);
* the vendor's EventType 3 callback (:meth:`TaskBook.called_back`), ordered by its
  ``EventTime`` so that a late retry of an older status changes nothing;
* its own drives: a granted drive proves the task alive (:meth:`TaskBook.granted`); a
  ``400000005`` answer for a task seen alive or seen ending proves it ended
  (:meth:`TaskBook.not_found`), for a task never seen it proves nothing;
* the playback of its drives: which drive the avatar speaks, and when it last spoke
  (:meth:`TaskBook.speaking`, :meth:`TaskBook.silent`, :meth:`TaskBook.drive_ended`).

Rules: an ended status (STOPPED, INIT_FAILED) is final, whatever comes after it; otherwise the
fact learned last wins. :func:`merge` joins what two replicas know by the same rules, and
:func:`view` turns the facts into what GetTask answers, with the MaxIdleTime deadline.

Times are Unix seconds (they travel to clients as timestamps and between replicas); nothing
here reads a clock.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from gateway.drive.machine import DriveState
from gateway.errors import DriveEnded, Reason

__all__ = [
    "ActiveDrive",
    "StatusSource",
    "TaskBook",
    "TaskFacts",
    "TaskStatus",
    "TaskView",
    "VendorStatus",
    "merge",
    "task_ended",
    "view",
]

#: Tasks the book remembers; the least recently touched is forgotten first.
MAX_TASKS = 10_000


class TaskStatus(enum.IntEnum):
    """The vendor's status of a stream task (zego-api.md §11, §12)."""

    UNSPECIFIED = 0
    INITIALIZING = 1
    INIT_FAILED = 2
    STREAMING = 3
    STOPPING = 4
    STOPPED = 5

    @property
    def ended(self) -> bool:
        """Whether the task is over for good (the status cannot change again)."""
        return self in (TaskStatus.INIT_FAILED, TaskStatus.STOPPED)

    @property
    def undrivable(self) -> bool:
        """Whether no drive can go on: ended, or being stopped."""
        return self.ended or self is TaskStatus.STOPPING


class StatusSource(enum.IntEnum):
    """How the gateway learned a status (the proto's ``TaskStatusSource``)."""

    UNSPECIFIED = 0
    QUERY = 1
    CALLBACK = 2
    DRIVE = 3


@dataclass(frozen=True, slots=True)
class VendorStatus:
    """One status of a task, as learned.

    Attributes:
        status: what the vendor said.
        source: how the gateway learned it.
        at: when the gateway learned it (Unix seconds).
        fail_reason: why it failed or ended, as the vendor said ("" if it did not).
        event_ms: a callback's ``EventTime`` (ms), which orders callbacks; 0 otherwise.
    """

    status: TaskStatus
    source: StatusSource
    at: float
    fail_reason: str = ""
    event_ms: int = 0


@dataclass(frozen=True, slots=True)
class ActiveDrive:
    """The drive that holds a task, as its replica reported it.

    Attributes:
        drive_id: the vendor's DriveId ("" while it is being set up).
        state: where the drive is in its life.
        profile: its credentials profile.
        labels: the client's labels.
        started_at: when its Start went out (Unix seconds; None before).
        sent_ms: audio sent, when reported.
        speaking: whether the avatar speaks this drive now.
        replica: the id of the replica that runs it ("" when not known).
        billed_ms: the audio the avatar was driven with so far (``Completed.billed_ms``), when
            reported.
    """

    drive_id: str
    state: DriveState
    profile: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    started_at: float | None = None
    sent_ms: int = 0
    speaking: bool = False
    replica: str = ""
    billed_ms: int = 0


@dataclass(slots=True)
class TaskFacts:
    """Everything known of one task; :class:`TaskBook` keeps one per task.

    Attributes:
        vendor: the vendor's status, when known.
        room_id, stream_id: the task's RTC room and stream ("" until known).
        create_time: when the vendor created the task (Unix seconds), when known.
        seen: a drive was granted or the vendor said the task was alive (so a later
            ``400000005`` means it ended, not that it never was).
        last_driven_at: when a drive last played audio of the task (the avatar's last word).
        speaking_drive_id: the drive the avatar speaks now ("" for none).
    """

    vendor: VendorStatus | None = None
    room_id: str = ""
    stream_id: str = ""
    create_time: int | None = None
    seen: bool = False
    last_driven_at: float | None = None
    speaking_drive_id: str = ""

    @property
    def ended(self) -> VendorStatus | None:
        """The final status, if the task has ended."""
        return self.vendor if self.vendor is not None and self.vendor.status.ended else None

    @property
    def known(self) -> bool:
        """Whether the task was seen alive or seen ending (a ``400000005`` then means ended)."""
        return self.seen or self.vendor is not None

    def take(self, status: VendorStatus) -> bool:
        """Take ``status`` by the book's rules; whether it changed what is known."""
        current = self.vendor
        if current is not None:
            if current.status.ended:
                return False  # final
            late = status.source is StatusSource.CALLBACK is current.source
            if late and status.event_ms < current.event_ms:
                return False  # a retry of an older callback
        self.vendor = status
        if not status.status.ended:
            self.seen = True
        return current is None or (current.status, current.fail_reason) != (
            status.status,
            status.fail_reason,
        )

    def drove(self, at: float) -> None:
        if self.last_driven_at is None or at > self.last_driven_at:
            self.last_driven_at = at


def _later(a: VendorStatus | None, b: VendorStatus | None) -> VendorStatus | None:
    if a is None or b is None:
        return a or b
    if a.status.ended != b.status.ended:
        return a if a.status.ended else b
    return a if a.at >= b.at else b


def merge(a: TaskFacts, b: TaskFacts) -> TaskFacts:
    """What ``a`` and ``b`` know together (``a`` first where both say something)."""
    driven = [t for t in (a.last_driven_at, b.last_driven_at) if t is not None]
    return TaskFacts(
        vendor=_later(a.vendor, b.vendor),
        room_id=a.room_id or b.room_id,
        stream_id=a.stream_id or b.stream_id,
        create_time=a.create_time if a.create_time is not None else b.create_time,
        seen=a.seen or b.seen,
        last_driven_at=max(driven) if driven else None,
        speaking_drive_id=a.speaking_drive_id or b.speaking_drive_id,
    )


class TaskBook:
    """The facts of the tasks this process heard of, at most ``max_tasks`` of them."""

    def __init__(self, max_tasks: int = MAX_TASKS) -> None:
        self._max = max_tasks
        self._tasks: OrderedDict[str, TaskFacts] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tasks)

    def get(self, key: str) -> TaskFacts | None:
        """The facts of task ``key`` (see :func:`gateway.registry.base.task_key`), if any."""
        return self._tasks.get(key)

    def _entry(self, key: str) -> TaskFacts:
        facts = self._tasks.get(key)
        if facts is None:
            facts = self._tasks[key] = TaskFacts()
            while len(self._tasks) > self._max:
                self._tasks.popitem(last=False)
        else:
            self._tasks.move_to_end(key)
        return facts

    def touch(self, key: str) -> TaskFacts:
        """The facts of ``key``, made empty if none are known (a GetTask's entry)."""
        return self._entry(key)

    def adopt(self, key: str, shared: TaskFacts) -> None:
        """Merge what other replicas know of ``key`` into this book (what this one knows
        first where both say something)."""
        self._tasks[key] = merge(self._entry(key), shared)

    # The vendor's word.

    def queried(
        self,
        key: str,
        status: int,
        now: float,
        *,
        room_id: str = "",
        stream_id: str = "",
        create_time: int | None = None,
        fail_reason: str = "",
    ) -> bool:
        """GetDigitalHumanStreamTaskStatus answered ``status``; whether anything changed."""
        facts = self._entry(key)
        facts.room_id = room_id or facts.room_id
        facts.stream_id = stream_id or facts.stream_id
        if create_time is not None:
            facts.create_time = create_time
        heard = VendorStatus(TaskStatus(status), StatusSource.QUERY, now, fail_reason)
        return facts.take(heard)

    def called_back(
        self, key: str, status: int, now: float, *, event_ms: int, fail_reason: str = ""
    ) -> bool:
        """An EventType 3 callback said ``status``; whether anything changed."""
        if not 1 <= status <= 5:
            return False  # not a status the vendor documents: nothing learned
        heard = VendorStatus(TaskStatus(status), StatusSource.CALLBACK, now, fail_reason, event_ms)
        return self._entry(key).take(heard)

    def not_found(self, key: str, now: float, source: StatusSource) -> VendorStatus | None:
        """The vendor answered ``400000005`` (to a drive or a query): the task's final status
        when the task had been seen (it ended), None when it never was (nothing learned)."""
        facts = self._tasks.get(key)
        if facts is None or not facts.known:
            return None
        facts.take(VendorStatus(TaskStatus.STOPPED, source, now))
        return facts.ended

    # Its drives.

    def granted(self, key: str) -> None:
        """The vendor granted a drive of the task: it is alive."""
        self._entry(key).seen = True

    def speaking(self, key: str, drive_id: str) -> None:
        """The avatar began to speak drive ``drive_id``."""
        self._entry(key).speaking_drive_id = drive_id

    def silent(self, key: str, drive_id: str, now: float) -> None:
        """The avatar stopped speaking drive ``drive_id`` at ``now``."""
        facts = self._entry(key)
        if facts.speaking_drive_id == drive_id:
            facts.speaking_drive_id = ""
        facts.drove(now)

    def drive_ended(self, key: str, drive_id: str, now: float, *, started: bool) -> None:
        """A drive of the task ended at ``now`` (``started``: its Start had gone out, which
        the vendor counts as driving)."""
        facts = self._tasks.get(key)
        if facts is None:
            return
        if facts.speaking_drive_id == drive_id:
            facts.speaking_drive_id = ""
        if started:
            facts.drove(now)

    def fresh(self, key: str, now: float, ttl_s: float) -> bool:
        """Whether the task's status needs no query: known within ``ttl_s``, or final."""
        facts = self._tasks.get(key)
        if facts is None or facts.vendor is None:
            return False
        return facts.vendor.status.ended or now - facts.vendor.at < ttl_s


@dataclass(frozen=True, slots=True)
class TaskView:
    """What GetTask answers for one task."""

    task_id: str
    profile: str
    facts: TaskFacts
    active: ActiveDrive | None
    queued: int
    idle_deadline: float | None

    @property
    def speaking_drive_id(self) -> str:
        if self.active is not None and self.active.speaking:
            return self.active.drive_id
        return self.facts.speaking_drive_id

    @property
    def ended(self) -> bool:
        return self.facts.ended is not None

    def change_key(self) -> tuple[object, ...]:
        """What a WatchTask reports a change of (not the age of the status, not sent_ms)."""
        vendor = self.facts.vendor
        active = None if self.active is None else (self.active.drive_id, self.active.state)
        return (
            None if vendor is None else (vendor.status, vendor.fail_reason),
            self.facts.room_id,
            self.facts.stream_id,
            self.speaking_drive_id,
            active,
            self.queued,
            self.facts.last_driven_at,
        )


def view(
    task_id: str,
    profile: str,
    facts: TaskFacts,
    *,
    active: ActiveDrive | None,
    queued: int,
    max_idle_s: float,
) -> TaskView:
    """The GetTask answer from ``facts`` and the task's drives: its MaxIdleTime deadline is
    ``max_idle_s`` after it was last driven (or created), unset while a drive holds it, once
    it ended, or when neither time is known."""
    since = facts.last_driven_at
    if since is None and facts.create_time is not None:
        since = float(facts.create_time)
    deadline = None
    if since is not None and active is None and facts.ended is None:
        deadline = since + max_idle_s
    facts = replace(facts)  # the view keeps what it was made of
    return TaskView(task_id, profile, facts, active, queued, deadline)


def task_ended(task_id: str, status: VendorStatus) -> DriveEnded:
    """Why a drive of an ended task is refused or ended (TASK_ENDED): drive another task."""
    how = {
        TaskStatus.INIT_FAILED: "failed to start",
        TaskStatus.STOPPING: "is stopping",
    }.get(status.status, "has stopped")
    return DriveEnded(
        Reason.TASK_ENDED,
        f"task {task_id!r} has ended: the vendor says it {how}",
        task_id=task_id,
        task_status=status.status.name,
        fail_reason=status.fail_reason,
    )
