"""The Python client's DriveError reads the status details typed: the reason as the proto's
ErrorReason, RetryInfo's delay, BadRequest's field violations; and dh-drive's error line
prints them (the schema of tests/clients/json_lines.py)."""

from __future__ import annotations

from datetime import timedelta

import grpc
from dhgateway.v1 import error_reason_pb2
from dhgateway_client import DriveError, ErrorReason, FieldViolation
from dhgateway_client.output import error_json
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from tests.clients.json_lines import line_problem

TRAILER = "grpc-status-details-bin"


def trailers(*details: Message, message: str = "from the status") -> list[tuple[str, bytes]]:
    """The trailing metadata of a status carrying ``details`` (as the gateway sends it)."""
    packed = []
    for detail in details:
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    status = status_pb2.Status(code=8, message=message, details=packed)
    return [("other", b"x"), (TRAILER, status.SerializeToString())]


def info(reason: str, **metadata: str) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain="dhgateway", metadata=metadata)


def test_a_refusal_to_retry_reads_its_delay_and_the_enum() -> None:
    retry = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=1, nanos=500_000_000)
    )
    error = DriveError.from_status(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "details",
        trailers(retry, info("GATEWAY_BUSY", retry_after_ms="1500")),
    )
    assert error.reason == "GATEWAY_BUSY"
    assert error.reason_enum == ErrorReason.Value("GATEWAY_BUSY") == error_reason_pb2.GATEWAY_BUSY
    assert error.retry_delay == timedelta(milliseconds=1500)
    assert error.field_violations == ()
    assert error.message == "from the status"
    line = error_json(error)
    assert line["retry_delay_ms"] == "1500" and "field_violations" not in line
    assert line_problem(line) is None


def test_a_bad_config_reads_its_field_violations() -> None:
    violation = error_details_pb2.BadRequest.FieldViolation(
        field="config.input.sample_rate_hz", description="use 8000 to 48000", reason="X"
    )
    bad = error_details_pb2.BadRequest(field_violations=[violation])
    error = DriveError.from_status(
        grpc.StatusCode.INVALID_ARGUMENT, "", trailers(info("UNSUPPORTED_FORMAT"), bad)
    )
    assert error.reason_enum == error_reason_pb2.UNSUPPORTED_FORMAT
    assert error.retry_delay is None
    assert error.field_violations == (
        FieldViolation("config.input.sample_rate_hz", "use 8000 to 48000"),
    )
    line = error_json(error)
    assert line["field_violations"] == [
        {"field": "config.input.sample_rate_hz", "description": "use 8000 to 48000"}
    ]
    assert "retry_delay_ms" not in line and line_problem(line) is None


def test_an_unknown_or_missing_reason_is_unspecified() -> None:
    newer = DriveError.from_status(grpc.StatusCode.INTERNAL, "", trailers(info("FROM_THE_FUTURE")))
    assert newer.reason == "FROM_THE_FUTURE"
    assert newer.reason_enum == error_reason_pb2.ERROR_REASON_UNSPECIFIED
    bare = DriveError.from_status(grpc.StatusCode.UNAVAILABLE, "connection refused", None)
    assert (bare.reason, bare.reason_enum) == ("", error_reason_pb2.ERROR_REASON_UNSPECIFIED)
    assert (bare.retry_delay, bare.field_violations) == (None, ())
    assert set(error_json(bare)) == {"event", "code", "reason", "message", "metadata"}


def test_every_reason_of_the_enum_reads_as_itself() -> None:
    for name, number in ErrorReason.items():
        error = DriveError(grpc.StatusCode.UNKNOWN, "", name, {})
        assert error.reason_enum == number, name
