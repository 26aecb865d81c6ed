"""The stream tasks' lives: created, streaming, ended (zego-api.md §6, §11, §12).

The simulator has no CreateDigitalHumanStreamTask: a task exists from the first API call that
names it (any TaskId, or one of ``SimulatorConfig.tasks``). It is Status 1 (initializing) for
``task_init_s``, then 3 (streaming), until it ends, with Status 5 (stopped), by one of:

- StopDigitalHumanStreamTask (§11);
- ``MaxIdleTime`` (``task_max_idle_s``): no drive for that long (§6). A drive counts from its
  valid Start until its playback ended; the idle clock starts at the task's creation and at
  the end of each drive. (Whether an open WebSocket without audio counts is undocumented,
  §17: here only a started drive does);
- ``TTL`` (``task_ttl_s``): that long after its creation (§6);
- :meth:`TaskBook.end` called by a test.

An ended task is gone: the API answers 400000005 for it (400000007 to a second Stop), as for a
task the vendor does not know (an inference: no dedicated code is documented, §14a).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import SimulatorConfig
from .timers import Timers

__all__ = ["TaskBook", "TaskEnd", "TaskRecord", "TaskStatus"]


class TaskStatus(enum.IntEnum):
    """A stream task's status: ``Data.Status`` (§11, 1..4) and EventType 3's (§12, 1..5)."""

    INITIALIZING = 1
    INIT_FAILED = 2
    STREAMING = 3
    STOPPING = 4
    STOPPED = 5


class TaskEnd(enum.StrEnum):
    """Why a task ended."""

    STOPPED = "stop_api"
    MAX_IDLE_TIME = "max_idle_time"
    TTL = "ttl"
    ENDED_BY_TEST = "ended_by_test"


@dataclass(eq=False, kw_only=True)
class TaskRecord:
    """One task as the simulator sees it. Times are ``time.monotonic()`` readings."""

    task_id: str
    created_at: float
    create_time: int
    """``CreateTime``: Unix seconds (§11)."""
    status: TaskStatus = TaskStatus.INITIALIZING
    history: list[tuple[float, TaskStatus]] = field(default_factory=list)
    idle_since: float | None = None
    """When its last drive ended (or it was created); ``None`` while a drive plays."""
    ended_at: float | None = None
    end_reason: TaskEnd | None = None
    idle_deadline: float | None = None
    ttl_deadline: float | None = None

    @property
    def room_id(self) -> str:
        return f"sim_room_{self.task_id}"

    @property
    def stream_id(self) -> str:
        return f"sim_stream_{self.task_id}"

    @property
    def alive(self) -> bool:
        return self.ended_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "created_at": self.created_at,
            "create_time": self.create_time,
            "status": int(self.status),
            "history": [[at, int(s)] for at, s in self.history],
            "idle_since": self.idle_since,
            "idle_deadline": self.idle_deadline,
            "ttl_deadline": self.ttl_deadline,
            "ended_at": self.ended_at,
            "end_reason": None if self.end_reason is None else str(self.end_reason),
        }


StatusSink = Callable[[TaskRecord, TaskStatus, float], None]
"""Told each status change of a task: (task, new status, when)."""
EndSink = Callable[[TaskRecord, float], None]
"""Told when a task ended, after its Status 5 was reported."""


class TaskBook:
    """Every task the simulator has seen; runs their init and end timers."""

    def __init__(self, config: SimulatorConfig, on_status: StatusSink, on_end: EndSink) -> None:
        self._config = config
        self._on_status = on_status
        self._on_end = on_end
        self.tasks: dict[str, TaskRecord] = {}
        self._timers = Timers()

    def reset(self) -> None:
        """Forget every task: each TaskId is new again at its next use."""
        self._timers.clear()
        self.tasks.clear()

    def open(self) -> None:
        """The simulator (re)starts: status changes happen again."""
        self._timers.open()

    def close(self) -> None:
        """The simulator stops: no more status changes; the records stay readable."""
        self._timers.close()

    def get(self, task_id: str) -> TaskRecord | None:
        return self.tasks.get(task_id)

    def known(self, task_id: str) -> bool:
        """Whether the TaskId may exist at all (``SimulatorConfig.tasks``)."""
        return self._config.tasks is None or task_id in self._config.tasks

    def see(self, task_id: str, now: float) -> TaskRecord | None:
        """The task named by an API call, created on first sight; ``None``: unknown TaskId."""
        task = self.tasks.get(task_id)
        if task is not None or not self.known(task_id):
            return task
        config = self._config
        task = TaskRecord(task_id=task_id, created_at=now, create_time=int(time.time()))
        task.idle_since = now
        if config.task_ttl_s is not None:
            task.ttl_deadline = now + config.task_ttl_s
        self.tasks[task_id] = task
        self._set_status(task, TaskStatus.INITIALIZING, now)
        if config.task_init_s <= 0:
            self._set_status(task, TaskStatus.STREAMING, now)
        self._arm(task)
        return task

    def end(self, task_id: str, reason: TaskEnd, now: float) -> bool:
        """End a live task; returns whether it was alive."""
        task = self.tasks.get(task_id)
        if self._timers.closed or task is None or not task.alive:
            return False
        self._end(task, reason, now)
        return True

    def drive_active(self, task_id: str, active: bool, now: float) -> None:
        """A drive of the task started (``True``) or its playback ended (``False``)."""
        task = self.tasks.get(task_id)
        if task is None or not task.alive:
            return
        task.idle_since = None if active else now
        self._arm(task)

    # Timers.

    def _set_status(self, task: TaskRecord, status: TaskStatus, at: float) -> None:
        task.status = status
        task.history.append((at, status))
        self._on_status(task, status, at)

    def _end(self, task: TaskRecord, reason: TaskEnd, at: float) -> None:
        self._timers.cancel(task.task_id)
        task.ended_at = at
        task.end_reason = reason
        task.idle_deadline = None
        self._set_status(task, TaskStatus.STOPPED, at)
        self._on_end(task, at)

    def _next(self, task: TaskRecord) -> tuple[float, TaskEnd | None] | None:
        """The task's next due change: (when, why it ends; ``None``: it starts streaming)."""
        if task.status is TaskStatus.INITIALIZING:
            return task.created_at + self._config.task_init_s, None
        max_idle = self._config.task_max_idle_s
        idle = None if max_idle is None or task.idle_since is None else task.idle_since + max_idle
        task.idle_deadline = idle
        deadlines = ((idle, TaskEnd.MAX_IDLE_TIME), (task.ttl_deadline, TaskEnd.TTL))
        choices = [(t, why) for t, why in deadlines if t is not None]
        return min(choices, key=lambda c: c[0]) if choices else None

    def _arm(self, task: TaskRecord) -> None:
        due = self._next(task) if task.alive else None
        if due is None:
            self._timers.cancel(task.task_id)
        else:
            self._timers.arm(task.task_id, due[0], lambda: self._fire(task))

    def _fire(self, task: TaskRecord) -> None:
        due = self._next(task)
        if due is None or not task.alive:
            return
        at, why = due
        if at > time.monotonic():  # woken early (clock granularity): wait the rest
            self._arm(task)
        elif why is None:
            self._set_status(task, TaskStatus.STREAMING, at)
            self._arm(task)
        else:
            self._end(task, why, at)
