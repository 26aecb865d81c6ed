"""The simulator's shared state: records, tokens, open connections, rate windows, faults.

One :class:`SimState` per simulator, shared by the HTTP API, the WebSocket server and the
inspection endpoints. It lives on one event loop and is never touched from another thread.
It wires the task lives (:mod:`.tasks`) and the playback account (:mod:`.playout`) to the
callbacks (:mod:`.callbacks`): each status change of either becomes one callback.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import deque
from typing import Any, Protocol

from .callbacks import CallbackSender
from .config import SimulatorConfig
from .faults import FaultBook
from .playout import DriveStatus, Playout, PlayoutBook
from .records import ApiCall, DriveRecord, HandshakeRejection, Overlap
from .tasks import TaskBook, TaskRecord, TaskStatus
from .text import TextDriveRecord, TextRequest, render_ms

__all__ = ["LiveConnection", "SimState"]


class LiveConnection(Protocol):
    """An upgraded WebSocket connection, as the shared state sees it."""

    @property
    def record(self) -> DriveRecord: ...

    def still_open(self) -> bool:
        """Whether the connection may still carry data (the peer may not have left yet)."""
        ...

    async def shutdown(self) -> None:
        """End the connection because the simulator stops; must return within seconds."""
        ...

    async def end_for_task(self) -> None:
        """Close the connection because its task ended; must return within seconds."""
        ...


class SimState:
    """Everything the simulated cloud knows. Callers mutate it from the event loop only."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.faults = FaultBook()
        self.api_calls: list[ApiCall] = []
        self.drives: dict[str, DriveRecord] = {}
        self.text_drives: dict[str, TextDriveRecord] = {}
        self.overlaps: list[Overlap] = []
        self.rejections: list[HandshakeRejection] = []
        self.live: dict[str, list[LiveConnection]] = {}
        """Open connections per TaskId. Kept across :meth:`reset`: they are still real."""
        self._tokens: dict[str, str] = {}
        self._spent_tokens: dict[str, str] = {}
        self._windows: dict[int, deque[float]] = {}
        self.callbacks = CallbackSender(config, self.faults, self.notify)
        self.tasks = TaskBook(config, self._task_status, self._task_ended)
        self.playouts = PlayoutBook(
            config.render_latency_ms, self._drive_status, self.tasks.drive_active
        )
        self._closers: set[asyncio.Task[None]] = set()
        self._closed_events: dict[str, asyncio.Event] = {}
        self._stopped_events: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Event()
        self.ws_port = 0
        self.ws_scheme = "ws"

    def notify(self) -> None:
        """Wake :meth:`changed` waiters; call after any change a test may wait for."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self) -> None:
        """Return at the next :meth:`notify`."""
        await self._changed.wait()

    def reset(self) -> None:
        """Forget every record, token, fault, rate window, task, playout and callback.

        Open connections keep running on their (now unlisted) records; addresses handed out
        before the reset stop working.
        """
        self.faults.clear()
        self.api_calls.clear()
        self.drives.clear()
        self.text_drives.clear()
        self.overlaps.clear()
        self.rejections.clear()
        self._tokens.clear()
        self._spent_tokens.clear()
        self._windows.clear()
        self.callbacks.reset()
        self.playouts.reset()
        self.tasks.reset()
        self._closed_events.clear()
        self._stopped_events.clear()
        self.notify()

    # Tasks (zego-api.md §6, §11, §12, §14a) and their callbacks.

    def _task_status(self, task: TaskRecord, status: TaskStatus, at: float) -> None:
        detail = {
            "Status": int(status),
            "RoomId": task.room_id,
            "StreamId": task.stream_id,
            "FailReason": "",
        }
        self.callbacks.emit(3, task.task_id, detail, at)
        self.notify()

    def _task_ended(self, task: TaskRecord, at: float) -> None:
        """A task ended: its drive fails, its connections close, its tokens stop working."""
        self.playouts.fail_task(task.task_id, at)
        for conn in self.live.get(task.task_id, []):
            closer = asyncio.create_task(conn.end_for_task())
            self._closers.add(closer)
            closer.add_done_callback(self._closers.discard)
        self.notify()

    def _drive_status(self, playout: Playout, status: DriveStatus, at: float) -> None:
        detail = {"DriveId": playout.drive_id, "Status": int(status)}
        self.callbacks.emit(4, playout.task_id, detail, at)
        self.notify()

    async def open(self) -> None:
        """Start the timers and the callbacks (the simulator is starting)."""
        self.playouts.open()
        self.tasks.open()
        self.callbacks.start()

    def reconfigure(self, config: SimulatorConfig) -> None:
        """Change the callback settings of a running simulator (see ``Simulator.set_callbacks``)."""
        self.config = config
        self.callbacks.reconfigure(config)

    def freeze(self) -> None:
        """No more status changes (the simulator is stopping); the records stay."""
        self.playouts.close()
        self.tasks.close()

    async def close(self) -> None:
        """Stop the callbacks and the task-end closers (after :meth:`freeze`)."""
        self.freeze()
        await self.callbacks.close()
        if self._closers:
            await asyncio.gather(*self._closers, return_exceptions=True)

    # Rate limit (zego-api.md §5).

    def admit(self, app_id: int, now: float) -> bool:
        """Count one request of ``app_id`` in its sliding one-second window, if there is room.

        Only admitted requests are counted: a client held back keeps its full rate once the
        window slides, as with the usual token-bucket limiters.
        """
        limit = self.config.requests_per_second
        if limit is None:
            return True
        window = self._windows.setdefault(app_id, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True

    # Drives and tokens (zego-api.md §7).

    def new_drive(self, task_id: str, now: float) -> tuple[DriveRecord, str]:
        """Grant a drive: a fresh DriveId and its one-use token. Returns (record, token)."""
        record = DriveRecord(
            drive_id=str(uuid.uuid4()),
            task_id=task_id,
            created_at=now,
            underrun_tolerance_ms=self.config.underrun_tolerance_ms,
            keep_audio=self.config.keep_audio,
        )
        token = secrets.token_urlsafe(24)
        self.drives[record.drive_id] = record
        self._tokens[token] = record.drive_id
        self._closed_events[record.drive_id] = asyncio.Event()
        self._stopped_events[record.drive_id] = asyncio.Event()
        self.notify()
        return record, token

    def new_text_drive(self, task_id: str, request: TextRequest, now: float) -> TextDriveRecord:
        """Accept a DriveByText: a fresh DriveId, spoken by the avatar (:mod:`.playout`)."""
        record = TextDriveRecord(
            drive_id=str(uuid.uuid4()),
            task_id=task_id,
            created_at=now,
            request=request,
            render_ms=render_ms(request.text, request.speech_rate, self.config.text_ms_per_char),
        )
        self.text_drives[record.drive_id] = record
        self.playouts.on_text(
            record.drive_id, task_id, record.render_ms, interrupt=request.interrupt, now=now
        )
        self.notify()
        return record

    def interrupt_task(self, task_id: str, now: float) -> None:
        """InterruptDriveTask: the task's avatar stops now, its queued drives are dropped."""
        self.playouts.interrupt(task_id, now)
        self.notify()

    def ws_address(self, token: str) -> str:
        host = self.config.advertised_host
        return f"{self.ws_scheme}://{host}:{self.ws_port}/ws?Token={token}"

    def claim_token(self, token: str) -> tuple[DriveRecord | None, bool]:
        """Spend a token. Returns (its drive, whether it was already spent).

        ``(None, False)`` means the token is unknown.
        """
        drive_id = self._tokens.pop(token, None)
        if drive_id is not None:
            self._spent_tokens[token] = drive_id
            return self.drives.get(drive_id), False
        drive_id = self._spent_tokens.get(token)
        if drive_id is not None:
            return self.drives.get(drive_id), True
        return None, False

    # Connections (zego-api.md §8: one connection per task at a time).

    def connection_opened(self, conn: LiveConnection, now: float) -> None:
        """Register an upgraded connection; records an overlap per other open one."""
        task_id = conn.record.task_id
        others = [c for c in self.live.get(task_id, []) if c.still_open()]
        for other in others:
            self.overlaps.append(Overlap(task_id, other.record.drive_id, conn.record.drive_id, now))
        self.live[task_id] = [*others, conn]
        self.notify()

    def connection_closed(self, conn: LiveConnection) -> None:
        """Unregister a finished connection and wake its waiters."""
        conns = self.live.get(conn.record.task_id, [])
        if conn in conns:
            conns.remove(conn)
        if not conns:
            self.live.pop(conn.record.task_id, None)
        self.drive_ended(conn.record.drive_id)

    def drive_ended(self, drive_id: str) -> None:
        """Wake the waiters of a drive whose connection (or connection attempt) ended."""
        for events in (self._closed_events, self._stopped_events):
            event = events.get(drive_id)
            if event is not None:
                event.set()
        self.notify()

    def drive_stopped(self, drive_id: str) -> None:
        event = self._stopped_events.get(drive_id)
        if event is not None:
            event.set()
        self.notify()

    def closed_event(self, drive_id: str) -> asyncio.Event:
        return self._closed_events[drive_id]

    def stopped_event(self, drive_id: str) -> asyncio.Event:
        return self._stopped_events[drive_id]

    def all_live(self) -> list[LiveConnection]:
        return [c for conns in self.live.values() for c in conns]

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON (``GET /_sim/state``). Tokens and signatures are left out."""
        return {
            "api_calls": [c.to_json() for c in self.api_calls],
            "drives": [d.to_json() for d in self.drives.values()],
            "text_drives": [d.to_json() for d in self.text_drives.values()],
            "overlaps": [o._asdict() for o in self.overlaps],
            "handshake_rejections": [r.to_json() for r in self.rejections],
            "faults": self.faults.snapshot(),
            "tasks": [t.to_json() for t in self.tasks.tasks.values()],
            "playouts": [p.to_json() for p in self.playouts.playouts.values()],
            "callbacks": [c.to_json() for c in self.callbacks.records],
            "open_connections": {
                task: [c.record.drive_id for c in conns] for task, conns in self.live.items()
            },
        }
