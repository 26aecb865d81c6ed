"""The Redis registry while Redis is away: clear errors, no drive left playing once its lease
could lapse, and everything (task events included) working again once Redis is back."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest
import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.config import ServerConfig
from gateway.drive.spec import ConflictPolicy
from gateway.errors import Reason, SharedStateUnavailable
from gateway.registry.redis import RedisRegistry
from gateway.registry.redis_client import shared_client
from gateway.testing import running_gateway
from tests.conftest import free_port, redis_server
from tests.registry.test_contract import KEY, FakeDrive, quick

REJECT, PREEMPT = ConflictPolicy.REJECT, ConflictPolicy.PREEMPT


def client(url: str) -> aioredis.Redis:
    """A client set up as the gateway's (one quick retry), with shorter timeouts."""
    return shared_client(url, timeout_s=0.5)


@pytest.mark.asyncio
async def test_an_outage_ends_held_drives_fails_new_ones_clearly_and_heals() -> None:
    port = free_port()
    with contextlib.ExitStack() as server:
        url = server.enter_context(redis_server(port))
        ours, theirs = client(url), client(url)
        registry = RedisRegistry(ours, timing=quick(0.6), poll_s=0.05)
        other = RedisRegistry(theirs, timing=quick(0.6), poll_s=0.05)
        try:
            a = FakeDrive("a")
            lease = await registry.acquire(KEY, a, policy=REJECT, timeout_s=1)
            await other.start()
            server.close()  # Redis goes away...
            # ...so the drive must end before its lease could lapse (another replica could
            # then take the task while it still plays).
            async with asyncio.timeout(5):
                await a.lost.wait()
            assert a.reasons == [Reason.SHARED_STATE_UNAVAILABLE]
            await registry.release(lease)  # the drive's clean-up goes on regardless
            for attempt in (
                registry.acquire(KEY, FakeDrive("b"), policy=REJECT, timeout_s=1),
                registry.stop(KEY, 1),
            ):
                with pytest.raises(SharedStateUnavailable) as caught:
                    await asyncio.wait_for(attempt, 5)
                assert caught.value.reason is Reason.SHARED_STATE_UNAVAILABLE
            server.enter_context(redis_server(port))  # back, and empty
            b = FakeDrive("b")
            lease = await asyncio.wait_for(registry.acquire(KEY, b, policy=REJECT, timeout_s=1), 5)
            # The task events flow again: another replica's PREEMPT reaches the holder.
            preemptor = asyncio.create_task(
                other.acquire(KEY, FakeDrive("c"), policy=PREEMPT, timeout_s=5)
            )
            async with asyncio.timeout(5):
                await b.preempted.wait()
            await registry.release(lease)
            await other.release(await asyncio.wait_for(preemptor, 5))
        finally:
            for each in (registry, other):
                await each.close()
            await ours.aclose()
            await theirs.aclose()


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _health(channel: grpc.aio.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    answer = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
    return int(answer.status)


async def _until_health(channel: grpc.aio.Channel, status: int) -> None:
    for _ in range(100):  # 10 s at most
        if await _health(channel) == status:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"health never became {status}")


@pytest.mark.asyncio
async def test_health_is_not_serving_while_redis_does_not_answer() -> None:
    """Every drive of a replica needs Redis: without it the replica must not look healthy."""
    port = free_port()
    with contextlib.ExitStack() as server:
        url = server.enter_context(redis_server(port))
        listen = ServerConfig(listen="127.0.0.1:0", redis_url=url)
        async with running_gateway(server=listen) as h:
            assert await _health(h.channel) == SERVING and h.app.ready()
            server.close()  # Redis goes away
            await _until_health(h.channel, NOT_SERVING)
            assert not h.app.ready()
            server.enter_context(redis_server(port))  # and comes back
            await _until_health(h.channel, SERVING)
            assert h.app.ready()
            events = [e async for e in h.client.drive("task-back", [bytes(3200)])]
            assert events[-1].WhichOneof("event") == "completed"
