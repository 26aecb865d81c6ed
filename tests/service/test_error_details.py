"""The details of a failed call's status: RetryInfo where a retry is the answer, BadRequest
naming the request field at fault, next to the ErrorInfo (issue 21 item 5).

Read from the wire (the ``grpc-status-details-bin`` trailer), not through our client.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
import pytest
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

from gateway.config import LimitsConfig
from gateway.errors import (
    DriveEnded,
    InvalidDrive,
    Reason,
    UpstreamApiError,
    UpstreamUnreachable,
    draining,
)
from gateway.service.status import RETRY_AFTER_MS, to_rpc_status
from gateway.simulator import Fault
from gateway.testing import Harness, running_gateway
from tests.service.conftest import chunks, pcm, realtime

C = grpc.StatusCode


def details(status: status_pb2.Status) -> dict[str, object]:
    """The status's details by their message name (ErrorInfo, RetryInfo, BadRequest)."""
    kinds = [
        error_details_pb2.ErrorInfo,
        error_details_pb2.RetryInfo,
        error_details_pb2.BadRequest,
    ]
    found: dict[str, object] = {}
    for packed in status.details:
        for kind in kinds:
            message = kind()
            if packed.Unpack(message):
                assert kind.__name__ not in found, f"two {kind.__name__}s"
                found[kind.__name__] = message
    return found


async def drive_status(h: Harness, requests: Iterable[pb.DriveRequest]) -> status_pb2.Status:
    """The status a Drive of ``requests`` (straight on the stub) ends with; never OK."""
    call = pb_grpc.DriveGatewayStub(h.channel).Drive(iter(requests))
    with pytest.raises(grpc.aio.AioRpcError):
        async for _ in call:
            pass
    return await status_of(call)


async def status_of(call: grpc.aio.Call) -> status_pb2.Status:
    """The ``google.rpc.Status`` a failed call's ``grpc-status-details-bin`` trailer holds."""
    trailers = await call.trailing_metadata()
    found = [v for k, v in trailers or () if k == "grpc-status-details-bin"]
    assert len(found) == 1 and isinstance(found[0], bytes), trailers
    status = status_pb2.Status.FromString(found[0])
    assert status.code == (await call.code()).value[0]
    return status


def config(task_id: str, **fields: object) -> pb.DriveRequest:
    return pb.DriveRequest(config=pb.DriveConfig(task_id=task_id, **fields))  # type: ignore[arg-type]


def retry_ms(status: status_pb2.Status) -> int:
    """RetryInfo's delay (ms), which the ErrorInfo's ``retry_after_ms`` repeats."""
    found = details(status)
    retry, info = found["RetryInfo"], found["ErrorInfo"]
    assert isinstance(retry, error_details_pb2.RetryInfo)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    delay_ms: int = retry.retry_delay.ToMilliseconds()
    assert info.metadata["retry_after_ms"] == str(delay_ms), info
    return delay_ms


def violations(status: status_pb2.Status) -> list[tuple[str, str]]:
    """BadRequest's field violations as (field, reason); the description is the message."""
    bad = details(status)["BadRequest"]
    assert isinstance(bad, error_details_pb2.BadRequest)
    assert all(v.description == status.message for v in bad.field_violations), bad
    return [(v.field, v.reason) for v in bad.field_violations]


@pytest.mark.asyncio
async def test_a_busy_then_draining_gateway_says_when_to_retry() -> None:
    async with running_gateway(limits=LimitsConfig.for_test(max_drives=1)) as h:
        holder = h.client.drive("task-a", realtime(chunks(pcm(2000), 3200), 100))
        await anext(holder)  # Started: the one slot is taken
        try:
            busy = await drive_status(h, [config("task-b"), pb.DriveRequest(audio=pcm(100))])
        finally:
            await holder.aclose()
        assert busy.code == C.RESOURCE_EXHAUSTED.value[0]
        assert retry_ms(busy) == RETRY_AFTER_MS[Reason.GATEWAY_BUSY]
        assert "BadRequest" not in details(busy)
        h.app.start_draining()
        drained = await drive_status(h, [config("task-c"), pb.DriveRequest(audio=pcm(100))])
        assert drained.code == C.UNAVAILABLE.value[0]
        assert retry_ms(drained) == RETRY_AFTER_MS[Reason.DRAINING]


@pytest.mark.asyncio
async def test_an_unreachable_vendor_says_when_to_retry(harness: Harness) -> None:
    harness.sim.set_fault(Fault(refuse_handshake=True), task_id="task-refused")
    status = await drive_status(harness, [config("task-refused"), pb.DriveRequest(audio=pcm(50))])
    assert status.code == C.UNAVAILABLE.value[0]
    assert retry_ms(status) == RETRY_AFTER_MS[Reason.UPSTREAM_UNREACHABLE]


@pytest.mark.asyncio
async def test_a_task_busy_has_no_retry_info(harness: Harness) -> None:
    holder = harness.client.drive("task-held", realtime(chunks(pcm(2000), 3200), 100))
    await anext(holder)
    try:
        status = await drive_status(harness, [config("task-held")])
    finally:
        await holder.aclose()
    assert status.code == C.ALREADY_EXISTS.value[0]
    assert set(details(status)) == {"ErrorInfo"}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"input": pb.AudioFormat(sample_rate_hz=96000)}, "config.input.sample_rate_hz",
         Reason.UNSUPPORTED_FORMAT),
        ({"input": pb.AudioFormat(channels=3)}, "config.input.channels",
         Reason.UNSUPPORTED_FORMAT),
        ({"input": pb.AudioFormat(encoding=99)}, "config.input.encoding",  # type: ignore[arg-type]
         Reason.UNSUPPORTED_FORMAT),
        ({"output_sample_rate_hz": 44100}, "config.output_sample_rate_hz",
         Reason.UNSUPPORTED_FORMAT),
        ({"queue_timeout": duration_pb2.Duration(seconds=-1)}, "config.queue_timeout",
         Reason.INVALID_CONFIG),
        ({"labels": {"k": "v" * 300}}, "config.labels", Reason.INVALID_CONFIG),
        ({"profile": "nobody"}, "config.profile", Reason.UNKNOWN_PROFILE),
        ({"text": pb.TextInput(text=" ")}, "config.text.text", Reason.BAD_TEXT),
        ({"text": pb.TextInput(text="hi", speech_rate=900)}, "config.text.speech_rate",
         Reason.INVALID_CONFIG),
    ],
)  # fmt: skip
async def test_a_bad_config_names_its_field(
    harness: Harness, fields: dict[str, object], field: str, reason: Reason
) -> None:
    status = await drive_status(harness, [config("task-bad", **fields)])
    assert status.code == C.INVALID_ARGUMENT.value[0]
    assert violations(status) == [(field, reason.value)]
    assert "RetryInfo" not in details(status)
    assert not harness.sim.drives_for_task("task-bad")


@pytest.mark.asyncio
async def test_an_empty_task_id_and_a_bad_page_name_their_fields(harness: Harness) -> None:
    status = await drive_status(harness, [config(" ")])
    assert violations(status) == [("config.task_id", Reason.TASK_ID_REQUIRED.value)]
    stub = pb_grpc.DriveGatewayStub(harness.channel)
    call = stub.ListDrives(pb.ListDrivesRequest(page_size=-1))
    with pytest.raises(grpc.aio.AioRpcError):
        await call
    status = await status_of(call)
    assert violations(status) == [("page_size", Reason.BAD_PAGE_SIZE.value)]


def test_the_gates_own_retry_hint_wins_and_a_hopeless_failure_has_none() -> None:
    overloaded = DriveEnded(Reason.GATEWAY_OVERLOADED, "past capacity", retry_after_ms="2500")
    assert retry_ms(to_rpc_status(overloaded)) == 2500
    limited = UpstreamApiError(
        Reason.UPSTREAM_RATE_LIMITED, code=1, upstream_message="", request_id="", retryable=True
    )
    assert retry_ms(to_rpc_status(limited)) == RETRY_AFTER_MS[Reason.UPSTREAM_RATE_LIMITED]
    assert retry_ms(to_rpc_status(draining())) == RETRY_AFTER_MS[Reason.DRAINING]
    tls = UpstreamUnreachable("TLS failed", retryable=False)
    assert set(details(to_rpc_status(tls))) == {"ErrorInfo"}
    bad = to_rpc_status(InvalidDrive(Reason.BAD_MARK, "too long", field="mark.name"))
    assert violations(bad) == [("mark.name", "BAD_MARK")]
