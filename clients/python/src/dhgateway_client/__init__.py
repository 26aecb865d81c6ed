"""Python client for dh-gateway: make a cloud digital human speak over one gRPC stream.

Async::

    async with grpc.aio.insecure_channel("127.0.0.1:50051") as channel:
        async for event in drive(channel, "my-task", chunks, DriveOptions(sample_rate_hz=24000)):
            print(event.WhichOneof("event"))  # ... playback_started ... completed

Barge-in: ``await stream.interrupt()`` on the :class:`Drive` that ``drive`` returns.

Blocking: :func:`dhgateway_client.sync.drive` with a ``grpc.Channel``.
"""

from dhgateway_client.aio import Drive, DriveGatewayClient, drive
from dhgateway_client.audio import AudioItem, Mark
from dhgateway_client.config import DriveOptions, TextInput
from dhgateway_client.errors import DriveError, ErrorReason, FieldViolation
from dhgateway_client.playback import Playback, StopResult

__all__ = [
    "AudioItem",
    "Drive",
    "DriveError",
    "DriveGatewayClient",
    "DriveOptions",
    "ErrorReason",
    "FieldViolation",
    "Mark",
    "Playback",
    "StopResult",
    "TextInput",
    "drive",
]
