"""The Python client hands its users the gateway's real status, even when writing back to back
(grpc/grpc#36066), in both its async and blocking APIs; and its audio sources carry marks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc
from dhgateway_client import DriveError, Mark, sync

from gateway.testing import Harness
from tests.service.conftest import chunks, pcm, realtime

ROUNDS = 30


@pytest.mark.asyncio
async def test_task_busy_while_writing_back_to_back(harness: Harness) -> None:
    holder = harness.client.drive("held", realtime(chunks(pcm(10_000), 3200), 100))
    await anext(holder)
    flood = chunks(pcm(2000), 640)
    for _ in range(ROUNDS):
        with pytest.raises(DriveError) as caught:
            async for _ in harness.client.drive("held", flood):
                pass
        assert (caught.value.code, caught.value.reason) == (
            grpc.StatusCode.ALREADY_EXISTS,
            "TASK_BUSY",
        )
    await holder.aclose()


@pytest.mark.asyncio
async def test_config_required_while_writing_back_to_back(harness: Harness) -> None:
    stub = pb_grpc.DriveGatewayStub(harness.channel)
    from dhgateway_client._status_fix import keep_server_status

    for _ in range(ROUNDS):
        call = stub.Drive()  # type: ignore[call-arg]
        keep_server_status(call)
        try:
            for piece in chunks(pcm(1000), 640):
                await call.write(pb.DriveRequest(audio=piece))
            await call.done_writing()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass  # the gateway ended the stream while we wrote: its status comes next
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass
        error = DriveError.from_rpc_error(caught.value)
        assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CONFIG_REQUIRED")


@pytest.mark.asyncio
async def test_marks_between_chunks_are_echoed_as_the_avatar_plays_them(harness: Harness) -> None:
    audio = pcm(1000)

    async def source() -> AsyncIterator[bytes | Mark]:
        yield audio[:16000]
        yield Mark("half")
        yield audio[16000:]
        yield Mark("end")

    events = [e async for e in harness.client.drive("py-marks", source())]
    kinds = [e.WhichOneof("event") for e in events if e.WhichOneof("event") != "progress"]
    assert kinds == [
        "started",
        "playback_started",
        "mark_played",
        "mark_played",
        "playback_finished",
        "completed",
    ]
    marks = [(e.mark_played.name, e.mark_played.at_ms) for e in events if e.HasField("mark_played")]
    assert marks == [("half", 500), ("end", 1000)]
    (finished,) = [e.playback_finished for e in events if e.HasField("playback_finished")]
    assert (finished.played_ms, finished.interrupted) == (1000, False)
    assert finished.source == pb.PLAYBACK_SOURCE_ESTIMATED


@pytest.mark.asyncio
async def test_a_bad_mark_is_the_gateway_s_invalid_argument(harness: Harness) -> None:
    with pytest.raises(DriveError) as caught:
        async for _ in harness.client.drive("py-bad-mark", [pcm(100), Mark("")]):
            pass
    assert (caught.value.code, caught.value.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "BAD_MARK",
    )


@pytest.mark.asyncio
async def test_blocking_client(harness: Harness) -> None:
    def run() -> list[str | None]:
        with grpc.insecure_channel(harness.address) as channel:
            source: list[bytes | Mark] = [pcm(300), Mark("m300")]
            kinds: list[str | None] = [
                e.WhichOneof("event") for e in sync.drive(channel, "sync-task", source)
            ]
            with pytest.raises(DriveError) as caught:
                for _ in sync.drive(channel, " ", [pcm(300)]):
                    pass
            assert caught.value.reason == "TASK_ID_REQUIRED"
            return kinds

    kinds = await asyncio.to_thread(run)
    assert kinds[0] == "started" and kinds[-1] == "completed"
    assert [k for k in kinds if k and k.startswith(("playback", "mark"))] == [
        "playback_started",
        "mark_played",
        "playback_finished",
    ]
