"""API keys: UNAUTHENTICATED without one, PERMISSION_DENIED beyond its profiles and tasks.

A refused drive never reaches the vendor: the simulator sees no API call for it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

import grpc
import pytest
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc
from dhgateway_client import DriveError, DriveGatewayClient, DriveOptions
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.config import AuthConfig, Credentials
from gateway.errors import Reason
from gateway.service.status import STATUS_OF
from gateway.testing import TEST_APP_ID
from tests.security.conftest import (
    KEY_A,
    KEY_B,
    SECRET,
    api_key,
    bearer,
    gateway,
    held_audio,
    started,
)
from tests.service.conftest import pcm, stream_error

C = grpc.StatusCode


def keys(*entries: object) -> AuthConfig:
    return AuthConfig(api_keys=tuple(entries))  # type: ignore[arg-type]


async def drive_error(
    client: DriveGatewayClient, task: str, options: DriveOptions | None = None
) -> DriveError:
    return await stream_error(client.drive(task, [pcm(100)], options))


async def completes(client: DriveGatewayClient, task: str, profile: str = "") -> None:
    events = [e async for e in client.drive(task, [pcm(100)], DriveOptions(profile=profile))]
    assert events[-1].WhichOneof("event") == "completed"


async def unary_error(call: Callable[[], Awaitable[object]]) -> DriveError:
    """The error of a unary call (the client raises DriveError or, for some, AioRpcError)."""
    try:
        await call()
    except DriveError as error:
        return error
    except grpc.aio.AioRpcError as error:
        return DriveError.from_rpc_error(error)
    raise AssertionError("the call succeeded")


def assert_reason(error: DriveError, reason: Reason) -> None:
    assert (error.code, error.reason) == (STATUS_OF[reason], reason.value), error


@pytest.mark.asyncio
async def test_every_method_needs_a_valid_key_but_health() -> None:
    async with gateway(auth=keys(api_key("a", KEY_A))) as h:
        cases: list[list[tuple[str, str]] | None] = [
            None,
            bearer("dhgw_wrong"),
            [("authorization", f"Basic {KEY_A}")],
            [("authorization", "Bearer ")],
            [*bearer(KEY_A), *bearer(KEY_A)],  # two headers: ambiguous, refused
        ]
        for metadata in cases:
            client = DriveGatewayClient(h.channel, metadata=metadata)
            assert_reason(await drive_error(client, "t"), Reason.UNAUTHENTICATED)
            stop = functools.partial(client.stop_drive, "t")
            for call in (client.capabilities, client.list_drives, stop):
                assert_reason(await unary_error(call), Reason.UNAUTHENTICATED)
        assert h.sim.api_calls == []
        # Health answers anyone (Kubernetes' gRPC probes send no metadata).
        health = health_pb2_grpc.HealthStub(h.channel)
        answer = await health.Check(health_pb2.HealthCheckRequest())
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        # The right key, in any letter case of the scheme.
        for scheme in ("Bearer", "bearer"):
            metadata = [("authorization", f"{scheme} {KEY_A}")]
            await completes(DriveGatewayClient(h.channel, metadata=metadata), "t")


@pytest.mark.asyncio
async def test_task_patterns_and_profiles_limit_a_key() -> None:
    profiles = {
        # The default profile's secret is wrong: a drive that uses it fails at the vendor.
        "default": Credentials(app_id=TEST_APP_ID, server_secret="not-the-secret"),
        "tenant-b": Credentials(app_id=TEST_APP_ID, server_secret=SECRET),
    }
    auth = keys(
        api_key("a", KEY_A, tasks=("room-*", "lobby")),
        api_key("b", KEY_B, profiles=("tenant-b",)),
    )
    async with gateway(auth=auth, profiles=profiles) as h:
        a = DriveGatewayClient(h.channel, metadata=bearer(KEY_A))
        b = DriveGatewayClient(h.channel, metadata=bearer(KEY_B))
        for task in ("other", "room", "Room-1", "lobby-2"):
            error = await drive_error(a, task)
            assert_reason(error, Reason.PERMISSION_DENIED)
            assert error.metadata["task_id"] == task
        # The profile is checked before it is looked up: no probing for profile names.
        for profile in ("", "default", "nope"):
            error = await drive_error(b, "x", DriveOptions(profile=profile))
            assert_reason(error, Reason.PERMISSION_DENIED)
        assert h.sim.api_calls == []  # nothing refused reached the vendor
        assert_reason(
            await drive_error(a, "lobby", DriveOptions(profile="nope")), Reason.UNKNOWN_PROFILE
        )
        # Profiles select the credentials: tenant-b's are right, the default's are not.
        await completes(b, "x", profile="tenant-b")
        await completes(a, "room-1", profile="tenant-b")
        assert_reason(await drive_error(a, "room-2"), Reason.UPSTREAM_AUTH)


@pytest.mark.asyncio
async def test_stop_drive_and_list_drives_see_only_what_a_key_may_drive() -> None:
    auth = keys(api_key("a", KEY_A, tasks=("a-*",)), api_key("b", KEY_B, tasks=("b-*",)))
    async with gateway(auth=auth) as h:
        a = DriveGatewayClient(h.channel, metadata=bearer(KEY_A))
        b = DriveGatewayClient(h.channel, metadata=bearer(KEY_B))
        release = asyncio.Event()
        drive_a = a.drive("a-1", held_audio(release))
        drive_b = b.drive("b-1", held_audio(release))
        id_a, id_b = await started(drive_a), await started(drive_b)
        assert [d.drive_id for d in await a.list_drives()] == [id_a]
        assert [d.drive_id for d in await b.list_drives()] == [id_b]
        assert await b.list_drives("a-1") == []
        assert_reason(await unary_error(lambda: b.stop_drive("a-1")), Reason.PERMISSION_DENIED)
        assert h.sim.drive(id_a).stopped_at is None
        assert await a.stop_drive("a-1") == id_a
        with pytest.raises(DriveError) as caught:
            async for _ in drive_a:
                pass
        assert_reason(caught.value, Reason.STOPPED_BY_REQUEST)
        release.set()
        assert [e.WhichOneof("event") async for e in drive_b][-1] == "completed"


@pytest.mark.asyncio
async def test_raw_stub_gets_error_info_from_the_interceptor() -> None:
    """The interceptor refuses before the handler runs, with the same ErrorInfo."""
    async with gateway(auth=keys(api_key("a", KEY_A))) as h:
        stub = pb_grpc.DriveGatewayStub(h.channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetCapabilities(pb.GetCapabilitiesRequest())
        error = DriveError.from_rpc_error(caught.value)
        assert_reason(error, Reason.UNAUTHENTICATED)
        assert "Bearer" in error.message
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stub.Drive(iter([pb.DriveRequest(config=pb.DriveConfig(task_id="t"))])):
                pass
        assert_reason(DriveError.from_rpc_error(caught.value), Reason.UNAUTHENTICATED)
        answer = await stub.GetCapabilities(pb.GetCapabilitiesRequest(), metadata=bearer(KEY_A))
        assert answer.max_chunk_bytes == h.config.limits.max_chunk_bytes


@pytest.mark.asyncio
async def test_without_keys_anyone_may_call() -> None:
    async with gateway() as h:
        await completes(h.client, "t")
        await completes(DriveGatewayClient(h.channel, metadata=bearer("anything")), "t")
