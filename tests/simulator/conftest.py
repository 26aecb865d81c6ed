from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio

from gateway.simulator import Simulator, SimulatorConfig

from .helpers import APP_ID, SECRET
from .receiver import CallbackReceiver, callback_config


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


@pytest_asyncio.fixture
async def rx() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver() as receiver:
        yield receiver


@pytest_asyncio.fixture
async def csim(rx: CallbackReceiver) -> AsyncIterator[Simulator]:
    """A simulator calling ``rx`` back; retries 100x faster than the vendor's."""
    config = SimulatorConfig(**callback_config(rx.url, callback_retry_scale=0.01))
    async with Simulator(config) as simulator:
        yield simulator
