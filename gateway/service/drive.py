"""The asyncio shell of one drive: owns the task lease, the vendor calls, the WebSocket and time.

Every piece of a drive's state lives in its :class:`~gateway.drive.core.DriveCore`: where it
is in its life, what ends it and when, what is due next. This module feeds the core, sleeps
until the core's next deadline (or an input) and performs what the core asks: it only moves
bytes and waits.

Tasks: the RPC handler runs :meth:`Drive.run` (``drive_shell.py``), which runs the drive in a
child task (so a preemption or a StopDrive can cancel it from outside) and a reader task that
feeds the client's audio into the core no faster than the core wants it. The child's
``finally`` is where every obligation is met, whatever happened: Stop if Start was sent, the
WebSocket closed, the task released. It runs shielded, so a second cancellation cannot skip it.

Reporting (``drive_log.py``): one log line per lifecycle step, the same steps to the observer;
nothing per chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from gateway.config import Credentials
from gateway.drive.audio import Converter, OutputFormat
from gateway.drive.core import DriveCore
from gateway.drive.machine import DriveState
from gateway.drive.outputs import Completion
from gateway.drive.spec import DriveSpec, MarkRequest
from gateway.errors import (
    GatewayError,
    InvalidDrive,
    Reason,
    UpstreamDisconnected,
    UpstreamError,
)
from gateway.service.drive_log import error_metadata, log_end
from gateway.service.drive_services import DriveServices
from gateway.service.drive_shell import DriveListener, DriveShell
from gateway.service.flag import Flag
from gateway.upstream import DriveSession

log = logging.getLogger("gateway.drive")


class Drive(DriveShell[DriveCore]):
    """One audio Drive RPC from config to Completed; implements the registry's ``Holder``.

    Args:
        services: what every drive shares (registry, vendor client, observer, settings, clock).
        spec: the validated config.
        credentials: the vendor account to drive with.
        audio: the client's audio chunks and marks; ends at half-close; may raise
            GatewayError.
        listener: receives Queued / Started / Progress and the playback events.
    """

    def __init__(
        self,
        services: DriveServices,
        spec: DriveSpec,
        credentials: Credentials,
        audio: AsyncIterator[bytes | MarkRequest],
        listener: DriveListener,
    ) -> None:
        core = DriveCore(
            Converter(spec.input, spec.output_rate_hz),
            pacing=services.pacing,
            limits=services.limits,
            now=services.clock(),
            vendor_grace_s=services.vendor_grace_s,
        )
        super().__init__(services, spec, credentials, listener, core)
        self._audio = audio
        self._session: DriveSession | None = None
        self._want = Flag(True)  # the core wants more audio

    # Outside requests (the rest: ``DriveShell``).

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
        # A WAV stream's format is known from its header: validate it before the task is held
        # or the vendor called.
        output = await self._until_output_known()
        self._lease = await self._acquire()
        self.core.admitted()
        await self._set_up(output)
        return await self._stream()

    async def _set_up(self, output: OutputFormat) -> None:
        services = self.services
        grant = await services.upstream.drive_by_ws_stream(
            self.spec.task_id, self.credentials, on_wait=self._rate_limit_reporter()
        )
        self._drive_id = grant.drive_id
        if self._lease is not None:
            await services.registry.update(self._lease)
        try:
            self._session = await DriveSession.open(
                grant,
                sample_rate=output.sample_rate_hz,
                channels=output.channels,
                voice_channel=output.voice_channel if output.channels == 2 else None,
                config=services.connection,
            )
        except UpstreamError:
            services.observer.ws_connect(ok=False)
            raise
        services.observer.ws_connect(ok=True)
        core = self.core
        core.started(self._clock())
        self.started_wall = time.time()
        assert core.setup_ms is not None
        services.observer.drive_started(core.setup_ms / 1000)
        log.info("drive started", extra=self._log_fields(setup_ms=core.setup_ms))
        await self._listener.started(self, output, core.setup_ms)

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
                if (error := core.end_due(now)) is not None:
                    raise error
                await self._pump()
                if (snapshot := core.progress_due(now)) is not None:
                    self._listener.progress(self, snapshot)
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
        if core.finish(self._clock()):
            await self._send_stop()
        if core.end_error is not None:
            raise core.end_error
        core.play_out()
        await session.close()  # the connection's work is done; the task stays held
        await self._play_out()
        return core.completed()

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
        something back, so a chunk costs no task switch and no timer.
        """
        core = self.core
        try:
            async for chunk in self._audio:
                if isinstance(chunk, MarkRequest):
                    core.receive_mark(chunk.name, self._clock())
                    continue
                core.receive_audio(chunk, self._clock())
                if core.started_at is None:
                    self._wake.set()  # the set-up may be waiting for the format
                else:
                    await self._pump()  # what the pacer holds back, the timer loop releases
                if not core.wants_audio():
                    self._want.clear()
                    await self._want.wait()
            core.receive_end(self._clock())
        except GatewayError as exc:
            core.fail(exc)
            if core.state is DriveState.QUEUED:
                # A queued drive awaits the task, not its inputs: end it now, or a bad frame
                # would wait for the holder (a drive being set up goes on to Start and Stop).
                self.end(exc)
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
        try:
            await session.send_stop()
        except UpstreamError as exc:
            # Expected once the connection was lost (the drive reports that); else worth a look.
            lost = session.closed.done() and session.closed.result() is not None
            log.log(
                logging.DEBUG if lost else logging.WARNING,
                "drive Stop not sent",
                extra=self._log_fields(error=exc.message),
            )

    async def _clean_up(self, reader: asyncio.Task[None], owes_stop: bool) -> None:
        with contextlib.suppress(BaseException):
            await reader
        if owes_stop:
            await self._send_stop()
        if self._session is not None:
            await self._session.close()
        self.core.released()
        if self._lease is not None:
            await self.services.registry.release(self._lease)
        log.debug("drive closed", extra=self._log_fields())

    # Reporting.

    def _error_metadata(self) -> dict[str, str]:
        return error_metadata(self.spec, self._drive_id, self.core, self._clock())

    def _log_end(self, error: BaseException | None) -> None:
        """The drive is over (clean-up done): one log line, one observer call."""
        log_end(self.spec, self._drive_id, self.core, self.services.observer, error)
