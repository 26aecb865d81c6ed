"""The asyncio shell of a text drive: ``DriveByText`` under the task's exclusivity, and what the
avatar said of it.

Its state is a :class:`~gateway.drive.text.TextCore`; :class:`~.drive_shell.DriveShell` runs it
(the child task, the task's turn by the drive's policy, the end reported once). The steps: take
the task, call the vendor's DriveByText (through the request limiter; InterruptMode 1 for a
PREEMPT drive, which must not wait for the old drive's tail, 0 otherwise, so the avatar ends
whatever it still says first), report Started, then the playback events as the estimate or the
vendor's callbacks (``vendor_status``) say, and hold the task until PlaybackFinished. The
client's stream carries nothing but the config (and the half-close): an audio chunk or a mark
fails the drive (TEXT_DRIVE_AUDIO). Its ``Interrupt`` silences the avatar: InterruptDriveTask,
then PlaybackFinished (interrupted) and Completed; a PREEMPT, a StopDrive INTERRUPT and any end
while the avatar may still speak it do the same before the task is let go.

The vendor call, once sent, is never cut short: a cancelled drive waits for its answer in its
clean-up (bounded by the call's own deadlines), since the vendor may speak a text whose answer
nobody read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from gateway.config import Credentials
from gateway.drive.audio import OutputFormat
from gateway.drive.machine import DriveState
from gateway.drive.outputs import Completion
from gateway.drive.spec import ConflictPolicy, DriveSpec, InterruptRequest, MarkRequest
from gateway.drive.text import TextCore, resolve_timbre
from gateway.errors import GatewayError, InvalidDrive, Reason, UpstreamApiError
from gateway.observability.drive_trace import DRIVE_BY_TEXT, INTERRUPT_DRIVE_TASK, Step
from gateway.observability.observer import DriveEnd, Tenant
from gateway.registry.base import Played
from gateway.service.drive_log import error_metadata, report_end
from gateway.service.drive_services import DriveServices
from gateway.service.drive_shell import DriveListener, DriveShell
from gateway.service.status import outcome_of
from gateway.upstream import TextGrant

log = logging.getLogger("gateway.drive")

#: What Started says of a text drive's output: the vendor's TTS makes it, the gateway sends none.
NO_AUDIO = OutputFormat(sample_rate_hz=0, channels=0, voice_channel=0)


def _retrieve(call: asyncio.Future[TextGrant]) -> None:
    # A call whose drive was cancelled while it ran still ends; its failure is not news.
    if not call.cancelled():
        call.exception()


def _ends(step: Step) -> Callable[[asyncio.Future[TextGrant]], None]:
    """A done-callback ending ``step`` as the DriveByText call ended (it may outlive the
    drive's wait for it)."""

    def done(call: asyncio.Future[TextGrant]) -> None:
        if call.cancelled():
            step.end(asyncio.CancelledError())
            return
        error = call.exception()
        if error is None:
            grant = call.result()
            step.set(attempts=grant.attempts, request_id=grant.request_id)
        step.end(error)

    return done


class TextDrive(DriveShell[TextCore]):
    """One text Drive RPC from config to Completed; implements the registry's ``Holder``.

    Args:
        services, spec, credentials, listener, tenant: as for :class:`~.drive.Drive`;
            ``spec.text`` must be set.
        requests: the client's stream after the config; anything in it fails the drive.

    Raises:
        InvalidDrive: TIMBRE_REQUIRED: neither the config nor the profile names a timbre.
    """

    KIND = "text"

    def __init__(
        self,
        services: DriveServices,
        spec: DriveSpec,
        credentials: Credentials,
        requests: AsyncIterator[bytes | MarkRequest | InterruptRequest],
        listener: DriveListener,
        tenant: Tenant | None = None,
    ) -> None:
        request = spec.text
        assert request is not None  # the servicer sends only text configs here
        self.timbre_id = resolve_timbre(request, credentials.default_timbre_id)
        core = TextCore(
            request,
            limits=services.limits,
            now=services.clock(),
            vendor_grace_s=services.vendor_grace_s,
        )
        super().__init__(services, spec, credentials, listener, core, tenant)
        self._requests = requests
        self._call: asyncio.Future[TextGrant] | None = None

    def vendor_status(self, status: int) -> None:
        """The vendor's callback for this drive (EventType 4): 2 driving, 3 failed, 4 ended."""
        if self.core.vendor_status(status, self._clock()):
            self._wake.set()

    # The drive.

    async def _steps(self) -> Completion:
        try:
            self._lease = await self._acquire()
        except asyncio.CancelledError:
            if self._waited_in_vain():
                return self.core.completed()  # interrupted while it waited: nothing to say
            raise
        self.core.admitted()
        if self.core.interrupting:
            return self.core.completed()  # interrupted as its turn came: nothing to say
        await self._set_up()
        await self._speak()
        return self.core.completed()

    async def _set_up(self) -> None:
        services, core = self.services, self.core
        request = core.request
        self.core.asking()
        call = self.trace.step(DRIVE_BY_TEXT)
        self._call = asyncio.ensure_future(
            services.upstream.drive_by_text(
                self.spec.task_id,
                self.credentials,
                text=request.text,
                timbre_id=self.timbre_id,
                speech_rate=request.speech_rate,
                pitch_rate=request.pitch_rate,
                interrupt=self.spec.on_conflict is ConflictPolicy.PREEMPT,
                on_wait=self._rate_limit_reporter(call),
            )
        )
        self._call.add_done_callback(_retrieve)
        self._call.add_done_callback(_ends(call))
        try:
            grant = await asyncio.shield(self._call)
        except UpstreamApiError:
            core.refused()  # the vendor said no: it will not speak it
            raise
        self._drive_id = grant.drive_id
        self.trace.set(drive_id=grant.drive_id)
        if self._lease is not None:
            await services.registry.update(self._lease)
        core.started(self._clock())
        self.started_wall = time.time()
        assert core.setup_ms is not None
        services.observer.drive_started(core.setup_ms / 1000)
        log.info("drive started", extra=self._log_fields(setup_ms=core.setup_ms))
        await self._listener.started(self, NO_AUDIO, core.setup_ms)

    async def _speak(self) -> None:
        """Report what the avatar says, until it finished (or the drive must end)."""
        core = self.core
        while True:
            if core.silence_owed:
                await self._silence()
            now = self._clock()
            if (error := core.end_due(now)) is not None:
                raise error
            self._report_playback(now)
            if core.played_out:
                return
            deadline = core.next_deadline(now)
            assert deadline is not None  # a speaking drive has its longest time at least
            await self._sleep_until(deadline.at)

    async def _silence(self) -> None:
        """Ask the vendor to interrupt the task (bounded); the avatar is silent from its
        answer, or, when it cannot be asked, from now on by the gateway's account."""
        try:
            with self.trace.step(INTERRUPT_DRIVE_TASK) as call:
                async with asyncio.timeout(self._call_bound_s()):
                    await self.services.upstream.interrupt_drive_task(
                        self.spec.task_id,
                        self.credentials,
                        on_wait=self._rate_limit_reporter(call, tell=False),
                    )
        except (GatewayError, TimeoutError) as exc:
            log.warning(
                "could not interrupt the avatar: %s", type(exc).__name__, extra=self._log_fields()
            )
        self.core.silenced(self._clock())

    async def _read(self) -> None:
        """Take the client's Interrupt; fail the drive on anything else it sends after the
        config (but the half-close)."""
        try:
            async for item in self._requests:
                if isinstance(item, InterruptRequest):
                    self.core.receive_interrupt(self._clock())
                    self.trace.event("interrupt", source="client")
                    self._interrupt_wait()
                    self._wake.set()
                    continue
                what = "a mark" if isinstance(item, MarkRequest) else "an audio chunk"
                raise InvalidDrive(
                    Reason.TEXT_DRIVE_AUDIO,
                    f"{what} on a text drive: its stream carries only the config",
                )
        except GatewayError as exc:
            self.core.fail(exc)
            if self.core.state in (DriveState.IDLE, DriveState.QUEUED):
                self.end(exc)  # a drive waiting for its task would wait for the holder
            self._wake.set()

    async def _clean_up(self, reader: asyncio.Task[None], owed: bool) -> None:
        with contextlib.suppress(BaseException):
            await reader
        call = self._call
        if call is not None and not call.done():
            await asyncio.wait({call}, timeout=self._call_bound_s())
            call.cancel()  # beyond its own deadlines: give up on it
        if owed:
            await self._silence()  # nobody else owns what the avatar still says of it
        self.core.released()
        if self._lease is not None:
            await self.services.registry.release(self._lease, self._played())
        log.debug("drive closed", extra=self._log_fields())

    def _call_bound_s(self) -> float:
        """The longest a vendor call can take: two requests and the longer retry budget."""
        upstream = self.services.connection
        budget_s = max(upstream.retry_budget_s, upstream.rate_limit_budget_s)
        return 2 * upstream.request_timeout_s + budget_s

    def _played(self) -> Played:
        """What the avatar said of the drive, for the StopDrive that may wait for it."""
        finish = self.core.speech.finish_event
        if finish is None:
            return Played(0, self.core.interrupting)
        return Played(finish.played_ms, finish.interrupted)

    # Reporting.

    def _error_metadata(self) -> dict[str, str]:
        return error_metadata(self.spec, self._drive_id, self.core, self._clock())

    def _log_end(self, error: BaseException | None) -> DriveEnd:
        core = self.core
        status, reason = outcome_of(error)
        finish = core.speech.finish_event
        end = DriveEnd(
            status=status,
            reason=reason,
            received_s=0.0,
            sent_s=0.0,
            frames_sent=0,
            underruns=0,
            stop_lag_s=None,
            playback=core.speech.timings(core.playback),
            tenant=self.tenant,
            billed_s=core.billed_ms / 1000,
            played_s=0.0 if finish is None else finish.played_ms / 1000,
        )
        return report_end(self.spec, self._drive_id, core, end, self.services.observer, error)
