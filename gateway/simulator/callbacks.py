"""The vendor's server callbacks (zego-api.md §12): signed POSTs, retried, with fault switches.

Each event (a drive's or a task's status change) becomes one :class:`CallbackRecord` and one
JSON body, signed once: ``Signature = sha1(''.join(sorted([CallbackSecret, Timestamp,
Nonce])))``. Its first try goes out through one FIFO worker, so that callbacks arrive in the
order their events happened; a try answered with a non-2xx status (or not answered) is tried
again 2, 4, 8, 16 and 32 s (times ``callback_retry_scale``) after the previous try, with the
same body (the same Nonce and Signature: a retry is the same callback), then dropped.

Where the vendor is silent (§17) the simulator chooses: the ``Timestamp`` is the time the
callback was made (a retry does not refresh it); a try fails after ``callback_timeout_s``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .config import CALLBACK_RETRY_DELAYS_S, SimulatorConfig
from .faults import Fault, FaultBook

__all__ = ["CallbackAttempt", "CallbackRecord", "CallbackSender", "callback_signature"]

log = logging.getLogger("gateway.simulator")


def callback_signature(secret: str, timestamp: str, nonce: str) -> str:
    """SHA1 over the sorted ``[CallbackSecret, Timestamp, Nonce]``, concatenated (§12)."""
    return hashlib.sha1("".join(sorted([secret, timestamp, nonce])).encode()).hexdigest()


def wall_time(monotonic_at: float) -> float:
    """A ``time.monotonic()`` reading as Unix time (seconds)."""
    return time.time() - (time.monotonic() - monotonic_at)


@dataclass(frozen=True, slots=True)
class CallbackAttempt:
    """One POST of a callback. ``http_status`` is ``None`` when no answer came (``error``)."""

    at: float
    """When the try was sent (``time.monotonic()``)."""
    kind: str
    """``"first"``, ``"retry"`` or ``"duplicate"`` (the fault's second copy)."""
    http_status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "kind": self.kind,
            "http_status": self.http_status,
            "error": self.error,
        }


@dataclass(eq=False, kw_only=True)
class CallbackRecord:
    """One callback the simulator made, and what became of it.

    Times are ``time.monotonic()`` readings. ``body`` is exactly what was (or would have
    been) POSTed. ``faults`` names the callback switches applied to it.
    """

    seq: int
    event_type: int
    task_id: str
    drive_id: str | None
    status: int
    event_at: float
    """When the event happened in the simulator's model (its ``EventTime``, monotonic)."""
    created_at: float
    body: dict[str, Any]
    signature_valid: bool = True
    faults: list[str] = field(default_factory=list)
    attempts: list[CallbackAttempt] = field(default_factory=list)
    acknowledged_at: float | None = None
    """The first try answered 2xx (``None``: none yet, or never)."""
    dropped: bool = False
    """``Fault.callback_drop``: never sent."""
    gave_up: bool = False
    """Every try failed: the first and its 5 retries (§12)."""

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    @property
    def nonce(self) -> str:
        return str(self.body["Nonce"])

    @property
    def timestamp(self) -> str:
        return str(self.body["Timestamp"])

    @property
    def done(self) -> bool:
        """Acknowledged, dropped, or given up: nothing more will be sent."""
        return self.acknowledged or self.dropped or self.gave_up

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "event_type": self.event_type,
            "task_id": self.task_id,
            "drive_id": self.drive_id,
            "status": self.status,
            "event_at": self.event_at,
            "created_at": self.created_at,
            # The Signature would let a reader replay the callback: left out, as tokens are.
            "body": {**self.body, "Signature": "***"},
            "signature_valid": self.signature_valid,
            "faults": list(self.faults),
            "attempts": [a.to_json() for a in self.attempts],
            "acknowledged_at": self.acknowledged_at,
            "dropped": self.dropped,
            "gave_up": self.gave_up,
        }


class CallbackSender:
    """Makes, signs, sends and retries callbacks; records each. One per simulator.

    :meth:`emit` is synchronous and cheap (it never waits for the network), so the audio
    path may call it. Without a configured URL it does nothing.
    """

    def __init__(self, config: SimulatorConfig, faults: FaultBook, notify: Callable[[], None]):
        self._config = config
        self._faults = faults
        self._notify = notify
        self.records: list[CallbackRecord] = []
        self._queue: asyncio.Queue[tuple[CallbackRecord, Fault | None]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._seq = 0
        self._closed = True
        """Until :meth:`start`, and again after :meth:`close`: nothing is made."""

    def start(self) -> None:
        """Open the HTTP client and the sending worker (on the running loop)."""
        if self._worker is not None:
            return
        context: ssl.SSLContext | bool = True
        if self._config.callback_cafile is not None:
            context = ssl.create_default_context(cafile=self._config.callback_cafile)
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        self._worker = asyncio.create_task(self._run(), name="sim-callbacks")
        self._closed = False

    def reconfigure(self, config: SimulatorConfig) -> None:
        """Use another URL, secret, Timestamp unit, retry scale or timeout from now on (the
        callbacks already made keep their bodies; their retries go to the new URL)."""
        self._config = config

    async def close(self) -> None:
        """Stop sending: pending tries and retries are abandoned (their records stay)."""
        self._closed = True
        self._cancel_all()
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def reset(self) -> None:
        """Forget every record; abandon what is pending."""
        self._cancel_all()
        while not self._queue.empty():
            self._queue.get_nowait()
        self.records.clear()

    def _cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    def emit(
        self,
        event_type: int,
        task_id: str,
        detail: dict[str, Any],
        event_at: float,
    ) -> CallbackRecord | None:
        """Make one callback for an event that happened at ``event_at`` (monotonic)."""
        config = self._config
        if self._closed or config.callback_url is None or config.callback_secret is None:
            return None
        status = int(detail["Status"])
        fault = self._faults.take_callback(task_id, event_type, status)
        now = time.time()
        if fault is not None:
            now += fault.callback_timestamp_skew_s
        timestamp = (
            str(int(now * 1000)) if config.callback_timestamp_unit == "ms" else str(int(now))
        )
        nonce = secrets.token_hex(8)
        secret = config.callback_secret
        bad = fault is not None and fault.callback_bad_signature
        if bad:
            secret = secret + "-not-the-secret"
        body: dict[str, Any] = {
            "AppId": config.app_id,
            "EventType": event_type,
            "TaskId": task_id,
            "Nonce": nonce,
            "Timestamp": timestamp,
            "Signature": callback_signature(secret, timestamp, nonce),
            "EventTime": round(wall_time(event_at) * 1000),
            "Detail": dict(detail),
        }
        self._seq += 1
        drive_id = detail.get("DriveId")
        record = CallbackRecord(
            seq=self._seq,
            event_type=event_type,
            task_id=task_id,
            drive_id=drive_id if isinstance(drive_id, str) else None,
            status=status,
            event_at=event_at,
            created_at=time.monotonic(),
            body=body,
            signature_valid=not bad,
            faults=_fault_names(fault),
        )
        self.records.append(record)
        if fault is not None and fault.callback_drop:
            record.dropped = True
            log.info(
                "callback #%d EventType=%d Status=%d: dropped (fault)",
                record.seq,
                event_type,
                status,
            )
        elif fault is not None and fault.callback_delay_s > 0:
            self._spawn(self._delayed(record, fault))
        else:
            self._queue.put_nowait((record, fault))
        self._notify()
        return record

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        """The FIFO of first tries; bounded by the simulator's life (cancelled at close)."""
        while True:
            record, fault = await self._queue.get()
            if fault is not None and fault.callback_reorder:
                # Let the next callback overtake this one (a reorder on that one is moot).
                overtaking: tuple[CallbackRecord, Fault | None] | None = None
                try:
                    async with asyncio.timeout(fault.callback_reorder_max_s):
                        overtaking = await self._queue.get()
                except TimeoutError:
                    pass
                if overtaking is not None:
                    await self._deliver(*overtaking)
            await self._deliver(record, fault)

    async def _delayed(self, record: CallbackRecord, fault: Fault) -> None:
        await asyncio.sleep(fault.callback_delay_s)
        await self._deliver(record, fault)

    async def _deliver(self, record: CallbackRecord, fault: Fault | None) -> None:
        """The first try (and a duplicate); failed ones go on to the retry schedule."""
        ok = await self._try(record, "first")
        if fault is not None and fault.callback_duplicate:
            await self._try(record, "duplicate")
        if not ok:
            self._spawn(self._retry(record))

    async def _retry(self, record: CallbackRecord) -> None:
        scale = self._config.callback_retry_scale
        for delay in CALLBACK_RETRY_DELAYS_S:  # bounded: 5 retries (§12)
            await asyncio.sleep(delay * scale)
            if await self._try(record, "retry"):
                return
        record.gave_up = True
        log.info("callback #%d: gave up after %d tries", record.seq, len(record.attempts))
        self._notify()

    async def _try(self, record: CallbackRecord, kind: str) -> bool:
        """POST the body once; record the outcome. Returns whether it was acknowledged."""
        session, url = self._session, self._config.callback_url
        if session is None or url is None:
            return False
        sent_at = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            timeout = aiohttp.ClientTimeout(total=self._config.callback_timeout_s)
            async with session.post(url, json=record.body, timeout=timeout) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = type(exc).__name__
        attempt = CallbackAttempt(sent_at, kind, status, error)
        record.attempts.append(attempt)
        if attempt.ok and record.acknowledged_at is None:
            record.acknowledged_at = time.monotonic()
        log.info(
            "callback #%d EventType=%d task=%s drive=%s Status=%d (%s) -> %s",
            record.seq,
            record.event_type,
            record.task_id,
            record.drive_id,
            record.status,
            kind,
            status if error is None else error,
        )
        self._notify()
        return attempt.ok


def _fault_names(fault: Fault | None) -> list[str]:
    if fault is None:
        return []
    switches = {
        "drop": fault.callback_drop,
        "delay": fault.callback_delay_s > 0,
        "duplicate": fault.callback_duplicate,
        "reorder": fault.callback_reorder,
        "bad_signature": fault.callback_bad_signature,
        "timestamp_skew": fault.callback_timestamp_skew_s != 0,
    }
    return [name for name, on in switches.items() if on]
