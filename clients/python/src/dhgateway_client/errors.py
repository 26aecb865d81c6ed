"""The error a failed drive raises: the gRPC status with its ``google.rpc`` details read out
(``ErrorInfo``; ``RetryInfo`` where a retry is the answer; ``BadRequest`` for a bad field)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import grpc
from dhgateway.v1 import error_reason_pb2
from google.rpc import error_details_pb2, status_pb2

_DETAILS_KEY = "grpc-status-details-bin"

#: The gateway's reasons, generated from ``protos/dhgateway/v1/error_reason.proto``.
ErrorReason = error_reason_pb2.ErrorReason


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One request field the gateway refused (``google.rpc.BadRequest.FieldViolation``).

    Attributes:
        field: its path from the call's request, e.g. ``config.input.sample_rate_hz``.
        description: what is wrong and what is accepted.
    """

    field: str
    description: str


class DriveError(Exception):
    """A drive ended with a non-OK status.

    Attributes:
        code: the gRPC status code.
        message: the status message.
        reason: the ``ErrorInfo`` reason (``TASK_BUSY``, ``CONFIG_REQUIRED``...), "" if none.
        metadata: the ``ErrorInfo`` metadata (task_id, drive_id, upstream_code...).
        retry_delay: the ``RetryInfo``'s delay: wait at least this long, then retry (backing
            off); None when a retry is not the answer.
        field_violations: the ``BadRequest``'s fields at fault; empty when no field is.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        reason: str,
        metadata: Mapping[str, str],
        retry_delay: timedelta | None = None,
        field_violations: Sequence[FieldViolation] = (),
    ) -> None:
        super().__init__(
            f"{code.name} {reason}: {message}" if reason else f"{code.name}: {message}"
        )
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata)
        self.retry_delay = retry_delay
        self.field_violations = tuple(field_violations)

    @property
    def reason_enum(self) -> error_reason_pb2.ErrorReason.ValueType:
        """:attr:`reason` as the proto's ``ErrorReason`` (``ErrorReason.Value("TASK_BUSY")``);
        ``ERROR_REASON_UNSPECIFIED`` for none, or for a reason newer than this client."""
        if self.reason in ErrorReason.keys():
            return ErrorReason.Value(self.reason)
        return error_reason_pb2.ERROR_REASON_UNSPECIFIED

    @classmethod
    def from_status(
        cls,
        code: grpc.StatusCode,
        message: str,
        trailing_metadata: object,
    ) -> DriveError:
        """Build the error from a call's code, details and trailing metadata."""
        reason, metadata = "", {}
        retry_delay: timedelta | None = None
        violations: list[FieldViolation] = []
        for key, value in _pairs(trailing_metadata):
            if key != _DETAILS_KEY or not isinstance(value, bytes):
                continue
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                retry = error_details_pb2.RetryInfo()
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(info):
                    reason, metadata = info.reason, dict(info.metadata)
                elif detail.Unpack(retry):
                    retry_delay = retry.retry_delay.ToTimedelta()
                elif detail.Unpack(bad):
                    violations += [
                        FieldViolation(v.field, v.description) for v in bad.field_violations
                    ]
            message = status.message or message
        return cls(code, message, reason, metadata, retry_delay, violations)

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> DriveError:
        """Build the error from a ``grpc.RpcError`` (sync) or ``grpc.aio.AioRpcError``."""
        code = error.code()
        details = error.details() or ""
        return cls.from_status(code, details, error.trailing_metadata())


def _pairs(metadata: object) -> list[tuple[str, str | bytes]]:
    if not isinstance(metadata, Iterable):
        return []
    return [(str(k), v) for k, v in metadata]
