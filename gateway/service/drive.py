"""The asyncio shell of one drive: owns the task lease, the vendor calls, the WebSocket and time.

Every piece of a drive's state lives in its :class:`~gateway.drive.core.DriveCore`: where it
is in its life, what ends it and when, what is due next. This module feeds the core, sleeps
until the core's next deadline (or an input) and performs what the core asks: it only moves
bytes and waits.

Tasks: the RPC handler runs :meth:`Drive.run`, which runs the drive in a child task (so a
preemption or a StopDrive can cancel it from outside) and a reader task that feeds the client's
audio into the core no faster than the core wants it. The child's ``finally`` is where every
obligation is met, whatever happened: Stop if Start was sent, the WebSocket closed, the task
released. It runs shielded, so a second cancellation cannot skip it.

Reporting (``drive_log.py``): one log line per lifecycle step, the same steps to the observer;
nothing per chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Protocol

from gateway.config import Credentials
from gateway.drive.audio import Converter, OutputFormat
from gateway.drive.core import DriveCore
from gateway.drive.machine import DriveState
from gateway.drive.outputs import Completion
from gateway.drive.progress import ProgressSnapshot
from gateway.drive.spec import ConflictPolicy, DriveSpec, MarkRequest
from gateway.drive.speech import PlaybackEvent
from gateway.errors import (
    GatewayError,
    InvalidDrive,
    Reason,
    UpstreamDisconnected,
    UpstreamError,
)
from gateway.registry.base import Lease, task_key
from gateway.service.drive_log import error_metadata, log_end, log_fields
from gateway.service.drive_services import DriveServices
from gateway.service.flag import Flag
from gateway.upstream import DriveSession

log = logging.getLogger("gateway.drive")


class DriveListener(Protocol):
    """Where a drive reports to its client (the servicer turns these into DriveEvents)."""

    async def queued(self, drive: Drive, *, rate_limited: bool, ahead: int) -> None: ...
    async def started(self, drive: Drive, output: OutputFormat, setup_ms: int) -> None: ...
    def progress(self, drive: Drive, snapshot: ProgressSnapshot) -> None:
        """Report progress without blocking the drive (a report may be dropped while the
        client has not taken the previous one)."""

    def playback(self, drive: Drive, event: PlaybackEvent) -> None:
        """Report what the avatar played without blocking the drive; never dropped, in
        order."""


class Drive:
    """One Drive RPC from config to Completed; implements the registry's ``Holder``.

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
        self.services = services
        self.spec = spec
        self.credentials = credentials
        self.key = task_key(credentials.app_id, spec.task_id)
        self._clock = services.clock
        self.core = DriveCore(
            Converter(spec.input, spec.output_rate_hz),
            pacing=services.pacing,
            limits=services.limits,
            now=self._clock(),
            vendor_grace_s=services.vendor_grace_s,
        )
        self._audio = audio
        self._listener = listener
        self.started_wall: float | None = None
        self._drive_id = ""
        self._session: DriveSession | None = None
        self._lease: Lease | None = None
        self._work: asyncio.Task[Completion] | None = None
        self._wake = Flag()  # an input arrived: audio, its end, a failure, frames written
        self._want = Flag(True)  # the core wants more audio

    # Holder protocol and outside requests.

    @property
    def drive_id(self) -> str:
        return self._drive_id

    @property
    def state(self) -> DriveState:
        return self.core.state

    def end(self, reason: GatewayError) -> None:
        """End this drive from outside (preempt, StopDrive, drain, a lease not kept): Stop is
        sent, the stream ends with ``reason``. Safe to call more than once; the first reason
        wins, and a drive already ending by itself ends as it would have."""
        if self.core.end(reason) and self._work is not None and not self._work.done():
            self._work.cancel()

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

    async def wait_finished(self, timeout_s: float) -> None:
        """Wait (at most ``timeout_s``) until the drive's clean-up is over: Stop sent, closed."""
        if self._work is not None:
            await asyncio.wait({self._work}, timeout=timeout_s)

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
            # A WAV stream's format is known from its header: validate it before the task is
            # held or the vendor called.
            output = await self._until_output_known()
            self._lease = await self._acquire()
            self.core.admitted()
            await self._set_up(output)
            return await self._stream()
        except asyncio.CancelledError:
            if self.core.ended is not None:
                raise self.core.ended from None
            raise
        finally:
            now = self._clock()
            owes_stop = self.core.finish(now)
            self.core.cut(now)  # a drive that did not play out ends its playback here
            self._report_playback(now)
            reader.cancel()
            await asyncio.shield(self._clean_up(reader, owes_stop))

    async def _acquire(self) -> Lease:
        services = self.services
        limits = services.limits
        timeout_s = (
            limits.preempt_wait_s + services.connection.ws_close_timeout_s
            if self.spec.on_conflict is ConflictPolicy.PREEMPT
            else self.spec.queue_timeout_s or limits.queue_timeout_s
        )

        async def on_queued(ahead: int) -> None:
            self.core.queued()
            services.observer.drive_queued()
            log.info("drive queued", extra=self._log_fields(cause="task_busy", ahead=ahead))
            await self._listener.queued(self, rate_limited=False, ahead=ahead)

        return await services.registry.acquire(
            self.key, self, policy=self.spec.on_conflict, timeout_s=timeout_s, on_queued=on_queued
        )

    async def _set_up(self, output: OutputFormat) -> None:
        services = self.services
        told = False

        async def on_rate_limited(wait_s: float) -> None:
            nonlocal told
            if not told:  # once: the client needs to know why, not each retry
                told = True
                log.info("drive queued", extra=self._log_fields(cause="rate_limited"))
                await self._listener.queued(self, rate_limited=True, ahead=0)

        grant = await services.upstream.drive_by_ws_stream(
            self.spec.task_id, self.credentials, on_wait=on_rate_limited
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
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline.at):
                    await self._wake.wait()
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
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(deadline.at):
                        await self._wake.wait()
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
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline.at):
                    await self._wake.wait()

    def _report_playback(self, now: float) -> None:
        for event in self.core.playback_due(now):
            self._listener.playback(self, event)

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

    def _log_fields(self, **extra: object) -> dict[str, object]:
        return log_fields(self.spec, self._drive_id, **extra)

    def _log_end(self, error: BaseException | None) -> None:
        """The drive is over (clean-up done): one log line, one observer call."""
        log_end(self.spec, self._drive_id, self.core, self.services.observer, error)
