"""Fixtures for the gateway's end-to-end tests: real simulator, real gateway, real client."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from dhgateway_client import DriveError

from gateway.config import Credentials, ObservabilityConfig, ServerConfig
from gateway.simulator import Simulator, SimulatorConfig
from gateway.testing import TEST_APP_ID, Harness, running_gateway

#: The CallbackSecret of :func:`callback_gateway`'s profile.
CALLBACK_SECRET = "callback-secret-for-tests-0123456789"


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    async with running_gateway() as h:
        yield h


@asynccontextmanager
async def callback_gateway(
    *, grace_ms: int = 600, simulator: dict[str, Any] | None = None
) -> AsyncIterator[Harness]:
    """A gateway that receives the vendor's callbacks (signed with :data:`CALLBACK_SECRET`,
    ``grace_ms`` its grace window), its metrics on, in front of a simulator of its own
    (``simulator``: more :class:`SimulatorConfig` fields) that sends it none until told
    (``sim.set_callbacks``)."""
    config = SimulatorConfig(
        app_id=TEST_APP_ID,
        server_secret=secrets.token_hex(16),
        host="127.0.0.1",
        port=0,
        **(simulator or {}),
    )
    async with Simulator(config) as sim:
        profiles = {
            "default": Credentials(
                app_id=sim.config.app_id,
                server_secret=sim.config.server_secret,
                callback_secret=CALLBACK_SECRET,
            )
        }
        server = ServerConfig(
            listen="127.0.0.1:0", callback_listen="127.0.0.1:0", callback_grace_ms=grace_ms
        )
        metrics = ObservabilityConfig(metrics_listen="127.0.0.1:0")
        async with running_gateway(
            sim=sim, profiles=profiles, server=server, observability=metrics
        ) as h:
            yield h


async def stream_error(stream: AsyncIterator[Any]) -> DriveError:
    """Read a drive's events to the end, which must be a DriveError; return it."""
    with pytest.raises(DriveError) as caught:
        async for _ in stream:
            pass
    return caught.value


def pcm(ms: int, rate: int = 16000, seed: int = 1) -> bytes:
    """``ms`` of deterministic, non-silent s16le mono audio."""
    n = rate * ms // 1000
    return bytes((seed * 7 + i * 13) % 251 for i in range(n * 2))


def chunks(data: bytes, size: int) -> list[bytes]:
    """``data`` cut into ``size``-byte pieces."""
    return [data[i : i + size] for i in range(0, len(data), size)]


async def realtime(
    pieces: list[bytes], piece_ms: float, *, head_start_ms: float = 100
) -> AsyncIterator[bytes]:
    """Yield ``pieces`` at 1x on an absolute schedule (no drift from slow iterations).

    The first ``head_start_ms`` of audio goes at once, as a TTS engine's first burst does: the
    avatar then has a cushion, so the machine's scheduling jitter is not mistaken for a stutter.
    """
    loop = asyncio.get_running_loop()
    began = loop.time() - head_start_ms / 1000
    for index, piece in enumerate(pieces):
        delay = began + index * piece_ms / 1000 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield piece


async def started_drive_id(stream: AsyncIterator[Any]) -> str:
    """Wait for a drive's first event, which must be ``started``; its DriveId."""
    event = await anext(stream)
    assert event.WhichOneof("event") == "started", event
    return str(event.drive_id)


@asynccontextmanager
async def two_replicas(redis_url: str) -> AsyncIterator[tuple[Harness, Harness]]:
    """Two gateways sharing the Redis at ``redis_url`` (emptied first) and one simulator."""
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    server = ServerConfig(listen="127.0.0.1:0", redis_url=redis_url)
    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(
            Simulator(SimulatorConfig(app_id=TEST_APP_ID, server_secret=secrets.token_hex(16)))
        )
        a = await stack.enter_async_context(running_gateway(sim=sim, server=server))
        b = await stack.enter_async_context(running_gateway(sim=sim, server=server))
        yield a, b
