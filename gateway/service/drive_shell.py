"""What the asyncio shell of every kind of drive shares: its work task, its turn at the task, its
end.

A drive (the audio drive of ``drive.py``, the text drive of ``text_drive.py``) runs its steps
in a child task, so that a preemption or a StopDrive can cancel it from outside; waits for its
task as its policy says; and reports its end once, whatever happened. The steps themselves, and
the clean-up each kind owes the vendor, are the subclass's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from gateway.config import Credentials
from gateway.drive.audio import OutputFormat
from gateway.drive.machine import DriveState
from gateway.drive.outputs import Completion
from gateway.drive.progress import ProgressSnapshot
from gateway.drive.spec import ConflictPolicy, DriveSpec
from gateway.drive.speech import Heard, PlaybackEvent, SpeechTracker
from gateway.errors import GatewayError, Reason
from gateway.observability.drive_trace import (
    NULL_TRACE,
    QUEUED,
    RATE_LIMIT_WAIT,
    DriveTrace,
    Step,
    bind_log_ids,
)
from gateway.observability.observer import DriveEnd, Tenant
from gateway.registry.base import Lease, task_key
from gateway.service.drive_log import log_fields
from gateway.service.drive_services import DriveServices
from gateway.service.flag import Flag
from gateway.upstream.limiter import WaitCallback

log = logging.getLogger("gateway.drive")


class DriveListener(Protocol):
    """Where a drive reports to its client (the servicer turns these into DriveEvents)."""

    async def queued(self, drive: DriveShell[Any], *, rate_limited: bool, ahead: int) -> None: ...
    async def started(self, drive: DriveShell[Any], output: OutputFormat, setup_ms: int) -> None:
        """Report the Start (a text drive: the vendor's answer; its ``output`` is all 0)."""

    def progress(self, drive: DriveShell[Any], snapshot: ProgressSnapshot) -> None:
        """Report progress without blocking the drive (a report may be dropped while the
        client has not taken the previous one)."""

    def playback(self, drive: DriveShell[Any], event: PlaybackEvent) -> None:
        """Report what the avatar played without blocking the drive; never dropped, in
        order."""


class ShellCore(Protocol):
    """What the shared shell asks of a drive's sans-I/O core."""

    @property
    def state(self) -> DriveState: ...

    @property
    def ended(self) -> GatewayError | None:
        """Why the gateway ended the drive from outside (None: it did not)."""

    @property
    def speech(self) -> SpeechTracker:
        """What the avatar played of the drive: its playback events' account."""

    @property
    def interrupting(self) -> bool:
        """Whether the drive is interrupted (the client's Interrupt, a PREEMPT, a StopDrive
        INTERRUPT)."""

    @property
    def sent_ms(self) -> float:
        """How much of the drive's audio went to the vendor (a text drive: its estimate)."""

    @property
    def billed_ms(self) -> float:
        """How much audio the avatar was driven with so far (a text drive: its rendered
        length once the vendor accepted it)."""

    def queued(self) -> None:
        """The task is busy: the drive waits its turn."""

    def end(self, reason: GatewayError) -> bool:
        """End the drive from outside; True when the shell must interrupt its work."""

    def finish(self, now: float) -> bool:
        """The drive is over; True once when the vendor is owed something (the clean-up's)."""

    def cut(self, now: float) -> None:
        """The drive ends short of its playback's end (nothing happens once it played out)."""

    def playback_due(self, now: float) -> list[PlaybackEvent]:
        """What the avatar did by ``now`` that was not reported yet."""


CoreT = TypeVar("CoreT", bound=ShellCore)


class DriveShell(Generic[CoreT]):
    """One Drive RPC's shell; implements the registry's ``Holder``. Subclasses implement
    :meth:`_steps`, :meth:`_read`, :meth:`_clean_up`, :meth:`vendor_status`,
    :meth:`_error_metadata` and :meth:`_log_end`, and name their :attr:`KIND`.

    Tracing: :attr:`trace` is the drive's span from :meth:`run` on (``services.tracer``; a
    no-op when tracing is off); the shell reports its steps there, and the drive's tasks log
    its trace id.

    Args:
        services: what every drive shares (registry, vendor client, observer, settings, clock).
        spec: the validated config.
        credentials: the vendor account to drive with.
        listener: receives Queued / Started / Progress and the playback events.
        core: the drive's state.
        tenant: whom the drive's usage is counted for (the API key's name, the resolved
            profile); anonymous when None.
    """

    #: What kind of drive this is, for its trace (``audio``, ``text``).
    KIND: ClassVar[str] = ""

    def __init__(
        self,
        services: DriveServices,
        spec: DriveSpec,
        credentials: Credentials,
        listener: DriveListener,
        core: CoreT,
        tenant: Tenant | None = None,
    ) -> None:
        self.services = services
        self.spec = spec
        self.tenant = tenant or Tenant()
        self.credentials = credentials
        self.key = task_key(credentials.app_id, spec.task_id)
        self._clock = services.clock
        self.core = core
        self._listener = listener
        self.started_wall: float | None = None
        self._drive_id = ""
        self._lease: Lease | None = None
        self._work: asyncio.Task[Completion] | None = None
        self._wake = Flag()  # an input arrived (audio, a callback, a failure...): look again
        self.trace: DriveTrace = NULL_TRACE

    # Holder protocol and outside requests.

    @property
    def drive_id(self) -> str:
        return self._drive_id

    @property
    def state(self) -> DriveState:
        return self.core.state

    def end(self, reason: GatewayError) -> None:
        """End this drive from outside (preempt, StopDrive, drain, a lease not kept): the
        vendor gets what it is owed, the stream ends with ``reason``. Safe to call more than
        once; the first reason wins, and a drive already ending by itself ends as it would
        have."""
        if self.core.end(reason):
            preempted = reason.reason is Reason.PREEMPTED
            self.trace.event("preempted" if preempted else "ended", reason=reason.reason.value)
            self._take_end()

    def _take_end(self) -> None:
        """The core took an end from outside: interrupt what the drive awaits (a subclass may
        let its work end it instead)."""
        if self._work is not None and not self._work.done():
            self._work.cancel()

    def _interrupt_wait(self) -> None:
        """The client's Interrupt came (the core has it): a drive that does not hold its task
        yet stops waiting at once, since it waits for its format or its turn, not its inputs;
        its :meth:`_steps` returns :meth:`_waited_in_vain`'s completion."""
        if self.core.state in (DriveState.IDLE, DriveState.QUEUED) and self._work is not None:
            self._work.cancel()

    def _waited_in_vain(self) -> bool:
        """Whether a cancelled wait was the client's Interrupt (the drive completes, owing
        nothing), not an end from outside or the client gone (the cancellation goes on)."""
        return self.core.ended is None and self.core.interrupting

    async def wait_finished(self, timeout_s: float) -> None:
        """Wait (at most ``timeout_s``) until the drive's clean-up is over."""
        if self._work is not None:
            await asyncio.wait({self._work}, timeout=timeout_s)

    # The drive.

    async def run(self) -> Completion:
        """Run the drive to its end; returns the final accounting.

        Raises:
            GatewayError: why the drive failed (the servicer maps it to a status).
        """
        self.trace = self.services.tracer.drive(
            self.spec, kind=self.KIND, tenant=self.tenant, clock=self._clock
        )
        # Bound before the work task is made: it and the tasks it makes log the trace's ids.
        with bind_log_ids(self.trace):
            self._work = asyncio.create_task(self._drive(), name=f"drive {self.spec.task_id}")
            try:
                return await asyncio.shield(self._work)
            except asyncio.CancelledError:
                # The client cancelled or vanished: end the drive now (its finally cleans up).
                self._work.cancel()
                with contextlib.suppress(BaseException):
                    await self._work
                raise
            except GatewayError as exc:
                raise exc.with_metadata(self._error_metadata()) from exc.__cause__
            finally:
                self.trace.finish(None)  # a work task cancelled before it ran reported nothing

    async def _drive(self) -> Completion:
        try:
            completion = await self._drive_steps()
        except GatewayError as exc:
            # Whether the vendor's error means the task ended is known only once it is over.
            explained = await self.services.explain_end(
                self.key, self.spec.task_id, self.credentials, exc
            )
            self._report_end(explained)
            if explained is exc:
                raise
            raise explained from exc
        except BaseException as exc:
            self._report_end(exc)
            raise
        self._report_end(None)
        return completion

    async def _drive_steps(self) -> Completion:
        reader = asyncio.create_task(self._read(), name=f"reader {self.spec.task_id}")
        try:
            return await self._steps()
        except asyncio.CancelledError:
            if self.core.ended is not None:
                raise self.core.ended from None
            raise
        finally:
            # Whatever ended the drive, the vendor gets what it is owed (shielded: a second
            # cancellation cannot skip it).
            now = self._clock()
            owed = self.core.finish(now)
            self.core.cut(now)  # a drive that did not play out ends its playback here
            self._report_playback(now)
            reader.cancel()
            await asyncio.shield(self._clean_up(reader, owed))

    def _report_playback(self, now: float) -> None:
        for event in self.core.playback_due(now):
            self._listener.playback(self, event)
            if event.kind is not Heard.MARK:
                self.trace.playback(event)

    async def _sleep_until(self, at: float) -> None:
        """Sleep until ``at`` (the clock's time) or the next :attr:`_wake`, whichever first."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(at):
                await self._wake.wait()

    def _report_end(self, error: BaseException | None) -> None:
        end = None
        try:
            end = self._log_end(error)
        except Exception:  # reporting must never change how a drive ends
            log.exception("reporting the end of a drive failed")
        self.trace.finish(end)

    async def _acquire(self) -> Lease:
        """Take the task, waiting as the drive's policy says (Queued reported once)."""
        services = self.services
        limits = services.limits
        timeout_s = (
            limits.preempt_wait_s + services.connection.ws_close_timeout_s
            if self.spec.on_conflict is ConflictPolicy.PREEMPT
            else self.spec.queue_timeout_s or limits.queue_timeout_s
        )

        with self.trace.step(QUEUED) as waiting:

            async def on_queued(ahead: int) -> None:
                self.core.queued()
                services.observer.drive_queued()
                waiting.set(ahead=ahead)
                log.info("drive queued", extra=self._log_fields(cause="task_busy", ahead=ahead))
                await self._listener.queued(self, rate_limited=False, ahead=ahead)

            return await services.registry.acquire(
                self.key,
                self,
                policy=self.spec.on_conflict,
                timeout_s=timeout_s,
                on_queued=on_queued,
            )

    def _rate_limit_reporter(self, call: Step, *, tell: bool = True) -> WaitCallback:
        """An ``on_wait`` for the vendor ``call``: each wait a ``rate_limit_wait`` span of it
        (as long as the limiter expected), and Queued (RATE_LIMITED) the first time unless not
        ``tell``."""
        told = not tell

        async def on_rate_limited(wait_s: float) -> None:
            nonlocal told
            now = self._clock()
            call.interval(RATE_LIMIT_WAIT, now, now + wait_s)
            if not told:  # once: the client needs to know why, not each retry
                told = True
                log.info("drive queued", extra=self._log_fields(cause="rate_limited"))
                await self._listener.queued(self, rate_limited=True, ahead=0)

        return on_rate_limited

    # What each kind of drive does.

    def vendor_status(self, status: int) -> None:
        """The vendor's callback for this drive (EventType 4 ``Detail.Status``)."""
        raise NotImplementedError

    async def _steps(self) -> Completion:
        """The drive from its config to its completion (its reader runs meanwhile)."""
        raise NotImplementedError

    async def _read(self) -> None:
        """Read the client's stream after the config, until it ends or the drive does."""
        raise NotImplementedError

    async def _clean_up(self, reader: asyncio.Task[None], owed: bool) -> None:
        """Meet the drive's obligations once it is over (``owed``: :meth:`ShellCore.finish`'s
        answer), close what it opened, release the task."""
        raise NotImplementedError

    def _error_metadata(self) -> dict[str, str]:
        """What a failed drive's ErrorInfo carries."""
        raise NotImplementedError

    def _log_end(self, error: BaseException | None) -> DriveEnd:
        """The drive is over (clean-up done): one log line, one observer call; returns the
        end they reported."""
        raise NotImplementedError

    def _log_fields(self, **extra: object) -> dict[str, object]:
        return log_fields(self.spec, self._drive_id, **extra)
