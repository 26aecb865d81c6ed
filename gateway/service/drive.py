"""The asyncio shell of one drive: owns the task lease, the vendor calls, the WebSocket and time.

The protocol logic lives in :class:`~gateway.drive.core.DriveCore` and
:class:`~gateway.drive.machine.DriveMachine`; this module only moves bytes and waits.

Tasks: the RPC handler runs :meth:`Drive.run`, which runs the drive in a child task (so a
preemption or a StopDrive can cancel it from outside) and a reader task that feeds the client's
audio into the core no faster than the core wants it. The child's ``finally`` is where every
obligation is met, whatever happened: Stop if Start was sent, the WebSocket closed, the task
released. It runs shielded, so a second cancellation cannot skip it.

Reporting: one log line per lifecycle step (``drive queued``, ``drive started``, then
``drive completed`` or ``drive failed``), and the same steps to the app's
:class:`~gateway.observability.observer.Observer`. Nothing is reported per chunk: the final
accounting comes from the core once the drive is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from gateway.drive.audio import Converter, OutputFormat
from gateway.drive.core import Completion, DriveCore
from gateway.drive.machine import DriveEvent, DriveMachine, DriveState
from gateway.drive.progress import ProgressSnapshot
from gateway.drive.spec import ConflictPolicy, DriveSpec
from gateway.errors import (
    DriveEnded,
    GatewayError,
    InvalidDrive,
    Reason,
    UpstreamDisconnected,
    UpstreamError,
)
from gateway.observability.observer import DriveEnd, Observer
from gateway.registry.base import Lease, task_key
from gateway.service.flag import Flag
from gateway.service.status import STATUS_OF
from gateway.upstream import DriveSession

if TYPE_CHECKING:
    from gateway.config import Credentials, GatewayConfig
    from gateway.registry.base import TaskRegistry
    from gateway.upstream import UpstreamClient

log = logging.getLogger("gateway.drive")


class DriveServices(Protocol):
    """What a drive uses of the gateway's shared parts (a ``GatewayApp`` provides them)."""

    @property
    def config(self) -> GatewayConfig: ...
    @property
    def registry(self) -> TaskRegistry: ...
    @property
    def upstream(self) -> UpstreamClient: ...
    @property
    def observer(self) -> Observer: ...


class DriveListener(Protocol):
    """Where a drive reports to its client (the servicer turns these into DriveEvents)."""

    async def queued(self, drive: Drive, *, rate_limited: bool, ahead: int) -> None: ...
    async def started(self, drive: Drive, output: OutputFormat, setup_ms: int) -> None: ...
    def progress(self, drive: Drive, snapshot: ProgressSnapshot) -> None:
        """Report progress without blocking the drive (a report may be dropped while the
        client has not taken the previous one)."""


class Drive:
    """One Drive RPC from config to Completed; implements the registry's ``Holder``.

    Args:
        app: the gateway's shared parts that a drive uses.
        spec: the validated config.
        credentials: the vendor account to drive with.
        audio: the client's audio chunks; ends at half-close; may raise GatewayError.
        listener: receives Queued / Started / Progress.
    """

    def __init__(
        self,
        app: DriveServices,
        spec: DriveSpec,
        credentials: Credentials,
        audio: AsyncIterator[bytes],
        listener: DriveListener,
    ) -> None:
        self.app = app
        self.spec = spec
        self.credentials = credentials
        self.key = task_key(credentials.app_id, spec.task_id)
        self.machine = DriveMachine()
        limits, pacing = app.config.limits, app.config.pacing
        self.core = DriveCore(
            Converter(spec.input, spec.output_rate_hz),
            pacing=pacing,
            max_chunk_bytes=limits.max_chunk_bytes,
            setup_buffer_bytes=limits.setup_buffer_bytes,
        )
        self._audio = audio
        self._listener = listener
        self._loop = asyncio.get_running_loop()
        self.config_at = self._loop.time()
        self.started_wall: float | None = None
        self._drive_id = ""
        self._session: DriveSession | None = None
        self._lease: Lease | None = None
        self._ended: GatewayError | None = None  # why the gateway ended it from outside
        self._work: asyncio.Task[Completion] | None = None
        self._wake = Flag()  # something changed: audio, end, a deadline, a loss
        self._want = Flag(True)  # the core wants more audio
        self._read_error: GatewayError | None = None
        self._pumping = False  # a task is sending frames (see _pump)
        self._closing = False  # the clean-up began: nothing can be ended from outside any more
        self._last_audio_at = self.config_at
        self._setup_ms: int | None = None
        self._stop_at: float | None = None  # loop time the Stop went out

    # Holder protocol and outside requests.

    @property
    def drive_id(self) -> str:
        return self._drive_id

    def end(self, reason: GatewayError) -> None:
        """End this drive from outside (preempt, StopDrive, drain, a lease not kept): Stop is
        sent, the stream ends with ``reason``. Safe to call more than once; the first reason
        wins."""
        # Once the Stop is on its way (the flush finished, or the clean-up began) the drive is
        # ending by itself: cancelling it now could cut the Stop frame and turn a Completed
        # into an error.
        stopping = self.machine.state in (DriveState.STOPPING, DriveState.CLOSED)
        if self._ended is None and not self._closing and not stopping:
            self._ended = reason
            if self._work is not None and not self._work.done():
                self._work.cancel()

    async def wait_finished(self, timeout_s: float) -> None:
        """Wait (at most ``timeout_s``) until the drive's clean-up is over: Stop sent, closed."""
        if self._work is not None:
            await asyncio.wait({self._work}, timeout=timeout_s)

    @property
    def state(self) -> DriveState:
        return self.machine.state

    # The drive.

    async def run(self) -> Completion:
        """Run the drive to its end; returns the final accounting.

        Raises:
            GatewayError: why the drive failed (the servicer maps it to a status).
        """
        self._work = asyncio.create_task(self._drive(), name=f"drive {self.spec.task_id}")
        try:
            return await asyncio.shield(self._work)
        except asyncio.CancelledError:
            # The client cancelled or vanished: end the drive now (its finally sends Stop).
            self._work.cancel()
            with contextlib.suppress(BaseException):
                await self._work
            raise
        except GatewayError as exc:
            raise exc.with_metadata(self._error_metadata()) from exc.__cause__

    async def _drive(self) -> Completion:
        try:
            completion = await self._drive_steps()
        except BaseException as exc:
            self._report_end(exc)
            raise
        self._report_end(None)
        return completion

    def _report_end(self, error: BaseException | None) -> None:
        try:
            self._log_end(error)
        except Exception:  # reporting must never change how a drive ends
            log.exception("reporting the end of a drive failed")

    async def _drive_steps(self) -> Completion:
        reader = asyncio.create_task(self._read(), name=f"reader {self.spec.task_id}")
        try:
            self._lease = await self._acquire()
            self.machine.handle(DriveEvent.ADMIT)
            await self._set_up()
            return await self._stream()
        except asyncio.CancelledError:
            if self._ended is not None:
                raise self._ended from None
            raise
        finally:
            self._closing = True
            reader.cancel()
            await asyncio.shield(self._clean_up(reader))

    async def _acquire(self) -> Lease:
        policy = self.spec.on_conflict
        limits = self.app.config.limits
        timeout_s = (
            limits.preempt_wait_s + self.app.config.upstream.ws_close_timeout_s
            if policy is ConflictPolicy.PREEMPT
            else self.spec.queue_timeout_s or limits.queue_timeout_s
        )

        async def on_queued(ahead: int) -> None:
            self.machine.handle(DriveEvent.QUEUE)
            self.app.observer.drive_queued()
            log.info("drive queued", extra=self._log_fields(cause="task_busy", ahead=ahead))
            await self._listener.queued(self, rate_limited=False, ahead=ahead)

        return await self.app.registry.acquire(
            self.key, self, policy=policy, timeout_s=timeout_s, on_queued=on_queued
        )

    async def _set_up(self) -> None:
        # A WAV stream's format is known from its header: validate it before any vendor call.
        output = await self._until_output_known()
        told = False

        async def on_rate_limited(wait_s: float) -> None:
            nonlocal told
            if not told:  # once: the client needs to know why, not each retry
                told = True
                log.info("drive queued", extra=self._log_fields(cause="rate_limited"))
                await self._listener.queued(self, rate_limited=True, ahead=0)

        grant = await self.app.upstream.drive_by_ws_stream(
            self.spec.task_id, self.credentials, on_wait=on_rate_limited
        )
        self._drive_id = grant.drive_id
        if self._lease is not None:
            await self.app.registry.update(self._lease)
        try:
            self._session = await DriveSession.open(
                grant,
                sample_rate=output.sample_rate_hz,
                channels=output.channels,
                voice_channel=output.voice_channel if output.channels == 2 else None,
                config=self.app.config.upstream,
            )
        except UpstreamError:
            self.app.observer.ws_connect(ok=False)
            raise
        self.app.observer.ws_connect(ok=True)
        now = self._loop.time()
        self.machine.handle(DriveEvent.START)
        self.started_wall = time.time()
        self.core.start(now)
        self._setup_ms = setup_ms = round((now - self.config_at) * 1000)
        self.app.observer.drive_started(now - self.config_at)
        log.info("drive started", extra=self._log_fields(setup_ms=setup_ms))
        await self._listener.started(self, output, setup_ms)

    async def _until_output_known(self) -> OutputFormat:
        while (output := self.core.output) is None:
            self._raise_read_error()
            if self.core.input_ended:
                # A WAV stream that ended before its header completed.
                raise self.core.end_error or InvalidDrive(
                    Reason.BAD_WAV, "the stream ended before any audio"
                )
            self._wake.clear()
            await self._wake.wait()
        return output

    async def _stream(self) -> Completion:
        session = self._session
        assert session is not None
        # A callback on the session's own future, not a task awaiting it: one task fewer per
        # drive, and the loss still wakes the loop below at once.
        closed = session.closed

        def on_closed(_: object) -> None:
            self._wake.set()

        closed.add_done_callback(on_closed)
        limits = self.app.config.limits
        core = self.core
        assert core.started_at is not None
        max_end = core.started_at + limits.max_drive_s
        try:
            while True:
                now = self._loop.time()
                self._raise_read_error()
                if closed.done() and (error := closed.result()) is not None:
                    raise error
                await self._pump()
                snapshot = core.progress_due(now)
                if snapshot is not None:
                    self._listener.progress(self, snapshot)
                if core.flushed:
                    break
                if core.wants_audio():
                    self._want.set()
                    idle_end = self._last_audio_at + limits.idle_timeout_s
                else:
                    idle_end = None
                if now >= max_end:
                    raise DriveEnded(
                        Reason.MAX_DURATION, f"drive exceeded {limits.max_drive_s:g} s"
                    )
                if idle_end is not None and now >= idle_end:
                    raise DriveEnded(
                        Reason.IDLE_TIMEOUT, f"no audio for {limits.idle_timeout_s:g} s"
                    )
                # While the reader is sending (a slow peer holds it in flow control), due audio
                # is its job: waking for it here would only spin. It wakes us when done.
                due = core.progress.next_at() if self._pumping else core.next_deadline(now)
                deadline = min(d for d in (due, idle_end, max_end) if d is not None)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(deadline):
                        await self._wake.wait()
        finally:
            closed.remove_done_callback(on_closed)
        stop_at = await self._stop()
        if core.end_error is not None:
            raise core.end_error
        return core.completed(stop_at)

    async def _read(self) -> None:
        """Feed the client's audio into the core, no faster than it wants it.

        Once the drive started, audio that is due goes out from here at once (the common case of
        a real-time client); the timer loop in :meth:`_stream` is woken only when the pacer held
        something back, so a chunk costs no task switch and no timer.
        """
        core = self.core
        try:
            async for chunk in self._audio:
                now = self._loop.time()
                self._last_audio_at = now
                core.receive_audio(chunk, now)
                if core.started_at is None:
                    self._wake.set()  # the set-up may be waiting for the format
                else:
                    await self._pump()  # what the pacer holds back, the timer loop releases
                if not core.wants_audio():
                    self._want.clear()
                    await self._want.wait()
            self.core.receive_end(self._loop.time())
        except GatewayError as exc:
            self._read_error = exc
        self._wake.set()

    async def _pump(self) -> None:
        """Send every frame due now. One task at a time: frames must leave in order, so a call
        while another is sending returns at once (that one looks again before it stops)."""
        if self._pumping:
            return
        session = self._session
        assert session is not None
        self._pumping = True
        try:
            while frames := self.core.frames_due(self._loop.time()):
                for frame in frames:
                    await session.send_audio(frame)
        finally:
            self._pumping = False
            if self.core.buffered_bytes:
                self._wake.set()  # what is left is the timer loop's again

    def _raise_read_error(self) -> None:
        if self._read_error is not None:
            raise self._read_error

    async def _stop(self) -> float:
        """Send Stop (once) and close; returns when the Stop was sent."""
        stop_at = self._loop.time()
        if self.machine.stop_owed:
            self._stop_at = stop_at
            self.machine.handle(DriveEvent.STOP)
            assert self._session is not None
            await self._session.stop_and_close()
        return stop_at

    async def _clean_up(self, reader: asyncio.Task[None]) -> None:
        with contextlib.suppress(BaseException):
            await reader
        await self._stop()
        if self._session is not None:
            await self._session.close()
        if self.machine.state is DriveState.STOPPING:
            self.machine.handle(DriveEvent.CLOSE)
        elif not self.machine.finished:
            self.machine.handle(DriveEvent.ABANDON)
        if self._lease is not None:
            await self.app.registry.release(self._lease)
        log.debug("drive closed", extra=self._log_fields())

    # Reporting.

    def _error_metadata(self) -> dict[str, str]:
        return {
            "task_id": self.spec.task_id,
            "drive_id": self._drive_id,
            "sent_ms": str(round(self.core.sent_ms))
            if self.machine.state is not DriveState.IDLE
            else "",
        }

    def _log_fields(self, **extra: object) -> dict[str, object]:
        return {
            "task_id": self.spec.task_id,
            "drive_id": self._drive_id,
            "labels": dict(self.spec.labels),
            **extra,
        }

    def _log_end(self, error: BaseException | None) -> None:
        """The drive is over (clean-up done): one log line, one observer call."""
        if error is None:
            status, reason = "OK", "COMPLETED"
        elif isinstance(error, GatewayError):
            status, reason = STATUS_OF[error.reason].name, error.reason.value
        elif isinstance(error, asyncio.CancelledError):
            status = reason = "CANCELLED"  # the client cancelled or went away
        else:
            status = reason = "INTERNAL"  # a bug: the servicer logs its traceback
        end = DriveEnd.of(
            self.core,
            status=status,
            reason=reason,
            stop_sent_at=self._stop_at if error is None else None,
            dropped=isinstance(error, UpstreamDisconnected),
        )
        self.app.observer.drive_finished(end)
        fields = self._log_fields(**end.log_fields())
        if self._setup_ms is not None:
            fields["setup_ms"] = self._setup_ms
        if error is None:
            log.info("drive completed", extra=fields)
            return
        # The vendor's failures and our bugs are worth a look; the rest is the client's doing.
        serious = isinstance(error, UpstreamError) or reason == "INTERNAL"
        message = error.message if isinstance(error, GatewayError) else type(error).__name__
        log.log(
            logging.WARNING if serious else logging.INFO,
            "drive failed",
            extra={**fields, "reason": reason, "error": message},
        )
