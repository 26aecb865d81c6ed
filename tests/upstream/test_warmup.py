"""The API warm-up (:mod:`gateway.upstream.warmup`) over a real socket: with it, a call after an
idle spell longer than the vendor's keep-alive reuses the connection the warm-ups kept open;
without it, the call opens a new one. Counted at a TCP proxy in front of the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from bench.faulty_proxy import FaultyProxy
from gateway.config import Credentials
from gateway.simulator import Simulator
from gateway.upstream import UpstreamClient
from gateway.upstream.warmup import ApiWarmer
from tests.upstream.conftest import APP_ID, SECRET, TASK, short_config, sim_config

CREDENTIALS = Credentials(app_id=APP_ID, server_secret=SECRET)

#: The simulator closes a connection idle this long (a vendor's front end would, later).
KEEPALIVE_S = 0.3
IDLE_S = 1.0  # more than the keep-alive: an idle connection is closed by then


@asynccontextmanager
async def proxied() -> AsyncIterator[tuple[Simulator, FaultyProxy]]:
    async with Simulator(sim_config(keepalive_timeout_s=KEEPALIVE_S)) as sim:
        async with FaultyProxy(sim.port) as proxy:
            yield sim, proxy


async def two_calls_apart(warm_interval_s: float) -> int:
    """Two DriveByWsStream calls :data:`IDLE_S` apart; the connections they took."""
    async with proxied() as (_, proxy):
        url = f"http://127.0.0.1:{proxy.port}/"
        async with UpstreamClient(short_config(url, api_warm_interval_s=warm_interval_s)) as up:
            warmer = ApiWarmer(up, warm_interval_s)
            warmer.start()
            try:
                await up.drive_by_ws_stream(TASK, CREDENTIALS)
                await asyncio.sleep(IDLE_S)
                await up.drive_by_ws_stream(TASK, CREDENTIALS)
            finally:
                await warmer.stop()
        return proxy.accepted


@pytest.mark.asyncio
async def test_without_the_warm_up_a_call_after_a_pause_opens_a_new_connection() -> None:
    assert await two_calls_apart(0.0) == 2


@pytest.mark.asyncio
async def test_the_warm_up_keeps_the_connection_open_through_a_pause() -> None:
    assert await two_calls_apart(KEEPALIVE_S / 3) == 1


@pytest.mark.asyncio
async def test_a_failed_warm_up_is_reported_as_none_and_does_not_stop_the_warmer() -> None:
    async with proxied() as (sim, proxy):
        proxy.drop()  # every connection refused: each warm-up fails
        url = f"http://127.0.0.1:{proxy.port}/"
        async with UpstreamClient(short_config(url)) as up:
            assert await up.warm() is None
            warmer = ApiWarmer(up, 0.05)
            warmer.start()
            await asyncio.sleep(0.3)
            assert proxy.accepted >= 3  # it went on trying
            proxy.heal()
            await asyncio.sleep(0.2)
            assert await up.warm() == 405  # the simulator's answer to HEAD: no API call
            await warmer.stop()
        assert sim.api_calls == []  # a warm-up is not an API call: no QPS spent
