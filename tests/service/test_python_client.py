"""The Python client hands its users the gateway's real status, even when writing back to back
(grpc/grpc#36066), in both its async and blocking APIs."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc
from dhgateway_client import DriveError, sync

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
async def test_blocking_client(harness: Harness) -> None:
    def run() -> list[str | None]:
        with grpc.insecure_channel(harness.address) as channel:
            kinds: list[str | None] = [
                e.WhichOneof("event") for e in sync.drive(channel, "sync-task", [pcm(300)])
            ]
            with pytest.raises(DriveError) as caught:
                for _ in sync.drive(channel, " ", [pcm(300)]):
                    pass
            assert caught.value.reason == "TASK_ID_REQUIRED"
            return kinds

    kinds = await asyncio.to_thread(run)
    assert kinds[0] == "started" and kinds[-1] == "completed"
