"""The gateway's failures as LiveKit's API errors, carrying the gateway's code and reason."""

from __future__ import annotations

import grpc
from dhgateway_client import DriveError
from livekit.agents import APIConnectionError, APIStatusError, APITimeoutError

# The HTTP status nearest each gRPC code, so LiveKit's retry rules (4xx: not retryable, but
# 408 and 429) read a gateway failure as they read any other provider's.
_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class DHGatewayStatusError(APIStatusError):
    """The gateway refused or ended a drive: ``code`` and ``reason`` say why.

    Attributes:
        code: the gRPC status code's name (``UNAUTHENTICATED``, ``ALREADY_EXISTS``...).
        reason: the gateway's ``ErrorInfo`` reason (``TASK_BUSY``...), "" if it gave none.
    """

    def __init__(self, error: DriveError) -> None:
        super().__init__(
            f"dh-gateway: {error}",
            status_code=_HTTP_STATUS.get(error.code, 500),
            body={"code": error.code.name, "reason": error.reason, "metadata": error.metadata},
        )
        self.code = error.code.name
        self.reason = error.reason


class DHGatewayConnectionError(APIConnectionError):
    """The gateway could not be reached (nothing listens, TLS failed, the network is down).

    Attributes:
        code: the gRPC status code's name (``UNAVAILABLE``).
        reason: "" (a gateway that answered would have given one).
    """

    def __init__(self, message: str, code: str = "UNAVAILABLE") -> None:
        super().__init__(f"dh-gateway: {message}", retryable=True)
        self.code = code
        self.reason = ""


class DHGatewayTimeoutError(APITimeoutError):
    """The gateway did not begin the drive in time (``setup_timeout_s``).

    Attributes:
        code: ``DEADLINE_EXCEEDED``.
        reason: "".
    """

    def __init__(self, message: str) -> None:
        super().__init__(f"dh-gateway: {message}", retryable=True)
        self.code = "DEADLINE_EXCEEDED"
        self.reason = ""


DHGatewayError = DHGatewayStatusError | DHGatewayConnectionError | DHGatewayTimeoutError


def from_drive_error(error: DriveError) -> DHGatewayError:
    """The LiveKit-side error of a failed drive: unreachable (no reason) or refused."""
    if error.code == grpc.StatusCode.UNAVAILABLE and not error.reason:
        return DHGatewayConnectionError(error.message or "the gateway is unreachable")
    return DHGatewayStatusError(error)
