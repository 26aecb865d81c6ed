"""The asyncio shell of one drive: owns the task lease, the vendor calls, the WebSocket and time.

Every piece of a drive's state lives in its :class:`~gateway.drive.core.DriveCore`: where it
is in its life, what ends it and when, what is due next. This module feeds the core, sleeps
until the core's next deadline (or an input) and performs what the core asks: it only moves
bytes and waits.

Tasks: the RPC handler runs :meth:`Drive.run` (``drive_shell.py``), which runs the drive in a
child task (so a preemption or a StopDrive can cancel it from outside) and a reader task that
feeds the client's audio into the core no faster than the core wants it. The child's
``finally`` is where every obligation is met, whatever happened: the avatar silenced if the
drive was interrupted (InterruptDriveTask, after the last frame), Stop if Start was sent, the
WebSocket closed, the task released (with what the avatar played, for a StopDrive). It runs
shielded, so a second cancellation cannot skip it.

Barge-in (``gateway/drive/interrupt.py``): the client's Interrupt wakes the streaming loop,
which leaves it as a completed drive does, but silences the avatar first and ends with
PlaybackFinished (``interrupted``) and Completed, status OK. A PREEMPT or a StopDrive
INTERRUPT cancels the work as any end from outside does; the clean-up silences the avatar. A
StopDrive FINISH does not cancel a streaming drive: the loop sends Stop, lets the avatar play
out what it was sent, then ends STOPPED_BY_REQUEST.

Reporting (``drive_log.py``): one log line per lifecycle step, the same steps to the observer;
nothing per chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator

from gateway.config import Credentials
from gateway.drive.audio import Converter, OutputFormat
from gateway.drive.core import DriveCore
from gateway.drive.machine import DriveState
from gateway.drive.outputs import Completion
from gateway.drive.spec import DriveSpec, InterruptRequest, MarkRequest
from gateway.errors import (
    GatewayError,
    InvalidDrive,
    Reason,
    UpstreamDisconnected,
    UpstreamError,
)
from gateway.observability.drive_trace import (
    DRIVE_BY_WS_STREAM,
    INTERRUPT_DRIVE_TASK,
    START,
    STOP,
    WS_CONNECT,
    Step,
)
from gateway.observability.observer import DriveEnd, Tenant
from gateway.registry.base import Played
from gateway.service.drive_log import error_metadata, log_end
from gateway.service.drive_services import DriveServices
from gateway.service.drive_shell import DriveListener, DriveShell
from gateway.service.flag import Flag
from gateway.upstream import DriveGrant, DriveSession

log = logging.getLogger("gateway.drive")

#: How often the streaming loop looks again while the reader's frames are in flight after an
#: Interrupt (their sender wakes it when done; this only bounds the wait).
_IN_FLIGHT_LOOK_S = 0.05
#: How long a drive the client interrupted waits for its half-close (which follows the Interrupt
#: at once) before it completes anyway; the avatar is silent by then.
_HALF_CLOSE_WAIT_S = 0.5
#: How much audio the reader reads ahead while the core wants none (to see an Interrupt
#: behind it): about 2 s of 16 kHz mono s16; the pacer holds what it takes as before.
_READ_AHEAD_BYTES = 64 * 1024

_Request = bytes | MarkRequest | InterruptRequest


async def _next(items: AsyncIterator[_Request]) -> _Request | None:
    """The client's next request; None once its stream ended."""
    return await anext(items, None)


def _size(ahead: deque[bytes | MarkRequest]) -> int:
    return sum(len(item) for item in ahead if isinstance(item, bytes))


class Drive(DriveShell[DriveCore]):
    """One audio Drive RPC from config to Completed; implements the registry's ``Holder``.

    Args:
        services: what every drive shares (registry, vendor client, observer, settings, clock).
        spec: the validated config.
        credentials: the vendor account to drive with.
        audio: the client's audio chunks, marks and its Interrupt; ends at half-close; may
            raise GatewayError.
        listener: receives Queued / Started / Progress and the playback events.
        tenant: whom its usage is counted for (anonymous when None).
    """

    KIND = "audio"

    def __init__(
        self,
        services: DriveServices,
        spec: DriveSpec,
        credentials: Credentials,
        audio: AsyncIterator[_Request],
        listener: DriveListener,
        tenant: Tenant | None = None,
    ) -> None:
        core = DriveCore(
            Converter(spec.input, spec.output_rate_hz),
            pacing=services.pacing,
            limits=services.limits,
            now=services.clock(),
            vendor_grace_s=services.vendor_grace_s,
        )
        super().__init__(services, spec, credentials, listener, core, tenant)
        self._audio = audio
        self._session: DriveSession | None = None
        self._want = Flag(True)  # the core wants more audio (or the read-ahead came)
        self._coming: asyncio.Future[_Request | None] | None = None  # the read-ahead

    # Outside requests (the rest: ``DriveShell``).

    def _take_end(self) -> None:
        if self.core.finishing:
            self._wake.set()  # StopDrive FINISH: the streaming loop sends Stop and plays out
        else:
            super()._take_end()

    def vendor_status(self, status: int) -> None:
        """The vendor's callback said this drive is driving (2: the avatar speaks) or ended
        (4: it finished); other statuses change nothing here."""
        now = self._clock()
        if status == 2:
            self.core.speech.vendor_started(now)
        elif status == 4:
            self.core.speech.vendor_finished(now)
        else:
            return
        self._wake.set()

    # The drive.

    async def _steps(self) -> Completion:
        try:
            # A WAV stream's format is known from its header: validate it before the task is
            # held or the vendor called.
            output = await self._until_output_known()
            self._lease = await self._acquire()
        except asyncio.CancelledError:
            if self._waited_in_vain():
                return self.core.completed()  # interrupted before it held the task: nothing owed
            raise
        self.core.admitted()
        await self._set_up(output)
        return await self._stream()

    async def _set_up(self, output: OutputFormat) -> None:
        services = self.services
        with self.trace.step(DRIVE_BY_WS_STREAM) as call:
            grant = await services.upstream.drive_by_ws_stream(
                self.spec.task_id, self.credentials, on_wait=self._rate_limit_reporter(call)
            )
            call.set(attempts=grant.attempts, request_id=grant.request_id)
        self._drive_id = grant.drive_id
        self.trace.set(drive_id=grant.drive_id)
        if self._lease is not None:
            await services.registry.update(self._lease)
        self._session = await self._open(grant, output)
        core = self.core
        core.started(self._clock())
        self.started_wall = time.time()
        assert core.setup_ms is not None
        services.observer.drive_started(core.setup_ms / 1000)
        log.info("drive started", extra=self._log_fields(setup_ms=core.setup_ms))
        await self._listener.started(self, output, core.setup_ms)

    async def _open(self, grant: DriveGrant, output: OutputFormat) -> DriveSession:
        """Connect the drive's WebSocket and send Start (traced as two steps)."""
        observer = self.services.observer
        steps: list[Step] = [self.trace.step(WS_CONNECT)]  # then Start, once connected

        def on_connected() -> None:
            steps[-1].end()
            steps.append(self.trace.step(START))

        try:
            session = await DriveSession.open(
                grant,
                sample_rate=output.sample_rate_hz,
                channels=output.channels,
                voice_channel=output.voice_channel if output.channels == 2 else None,
                config=self.services.connection,
                on_connected=on_connected,
            )
        except BaseException as exc:
            steps[-1].end(exc)
            if isinstance(exc, UpstreamError):
                observer.ws_connect(ok=False)
            raise
        steps[-1].end()
        observer.ws_connect(ok=True)
        return session

    async def _until_output_known(self) -> OutputFormat:
        core = self.core
        while (output := core.output) is None:
            if (error := core.end_due(self._clock())) is not None:
                raise error
            if core.input_ended:
                # A WAV stream that ended before its header completed.
                raise core.end_error or InvalidDrive(
                    Reason.BAD_WAV, "the stream ended before any audio"
                )
            deadline = core.next_deadline(self._clock())
            assert deadline is not None  # the format deadline, while it is unknown
            await self._sleep_until(deadline.at)
        return output

    async def _stream(self) -> Completion:
        session = self._session
        assert session is not None
        core = self.core

        # A callback on the session's own future, not a task awaiting it: one task fewer per
        # drive, and the loss still wakes the loop below at once.
        def on_closed(closed: asyncio.Future[UpstreamDisconnected | None]) -> None:
            if (lost := closed.result()) is not None:
                core.fail(lost)
            self._wake.set()

        session.closed.add_done_callback(on_closed)
        try:
            while True:
                now = self._clock()
                if core.finishing:
                    break  # StopDrive FINISH: Stop, then the avatar plays what it was sent
                if (error := core.end_due(now)) is not None:
                    raise error
                if core.interrupting:
                    # The client's Interrupt: nothing more is sent; the avatar is silenced
                    # once the frames in flight (the reader's) are written.
                    if not core.frames_in_flight:
                        break
                    await self._sleep_until(now + _IN_FLIGHT_LOOK_S)
                    continue
                await self._pump()
                if (snapshot := core.progress_due(now)) is not None:
                    self._listener.progress(self, snapshot)
                    self.trace.progress(snapshot.underruns)
                self._report_playback(now)
                if core.flushed:
                    break
                if core.wants_audio():
                    self._want.set()
                deadline = core.next_deadline(now)
                assert deadline is not None  # a streaming drive always has its max duration
                await self._sleep_until(deadline.at)
        finally:
            session.closed.remove_done_callback(on_closed)
        if core.silence_owed:
            await self._silence()
        if core.finish(self._clock()):
            await self._send_stop()
        if core.end_error is not None:
            raise core.end_error
        if core.interruption.asked_at is not None:
            await self._until_half_closed()
            if core.failure is not None:
                raise core.failure  # e.g. a second Interrupt, read while the avatar was silenced
        core.play_out()
        await session.close()  # the connection's work is done; the task stays held
        await self._play_out()
        if core.ended is not None:
            raise core.ended  # StopDrive FINISH: the avatar played what it was sent
        return core.completed()

    async def _until_half_closed(self) -> None:
        """After the client's Interrupt, read its stream to the half-close (at most
        :data:`_HALF_CLOSE_WAIT_S`), so that whatever it sent after the Interrupt is judged
        before the drive completes."""
        core = self.core
        give_up_at = self._clock() + _HALF_CLOSE_WAIT_S
        while not core.input_ended and core.failure is None and self._clock() < give_up_at:
            await self._sleep_until(give_up_at)

    async def _silence(self) -> None:
        """Ask the vendor to silence the task's avatar now (InterruptDriveTask), as the core
        owes it; the caller must have written the drive's last frame. The playhead stops
        where the avatar went silent; when the vendor cannot be asked, the avatar plays what
        it has (logged; the drive ends as it would have)."""
        core = self.core
        asked_at = self._clock()
        call = self.trace.step(INTERRUPT_DRIVE_TASK)
        try:
            result = await self.services.upstream.interrupt_drive_task(
                self.spec.task_id,
                self.credentials,
                on_wait=self._rate_limit_reporter(call, tell=False),
            )
        except BaseException as exc:
            call.end(exc)
            if not isinstance(exc, GatewayError):
                raise
            core.silence_failed()
            log.warning(
                "drive not interrupted: the avatar plays what it has",
                extra=self._log_fields(error=exc.message, reason=exc.reason.value),
            )
        else:
            # The avatar went silent while the answered request was in flight: its middle.
            sent_at = asked_at + result.waited_s
            core.silenced((sent_at + self._clock()) / 2)
            played_ms = core.played_ms(self._clock())
            call.set(played_ms=played_ms)
            call.end()
            log.info("drive interrupted", extra=self._log_fields(played_ms=played_ms))
        self._report_playback(self._clock())

    async def _play_out(self) -> None:
        """Report what the avatar plays of the rest, until it finished: by the estimate at
        most the pacing lead after the last frame (plus the vendor's grace)."""
        core = self.core
        while True:
            now = self._clock()
            self._report_playback(now)
            if core.played_out:
                return
            deadline = core.next_deadline(now)
            assert deadline is not None  # a drive playing out waits for its finish
            await self._sleep_until(deadline.at)

    async def _read(self) -> None:
        """Feed the client's audio into the core, no faster than it wants it.

        Once the drive started, audio that is due goes out from here at once (the common case of
        a real-time client); the timer loop in :meth:`_stream` is woken only when the pacer held
        something back, so a chunk costs no task switch and no timer. While the core wants
        none, the reader reads on (at most :data:`_READ_AHEAD_BYTES`, held): an Interrupt
        behind audio the client sent ahead is seen at once, not when the pacer takes it.
        """
        core = self.core
        items = aiter(self._audio)
        ahead: deque[bytes | MarkRequest] = deque()  # read, not yet fed: the core wants none
        try:
            while True:
                coming, self._coming = self._coming, None
                item = await (coming if coming is not None else _next(items))
                if item is None:
                    break
                if isinstance(item, InterruptRequest):
                    while ahead:  # received before it: counted, then dropped with the rest
                        self._take_now(ahead.popleft())
                    self._interrupt()
                elif core.interruption.asked_at is not None:
                    self._take_now(item)  # raises: nothing may follow the Interrupt
                else:
                    ahead.append(item)
                    await self._feed(ahead, items)
            await self._feed(ahead, None)
            core.receive_end(self._clock())
        except GatewayError as exc:
            core.fail(exc)
            if core.state is DriveState.QUEUED:
                # A queued drive awaits the task, not its inputs: end it now, or a bad frame
                # would wait for the holder (a drive being set up goes on to Start and Stop).
                self.end(exc)
        finally:
            if self._coming is not None:
                self._coming.cancel()  # the drive is over: nothing more is read
        self._wake.set()

    async def _feed(
        self, ahead: deque[bytes | MarkRequest], items: AsyncIterator[_Request] | None
    ) -> None:
        """Feed ``ahead`` to the core as it wants it. While it wants none, read the next
        request meanwhile (``items``; None: the stream ended) into :attr:`_coming`, and return
        once it came (or ``ahead`` is fed)."""
        core = self.core
        while ahead:
            if core.wants_audio():
                item = ahead.popleft()
                self._take_now(item)
                if core.started_at is not None and isinstance(item, bytes):
                    await self._pump()  # what the pacer holds back, the timer loop releases
                continue
            if self._coming is None and items is not None and _size(ahead) < _READ_AHEAD_BYTES:
                self._coming = asyncio.ensure_future(_next(items))
                self._coming.add_done_callback(lambda _: self._want.set())
            if self._coming is not None and self._coming.done():
                return
            self._want.clear()
            await self._want.wait()

    def _take_now(self, item: bytes | MarkRequest) -> None:
        """Give one audio chunk or mark to the core (its frames go out with the next pump).

        Raises:
            InvalidDrive: from the core (a bad chunk or mark; anything after an Interrupt).
        """
        core = self.core
        if isinstance(item, MarkRequest):
            core.receive_mark(item.name, self._clock())
            return
        core.receive_audio(item, self._clock())
        if core.started_at is None:
            self._wake.set()  # the set-up may be waiting for the format

    def _interrupt(self) -> None:
        """The client's Interrupt: the streaming loop ends the drive; a drive that does not
        hold its task yet ends at once. The reader reads on (only the half-close may follow).

        Raises:
            InvalidDrive: INTERRUPT_REPEATED.
        """
        core = self.core
        core.receive_interrupt(self._clock())
        self.trace.event("interrupt", source="client")
        self._interrupt_wait()
        self._wake.set()

    async def _pump(self) -> None:
        """Send every frame due now. The core hands frames to one sender at a time (frames
        must leave in order); a call while another is sending returns at once."""
        session = self._session
        assert session is not None
        core = self.core
        while frames := core.frames_due(self._clock()):
            try:
                for frame in frames:
                    await session.send_audio(frame)
            finally:
                core.frames_written(self._clock())
                if core.interrupting:
                    self._wake.set()  # the streaming loop waits for these to silence the avatar
        # What the pacer holds back is the timer loop's: wake it to learn the new deadline
        # (it may be asleep until the next Progress). Not while another sender is busy: that
        # one wakes it when done.
        if core.buffered_bytes and not core.frames_in_flight:
            self._wake.set()

    async def _send_stop(self) -> None:
        """Send the Stop the core said is owed, even on a connection declared dead: a vendor
        that only stalled still hears it (a gone one fails at once)."""
        session = self._session
        assert session is not None
        stop = self.trace.step(STOP)
        try:
            await session.send_stop()
        except UpstreamError as exc:
            stop.end(exc)
            # Expected once the connection was lost (the drive reports that); else worth a look.
            lost = session.closed.done() and session.closed.result() is not None
            log.log(
                logging.DEBUG if lost else logging.WARNING,
                "drive Stop not sent",
                extra=self._log_fields(error=exc.message),
            )
        finally:
            stop.end()  # a success (or a cancellation: no failure of the Stop's)

    async def _clean_up(self, reader: asyncio.Task[None], owes_stop: bool) -> None:
        core = self.core
        with contextlib.suppress(BaseException):
            await reader  # its frames are written: the silence comes after the last one
        if core.silence_owed:  # a PREEMPT or a StopDrive INTERRUPT (live or playing out)
            await self._silence()
            now = self._clock()
            core.cut(now)  # the vendor could not be asked: the drive ends here anyway
            self._report_playback(now)
        if owes_stop:
            await self._send_stop()
        if self._session is not None:
            await self._session.close()
        core.released()
        if self._lease is not None:
            await self.services.registry.release(self._lease, self._played())
        log.debug("drive closed", extra=self._log_fields())

    def _played(self) -> Played:
        """What the avatar played of the drive, for the StopDrive that may wait for it."""
        finish = self.core.speech.finish_event
        if finish is None:
            return Played(0, self.core.interrupting)
        return Played(finish.played_ms, finish.interrupted)

    # Reporting.

    def _error_metadata(self) -> dict[str, str]:
        return error_metadata(self.spec, self._drive_id, self.core, self._clock())

    def _log_end(self, error: BaseException | None) -> DriveEnd:
        """The drive is over (clean-up done): one log line, one observer call."""
        return log_end(
            self.spec, self._drive_id, self.core, self.services.observer, error, self.tenant
        )
