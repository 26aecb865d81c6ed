"""Frames that do not decode, a config that never comes, and config values out of range.

Each ends its call with a status carrying ErrorInfo: INVALID_ARGUMENT / MALFORMED_REQUEST at
any point of a stream (with the drive's Stop once it started) and for the unary calls,
DEADLINE_EXCEEDED / CONFIG_TIMEOUT for a stream that sends no DriveConfig, INVALID_ARGUMENT /
INVALID_CONFIG for a config value out of range. A malformed frame costs one WARNING line and no
traceback.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest
from dhgateway.v1 import gateway_pb2 as pb
from dhgateway_client import DriveError
from dhgateway_client._status_fix import keep_server_status
from google.protobuf import duration_pb2

from gateway.config import LimitsConfig
from gateway.errors import Reason
from gateway.service.status import STATUS_OF
from gateway.testing import Harness, running_gateway
from tests.service.conftest import pcm

C = grpc.StatusCode
DRIVE = "/dhgateway.v1.DriveGateway/Drive"
GARBAGE = b"\xff\xff\xff"  # field 31, wire type 7: no such wire type


def _raw(data: bytes) -> bytes:
    return data


def raw_drive(harness: Harness) -> grpc.aio.StreamStreamCall[bytes, bytes]:
    """A Drive call that sends and receives bytes, whatever they are."""
    method = harness.channel.stream_stream(
        DRIVE, request_serializer=_raw, response_deserializer=_raw
    )
    call = method(None)
    keep_server_status(call)  # the server's status, not INTERNAL, when a write races its end
    return call


def config_frame(task: str, **fields: object) -> bytes:
    return pb.DriveRequest(config=pb.DriveConfig(task_id=task, **fields)).SerializeToString()  # type: ignore[arg-type]


def audio_frame(data: bytes) -> bytes:
    return pb.DriveRequest(audio=data).SerializeToString()


def event_of(message: object) -> pb.DriveEvent:
    assert isinstance(message, bytes), message
    return pb.DriveEvent.FromString(message)


async def started(
    harness: Harness, task: str
) -> tuple[grpc.aio.StreamStreamCall[bytes, bytes], pb.DriveEvent]:
    """A drive of ``task`` that sent some audio and started; its call and Started event."""
    call = raw_drive(harness)
    await call.write(config_frame(task))
    await call.write(audio_frame(pcm(200)))
    first = event_of(await call.read())
    assert first.WhichOneof("event") == "started", first
    return call, first


async def events(call: grpc.aio.StreamStreamCall[bytes, bytes]) -> list[pb.DriveEvent]:
    """Read the call's events to its end (with ``read``: a call read once cannot iterate)."""
    found = []
    while isinstance(message := await call.read(), bytes):  # not grpc.aio.EOF
        found.append(pb.DriveEvent.FromString(message))
    return found


async def final_error(call: grpc.aio.StreamStreamCall[bytes, bytes]) -> DriveError:
    """Read the call's events to its end, which must be an error with ErrorInfo."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await events(call)
    error = DriveError.from_rpc_error(caught.value)
    assert error.reason, error  # an ErrorInfo came with the status
    assert STATUS_OF[Reason(error.reason)] == error.code
    return error


def malformed_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The gateway's WARNING-or-worse records; none may carry a traceback."""
    found = [
        r for r in caplog.records if r.name.startswith("gateway") and r.levelno >= logging.WARNING
    ]
    assert all(r.exc_info is None and r.exc_text is None for r in found), found
    return found


@pytest.mark.asyncio
async def test_a_first_frame_that_does_not_decode(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    call = raw_drive(harness)
    await call.write(GARBAGE)
    await call.done_writing()
    error = await final_error(call)
    assert (error.code, error.reason) == (C.INVALID_ARGUMENT, "MALFORMED_REQUEST")
    assert "3-byte request" in error.message
    (line,) = malformed_lines(caplog)
    assert line.levelno == logging.WARNING and "does not decode" in line.getMessage()
    assert not harness.sim.api_calls  # refused before the vendor heard of it


@pytest.mark.asyncio
async def test_a_frame_that_does_not_decode_mid_drive_ends_it_with_its_stop(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    call, first = await started(harness, "task-mid")
    await call.write(GARBAGE)
    error = await final_error(call)
    assert (error.code, error.reason) == (C.INVALID_ARGUMENT, "MALFORMED_REQUEST")
    assert error.metadata["drive_id"] == first.drive_id
    record = await harness.sim.wait_closed(first.drive_id, timeout=5)
    assert record.stopped_at is not None, record
    (line,) = malformed_lines(caplog)
    assert line.levelno == logging.WARNING
    assert not harness.app.drives


@pytest.mark.asyncio
async def test_a_frame_that_does_not_decode_while_queued(harness: Harness) -> None:
    holder, _ = await started(harness, "task-q")
    queued = raw_drive(harness)
    await queued.write(config_frame("task-q", on_conflict=pb.CONFLICT_POLICY_QUEUE))
    assert event_of(await queued.read()).WhichOneof("event") == "queued"
    await queued.write(GARBAGE)
    error = await final_error(queued)
    assert error.reason == "MALFORMED_REQUEST"
    await holder.done_writing()
    assert (await events(holder))[-1].WhichOneof("event") == "completed"
    assert len(harness.sim.drives_for_task("task-q")) == 1  # the queued one never drove


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["StopDrive", "ListDrives", "GetCapabilities"])
async def test_unary_requests_that_do_not_decode(
    harness: Harness, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    call = harness.channel.unary_unary(
        f"/dhgateway.v1.DriveGateway/{method}",
        request_serializer=_raw,
        response_deserializer=_raw,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(GARBAGE)
    error = DriveError.from_rpc_error(caught.value)
    assert (error.code, error.reason) == (C.INVALID_ARGUMENT, "MALFORMED_REQUEST")
    assert method in error.message
    assert len(malformed_lines(caplog)) == 1


@pytest.mark.asyncio
async def test_unary_requests_that_decode_still_work(harness: Harness) -> None:
    capabilities = await harness.client.capabilities()
    assert capabilities.max_chunk_bytes == harness.config.limits.max_chunk_bytes


@pytest.mark.asyncio
async def test_a_stream_that_sends_no_config_ends_at_the_config_deadline() -> None:
    limits = LimitsConfig.for_test(config_timeout_s=0.3)
    async with running_gateway(limits=limits) as h:
        silent = raw_drive(h)  # opened, then nothing at all
        error = await asyncio.wait_for(final_error(silent), timeout=10)
        assert (error.code, error.reason) == (C.DEADLINE_EXCEEDED, "CONFIG_TIMEOUT")
        assert "0.3 s" in error.message
        # A config that comes in time is not affected by the deadline passing later.
        call = raw_drive(h)
        await call.write(config_frame("task-late"))
        await call.write(audio_frame(pcm(100)))
        await asyncio.sleep(0.5)
        await call.write(audio_frame(pcm(100)))
        await call.done_writing()
        assert (await events(call))[-1].WhichOneof("event") == "completed"
        assert not h.app.drives


def test_the_config_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError, match="config_timeout_s"):
        LimitsConfig(config_timeout_s=0)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"queue_timeout": duration_pb2.Duration(seconds=10**15)}, "at most"),
        ({"queue_timeout": duration_pb2.Duration(seconds=10**12)}, "at most"),
        ({"queue_timeout": duration_pb2.Duration(seconds=-(10**15))}, "positive"),
        ({"queue_timeout": duration_pb2.Duration(seconds=2**63 - 1)}, "at most"),
        ({"queue_timeout": duration_pb2.Duration(nanos=2_000_000_000)}, "valid Duration"),
        ({"labels": {f"k{i}": "v" for i in range(17)}}, "at most 16"),
        ({"labels": {"k" * 65: "v"}}, "64 bytes"),
        ({"labels": {"k": "v" * 257}}, "256 bytes"),
        ({"profile": "p" * 300}, "256 bytes"),
    ],
)
async def test_config_values_out_of_range(
    harness: Harness, fields: dict[str, object], words: str
) -> None:
    call = raw_drive(harness)
    await call.write(config_frame("task-range", **fields))
    await call.done_writing()
    error = await final_error(call)
    assert (error.code, error.reason) == (C.INVALID_ARGUMENT, "INVALID_CONFIG")
    assert words in error.message
