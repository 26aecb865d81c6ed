"""Errors of dh-gateway, and the reasons clients see.

Every failure a client can observe is a :class:`GatewayError` carrying a :class:`Reason`.
The reason is the machine-readable name that ends up in the ``google.rpc.ErrorInfo`` of the
gRPC status; ``gateway/service/status.py`` holds the ONE table from reason to status code.
Library exceptions (aiohttp, websockets, grpc) are translated into this tree once, at the
boundary that catches them, always with ``raise ... from exc``.

The tree::

    GatewayError                  reason + message + metadata (str -> str, for ErrorInfo)
    ├── ConfigError (ValueError)  bad configuration, found at start-up; never reaches a client
    ├── InvalidDrive              the client's stream broke the contract (INVALID_ARGUMENT rows)
    ├── DriveConflict             another drive holds the task (TASK_BUSY)
    ├── DriveEnded                the gateway ended a drive on purpose: preempted, stopped,
    │                             a timeout, draining, the gateway is full
    ├── SharedStateUnavailable    Redis, which the replicas share, did not answer
    └── UpstreamError             the vendor's cloud failed us
        ├── UpstreamApiError      a non-zero ``Code`` in the vendor's envelope
        ├── UpstreamUnreachable   transport failure, timeout, HTTP 5xx, WebSocket handshake refused
        └── UpstreamDisconnected  the drive's WebSocket was lost mid-drive
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Reason(enum.StrEnum):
    """Why a drive (or an RPC) failed: the ``reason`` of ``google.rpc.ErrorInfo``."""

    # The client broke the stream contract.
    CONFIG_REQUIRED = "CONFIG_REQUIRED"
    CONFIG_REPEATED = "CONFIG_REPEATED"
    INTERRUPT_REPEATED = "INTERRUPT_REPEATED"
    AUDIO_AFTER_INTERRUPT = "AUDIO_AFTER_INTERRUPT"
    MALFORMED_REQUEST = "MALFORMED_REQUEST"
    TASK_ID_REQUIRED = "TASK_ID_REQUIRED"
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    PARTIAL_SAMPLE = "PARTIAL_SAMPLE"
    CHUNK_TOO_LARGE = "CHUNK_TOO_LARGE"
    BAD_WAV = "BAD_WAV"
    BAD_MARK = "BAD_MARK"
    INVALID_CONFIG = "INVALID_CONFIG"
    BAD_TEXT = "BAD_TEXT"
    TIMBRE_REQUIRED = "TIMBRE_REQUIRED"
    TEXT_DRIVE_AUDIO = "TEXT_DRIVE_AUDIO"
    # A unary call's request.
    BAD_PAGE_SIZE = "BAD_PAGE_SIZE"
    BAD_PAGE_TOKEN = "BAD_PAGE_TOKEN"
    # Exclusivity.
    TASK_BUSY = "TASK_BUSY"
    # Ended on purpose.
    PREEMPTED = "PREEMPTED"
    STOPPED_BY_REQUEST = "STOPPED_BY_REQUEST"
    CONFIG_TIMEOUT = "CONFIG_TIMEOUT"
    QUEUE_TIMEOUT = "QUEUE_TIMEOUT"
    IDLE_TIMEOUT = "IDLE_TIMEOUT"
    FORMAT_TIMEOUT = "FORMAT_TIMEOUT"
    MAX_DURATION = "MAX_DURATION"
    NO_ACTIVE_DRIVE = "NO_ACTIVE_DRIVE"
    UNKNOWN_STOP_MODE = "UNKNOWN_STOP_MODE"
    GATEWAY_BUSY = "GATEWAY_BUSY"
    GATEWAY_OVERLOADED = "GATEWAY_OVERLOADED"
    DRAINING = "DRAINING"
    SHARED_STATE_UNAVAILABLE = "SHARED_STATE_UNAVAILABLE"
    UNKNOWN_PROFILE = "UNKNOWN_PROFILE"
    # Access control.
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    # The task has ended (stopped, MaxIdleTime, TTL, failed to start): drive another.
    TASK_ENDED = "TASK_ENDED"
    # The vendor's cloud.
    UPSTREAM_TASK_NOT_FOUND = "UPSTREAM_TASK_NOT_FOUND"
    UPSTREAM_TASK_NOT_STREAMING = "UPSTREAM_TASK_NOT_STREAMING"
    UPSTREAM_NOT_ENABLED = "UPSTREAM_NOT_ENABLED"
    UPSTREAM_RATE_LIMITED = "UPSTREAM_RATE_LIMITED"
    UPSTREAM_CONCURRENCY = "UPSTREAM_CONCURRENCY"
    UPSTREAM_UNREACHABLE = "UPSTREAM_UNREACHABLE"
    UPSTREAM_DISCONNECTED = "UPSTREAM_DISCONNECTED"
    UPSTREAM_AUTH = "UPSTREAM_AUTH"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose.

    Args:
        reason: the client-visible reason.
        message: a sentence for humans; it must never contain a secret.
        metadata: extra ``ErrorInfo`` metadata (string values only); an empty value means
            "not known" and is left out.
    """

    #: The request field at fault, as a path from the method's request message
    #: (``config.input.sample_rate_hz``); "" when no one field is. It becomes the status's
    #: ``google.rpc.BadRequest``.
    field = ""

    def __init__(self, reason: Reason, message: str, **metadata: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.metadata: dict[str, str] = {k: v for k, v in metadata.items() if v}

    def with_metadata(self, values: Mapping[str, str]) -> GatewayError:
        """Add metadata known only higher up (task_id, drive_id, sent_ms); returns ``self``."""
        for key, value in values.items():
            if value:
                self.metadata.setdefault(key, value)
        return self

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


class ConfigError(GatewayError, ValueError):
    """The gateway's own configuration is invalid; raised at start-up, never to a client."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.INVALID_CONFIG, message)


class InvalidDrive(GatewayError):
    """The client's stream broke the contract: a bad config, bad audio, a bad order of messages.

    Args:
        field: the request field at fault (see :attr:`GatewayError.field`); pass it whenever
            one field is, so that the client learns which.
    """

    def __init__(self, reason: Reason, message: str, *, field: str = "", **metadata: str) -> None:
        super().__init__(reason, message, **metadata)
        self.field = field


class DriveConflict(GatewayError):
    """Another drive holds the task and the policy is REJECT.

    ``holder_drive_id`` is empty while the holder is still being set up.
    """

    def __init__(self, task_id: str, holder_drive_id: str) -> None:
        super().__init__(Reason.TASK_BUSY, f"task {task_id!r} already has an active drive")
        # The contract keeps this key even while it is empty (the holder is being set up).
        self.metadata["holder_drive_id"] = holder_drive_id


class DriveEnded(GatewayError):
    """The gateway ended (or refused) a drive on purpose: see the reason.

    Args:
        interrupts: the avatar must go silent now (a PREEMPT, a StopDrive INTERRUPT): the
            drive's shell asks the vendor to interrupt the task (InterruptDriveTask) before
            its Stop, instead of letting the avatar play what it was sent.
    """

    def __init__(
        self, reason: Reason, message: str, *, interrupts: bool = False, **metadata: str
    ) -> None:
        super().__init__(reason, message, **metadata)
        self.interrupts = interrupts


def draining() -> DriveEnded:
    """Why a drive is refused or ended while the gateway shuts down (DRAINING: retry on
    another replica)."""
    return DriveEnded(Reason.DRAINING, "the gateway is shutting down")


class SharedStateUnavailable(GatewayError):
    """Redis, where the replicas keep the task registry and the vendor's request rate, did not
    answer; the drive can be retried (on this or another replica) once it does.

    Args:
        doing: what the gateway was doing, for the message ("booking the vendor API rate").
    """

    def __init__(self, doing: str) -> None:
        super().__init__(
            Reason.SHARED_STATE_UNAVAILABLE,
            f"the replicas' shared state (Redis) did not answer while {doing}",
        )


class UpstreamError(GatewayError):
    """The vendor's cloud failed us."""


class UpstreamApiError(UpstreamError):
    """The vendor answered with a non-zero ``Code``.

    Attributes:
        code: the vendor's return code.
        upstream_message: the vendor's ``Message``.
        request_id: the vendor's ``RequestId`` (quote it to the vendor's support).
        retryable: whether the same request may succeed if sent again later.
    """

    def __init__(
        self,
        reason: Reason,
        *,
        code: int,
        upstream_message: str,
        request_id: str,
        retryable: bool,
    ) -> None:
        super().__init__(
            reason,
            f"vendor API answered Code {code}: {upstream_message}",
            upstream_code=str(code),
            upstream_message=upstream_message,
            upstream_request_id=request_id,
        )
        self.code = code
        self.upstream_message = upstream_message
        self.request_id = request_id
        self.retryable = retryable


class UpstreamUnreachable(UpstreamError):
    """The vendor could not be reached or did not answer usefully (transport, timeout, 5xx)."""

    def __init__(self, message: str, *, retryable: bool = True, **metadata: str) -> None:
        super().__init__(Reason.UPSTREAM_UNREACHABLE, message, **metadata)
        self.retryable = retryable


class UpstreamDisconnected(UpstreamError):
    """The drive's WebSocket was lost mid-drive.

    Attributes:
        bytes_sent: PCM bytes the gateway had handed to the connection before it died.
    """

    def __init__(self, message: str, *, bytes_sent: int) -> None:
        super().__init__(Reason.UPSTREAM_DISCONNECTED, message, bytes_sent=str(bytes_sent))
        self.bytes_sent = bytes_sent
