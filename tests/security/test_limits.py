"""Limits: drives per API key, the message size, streams per connection, client pings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc
from dhgateway_client import DriveError, DriveGatewayClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.config import AuthConfig, Credentials, GatewayConfig, LimitsConfig, ServerConfig
from gateway.service.server import server_options
from tests.security.conftest import KEY_A, KEY_B, api_key, bearer, gateway, held_audio, started
from tests.service.conftest import pcm

C = grpc.StatusCode


async def completed(stream: AsyncIterator[pb.DriveEvent]) -> bool:
    return [e.WhichOneof("event") async for e in stream][-1] == "completed"


@pytest.mark.asyncio
async def test_drives_per_api_key() -> None:
    auth = AuthConfig(api_keys=(api_key("a", KEY_A, max_drives=1), api_key("b", KEY_B)))
    # "b" sets no limit of its own: the default per key applies.
    limits = LimitsConfig.for_test(max_drives_per_key=2)
    async with gateway(auth=auth, limits=limits) as h:
        a = DriveGatewayClient(h.channel, metadata=bearer(KEY_A))
        b = DriveGatewayClient(h.channel, metadata=bearer(KEY_B))
        release = asyncio.Event()
        first = a.drive("a-1", held_audio(release))
        await started(first)
        with pytest.raises(DriveError) as caught:
            async for _ in a.drive("a-2", [pcm(100)]):
                pass
        error = caught.value
        assert (error.code, error.reason) == (C.RESOURCE_EXHAUSTED, "GATEWAY_BUSY")
        assert (error.metadata["api_key"], error.metadata["limit"]) == ("a", "1")
        held_b = [b.drive(f"b-{i}", held_audio(release)) for i in range(2)]
        for stream in held_b:
            await started(stream)
        with pytest.raises(DriveError) as caught:
            async for _ in b.drive("b-3", [pcm(100)]):
                pass
        assert caught.value.metadata["limit"] == "2"
        release.set()
        for stream in (first, *held_b):
            assert await completed(stream)
        # The slots are free again.
        assert await completed(a.drive("a-3", [pcm(100)]))
        assert len(h.sim.drives) == 4  # the refused drives never reached the vendor


@pytest.mark.asyncio
async def test_an_oversized_message_fails_its_drive_and_the_gateway_stays_healthy() -> None:
    async with gateway(limits=LimitsConfig.for_test(max_chunk_bytes=4096)) as h:
        limit = dict(server_options(h.app))["grpc.max_receive_message_length"]
        release = asyncio.Event()

        async def audio() -> AsyncIterator[bytes]:
            yield pcm(100)
            async with asyncio.timeout(10):
                await release.wait()
            yield bytes(limit + 1)  # beyond what the transport accepts

        stream = h.client.drive("big", audio())
        drive_id = await started(stream)
        release.set()
        with pytest.raises(DriveError) as caught:
            async for _ in stream:
                pass
        assert caught.value.code == C.RESOURCE_EXHAUSTED
        record = await h.sim.wait_closed(drive_id)
        assert record.stopped_at is not None  # the drive that had started got its Stop
        # Between the chunk limit and the transport's limit: the gateway's own error.
        with pytest.raises(DriveError) as caught:
            async for _ in h.client.drive("big", [bytes(8192)]):
                pass
        assert (caught.value.code, caught.value.reason) == (C.INVALID_ARGUMENT, "CHUNK_TOO_LARGE")
        health = health_pb2_grpc.HealthStub(h.channel)
        answer = await health.Check(health_pb2.HealthCheckRequest())
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        assert await completed(h.client.drive("big", [pcm(100)]))
        assert h.app.drives == set()


@pytest.mark.asyncio
async def test_concurrent_streams_per_connection() -> None:
    async with gateway(server=ServerConfig(listen="127.0.0.1:0", max_concurrent_streams=1)) as h:
        release = asyncio.Event()
        holder = h.client.drive("t", held_audio(release))
        await started(holder)
        # The connection's one stream is taken: a second call on it waits (here, in vain).
        stub = pb_grpc.DriveGatewayStub(h.channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetCapabilities(pb.GetCapabilitiesRequest(), timeout=0.5)
        assert caught.value.code() == C.DEADLINE_EXCEEDED
        # Another connection is not affected (its own: channels share connections otherwise).
        options = [("grpc.use_local_subchannel_pool", 1)]
        async with grpc.aio.insecure_channel(h.address, options=options) as other:
            await pb_grpc.DriveGatewayStub(other).GetCapabilities(
                pb.GetCapabilitiesRequest(), timeout=5
            )
        release.set()
        assert await completed(holder)


@pytest.mark.asyncio
async def test_a_client_pinging_too_often_is_sent_away() -> None:
    server = ServerConfig(listen="127.0.0.1:0", min_ping_interval_s=60, max_ping_strikes=1)
    async with gateway(server=server) as h:
        options = [
            ("grpc.keepalive_time_ms", 20),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.use_local_subchannel_pool", 1),
        ]
        async with grpc.aio.insecure_channel(h.address, options=options) as channel:
            stream = DriveGatewayClient(channel).drive("t", held_audio(asyncio.Event()))
            with pytest.raises(DriveError) as caught:
                async with asyncio.timeout(10):
                    await started(stream)
                    async for _ in stream:
                        pass
            assert caught.value.code == C.UNAVAILABLE
            assert "ping" in caught.value.message.lower()  # GOAWAY "too_many_pings"
            await h.sim.wait_for(lambda: all(r.closed_at for r in h.sim.drives))
            assert all(r.stopped_at for r in h.sim.drives if r.start is not None)


def test_server_options_come_from_the_config() -> None:
    config = GatewayConfig(
        profiles={"default": Credentials(app_id=1, server_secret="s")},
        server=ServerConfig(
            keepalive_time_s=20,
            keepalive_timeout_s=5,
            min_ping_interval_s=15,
            max_ping_strikes=3,
            max_concurrent_streams=64,
        ),
    )
    options = dict(server_options(config))
    assert options["grpc.keepalive_time_ms"] == 20_000
    assert options["grpc.keepalive_timeout_ms"] == 5_000
    assert options["grpc.http2.min_ping_interval_without_data_ms"] == 15_000
    assert options["grpc.http2.max_ping_strikes"] == 3
    assert options["grpc.max_concurrent_streams"] == 64
    assert options["grpc.max_receive_message_length"] == 512 * 1024 + 64 * 1024
    assert options["grpc.so_reuseport"] == 0
