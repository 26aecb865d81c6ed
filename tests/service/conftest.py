"""Fixtures for the gateway's end-to-end tests: real simulator, real gateway, real client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from dhgateway_client import DriveError

from gateway.testing import Harness, running_gateway


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    async with running_gateway() as h:
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
