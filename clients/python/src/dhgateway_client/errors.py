"""The error a failed drive raises: the gRPC status with its ``google.rpc.ErrorInfo`` read out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import grpc
from google.rpc import error_details_pb2, status_pb2

_DETAILS_KEY = "grpc-status-details-bin"


class DriveError(Exception):
    """A drive ended with a non-OK status.

    Attributes:
        code: the gRPC status code.
        message: the status message.
        reason: the ``ErrorInfo`` reason (``TASK_BUSY``, ``CONFIG_REQUIRED``...), "" if none.
        metadata: the ``ErrorInfo`` metadata (task_id, drive_id, upstream_code...).
    """

    def __init__(
        self, code: grpc.StatusCode, message: str, reason: str, metadata: Mapping[str, str]
    ) -> None:
        super().__init__(
            f"{code.name} {reason}: {message}" if reason else f"{code.name}: {message}"
        )
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata)

    @classmethod
    def from_status(
        cls,
        code: grpc.StatusCode,
        message: str,
        trailing_metadata: object,
    ) -> DriveError:
        """Build the error from a call's code, details and trailing metadata."""
        reason, metadata = "", {}
        for key, value in _pairs(trailing_metadata):
            if key != _DETAILS_KEY or not isinstance(value, bytes):
                continue
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    reason, metadata = info.reason, dict(info.metadata)
            message = status.message or message
        return cls(code, message, reason, metadata)

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
