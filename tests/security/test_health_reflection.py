"""grpc.health.v1 (SERVING, NOT_SERVING while draining) and reflection with grpcio-reflection's
own client, through TLS and an API key, as grpcurl-like tools use it."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from gateway.config import AuthConfig, ServerConfig, TlsConfig
from gateway.service.server import HEALTH_SERVICE_NAME, SERVICE_NAME, drain
from tests.security.conftest import KEY_A, Pki, api_key, gateway, held_audio, started

H = health_pb2.HealthCheckResponse


@pytest.mark.asyncio
async def test_health_serving_then_not_serving_while_draining() -> None:
    async with gateway() as h:
        health = health_pb2_grpc.HealthStub(h.channel)
        for service in ("", SERVICE_NAME):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert answer.status == H.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        watch = health.Watch(health_pb2.HealthCheckRequest())
        assert (await anext(aiter(watch))).status == H.SERVING
        release = asyncio.Event()
        holder = h.client.drive("t", held_audio(release))
        await started(holder)
        draining = asyncio.create_task(drain(h.app, h.server, timeout_s=10))
        # Watch reports the change as soon as the drain begins, while the drive goes on.
        async with asyncio.timeout(5):
            assert (await anext(aiter(watch))).status == H.NOT_SERVING
        answer = await health.Check(health_pb2.HealthCheckRequest())
        assert answer.status == H.NOT_SERVING
        assert not draining.done()
        release.set()
        assert [e.WhichOneof("event") async for e in holder][-1] == "completed"
        async with asyncio.timeout(10):
            await draining
        watch.cancel()


def _reflect_and_call(address: str, credentials: grpc.ChannelCredentials) -> tuple[list[str], int]:
    """What a generic tool does: list the services, resolve a method, call it. Blocking."""
    with grpc.secure_channel(address, credentials) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = sorted(database.get_services())
        pool = descriptor_pool.DescriptorPool(database)
        method = pool.FindServiceByName(SERVICE_NAME).FindMethodByName("GetCapabilities")
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        call = channel.unary_unary(
            f"/{SERVICE_NAME}/GetCapabilities",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        response = call(request_class(), timeout=5)
        return services, int(response.max_chunk_bytes)


@pytest.mark.asyncio
async def test_reflection_lists_services_and_drives_a_generic_call(pki: Pki) -> None:
    tls = TlsConfig(cert_file=str(pki.server_cert), key_file=str(pki.server_key))
    server = ServerConfig(listen="127.0.0.1:0", tls=tls)
    auth = AuthConfig(api_keys=(api_key("a", KEY_A),))
    async with gateway(server=server, auth=auth) as h:
        credentials = grpc.composite_channel_credentials(
            pki.channel_credentials(), grpc.access_token_call_credentials(KEY_A)
        )
        # The blocking client runs in a thread: the gateway serves on this loop.
        services, max_chunk = await asyncio.wait_for(
            asyncio.to_thread(_reflect_and_call, h.address, credentials), 30
        )
        assert services == sorted(
            [SERVICE_NAME, HEALTH_SERVICE_NAME, "grpc.reflection.v1alpha.ServerReflection"]
        )
        assert max_chunk == h.config.limits.max_chunk_bytes
        # Reflection is an API like the others: no key, no answer.
        with pytest.raises(grpc.RpcError) as caught:
            await asyncio.wait_for(
                asyncio.to_thread(_reflect_and_call, h.address, pki.channel_credentials()), 30
            )
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
