"""The ONE table from error reasons to gRPC status codes, and the status details clients read.

Every failure leaves the gateway through :func:`to_rpc_status`: a ``google.rpc.Status`` whose
details hold one ``google.rpc.ErrorInfo`` (domain ``dhgateway``, the :class:`Reason`, and metadata
such as task_id, drive_id, upstream_code, upstream_message, upstream_request_id, sent_ms).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway.errors import GatewayError, Reason

DOMAIN = "dhgateway"

C = grpc.StatusCode
STATUS_OF: Mapping[Reason, grpc.StatusCode] = {
    Reason.CONFIG_REQUIRED: C.INVALID_ARGUMENT,
    Reason.CONFIG_REPEATED: C.INVALID_ARGUMENT,
    Reason.INTERRUPT_REPEATED: C.INVALID_ARGUMENT,
    Reason.AUDIO_AFTER_INTERRUPT: C.INVALID_ARGUMENT,
    Reason.MALFORMED_REQUEST: C.INVALID_ARGUMENT,
    Reason.TASK_ID_REQUIRED: C.INVALID_ARGUMENT,
    Reason.UNSUPPORTED_FORMAT: C.INVALID_ARGUMENT,
    Reason.PARTIAL_SAMPLE: C.INVALID_ARGUMENT,
    Reason.CHUNK_TOO_LARGE: C.INVALID_ARGUMENT,
    Reason.BAD_WAV: C.INVALID_ARGUMENT,
    Reason.BAD_MARK: C.INVALID_ARGUMENT,
    Reason.INVALID_CONFIG: C.INVALID_ARGUMENT,
    Reason.BAD_TEXT: C.INVALID_ARGUMENT,
    Reason.TIMBRE_REQUIRED: C.INVALID_ARGUMENT,
    Reason.TEXT_DRIVE_AUDIO: C.INVALID_ARGUMENT,
    Reason.UNKNOWN_PROFILE: C.INVALID_ARGUMENT,
    Reason.BAD_PAGE_SIZE: C.INVALID_ARGUMENT,
    Reason.BAD_PAGE_TOKEN: C.INVALID_ARGUMENT,
    Reason.UNAUTHENTICATED: C.UNAUTHENTICATED,
    Reason.PERMISSION_DENIED: C.PERMISSION_DENIED,
    Reason.TASK_BUSY: C.ALREADY_EXISTS,
    Reason.PREEMPTED: C.ABORTED,
    Reason.STOPPED_BY_REQUEST: C.ABORTED,
    Reason.CONFIG_TIMEOUT: C.DEADLINE_EXCEEDED,
    Reason.QUEUE_TIMEOUT: C.DEADLINE_EXCEEDED,
    Reason.IDLE_TIMEOUT: C.DEADLINE_EXCEEDED,
    Reason.FORMAT_TIMEOUT: C.DEADLINE_EXCEEDED,
    Reason.MAX_DURATION: C.DEADLINE_EXCEEDED,
    Reason.UPSTREAM_TASK_NOT_FOUND: C.NOT_FOUND,
    Reason.NO_ACTIVE_DRIVE: C.NOT_FOUND,
    Reason.UNKNOWN_STOP_MODE: C.INVALID_ARGUMENT,
    Reason.TASK_ENDED: C.FAILED_PRECONDITION,
    Reason.UPSTREAM_TASK_NOT_STREAMING: C.FAILED_PRECONDITION,
    Reason.UPSTREAM_NOT_ENABLED: C.FAILED_PRECONDITION,
    Reason.GATEWAY_BUSY: C.RESOURCE_EXHAUSTED,
    Reason.GATEWAY_OVERLOADED: C.RESOURCE_EXHAUSTED,
    Reason.UPSTREAM_RATE_LIMITED: C.RESOURCE_EXHAUSTED,
    Reason.UPSTREAM_CONCURRENCY: C.RESOURCE_EXHAUSTED,
    Reason.UPSTREAM_UNREACHABLE: C.UNAVAILABLE,
    Reason.UPSTREAM_DISCONNECTED: C.UNAVAILABLE,
    Reason.DRAINING: C.UNAVAILABLE,
    Reason.SHARED_STATE_UNAVAILABLE: C.UNAVAILABLE,
    Reason.UPSTREAM_AUTH: C.INTERNAL,
    Reason.UPSTREAM_ERROR: C.INTERNAL,
}


def to_rpc_status(error: GatewayError) -> status_pb2.Status:
    """The ``google.rpc.Status`` (with its ErrorInfo) that reports ``error`` to a client."""
    code = STATUS_OF[error.reason]
    info = error_details_pb2.ErrorInfo(
        reason=error.reason.value,
        domain=DOMAIN,
        metadata=error.metadata,
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    return status_pb2.Status(code=code.value[0], message=error.message, details=[detail])


def to_grpc_status(error: GatewayError) -> grpc.Status:
    """:func:`to_rpc_status` in the form ``context.abort_with_status`` takes."""
    return rpc_status.to_status(to_rpc_status(error))


def internal_error(message: str) -> grpc.Status:
    """A bare INTERNAL status for a bug (never a secret in ``message``)."""
    return rpc_status.to_status(status_pb2.Status(code=code_pb2.INTERNAL, message=message))


def outcome_of(error: BaseException | None) -> tuple[str, str]:
    """How a drive ended, as (status name, reason) for its log line and metrics: None is
    OK / COMPLETED; a cancellation is the client's (it cancelled or went away); any other
    exception that is not a GatewayError is a bug (INTERNAL; the servicer logs its traceback)."""
    if error is None:
        return "OK", "COMPLETED"
    if isinstance(error, GatewayError):
        return STATUS_OF[error.reason].name, error.reason.value
    if isinstance(error, asyncio.CancelledError):
        return "CANCELLED", "CANCELLED"
    return "INTERNAL", "INTERNAL"
