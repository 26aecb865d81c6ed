"""The gRPC servicer: protobuf in, drives run, protobuf out; every failure through ONE table.

The servicer knows no protocol logic. It reads the first message, turns it into a
:class:`~gateway.drive.spec.DriveSpec`, hands the rest of the stream to a
:class:`~gateway.service.drive.Drive`, and writes what the drive reports. Errors end the stream
through :func:`~gateway.service.status.to_grpc_status` and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc
from google.protobuf import timestamp_pb2

from gateway.config import Credentials
from gateway.drive.audio import OutputFormat
from gateway.drive.progress import ProgressSnapshot
from gateway.drive.spec import InterruptRequest, MarkRequest
from gateway.drive.speech import Heard, PlaybackEvent, Source
from gateway.errors import DriveEnded, GatewayError, InvalidDrive, Reason
from gateway.observability.observer import Tenant
from gateway.registry.base import task_key
from gateway.service.app import GatewayApp
from gateway.service.auth import Authenticator, KeySlots, Principal
from gateway.service.convert import capabilities, spec_from_config
from gateway.service.drive import Drive
from gateway.service.drive_list import PageAsk, page_of
from gateway.service.drive_shell import DriveShell
from gateway.service.status import STATUS_OF, internal_error, to_grpc_status
from gateway.service.task_pb import task_info
from gateway.service.tasks import TaskService
from gateway.service.text_drive import TextDrive

log = logging.getLogger("gateway.service")

Context = grpc.aio.ServicerContext[pb.DriveRequest, pb.DriveEvent]


def _now() -> timestamp_pb2.Timestamp:
    # Not Timestamp.GetCurrentTime(): protobuf builds it through datetime and calendar.timegm,
    # a visible share of the event loop at two Progress reports a second per drive.
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


_SOURCE = {
    Source.ESTIMATED: pb.PLAYBACK_SOURCE_ESTIMATED,
    Source.VENDOR: pb.PLAYBACK_SOURCE_VENDOR,
}

_EOF = grpc.aio.EOF  # type: ignore[attr-defined]  # the stubs lack it
"""What ``context.read()`` returns once the client half-closed."""


class _DriveRequests:
    """The client's half of a Drive stream, read with ``context.read()``.

    Reading the context directly skips the two async-generator layers of the request iterator
    (grpc's and a filter of ours): measurable on the per-chunk path.
    """

    def __init__(self, context: Context) -> None:
        self._read = context.read

    async def first_config(self) -> pb.DriveConfig:
        """The DriveConfig that must open the stream.

        Raises:
            InvalidDrive: CONFIG_REQUIRED; MALFORMED_REQUEST from the read (a frame that does
                not decode: see :mod:`gateway.service.decoding`).
        """
        first = await self._read()
        if first is _EOF:
            raise InvalidDrive(Reason.CONFIG_REQUIRED, "the stream ended before a DriveConfig")
        assert isinstance(first, pb.DriveRequest)
        if first.WhichOneof("request") != "config":
            raise InvalidDrive(Reason.CONFIG_REQUIRED, "the first message must be a DriveConfig")
        return first.config

    def __aiter__(self) -> _DriveRequests:
        return self

    async def __anext__(self) -> bytes | MarkRequest | InterruptRequest:
        """The next non-empty audio chunk, mark or Interrupt; the end of the stream ends the
        iteration.

        Raises:
            InvalidDrive: CONFIG_REPEATED; MALFORMED_REQUEST from the read, which the drive's
                reader turns into the drive's failure (with its Stop).
        """
        while True:
            request = await self._read()
            if request is _EOF:
                raise StopAsyncIteration
            assert isinstance(request, pb.DriveRequest)
            kind = request.WhichOneof("request")
            if kind == "audio":
                if request.audio:
                    return request.audio
            elif kind == "mark":
                return MarkRequest(request.mark.name)
            elif kind == "interrupt":
                return InterruptRequest()
            elif kind == "config":
                raise InvalidDrive(
                    Reason.CONFIG_REPEATED, "a DriveConfig may only come first, once"
                )


async def _abort(context: grpc.aio.ServicerContext[Any, Any], status: grpc.Status) -> None:
    """End the RPC with ``status`` (its details travel in the trailing metadata)."""
    await context.abort(status.code, status.details, status.trailing_metadata)


def _retrieve(write: asyncio.Future[None]) -> None:
    # A write that fails once its drive was cancelled (the client went away mid-write) is the
    # RPC's end, which the RPC reports; fetched here, asyncio does not log it as "never
    # retrieved" (a killed client left one such error per live drive in the log).
    if not write.cancelled():
        write.exception()


class _StreamListener:
    """Writes a drive's reports to its gRPC stream.

    The drive reports from its own task, which a preemption may cancel mid-write; a write cut
    short would leave an operation pending in gRPC's core and make the final status fail. So
    each write runs in a task of its own (Queued and Started awaited through a shield,
    Progress not awaited at all), and :meth:`settle` waits for the last one before the
    handler writes the final event or the status.
    """

    def __init__(
        self, context: Context, tasks: TaskService, on_change: Callable[[], None] = lambda: None
    ) -> None:
        self._context = context
        self._tasks = tasks  # learns each drive's start and playback (the task's life)
        self._on_change = on_change  # ListDrives' board learns each queueing and start
        self._last: asyncio.Future[None] | None = None

    def _start_write(self, drive: DriveShell[Any], **event: Any) -> asyncio.Future[None]:
        message = pb.DriveEvent(drive_id=drive.drive_id, time=_now(), **event)
        previous = self._last
        if previous is None or previous.done():
            writing = self._context.write(message)
        else:
            writing = self._write_after(previous, message)  # one write at a time, in order
        self._last = last = asyncio.ensure_future(writing)
        last.add_done_callback(_retrieve)
        return last

    async def _write_after(self, previous: asyncio.Future[None], message: pb.DriveEvent) -> None:
        await asyncio.wait({previous})
        await self._context.write(message)

    async def _write(self, drive: DriveShell[Any], **event: Any) -> None:
        await asyncio.shield(self._start_write(drive, **event))

    async def settle(self) -> None:
        """Wait for the last write to finish (its failure is the RPC's end, not ours)."""
        if self._last is not None:
            await asyncio.wait({self._last})

    async def queued(self, drive: DriveShell[Any], *, rate_limited: bool, ahead: int) -> None:
        reason = pb.Queued.REASON_RATE_LIMITED if rate_limited else pb.Queued.REASON_TASK_BUSY
        if not rate_limited:
            self._tasks.drive_queued(drive)  # it waits for the task, not for the vendor's rate
        self._on_change()
        await self._write(drive, queued=pb.Queued(reason=reason, ahead=ahead))

    async def started(self, drive: DriveShell[Any], output: OutputFormat, setup_ms: int) -> None:
        started = pb.Started(
            output_sample_rate_hz=output.sample_rate_hz,
            setup_ms=setup_ms,
            output_channels=output.channels,
        )
        self._tasks.drive_started(drive)
        self._on_change()
        await self._write(drive, started=started)

    def progress(self, drive: DriveShell[Any], snapshot: ProgressSnapshot) -> None:
        # Not awaited: a client that stops reading its events (HTTP/2 flow control holds the
        # write) must not stall the drive's loop, which also times pacing, the idle timeout
        # and the drive's length. Such a client gets no backlog either: a report due while
        # the last one is still on its way is dropped (the next one is newer anyway).
        if self._last is not None and not self._last.done():
            return
        progress = pb.Progress(
            received_ms=snapshot.received_ms,
            sent_ms=snapshot.sent_ms,
            lead_ms=snapshot.lead_ms,
            underruns=snapshot.underruns,
            played_ms=snapshot.played_ms,
        )
        self._start_write(drive, progress=progress)

    def playback(self, drive: DriveShell[Any], event: PlaybackEvent) -> None:
        # Not awaited either, but never dropped: written in order after what is pending.
        self._tasks.playback(drive, event)
        source = _SOURCE[event.source]
        if event.kind is Heard.STARTED:
            self._start_write(drive, playback_started=pb.PlaybackStarted(source=source))
        elif event.kind is Heard.MARK:
            mark = pb.MarkPlayed(name=event.name, at_ms=event.at_ms, source=source)
            self._start_write(drive, mark_played=mark)
        else:
            finished = pb.PlaybackFinished(
                played_ms=event.played_ms, interrupted=event.interrupted, source=source
            )
            self._start_write(drive, playback_finished=finished)


#: Whether each StopDrive mode silences the avatar now (UNSPECIFIED is FINISH).
_STOP_INTERRUPTS: dict[int, bool] = {
    pb.STOP_MODE_UNSPECIFIED: False,
    pb.STOP_MODE_FINISH: False,
    pb.STOP_MODE_INTERRUPT: True,
}


class DriveGatewayServicer(pb_grpc.DriveGatewayServicer):
    """``dhgateway.v1.DriveGateway`` on a :class:`GatewayApp`.

    Access: each call's API key (see :mod:`gateway.service.auth`) must allow the credentials
    profile and the task id of what it drives, stops or lists; each key's live drives are
    counted against its ``max_drives``.
    """

    def __init__(self, app: GatewayApp, authenticator: Authenticator | None = None) -> None:
        self.app = app
        config = app.config
        self.auth = authenticator or Authenticator(config.auth, config.limits)
        self.slots = KeySlots()

    def _profile(self, profile: str) -> str:
        return profile or self.app.config.default_profile

    def _credentials(self, profile: str, field: str) -> Credentials:
        """The credentials of ``profile``; its UNKNOWN_PROFILE names the request's ``field``."""
        try:
            return self.app.credentials(profile)
        except InvalidDrive as exc:
            exc.field = field
            raise

    async def _caller(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        """The caller of a unary call; ends the call UNAUTHENTICATED when there is none."""
        try:
            return self.auth.identify(context.invocation_metadata())
        except GatewayError as exc:
            await _abort(context, to_grpc_status(exc))
            raise AssertionError("unreachable") from exc  # abort always raises

    async def _first_config(self, requests: _DriveRequests) -> pb.DriveConfig:
        """The stream's DriveConfig, which must come within ``limits.config_timeout_s``.

        Raises:
            DriveEnded: CONFIG_TIMEOUT.
            InvalidDrive: CONFIG_REQUIRED, MALFORMED_REQUEST.
        """
        timeout_s = self.app.config.limits.config_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                return await requests.first_config()
        except TimeoutError:
            raise DriveEnded(
                Reason.CONFIG_TIMEOUT,
                f"no DriveConfig within {timeout_s:g} s of the stream's start",
            ) from None

    async def Drive(  # type: ignore[override]  # an aio handler that writes via the context
        self, request_iterator: AsyncIterator[pb.DriveRequest], context: Context
    ) -> None:
        listener = _StreamListener(context, self.app.tasks, self.app.drive_list.changed)
        drive: DriveShell[Any] | None = None
        tenant = Tenant()  # whose usage: the key's name, the profile once it is known to exist
        try:
            principal = self.auth.identify(context.invocation_metadata())
            tenant = Tenant(principal.name)
            requests = _DriveRequests(context)
            config = await self._first_config(requests)
            spec = spec_from_config(config, self.app.config.limits)
            principal.check(self._profile(spec.profile), spec.task_id)
            credentials = self._credentials(spec.profile, "config.profile")
            tenant = Tenant(principal.name, self._profile(spec.profile))
            self.app.tasks.check_drivable(task_key(credentials.app_id, spec.task_id), spec.task_id)
            self.app.admit()
            with self.slots.hold(principal):
                services = self.app.drive_services
                if spec.text is not None:
                    drive = TextDrive(services, spec, credentials, requests, listener, tenant)
                else:
                    drive = Drive(services, spec, credentials, requests, listener, tenant)
                try:
                    completion = await self.app.run(drive)
                finally:
                    self.app.tasks.drive_ended(drive)
            await listener.settle()
        except GatewayError as exc:
            if drive is None:  # a drive that began logs and counts its own end
                self.app.observer.drive_refused(exc.reason.value, tenant)
                log.info(
                    "drive refused: %s",
                    exc.message,
                    extra={"reason": exc.reason.value, "status": STATUS_OF[exc.reason].name},
                )
            await listener.settle()
            await _abort(context, to_grpc_status(exc))
            return
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception:
            log.exception("unexpected error in Drive")
            await _abort(context, internal_error("unexpected error in the gateway"))
            return
        completed = pb.Completed(
            received_ms=completion.received_ms,
            sent_ms=completion.sent_ms,
            bytes_sent=completion.bytes_sent,
            frames_sent=completion.frames_sent,
            underruns=completion.underruns,
            stop_lag_ms=completion.stop_lag_ms,
            time_to_first_frame_ms=completion.time_to_first_frame_ms,
            time_to_speaking_ms=completion.time_to_speaking_ms,
            dropped_ms=completion.dropped_ms,
            played_ms=completion.played_ms,
            interrupted=completion.interrupted,
            billed_ms=completion.billed_ms,
        )
        await context.write(
            pb.DriveEvent(drive_id=drive.drive_id, time=_now(), completed=completed)
        )

    async def StopDrive(
        self, request: pb.StopDriveRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.StopDriveResponse:
        try:
            principal = self.auth.identify(context.invocation_metadata())
            if not request.task_id:
                raise InvalidDrive(
                    Reason.TASK_ID_REQUIRED, "StopDriveRequest.task_id is required", field="task_id"
                )
            principal.check(self._profile(request.profile), request.task_id)
            credentials = self._credentials(request.profile, "profile")
            interrupt = _STOP_INTERRUPTS.get(request.mode)
            if interrupt is None:
                raise InvalidDrive(
                    Reason.UNKNOWN_STOP_MODE,
                    f"StopDriveRequest.mode {request.mode} is not known",
                    field="mode",
                )
            # Whichever replica runs the drive ends it. The answer comes once the drive let go
            # of the task (its Stop sent, its WebSocket closed), so a caller can speak again
            # right after.
            stopped = await self.app.registry.stop(
                task_key(credentials.app_id, request.task_id),
                self.app.config.limits.preempt_wait_s,
                interrupt=interrupt,
            )
            if stopped is None:
                raise DriveEnded(
                    Reason.NO_ACTIVE_DRIVE, f"task {request.task_id!r} has no active drive"
                ).with_metadata({"task_id": request.task_id})
        except GatewayError as exc:
            await _abort(context, to_grpc_status(exc))
            raise AssertionError("unreachable") from exc  # abort always raises
        response = pb.StopDriveResponse(drive_id=stopped.drive_id)
        if stopped.played is not None:
            response.played_ms = stopped.played.played_ms
            response.interrupted = stopped.played.interrupted
        return response

    async def ListDrives(
        self, request: pb.ListDrivesRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.ListDrivesResponse:
        principal = await self._caller(context)
        try:
            ask = PageAsk.of(request)  # a bad request fails before Redis is asked
            drives = await self.app.drive_list.everywhere()
        except GatewayError as exc:
            await _abort(context, to_grpc_status(exc))
            raise AssertionError("unreachable") from exc  # abort always raises
        # A key sees only what it may drive.
        allowed = (d for d in drives if principal.allows(self._profile(d.drive.profile), d.task_id))
        return page_of(allowed, ask)

    async def GetCapabilities(
        self, request: pb.GetCapabilitiesRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.Capabilities:
        await self._caller(context)
        return capabilities(self.app.config)

    async def _task_call(
        self, task_id: str, profile: str, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Credentials:
        """The credentials of a GetTask / WatchTask the caller may make; else the call ends
        with the error's status."""
        try:
            principal = self.auth.identify(context.invocation_metadata())
            if not task_id:
                raise InvalidDrive(Reason.TASK_ID_REQUIRED, "task_id is required", field="task_id")
            principal.check(self._profile(profile), task_id)
            return self._credentials(profile, "profile")
        except GatewayError as exc:
            await _abort(context, to_grpc_status(exc))
            raise AssertionError("unreachable") from exc  # abort always raises

    async def GetTask(
        self, request: pb.GetTaskRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.TaskInfo:
        credentials = await self._task_call(request.task_id, request.profile, context)
        profile = self._profile(request.profile)
        try:
            found = await self.app.tasks.info(
                request.task_id, profile, credentials, refresh=request.refresh
            )
        except GatewayError as exc:
            await _abort(context, to_grpc_status(exc))
            raise AssertionError("unreachable") from exc
        return task_info(found)

    async def WatchTask(  # type: ignore[override]  # an aio handler that writes via the context
        self, request: pb.WatchTaskRequest, context: grpc.aio.ServicerContext[Any, pb.TaskInfo]
    ) -> None:
        credentials = await self._task_call(request.task_id, request.profile, context)
        profile = self._profile(request.profile)
        try:
            async for found in self.app.tasks.watch(request.task_id, profile, credentials):
                await context.write(task_info(found))
        except GatewayError as exc:
            await _abort(context, to_grpc_status(exc))
