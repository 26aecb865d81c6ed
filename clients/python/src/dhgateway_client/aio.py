"""The asyncio client: ``async for event in drive(channel, task_id, chunks): ...``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Sequence

import grpc
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc

from dhgateway_client._status_fix import keep_server_status
from dhgateway_client.audio import AudioItem, to_request
from dhgateway_client.config import DriveOptions
from dhgateway_client.errors import DriveError

Metadata = Sequence[tuple[str, str]]


async def drive(
    channel: grpc.aio.Channel,
    task_id: str,
    audio: AsyncIterable[AudioItem] | Iterable[AudioItem],
    options: DriveOptions | None = None,
    *,
    metadata: Metadata | None = None,
    timeout_s: float | None = None,
) -> AsyncGenerator[pb.DriveEvent, None]:
    """Drive the avatar of ``task_id`` with ``audio``; yields the gateway's events.

    ``audio`` yields chunks of audio (``bytes``) and, between them, marks
    (:class:`~dhgateway_client.Mark`). It is sent as it comes (HTTP/2 flow control holds the
    writer back when the gateway paces); the stream half-closes when ``audio`` ends. The events
    of a successful drive come in this order (``event.WhichOneof("event")``): ``queued`` (a
    QUEUE drive that waits), ``started``, ``progress``..., ``playback_started`` (the avatar
    began to speak), ``mark_played`` (one per mark, in order, as the avatar reaches it),
    ``playback_finished`` (``played_ms``, ``interrupted``), and last ``completed``: the avatar
    is silent and the task free. Breaking out of the loop (or cancelling the task) cancels the
    drive: the gateway sends the avatar its Stop at once.

    Raises:
        DriveError: the drive failed; ``reason`` is the gateway's ``ErrorInfo`` reason.
    """
    options = options or DriveOptions()
    stub = pb_grpc.DriveGatewayStub(channel)
    # No request iterator: the reader/writer style, so the writer can stop when the call ends.
    call = stub.Drive(metadata=metadata, timeout=timeout_s)  # type: ignore[call-arg]
    keep_server_status(call)
    writer = asyncio.create_task(_write(call, options.to_config(task_id), audio))
    try:
        async for event in call:
            yield event
    except grpc.aio.AioRpcError as error:
        raise DriveError.from_rpc_error(error) from None
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await writer
        if not call.done():
            call.cancel()


async def _write(
    call: grpc.aio.StreamStreamCall[pb.DriveRequest, pb.DriveEvent],
    config: pb.DriveConfig,
    audio: AsyncIterable[AudioItem] | Iterable[AudioItem],
) -> None:
    """Send the config, the audio and marks, the half-close; stop quietly once the call ended.

    A write that fails because the gateway already ended the stream is not an error here: the
    reader side reports the gateway's status.
    """
    try:
        await call.write(pb.DriveRequest(config=config))
        if isinstance(audio, AsyncIterable):
            async for item in audio:
                if call.done():
                    return
                await call.write(to_request(item))
        else:
            for item in audio:
                if call.done():
                    return
                await call.write(to_request(item))
        await call.done_writing()
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
        return


class DriveGatewayClient:
    """A thin wrapper over a channel for the gateway's unary RPCs."""

    def __init__(self, channel: grpc.aio.Channel, *, metadata: Metadata | None = None) -> None:
        self._stub = pb_grpc.DriveGatewayStub(channel)
        self._channel = channel
        self._metadata = metadata

    def drive(
        self,
        task_id: str,
        audio: AsyncIterable[AudioItem] | Iterable[AudioItem],
        options: DriveOptions | None = None,
    ) -> AsyncGenerator[pb.DriveEvent, None]:
        """See :func:`drive`."""
        return drive(self._channel, task_id, audio, options, metadata=self._metadata)

    async def stop_drive(self, task_id: str, profile: str = "") -> str:
        """End the active drive of ``task_id``; returns its DriveId.

        Raises:
            DriveError: NOT_FOUND / NO_ACTIVE_DRIVE when the task has none.
        """
        try:
            response = await self._stub.StopDrive(
                pb.StopDriveRequest(task_id=task_id, profile=profile), metadata=self._metadata
            )
        except grpc.aio.AioRpcError as error:
            raise DriveError.from_rpc_error(error) from None
        return response.drive_id

    async def list_drives(self, task_id: str = "") -> list[pb.DriveInfo]:
        """The gateway's active and queued drives.

        Raises:
            DriveError: the call failed (e.g. UNAUTHENTICATED).
        """
        try:
            response = await self._stub.ListDrives(
                pb.ListDrivesRequest(task_id=task_id), metadata=self._metadata
            )
        except grpc.aio.AioRpcError as error:
            raise DriveError.from_rpc_error(error) from None
        return list(response.drives)

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
