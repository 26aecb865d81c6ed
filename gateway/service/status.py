"""The ONE table from error reasons to gRPC status codes, and the status details clients read.

Every failure leaves the gateway through :func:`to_rpc_status`: a ``google.rpc.Status`` whose
details hold one ``google.rpc.ErrorInfo`` (domain ``dhgateway``, the :class:`Reason`, and metadata
such as task_id, drive_id, upstream_code, upstream_message, upstream_request_id, sent_ms); a
``google.rpc.RetryInfo`` when a retry is the answer (:data:`RETRY_AFTER_MS`); and a
``google.rpc.BadRequest`` when one request field is at fault (:attr:`GatewayError.field`).
``protos/dhgateway/v1/error_reason.proto`` documents both tables to clients;
``tests/service/test_error_reasons.py`` keeps them equal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import grpc
from google.protobuf import any_pb2, duration_pb2, message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway.errors import GatewayError, Reason, UpstreamUnreachable

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


#: The reasons a retry is the answer to, and how long to wait first (ms) unless the error says
#: (its metadata ``retry_after_ms``). A floor: the caller backs off exponentially from it.
RETRY_AFTER_MS: Mapping[Reason, int] = {
    # A drive slot frees when a drive ends; drives last seconds.
    Reason.GATEWAY_BUSY: 1000,
    # The load gauge's window (the gate says so in the metadata).
    Reason.GATEWAY_OVERLOADED: 1000,
    # Long enough for the endpoint to leave the load balancer; another replica may take it.
    Reason.DRAINING: 500,
    # Redis reconnects within the client's own backoff (at most about a second).
    Reason.SHARED_STATE_UNAVAILABLE: 1000,
    # The vendor's limits are per second, and the gateway already waited its budget out.
    Reason.UPSTREAM_RATE_LIMITED: 1000,
    Reason.UPSTREAM_CONCURRENCY: 1000,
    # The gateway already retried for its retry_budget_s: give the vendor a moment more.
    Reason.UPSTREAM_UNREACHABLE: 1000,
}
RETRY_AFTER_KEY = "retry_after_ms"


def retry_after_ms(error: GatewayError) -> int | None:
    """How long ``error``'s caller should wait before retrying (ms); None: a retry cannot help."""
    default = RETRY_AFTER_MS.get(error.reason)
    if default is None or (isinstance(error, UpstreamUnreachable) and not error.retryable):
        return None
    said = error.metadata.get(RETRY_AFTER_KEY, "")
    return int(said) if said.isdigit() else default


def _packed(detail: message.Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


def to_rpc_status(error: GatewayError) -> status_pb2.Status:
    """The ``google.rpc.Status`` (ErrorInfo, RetryInfo, BadRequest) that reports ``error``."""
    code = STATUS_OF[error.reason]
    metadata = dict(error.metadata)
    details: list[message.Message] = []
    if (delay_ms := retry_after_ms(error)) is not None:
        # ErrorInfo keeps the metadata too: clients read it there from before RetryInfo.
        metadata[RETRY_AFTER_KEY] = str(delay_ms)
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(delay_ms)
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    if error.field:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=error.message, reason=error.reason.value
        )
        details.append(error_details_pb2.BadRequest(field_violations=[violation]))
    info = error_details_pb2.ErrorInfo(reason=error.reason.value, domain=DOMAIN, metadata=metadata)
    return status_pb2.Status(
        code=code.value[0],
        message=error.message,
        details=[_packed(d) for d in [info, *details]],
    )


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
