"""What the service tells the pipeline beyond audio: gateway errors and per-turn metrics."""

from __future__ import annotations

import grpc
from dhgateway_client import DriveError
from pipecat.metrics.metrics import MetricsData
from pipecat.utils.errors import ErrorCategory

_CATEGORIES = {
    grpc.StatusCode.UNAUTHENTICATED: ErrorCategory.AUTHENTICATION,
    grpc.StatusCode.PERMISSION_DENIED: ErrorCategory.AUTHORIZATION,
    grpc.StatusCode.UNAVAILABLE: ErrorCategory.CONNECTIVITY,
    grpc.StatusCode.DEADLINE_EXCEEDED: ErrorCategory.CONNECTIVITY,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ErrorCategory.RATE_LIMIT,
    grpc.StatusCode.INVALID_ARGUMENT: ErrorCategory.INVALID_REQUEST,
    grpc.StatusCode.FAILED_PRECONDITION: ErrorCategory.INVALID_REQUEST,
    grpc.StatusCode.NOT_FOUND: ErrorCategory.INVALID_REQUEST,
}


def category(error: DriveError) -> ErrorCategory:
    """Pipecat's category for a gateway failure.

    Credentials, a refused config and an ended task are permanent (pipecat then stops giving
    the service work until its settings change); an unreachable or busy gateway is not.
    """
    return _CATEGORIES.get(error.code, ErrorCategory.SERVER)


def describe(error: DriveError) -> str:
    """The error frame's text: the gRPC code, the gateway's reason and message."""
    return f"dh-gateway: {error}"


class DHGatewayTurnMetricsData(MetricsData):
    """How one bot turn went at the avatar, pushed in a ``MetricsFrame`` when it ended.

    Parameters:
        drive_id: the vendor's DriveId of the turn ("" if the drive never started).
        time_to_speaking_ms: from the Drive's config to the avatar speaking: the gateway's
            figure (``Completed``), or the service's own when the drive ended without one
            (interrupted after its audio was complete); 0 if the avatar never spoke.
        time_to_first_frame_ms: from the config to the first audio sent to the avatar
            (the gateway's; 0 when unknown).
        played_ms: how much of the turn's audio the avatar played.
        sent_ms: how much was sent to the avatar (the gateway's; 0 when unknown).
        dropped_ms: audio the gateway held but dropped on an interrupt.
        interrupted: whether the turn was cut short.
        underruns: how often the avatar ran out of audio (a TTS slower than real time).
    """

    drive_id: str
    time_to_speaking_ms: int
    time_to_first_frame_ms: int
    played_ms: int
    sent_ms: int
    dropped_ms: int
    interrupted: bool
    underruns: int
