"""The blocking client: ``for event in drive(channel, task_id, chunks): ...``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import grpc
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc

from dhgateway_client.audio import AudioItem, to_request
from dhgateway_client.config import DriveOptions
from dhgateway_client.errors import DriveError
from dhgateway_client.trace_context import with_trace_context


def drive(
    channel: grpc.Channel,
    task_id: str,
    audio: Iterable[AudioItem] = (),
    options: DriveOptions | None = None,
    *,
    metadata: Sequence[tuple[str, str]] | None = None,
    timeout_s: float | None = None,
) -> Iterator[pb.DriveEvent]:
    """Drive the avatar of ``task_id`` with ``audio``; yields the gateway's events.

    ``audio`` yields chunks of audio (``bytes``) and marks (:class:`~dhgateway_client.Mark`);
    it is consumed on gRPC's own thread as the gateway accepts it. The events are those of
    :func:`dhgateway_client.aio.drive`, in the same order. Closing the generator early cancels
    the drive (the gateway sends the avatar its Stop at once). The current OpenTelemetry span
    where it is first iterated, if any, is the drive's parent (see
    :mod:`dhgateway_client.trace_context`).

    Raises:
        DriveError: the drive failed; ``reason`` is the gateway's ``ErrorInfo`` reason.
    """
    config = (options or DriveOptions()).to_config(task_id)
    metadata = with_trace_context(metadata)

    def requests() -> Iterator[pb.DriveRequest]:
        yield pb.DriveRequest(config=config)
        for item in audio:
            yield to_request(item)

    responses = pb_grpc.DriveGatewayStub(channel).Drive(
        requests(), metadata=tuple(metadata) if metadata else None, timeout=timeout_s
    )
    try:
        yield from responses
    except grpc.RpcError as error:
        raise DriveError.from_rpc_error(error) from None
    finally:
        responses.cancel()  # type: ignore[no-untyped-call]
