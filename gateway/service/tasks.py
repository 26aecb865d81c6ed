"""The tasks' lives on this gateway: what GetTask and WatchTask answer, and what a task's end
does to its drives.

The book (:class:`~gateway.tasks.model.TaskBook`) is pure; this shell feeds it: the drives'
lives (the Drive stream's listener calls :meth:`TaskService.drive_started`,
:meth:`~TaskService.playback` and :meth:`~TaskService.drive_ended`), the vendor's EventType 3
callbacks (:meth:`~TaskService.called_back`) and ``GetDigitalHumanStreamTaskStatus``, asked
through the same request limiter as the drives and only when the status is older than
``status_ttl_s`` (or a caller asks to refresh), one request per task at a time.

When the book learns that a task ended, every drive of it on this replica ends TASK_ENDED at
once, the one holding it and those queued behind it; with Redis every replica hears the task
callback (the relay sends task callbacks to all), so the queued drives of other replicas end
too. A drive's vendor error is explained here (:meth:`~TaskService.explain`): 400000005 for a
task seen alive, or a WebSocket the vendor closed because the task ended, become TASK_ENDED.

With Redis (``server.redis_url``) the facts and the drive holding each task are shared
(:class:`~gateway.tasks.store.TaskStore`): any replica answers GetTask for any task. A Redis
failure only narrows the answer to what this replica knows (logged at debug).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from gateway import redis_extra
from gateway.callbacks.verify import TaskStatus as TaskCallback
from gateway.config import Credentials
from gateway.drive.machine import DriveState
from gateway.drive.speech import Heard, PlaybackEvent
from gateway.errors import GatewayError, Reason
from gateway.registry.base import task_key
from gateway.tasks.model import (
    ActiveDrive,
    StatusSource,
    TaskBook,
    TaskView,
    VendorStatus,
    task_ended,
    view as task_view,
)
from gateway.tasks.store import SharedView, TaskStore
from gateway.upstream import UpstreamClient
from gateway.upstream.task_status import get_task_status

if TYPE_CHECKING:
    from gateway.service.drive_shell import DriveShell

__all__ = ["TaskService", "active_drive"]

log = logging.getLogger("gateway.tasks")

#: The states in which a drive holds its task (GetTask's ``active_drive``).
HOLDING = frozenset(
    {DriveState.SETTING_UP, DriveState.STREAMING, DriveState.STOPPING, DriveState.PLAYING_OUT}
)
#: The longest a drive's end waits for the vendor to say whether its task ended.
EXPLAIN_QUERY_S = 3.0
#: The vendor's longest task life (``TTL``'s upper bound): no watch outlives it.
MAX_WATCH_S = 86_400.0


class TaskService:
    """Feeds and reads the task book; see the module docstring.

    Args:
        upstream: the vendor client (its limiter and retry rules).
        drives: this replica's live drives.
        store: the facts replicas share (None: this replica's alone); whoever made its
            client closes it.
        status_ttl_s: how long a status answer spares another query.
        ended_grace_s: how long a drive whose WebSocket the vendor closed waits for the task
            callback that says why, before it asks the vendor.
        poll_s: how often a watch looks at what other replicas wrote, and whether its status
            needs a fresh query.
        clock: Unix seconds.
        replica: this replica's id (what its drives say runs them).
    """

    def __init__(
        self,
        upstream: UpstreamClient,
        drives: Callable[[], Iterable[DriveShell[Any]]],
        *,
        store: TaskStore | None = None,
        status_ttl_s: float = 10.0,
        ended_grace_s: float = 1.0,
        poll_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        replica: str = "",
    ) -> None:
        self.replica = replica
        self.book = TaskBook()
        self._upstream = upstream
        self._drives = drives
        self._store = store
        self._status_ttl_s = status_ttl_s
        self._ended_grace_s = ended_grace_s
        self._poll_s = poll_s
        self._clock = clock
        self._changes: dict[str, asyncio.Event] = {}
        self._queries: dict[str, asyncio.Future[None]] = {}
        self._writes: set[asyncio.Task[None]] = set()
        self._closed = False
        self._token = uuid.uuid4().hex  # this replica's drives' records in the store

    async def close(self) -> None:
        """Let the pending Redis writes finish (each is bounded by the store's timeout); no
        write starts after this (the store's client is about to close)."""
        self._closed = True
        if self._writes:
            await asyncio.wait(set(self._writes))

    # What the drives report (called by the Drive stream's listener).

    def drive_queued(self, drive: DriveShell[Any]) -> None:
        """``drive`` waits for its task: the task's queue, as other replicas see it, grew."""
        self._changed(drive.key, drive)

    def drive_started(self, drive: DriveShell[Any]) -> None:
        """The vendor granted ``drive``: its task is alive."""
        self.book.granted(drive.key)
        self._changed(drive.key, drive)

    def playback(self, drive: DriveShell[Any], event: PlaybackEvent) -> None:
        """The avatar began or stopped speaking ``drive``."""
        if event.kind is Heard.STARTED:
            self.book.speaking(drive.key, drive.drive_id)
        elif event.kind is Heard.FINISHED:
            self.book.silent(drive.key, drive.drive_id, self._clock())
        else:
            return
        self._changed(drive.key, drive)

    def drive_ended(self, drive: DriveShell[Any]) -> None:
        """``drive`` is over (whatever ended it)."""
        started = drive.started_wall is not None
        self.book.drive_ended(drive.key, drive.drive_id, self._clock(), started=started)
        self._changed(drive.key, drive, ended=True)

    def check_drivable(self, key: str, task_id: str) -> None:
        """Refuse a drive of a task known to have ended.

        Raises:
            DriveEnded: TASK_ENDED.
        """
        facts = self.book.get(key)
        if facts is not None and (ended := facts.ended) is not None:
            raise task_ended(task_id, ended)

    # The vendor's word.

    def called_back(self, callback: TaskCallback) -> None:
        """An EventType 3 callback; a task's end ends its drives here."""
        key = task_key(callback.app_id, callback.task_id)
        now = self._clock()
        status, ms = callback.status, callback.event_time_ms
        if self.book.called_back(key, status, now, event_ms=ms, fail_reason=callback.fail_reason):
            self._changed(key)
        self._end_if_ended(key, callback.task_id)

    def _end_if_ended(self, key: str, task_id: str) -> None:
        facts = self.book.get(key)
        if facts is None or (ended := facts.ended) is None:
            return
        for drive in list(self._drives()):
            if drive.key == key:
                drive.end(task_ended(task_id, ended))

    async def explain(
        self, key: str, task_id: str, credentials: Credentials, error: GatewayError
    ) -> GatewayError:
        """What ``error``, which ended a drive of task ``key``, means for the task (the
        drives' ``explain_end``): TASK_ENDED when it ended (a 400000005 for a task seen alive;
        a WebSocket closed because the task ended, found out from the callback within
        ``ended_grace_s`` or by asking the vendor), else ``error`` itself. Bounded by the
        grace and one status query."""
        if error.reason is Reason.UPSTREAM_TASK_NOT_FOUND:
            await self._pull(key)
            ended = self.book.not_found(key, self._clock(), StatusSource.DRIVE)
        elif error.reason is Reason.UPSTREAM_DISCONNECTED:
            ended = await self._ended_within(key, self._ended_grace_s)
            if ended is None:
                with contextlib.suppress(GatewayError, TimeoutError):
                    async with asyncio.timeout(EXPLAIN_QUERY_S):
                        await self._query(key, task_id, credentials)
                facts = self.book.get(key)
                ended = None if facts is None else facts.ended
        else:
            return error
        if ended is None:
            return error
        self._changed(key)
        self._end_if_ended(key, task_id)
        return task_ended(task_id, ended)

    async def _ended_within(self, key: str, timeout_s: float) -> VendorStatus | None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while (facts := self.book.get(key)) is None or facts.ended is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await self._change_of(key).wait()
            if asyncio.get_running_loop().time() >= deadline:
                break
        facts = self.book.get(key)
        return None if facts is None else facts.ended

    async def _query(self, key: str, task_id: str, credentials: Credentials) -> None:
        """Ask the vendor once (concurrent askers of one task share the answer).

        Raises:
            GatewayError: what the vendor's call raised; 400000005 for a task never seen
                stays UPSTREAM_TASK_NOT_FOUND.
        """
        running = self._queries.get(key)
        if running is None:
            running = asyncio.ensure_future(self._ask(key, task_id, credentials))
            self._queries[key] = running
            running.add_done_callback(lambda _: self._queries.pop(key, None))
        await asyncio.shield(running)

    async def _ask(self, key: str, task_id: str, credentials: Credentials) -> None:
        try:
            task = await get_task_status(self._upstream, task_id, credentials)
        except GatewayError as exc:
            now = self._clock()
            if exc.reason is Reason.UPSTREAM_TASK_NOT_FOUND and self.book.not_found(
                key, now, StatusSource.QUERY
            ):
                self._changed(key)
                self._end_if_ended(key, task_id)
                return
            raise
        changed = self.book.queried(
            key,
            task.status,
            self._clock(),
            room_id=task.room_id,
            stream_id=task.stream_id,
            create_time=task.create_time,
            fail_reason=task.fail_reason,
        )
        if changed:
            self._changed(key)

    # GetTask and WatchTask.

    async def info(
        self,
        task_id: str,
        profile: str,
        credentials: Credentials,
        *,
        refresh: bool = False,
        stale_ok: bool = False,
    ) -> TaskView:
        """What GetTask answers for ``task_id``: the vendor asked when the status is older
        than ``status_ttl_s`` or ``refresh``.

        Raises:
            GatewayError: the vendor's answer (UPSTREAM_TASK_NOT_FOUND for a task it does not
                know and the gateway never saw), unless ``stale_ok`` and something is known.
        """
        key = task_key(credentials.app_id, task_id)
        shared = await self._pull(key)
        if refresh or not self.book.fresh(key, self._clock(), self._status_ttl_s):
            try:
                await self._query(key, task_id, credentials)
            except GatewayError:
                facts = self.book.get(key)
                if not stale_ok or facts is None or facts.vendor is None:
                    raise
        facts = self.book.get(key)
        assert facts is not None  # the query or the pull made the entry
        here = [d for d in self._drives() if d.key == key]
        active = next((active_drive(d, self.replica) for d in here if d.state in HOLDING), None)
        queued = sum(d.state is DriveState.QUEUED for d in here)
        if shared is not None:
            active = active or shared.active
            mine = self._store.replica if self._store is not None else ""
            queued += sum(n for r, n in shared.queued.items() if r != mine)
        idle_s = credentials.max_idle_time_s
        return task_view(task_id, profile, facts, active=active, queued=queued, max_idle_s=idle_s)

    async def watch(
        self, task_id: str, profile: str, credentials: Credentials
    ) -> AsyncIterator[TaskView]:
        """The task's view now, then at each change, until it ended (its last view says so),
        the caller stops iterating, or :data:`MAX_WATCH_S`.

        Raises:
            GatewayError: as :meth:`info`, for the first view only.
        """
        key = task_key(credentials.app_id, task_id)
        current = await self.info(task_id, profile, credentials)
        yield current
        loop = asyncio.get_running_loop()
        end = loop.time() + MAX_WATCH_S
        while not current.ended and loop.time() < end:
            change = self._change_of(key)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await change.wait()
            latest = await self.info(task_id, profile, credentials, stale_ok=True)
            if latest.change_key() != current.change_key():
                yield latest
            current = latest

    # Notifying watchers and sharing through Redis.

    def _change_of(self, key: str) -> asyncio.Event:
        event = self._changes.get(key)
        if event is None:
            event = self._changes[key] = asyncio.Event()
        return event

    def _changed(
        self, key: str, drive: DriveShell[Any] | None = None, *, ended: bool = False
    ) -> None:
        event = self._changes.pop(key, None)
        if event is not None:
            event.set()  # each waiter takes a fresh event next time
        # A drive that ends after the app closed (its handler cancelled late) leaves its record
        # to its TTL: a write now would open a connection nobody closes.
        if self._store is not None and not self._closed:
            self._spawn(self._publish(key, drive, ended))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _publish(self, key: str, drive: DriveShell[Any] | None, ended: bool) -> None:
        store = self._store
        if store is None:
            return
        facts = self.book.get(key)
        try:
            # This replica's share of the task's queue, for GetTask on any replica (a drive
            # queued here may be of a task this replica knows nothing else of).
            waiting = sum(d.key == key and d.state is DriveState.QUEUED for d in self._drives())
            await store.put_queued(key, waiting)
            if facts is None:
                return
            await store.write_facts(key, facts)
            if drive is not None:
                token = f"{self._token}:{id(drive)}"
                if ended:
                    await store.drop_drive(key, token)
                elif drive.state in HOLDING:
                    record = active_drive(drive)
                    await store.put_drive(key, token, record, claim=not facts.speaking_drive_id)
        except (redis_extra.RedisError, TimeoutError, OSError) as exc:
            log.debug("task facts not shared: %s", type(exc).__name__)

    async def _pull(self, key: str) -> SharedView | None:
        """Merge what other replicas wrote of ``key`` into the book; the shared view (None
        without Redis or when it does not answer)."""
        if self._store is None:
            self.book.touch(key)
            return None
        try:
            shared = await self._store.read(key)
        except (redis_extra.RedisError, TimeoutError, OSError) as exc:
            log.debug("task facts not read: %s", type(exc).__name__)
            self.book.touch(key)
            return None
        self.book.adopt(key, shared.facts)
        return shared


def active_drive(drive: DriveShell[Any], replica: str = "") -> ActiveDrive:
    """What GetTask and ListDrives say of a live drive of ``replica``."""
    return ActiveDrive(
        drive_id=drive.drive_id,
        state=drive.state,
        profile=drive.spec.profile,
        labels=dict(drive.spec.labels),
        started_at=drive.started_wall,
        sent_ms=round(drive.core.sent_ms),
        speaking=drive.core.speech.started and not drive.core.speech.finished,
        replica=replica,
        billed_ms=round(drive.core.billed_ms),
    )
