"""Shared fixtures of the upstream tests: the vendor-cloud simulator on a loopback port, and
short timeouts and budgets so that every failure shows in about a second."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import pytest_asyncio

from gateway.config import Credentials, UpstreamConfig
from gateway.errors import UpstreamDisconnected
from gateway.simulator import Simulator, SimulatorConfig
from gateway.upstream import DriveSession, UpstreamClient

APP_ID = 1234567890
SECRET = "s" * 32
TASK = "t1"


def short_config(api_url: str, **changes: Any) -> UpstreamConfig:
    """Test timeouts: a failure shows in about a second; keepalive notices a dead peer fast."""
    config = UpstreamConfig(
        api_url=api_url,
        connect_timeout_s=0.5,
        request_timeout_s=0.5,
        retry_budget_s=1.5,
        rate_limit_budget_s=3.0,
        backoff_initial_s=0.02,
        backoff_max_s=0.2,
        requests_per_second=10,
        ws_handshake_timeout_s=1.0,
        ws_ping_interval_s=0.3,
        ws_ping_timeout_s=0.3,
        ws_close_timeout_s=0.5,
    )
    return dataclasses.replace(config, **changes) if changes else config


def sim_config(**changes: Any) -> SimulatorConfig:
    settings: dict[str, Any] = {
        "app_id": APP_ID,
        "server_secret": SECRET,
        "host": "127.0.0.1",
        "port": 0,
        "tasks": None,
        "requests_per_second": 10,
        "underrun_tolerance_ms": 20,
        "tls": False,
    }
    return SimulatorConfig(**(settings | changes))


def free_port() -> int:
    """A loopback port that nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pcm(n_bytes: int) -> bytes:
    """Deterministic, non-repeating-looking s16le bytes, so that order errors would show."""
    return bytes((i * 7 + i // 256) % 256 for i in range(n_bytes))


async def send_paced(
    session: DriveSession, audio: bytes, frame_bytes: int, *, lead_s: float = 0.1
) -> None:
    """Send ``audio`` in frames at 1x real time, ``lead_s`` ahead of the playhead."""
    loop = asyncio.get_running_loop()
    bytes_per_s = session.sample_rate * session.channels * 2
    t0 = loop.time()
    for offset in range(0, len(audio), frame_bytes):
        delay = t0 + offset / bytes_per_s - lead_s - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await session.send_audio(audio[offset : offset + frame_bytes])


@pytest.fixture
def credentials() -> Credentials:
    return Credentials(app_id=APP_ID, server_secret=SECRET)


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(sim_config()) as simulator:
        yield simulator


@pytest.fixture
def config(sim: Simulator) -> UpstreamConfig:
    return short_config(sim.http_url)


@pytest_asyncio.fixture
async def client(config: UpstreamConfig) -> AsyncIterator[UpstreamClient]:
    async with UpstreamClient(config) as upstream:
        yield upstream


@asynccontextmanager
async def driving(session: DriveSession) -> AsyncIterator[DriveSession]:
    """Use an open session as the gateway does: Stop once the block's audio went out cleanly;
    closed whatever happened."""
    try:
        yield session
        await session.send_stop()
    finally:
        await session.close()


async def lost(session: DriveSession, timeout_s: float) -> UpstreamDisconnected | None:
    """Wait (at most ``timeout_s``) until the session's connection is gone; why it went."""
    return await asyncio.wait_for(asyncio.shield(session.closed), timeout_s)
