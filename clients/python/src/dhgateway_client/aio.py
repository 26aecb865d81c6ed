"""The asyncio client: ``async for event in drive(channel, task_id, chunks): ...``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Sequence
from types import TracebackType
from typing import Self

import grpc
from dhgateway.v1 import error_reason_pb2 as reasons, gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc

from dhgateway_client._status_fix import keep_server_status
from dhgateway_client.audio import AudioItem, to_request
from dhgateway_client.config import DriveOptions, StopModeName
from dhgateway_client.errors import DriveError
from dhgateway_client.playback import Playback, StopResult
from dhgateway_client.trace_context import with_trace_context

Metadata = Sequence[tuple[str, str]]
Call = grpc.aio.StreamStreamCall[pb.DriveRequest, pb.DriveEvent]


class _Writer:
    """The client's half of one Drive stream: the config, the audio, and the one interrupt.

    Every write happens under one lock, so an interrupt waits for the write in flight (the
    stream is ordered: it could not overtake it anyway) and never cancels a write, which
    grpc.aio turns into a cancel of the whole call. It holds no reference to the
    :class:`Drive`, so a drive its caller dropped can be collected (and so cancelled).
    """

    def __init__(self, call: Call, config: pb.DriveConfig) -> None:
        self.call = call
        self.config = config
        self.lock = asyncio.Lock()
        self.config_sent = False
        self.half_closed = False
        self.interrupted = False

    async def _send_config(self) -> None:
        if not self.config_sent:
            self.config_sent = True
            await self.call.write(pb.DriveRequest(config=self.config))

    async def run(self, audio: AsyncIterable[AudioItem] | Iterable[AudioItem]) -> None:
        """Send the config, the audio and marks, the half-close; stop quietly once the call ended.

        A write that fails because the gateway already ended the stream is not an error here:
        the reader side reports the gateway's status.
        """
        try:
            async with self.lock:
                await self._send_config()
            if isinstance(audio, AsyncIterable):
                async for item in audio:
                    if not await self._send(item):
                        return
            else:
                for item in audio:
                    if not await self._send(item):
                        return
            if self.config.HasField("text"):
                # A text drive ends by itself; keeping our half open lets interrupt() go
                # in-stream until then.
                return
            async with self.lock:
                if not (self.interrupted or self.call.done()):
                    self.half_closed = True
                    await self.call.done_writing()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            return

    async def _send(self, item: AudioItem) -> bool:
        async with self.lock:
            if self.interrupted or self.call.done():
                return False
            await self.call.write(to_request(item))
            return True

    async def interrupt(self) -> bool:
        """Send ``DriveRequest.interrupt`` and half-close; False when the stream cannot carry it.

        It cannot once the audio was half-closed (or the call ended): then the avatar, still
        playing the drive's tail, is silenced by ``StopDrive`` instead.
        """
        async with self.lock:
            if self.interrupted:
                return True
            if self.half_closed or self.call.done():
                return False
            self.interrupted = True
            try:
                await self._send_config()
                await self.call.write(pb.DriveRequest(interrupt=pb.Interrupt()))
                await self.call.done_writing()
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
                pass  # the stream ended meanwhile: the reader reports how
            return True


class Drive:
    """One Drive stream: iterate it for the gateway's events; :meth:`interrupt` for barge-in.

    ``async for event in drive:`` yields each ``pb.DriveEvent``; :attr:`playback` keeps what
    they said (speaking, ``played_ms``, the last mark, ``completed``). Breaking out of the
    loop, :meth:`aclose` (or ``async with``) cancels the drive: the gateway sends the avatar
    its Stop at once, but the avatar plays what it was already sent; :meth:`interrupt` makes
    it silent instead.
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        task_id: str,
        audio: AsyncIterable[AudioItem] | Iterable[AudioItem],
        options: DriveOptions,
        metadata: Metadata | None,
        timeout_s: float | None,
    ) -> None:
        self._channel = channel
        self._task_id = task_id
        self._audio = audio
        self._options = options
        self._metadata = metadata
        self._timeout_s = timeout_s
        self._writer: _Writer | None = None
        self._events: AsyncGenerator[pb.DriveEvent, None] | None = None
        self._stopped_by_us = False
        self.playback = Playback()

    def _start(self) -> AsyncGenerator[pb.DriveEvent, None]:
        # The call opens at the first read, as a generator's would: a Drive never read costs
        # the gateway nothing.
        stub = pb_grpc.DriveGatewayStub(self._channel)
        # No request iterator: the reader/writer style, so the writer can stop when the call ends.
        call: Call = stub.Drive(metadata=self._metadata, timeout=self._timeout_s)  # type: ignore[call-arg]
        keep_server_status(call)
        self._writer = _Writer(call, self._options.to_config(self._task_id))
        self._events = _events(call, self._writer, self._audio)
        return self._events

    @property
    def drive_id(self) -> str:
        """The vendor's DriveId ("" until the gateway reported it)."""
        return self.playback.drive_id

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> pb.DriveEvent:
        if self._stopped_by_us and self._events is None:
            raise StopAsyncIteration  # interrupted before it was read: nothing was sent
        try:
            event = await anext(self._events or self._start())
        except DriveError as error:
            if self._stopped_by_us and error.reason_enum == reasons.STOPPED_BY_REQUEST:
                # Our own interrupt() went through StopDrive: the stream ends as we asked.
                raise StopAsyncIteration from None
            raise
        self.playback.update(event)
        return event

    async def interrupt(self) -> None:
        """Make the avatar silent now (barge-in); keep iterating for how it ended.

        While the audio is still being sent, it sends ``DriveRequest.interrupt``: the gateway
        stops sending, drops the audio it holds, and the stream ends OK with
        ``playback_finished`` (``interrupted``, ``played_ms`` when the avatar went silent) and
        ``completed`` (``dropped_ms``). The audio source is not read further. After the audio
        was half-closed (the avatar playing the drive's tail), it calls ``StopDrive`` with
        ``STOP_MODE_INTERRUPT`` for the task instead; the stream then ends after its
        ``playback_finished`` (no ``completed``). Calling it again does nothing.

        Raises:
            DriveError: the StopDrive call failed (not when the drive had already ended).
        """
        writer = self._writer
        if writer is None:
            self._stopped_by_us = True
            return
        if await writer.interrupt() or self._stopped_by_us or writer.call.done():
            return
        self._stopped_by_us = True
        request = pb.StopDriveRequest(
            task_id=self._task_id, profile=self._options.profile, mode=pb.STOP_MODE_INTERRUPT
        )
        try:
            await pb_grpc.DriveGatewayStub(self._channel).StopDrive(
                request, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as error:
            failure = DriveError.from_rpc_error(error)
            if failure.reason_enum != reasons.NO_ACTIVE_DRIVE:  # it ended on its own meanwhile
                raise failure from None

    async def aclose(self) -> None:
        """Cancel the drive if it is still going (the gateway sends the avatar its Stop)."""
        if self._events is not None:
            await self._events.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


async def _events(
    call: Call, writer: _Writer, audio: AsyncIterable[AudioItem] | Iterable[AudioItem]
) -> AsyncGenerator[pb.DriveEvent, None]:
    """The call's events; its writer runs alongside and is cancelled when they end."""
    task = asyncio.create_task(writer.run(audio))
    try:
        async for event in call:
            yield event
    except grpc.aio.AioRpcError as error:
        raise DriveError.from_rpc_error(error) from None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await task
        if not call.done():
            call.cancel()


def drive(
    channel: grpc.aio.Channel,
    task_id: str,
    audio: AsyncIterable[AudioItem] | Iterable[AudioItem] = (),
    options: DriveOptions | None = None,
    *,
    metadata: Metadata | None = None,
    timeout_s: float | None = None,
) -> Drive:
    """Drive the avatar of ``task_id`` with ``audio``; iterate the result for the events.

    ``audio`` yields chunks of audio (``bytes``) and, between them, marks
    (:class:`~dhgateway_client.Mark`); a text drive (``DriveOptions(text=TextInput(...))``)
    sends none. It is sent as it comes (HTTP/2 flow control holds the writer back when the
    gateway paces); the stream half-closes when ``audio`` ends. The events of a successful
    drive come in this order (``event.WhichOneof("event")``): ``queued`` (a QUEUE drive that
    waits), ``started``, ``progress``..., ``playback_started`` (the avatar began to speak),
    ``mark_played`` (one per mark, in order, as the avatar reaches it), ``playback_finished``
    (``played_ms``, ``interrupted``), and last ``completed``: the avatar is silent and the task
    free. See :class:`Drive` for :meth:`~Drive.interrupt` and cancelling.

    Tracing: when the application uses OpenTelemetry and a span is current here, the call
    carries its context and the gateway's span of the drive is its child
    (:mod:`dhgateway_client.trace_context`; the client depends on no OpenTelemetry package).

    Raises:
        DriveError: (from the iteration) the drive failed; ``reason`` is the gateway's
            ``ErrorInfo`` reason.
    """
    metadata = with_trace_context(metadata)
    return Drive(channel, task_id, audio, options or DriveOptions(), metadata, timeout_s)


class DriveGatewayClient:
    """A channel to the gateway: drives, and the unary and task RPCs."""

    def __init__(self, channel: grpc.aio.Channel, *, metadata: Metadata | None = None) -> None:
        self._stub = pb_grpc.DriveGatewayStub(channel)
        self._channel = channel
        self._metadata = metadata

    def drive(
        self,
        task_id: str,
        audio: AsyncIterable[AudioItem] | Iterable[AudioItem] = (),
        options: DriveOptions | None = None,
    ) -> Drive:
        """See :func:`drive`."""
        return drive(self._channel, task_id, audio, options, metadata=self._metadata)

    async def stop(
        self, task_id: str, *, mode: StopModeName = "FINISH", profile: str = ""
    ) -> StopResult:
        """End the active drive of ``task_id``, on whichever replica runs it.

        ``FINISH`` lets the avatar play what it was sent; ``INTERRUPT`` silences it now (also
        a speaking avatar whose drive already ended). The drive's stream ends ABORTED /
        STOPPED_BY_REQUEST.

        Raises:
            DriveError: NOT_FOUND / NO_ACTIVE_DRIVE when the task has none.
        """
        request = pb.StopDriveRequest(
            task_id=task_id, profile=profile, mode=pb.StopMode.Value(f"STOP_MODE_{mode}")
        )
        try:
            response = await self._stub.StopDrive(request, metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise DriveError.from_rpc_error(error) from None
        return StopResult(response.drive_id, response.played_ms, response.interrupted)

    async def stop_drive(self, task_id: str, profile: str = "") -> str:
        """:meth:`stop` with ``FINISH``; returns only the DriveId.

        Raises:
            DriveError: NOT_FOUND / NO_ACTIVE_DRIVE when the task has none.
        """
        return (await self.stop(task_id, profile=profile)).drive_id

    async def list_drives(self, task_id: str = "", *, page_size: int = 0) -> list[pb.DriveInfo]:
        """Every active and queued drive of the gateway (of every replica sharing its Redis),
        of ``task_id`` only unless "": all the pages of :meth:`iter_drives`.

        Raises:
            DriveError: a call failed (e.g. UNAUTHENTICATED).
        """
        return [info async for info in self.iter_drives(task_id, page_size=page_size)]

    async def iter_drives(
        self, task_id: str = "", *, page_size: int = 0
    ) -> AsyncGenerator[pb.DriveInfo, None]:
        """The gateway's drives, asked for a page (``page_size`` of them; 0: the gateway's
        default, 100) at a time as the iteration goes on. Ordered by task id; a drive that
        lives through the whole iteration comes exactly once.

        Raises:
            DriveError: a call failed (INVALID_ARGUMENT / BAD_PAGE_SIZE for a negative
                ``page_size``).
        """
        token = ""
        while True:
            page = await self.list_drives_page(task_id, page_size=page_size, page_token=token)
            for info in page.drives:
                yield info
            if not page.next_page_token or page.next_page_token == token:
                return
            token = page.next_page_token

    async def list_drives_page(
        self, task_id: str = "", *, page_size: int = 0, page_token: str = ""
    ) -> pb.ListDrivesResponse:
        """One page of ListDrives: its ``drives`` and the ``next_page_token`` to pass as
        ``page_token`` for the next ("" after the last page).

        Raises:
            DriveError: the call failed (e.g. INVALID_ARGUMENT / BAD_PAGE_TOKEN for a token
                not handed out for this ``task_id``).
        """
        request = pb.ListDrivesRequest(task_id=task_id, page_size=page_size, page_token=page_token)
        try:
            return await self._stub.ListDrives(request, metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise DriveError.from_rpc_error(error) from None

    async def capabilities(self) -> pb.Capabilities:
        """What the gateway accepts.

        Raises:
            DriveError: the call failed (e.g. UNAUTHENTICATED).
        """
        try:
            return await self._stub.GetCapabilities(
                pb.GetCapabilitiesRequest(), metadata=self._metadata
            )
        except grpc.aio.AioRpcError as error:
            raise DriveError.from_rpc_error(error) from None

    async def get_task(
        self, task_id: str, *, profile: str = "", refresh: bool = False
    ) -> pb.TaskInfo:
        """How the task is: the vendor's status, whether the avatar speaks, the idle deadline.

        ``refresh`` asks the vendor now instead of the gateway's cached word.

        Raises:
            DriveError: NOT_FOUND / UPSTREAM_TASK_NOT_FOUND for a task the vendor does not know.
        """
        request = pb.GetTaskRequest(task_id=task_id, profile=profile, refresh=refresh)
        try:
            return await self._stub.GetTask(request, metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise DriveError.from_rpc_error(error) from None

    async def watch_task(
        self, task_id: str, *, profile: str = ""
    ) -> AsyncGenerator[pb.TaskInfo, None]:
        """The task's ``TaskInfo`` now and at each change, until the task ended.

        The last one of an ended task says ``TASK_STATUS_STOPPED`` (or ``INIT_FAILED``), then
        the iteration ends. Breaking out of the loop cancels the watch.

        Raises:
            DriveError: the watch failed (e.g. NOT_FOUND / UPSTREAM_TASK_NOT_FOUND).
        """
        request = pb.WatchTaskRequest(task_id=task_id, profile=profile)
        call = self._stub.WatchTask(request, metadata=self._metadata)
        try:
            async for info in call:
                yield info
        except grpc.aio.AioRpcError as error:
            raise DriveError.from_rpc_error(error) from None
        finally:
            call.cancel()
