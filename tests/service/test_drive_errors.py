"""Every row of the status table that a client or the simulator can provoke, with its reason.

Each failure after Start also proves the rule "a drive that reached Start always gets its Stop".
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc
from dhgateway_client import DriveError, DriveOptions

from gateway.config import LimitsConfig
from gateway.errors import Reason
from gateway.service.status import STATUS_OF
from gateway.simulator import Fault
from gateway.testing import Harness, running_gateway
from tests.service.conftest import chunks, pcm, realtime, stream_error

C = grpc.StatusCode


async def drive_error(
    harness: Harness, task: str, audio: object, options: DriveOptions | None = None
) -> DriveError:
    return await stream_error(harness.client.drive(task, audio, options))  # type: ignore[arg-type]


def assert_error(error: DriveError, code: grpc.StatusCode, reason: Reason) -> None:
    assert (error.code, error.reason) == (code, reason.value), error
    assert STATUS_OF[reason] == code


async def assert_stopped(harness: Harness, task: str) -> None:
    """Every drive of ``task`` that sent Start also sent Stop and closed."""
    for record in harness.sim.drives_for_task(task):
        record = await harness.sim.wait_closed(record.drive_id, timeout=5)
        if record.start is not None:
            assert record.stopped_at is not None, record
    assert not harness.sim.overlaps


def test_every_reason_has_a_status() -> None:
    assert set(STATUS_OF) == set(Reason)


@pytest.mark.asyncio
async def test_raw_protocol_errors(harness: Harness) -> None:
    """Messages a helper library would never send, straight on the stub."""
    stub = pb_grpc.DriveGatewayStub(harness.channel)
    cases = [
        ([pb.DriveRequest(audio=b"\0\0")], Reason.CONFIG_REQUIRED),
        ([], Reason.CONFIG_REQUIRED),
        ([pb.DriveRequest(interrupt=pb.Interrupt())], Reason.CONFIG_REQUIRED),
        ([pb.DriveRequest(config=pb.DriveConfig(task_id=" "))], Reason.TASK_ID_REQUIRED),
        (
            [
                pb.DriveRequest(config=pb.DriveConfig(task_id="t-rep")),
                pb.DriveRequest(config=pb.DriveConfig(task_id="t-rep")),
            ],
            Reason.CONFIG_REPEATED,
        ),
    ]
    for requests, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stub.Drive(iter(requests)):
                pass
        error = DriveError.from_rpc_error(caught.value)
        assert_error(error, C.INVALID_ARGUMENT, reason)
    await assert_stopped(harness, "t-rep")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("options", "audio", "reason"),
    [
        (DriveOptions(channels=3), [pcm(20)], Reason.UNSUPPORTED_FORMAT),
        (DriveOptions(sample_rate_hz=96000), [pcm(20)], Reason.UNSUPPORTED_FORMAT),
        (DriveOptions(output_sample_rate_hz=44100), [pcm(20)], Reason.UNSUPPORTED_FORMAT),
        (DriveOptions(), [pcm(100) + b"\x01"], Reason.PARTIAL_SAMPLE),
        (DriveOptions(encoding="WAV"), [b"NOT A WAV FILE AT ALL" * 4], Reason.BAD_WAV),
        (DriveOptions(profile="nobody"), [pcm(20)], Reason.UNKNOWN_PROFILE),
    ],
)
async def test_invalid_argument(
    harness: Harness, options: DriveOptions, audio: list[bytes], reason: Reason
) -> None:
    error = await drive_error(harness, "task-bad", audio, options)
    assert_error(error, C.INVALID_ARGUMENT, reason)
    assert error.metadata.get("task_id", "task-bad") == "task-bad"
    await assert_stopped(harness, "task-bad")


@pytest.mark.asyncio
async def test_partial_sample_still_delivers_whole_samples_then_stop(harness: Harness) -> None:
    audio = pcm(200)
    error = await drive_error(harness, "task-partial", [audio + b"\x07"])
    assert_error(error, C.INVALID_ARGUMENT, Reason.PARTIAL_SAMPLE)
    (record,) = harness.sim.drives_for_task("task-partial")
    record = await harness.sim.wait_closed(record.drive_id, timeout=5)
    assert record.audio == audio and record.stopped_at is not None
    assert error.metadata["drive_id"] == record.drive_id


@pytest.mark.asyncio
async def test_chunk_too_large() -> None:
    async with running_gateway(limits=LimitsConfig.for_test(max_chunk_bytes=4096)) as h:
        error = await drive_error(h, "task-big", [pcm(100), bytes(8192)])
        assert_error(error, C.INVALID_ARGUMENT, Reason.CHUNK_TOO_LARGE)
        await assert_stopped(h, "task-big")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        (400000005, C.NOT_FOUND, Reason.UPSTREAM_TASK_NOT_FOUND),
        (400000006, C.FAILED_PRECONDITION, Reason.UPSTREAM_TASK_NOT_STREAMING),
        (400000007, C.FAILED_PRECONDITION, Reason.UPSTREAM_TASK_NOT_STREAMING),
        (400000002, C.FAILED_PRECONDITION, Reason.UPSTREAM_NOT_ENABLED),
        (400010001, C.FAILED_PRECONDITION, Reason.UPSTREAM_NOT_ENABLED),
        (400000008, C.RESOURCE_EXHAUSTED, Reason.UPSTREAM_CONCURRENCY),
        (400010009, C.RESOURCE_EXHAUSTED, Reason.UPSTREAM_RATE_LIMITED),
        (100000005, C.INTERNAL, Reason.UPSTREAM_AUTH),
        (100000004, C.INTERNAL, Reason.UPSTREAM_AUTH),
        (400010000, C.INTERNAL, Reason.UPSTREAM_ERROR),
    ],
)
async def test_upstream_codes(
    harness: Harness, code: int, status: grpc.StatusCode, reason: Reason
) -> None:
    harness.sim.set_fault(Fault(force_code=code), task_id="task-up")
    error = await drive_error(harness, "task-up", [pcm(100)])
    assert_error(error, status, reason)
    assert error.metadata["upstream_code"] == str(code)
    assert error.metadata["upstream_request_id"]
    assert error.metadata["task_id"] == "task-up"


@pytest.mark.asyncio
async def test_unknown_task_from_the_simulators_task_list() -> None:
    async with running_gateway(tasks=frozenset({"known"})) as h:
        error = await drive_error(h, "unknown", [pcm(100)])
        assert_error(error, C.NOT_FOUND, Reason.UPSTREAM_TASK_NOT_FOUND)


@pytest.mark.asyncio
async def test_unreachable_when_the_handshake_is_refused(harness: Harness) -> None:
    harness.sim.set_fault(Fault(refuse_handshake=True), task_id="task-refused")
    error = await drive_error(harness, "task-refused", [pcm(100)])
    assert_error(error, C.UNAVAILABLE, Reason.UPSTREAM_UNREACHABLE)


@pytest.mark.asyncio
async def test_a_vendor_that_only_stalled_still_gets_its_stop(harness: Harness) -> None:
    """The vendor stops reading for 1.3 s, longer than keepalive allows (0.5 + 0.5 s): the
    drive ends UPSTREAM_DISCONNECTED, but the Stop still goes out and reaches the vendor once
    it reads again (the close waits ws_close_timeout_s, 1 s, before it aborts)."""
    harness.sim.set_fault(Fault(silent_after_bytes=3200, silent_for_s=1.3), task_id="task-stall")
    events = harness.client.drive("task-stall", realtime(chunks(pcm(3000), 3200), 100))
    try:
        async for _ in events:
            pass
    except DriveError as error:  # a loaded machine may see the pong in time: then it is OK
        assert_error(error, C.UNAVAILABLE, Reason.UPSTREAM_DISCONNECTED)
    (record,) = harness.sim.drives_for_task("task-stall")
    record = await harness.sim.wait_closed(record.drive_id, timeout=5)
    assert record.stopped_at is not None, record
    assert not harness.sim.overlaps


@pytest.mark.asyncio
async def test_disconnected_mid_drive_reports_sent_ms_and_releases(harness: Harness) -> None:
    harness.sim.set_fault(Fault(drop_after_bytes=16000), task_id="task-drop")
    error = await drive_error(harness, "task-drop", realtime(chunks(pcm(3000), 3200), 100))
    assert_error(error, C.UNAVAILABLE, Reason.UPSTREAM_DISCONNECTED)
    assert int(error.metadata["sent_ms"]) >= 500
    # The task is free again: the next drive works.
    harness.sim.clear_faults()
    events = [e async for e in harness.client.drive("task-drop", [pcm(100)])]
    assert events[-1].WhichOneof("event") == "completed"


@pytest.mark.asyncio
async def test_idle_timeout_after_start_sends_stop() -> None:
    async with running_gateway(limits=LimitsConfig.for_test(idle_timeout_s=0.3)) as h:

        async def stall() -> object:
            yield pcm(100)
            await asyncio.sleep(5)
            yield pcm(100)

        error = await drive_error(h, "task-idle", stall())
        assert_error(error, C.DEADLINE_EXCEEDED, Reason.IDLE_TIMEOUT)
        await assert_stopped(h, "task-idle")


@pytest.mark.asyncio
async def test_a_large_chunk_paced_out_longer_than_the_idle_timeout_completes() -> None:
    """Idle is the client's silence while the gateway wants audio, not the time since the last
    chunk: 2 s of audio in one message with a 0.5 s idle timeout completes, byte-exact."""
    async with running_gateway(limits=LimitsConfig.for_test(idle_timeout_s=0.5)) as h:
        audio = pcm(2000)
        events = [e async for e in h.client.drive("task-big", [audio])]
        assert events[-1].WhichOneof("event") == "completed"
        assert events[-1].completed.bytes_sent == len(audio)
        record = await h.sim.wait_closed(events[-1].drive_id, timeout=5)
        assert record.audio == audio and record.stopped_at is not None


@pytest.mark.asyncio
async def test_a_wav_header_that_never_comes_ends_in_time_without_holding_the_task() -> None:
    async with running_gateway(limits=LimitsConfig.for_test(format_timeout_s=1.0)) as h:
        release = asyncio.Event()

        async def stalled_header() -> object:
            yield b"RIFF\x24\x00"  # a header cut short, then nothing
            await asyncio.wait_for(release.wait(), 10)

        waiting = asyncio.create_task(
            drive_error(h, "task-wav", stalled_header(), DriveOptions(encoding="WAV"))
        )
        # Meanwhile the task is free: another drive of it (REJECT, the default) completes.
        events = [e async for e in h.client.drive("task-wav", [pcm(100)])]
        assert events[-1].WhichOneof("event") == "completed"
        error = await asyncio.wait_for(waiting, 5)
        release.set()
        assert_error(error, C.DEADLINE_EXCEEDED, Reason.FORMAT_TIMEOUT)
        assert len(h.sim.drives_for_task("task-wav")) == 1  # the stalled one never called
        await assert_stopped(h, "task-wav")


@pytest.mark.asyncio
async def test_max_duration_sends_stop() -> None:
    async with running_gateway(limits=LimitsConfig.for_test(max_drive_s=0.5)) as h:
        error = await drive_error(h, "task-long", realtime(chunks(pcm(3000), 3200), 100))
        assert_error(error, C.DEADLINE_EXCEEDED, Reason.MAX_DURATION)
        await assert_stopped(h, "task-long")


@pytest.mark.asyncio
async def test_gateway_busy_and_draining() -> None:
    async with running_gateway(limits=LimitsConfig.for_test(max_drives=1)) as h:
        first = h.client.drive("task-a", realtime(chunks(pcm(2000), 3200), 100))
        await anext(first)  # started
        error = await drive_error(h, "task-b", [pcm(100)])
        assert_error(error, C.RESOURCE_EXHAUSTED, Reason.GATEWAY_BUSY)
        await first.aclose()
        h.app.start_draining()
        error = await drive_error(h, "task-c", [pcm(100)])
        assert_error(error, C.UNAVAILABLE, Reason.DRAINING)
