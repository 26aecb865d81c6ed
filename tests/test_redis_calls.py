"""A cancellation that redis-py swallowed is raised again (gateway.redis_calls)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.redis_calls import cancellable


async def swallowing(waiting: asyncio.Event | None = None) -> str:
    """An awaitable that, like redis-py now and then, completes although it was cancelled;
    ``waiting`` is set once it waits (a task cancelled before its first step would never get
    this far)."""
    if waiting is not None:
        waiting.set()
    try:
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        pass
    return "answer"


async def cancelled_while_waiting(call: asyncio.Task[str], waiting: asyncio.Event) -> str:
    await asyncio.wait_for(waiting.wait(), 5)
    call.cancel()
    return await asyncio.wait_for(call, 5)


@pytest.mark.asyncio
async def test_an_answer_comes_through() -> None:
    async def quick() -> str:
        return "answer"

    assert await cancellable(quick()) == "answer"


@pytest.mark.asyncio
async def test_a_swallowed_cancellation_is_raised_again() -> None:
    waiting = asyncio.Event()
    wrapped = asyncio.create_task(cancellable(swallowing(waiting)))
    with pytest.raises(asyncio.CancelledError):
        await cancelled_while_waiting(wrapped, waiting)
    # Without the wrapper, the same cancellation is lost.
    waiting = asyncio.Event()
    bare = asyncio.create_task(swallowing(waiting))
    assert await cancelled_while_waiting(bare, waiting) == "answer"


@pytest.mark.asyncio
async def test_an_enclosing_timeout_still_times_out() -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await cancellable(swallowing())
