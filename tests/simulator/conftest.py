from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio

from gateway.simulator import Simulator, SimulatorConfig

from .helpers import APP_ID, SECRET


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator on a free loopback port, accepting any TaskId."""
    config = SimulatorConfig(app_id=APP_ID, server_secret=SECRET, host="127.0.0.1", port=0)
    async with Simulator(config) as simulator:
        yield simulator


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client
