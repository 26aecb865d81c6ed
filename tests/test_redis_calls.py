"""A cancellation that redis-py swallowed is raised again (gateway.redis_calls)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.redis_calls import cancellable


async def swallowing(seconds: float) -> str:
    """An awaitable that, like redis-py now and then, completes although it was cancelled."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        pass
    return "answer"


@pytest.mark.asyncio
async def test_an_answer_comes_through() -> None:
    assert await cancellable(swallowing(0)) == "answer"


@pytest.mark.asyncio
async def test_a_swallowed_cancellation_is_raised_again() -> None:
    task = asyncio.create_task(cancellable(swallowing(5)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    # Without the wrapper, the same cancellation is lost.
    bare = asyncio.create_task(swallowing(5))
    await asyncio.sleep(0.01)
    bare.cancel()
    assert await asyncio.wait_for(bare, 5) == "answer"


@pytest.mark.asyncio
async def test_an_enclosing_timeout_still_times_out() -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await cancellable(swallowing(5))
