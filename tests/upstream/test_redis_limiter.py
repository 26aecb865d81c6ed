"""The vendor's request rate kept by several replicas together, on a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from gateway.errors import Reason, SharedStateUnavailable
from gateway.upstream.redis_limiter import RedisRateLimiter
from tests.conftest import free_port
from tests.upstream.test_limiter import max_in_any_window


@pytest_asyncio.fixture
async def clients(
    redis_client: aioredis.Redis, redis_url: str
) -> AsyncIterator[tuple[aioredis.Redis, aioredis.Redis]]:
    """Two connections to one flushed Redis: two replicas."""
    other = aioredis.Redis.from_url(redis_url)
    try:
        yield redis_client, other
    finally:
        await other.aclose()


@pytest.fixture
def two_per_tenth(redis_client: aioredis.Redis) -> RedisRateLimiter:
    """One replica's limiter allowing 2 requests per 0.1 s, no margin."""
    return RedisRateLimiter(redis_client, 20, window_s=0.1, margin_s=0.0)


@pytest.mark.asyncio
async def test_replicas_share_one_window(clients: tuple[aioredis.Redis, aioredis.Redis]) -> None:
    # 100/s over a 0.1 s window: 10 per window (+20 ms margin) for both replicas together.
    replicas = [RedisRateLimiter(c, 100, window_s=0.1, margin_s=0.02) for c in clients]
    loop = asyncio.get_running_loop()
    started: list[float] = []

    async def caller(index: int) -> float:
        waited = await replicas[index % 2].acquire("app")
        started.append(loop.time())
        return waited

    async with asyncio.timeout(5):
        waits = await asyncio.gather(*(caller(i) for i in range(40)))
    assert sum(1 for w in waits if w == 0) == 10  # not 10 per replica
    assert max(waits) > 0.3  # 4 windows of 0.12 s; per replica it would be 2
    assert max_in_any_window(started, 0.1) <= 10
    # Another AppId has its own window.
    assert await replicas[0].acquire("other") == 0.0


@pytest.mark.asyncio
async def test_the_booking_keeps_capacity_times_and_expires_after_its_window(
    two_per_tenth: RedisRateLimiter, redis_client: aioredis.Redis
) -> None:
    for _ in range(3):
        await two_per_tenth.acquire("app")
    assert await redis_client.llen("dhgw:rate:app") == 2
    assert 0 < await redis_client.pttl("dhgw:rate:app") <= 105  # no key outlives its window
    await asyncio.sleep(0.15)
    assert await redis_client.exists("dhgw:rate:app") == 0


@pytest.mark.asyncio
async def test_a_wait_is_announced_before_it_is_slept(two_per_tenth: RedisRateLimiter) -> None:
    announced: list[float] = []

    async def on_wait(delay: float) -> None:
        announced.append(delay)

    waits = [await two_per_tenth.acquire("app", on_wait) for _ in range(3)]
    assert waits[:2] == [0.0, 0.0] and 0 < waits[2] <= 0.1
    assert announced == [waits[2]]


@pytest.mark.asyncio
async def test_redis_down_is_a_clear_unavailable_error() -> None:
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(SharedStateUnavailable) as caught:
            await RedisRateLimiter(client, 10).acquire("app")
        assert caught.value.reason is Reason.SHARED_STATE_UNAVAILABLE
        assert "127.0.0.1" not in caught.value.message  # the address stays in the server log
    finally:
        await client.aclose()
