"""Flag: an asyncio.Event for one waiter at a time."""

from __future__ import annotations

import asyncio

import pytest

from gateway.service.flag import Flag


@pytest.mark.asyncio
async def test_wait_returns_at_once_when_set_and_after_set_otherwise() -> None:
    assert Flag(True).is_set()
    await asyncio.wait_for(Flag(True).wait(), 1)
    flag = Flag()
    waiting = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    assert not waiting.done()
    flag.set()
    await asyncio.wait_for(waiting, 1)
    flag.clear()
    assert not flag.is_set()


@pytest.mark.asyncio
async def test_a_cancelled_wait_leaves_the_flag_usable() -> None:
    flag = Flag()
    waiting = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    flag.set()  # no waiter left: nothing to wake, no error
    await asyncio.wait_for(flag.wait(), 1)


@pytest.mark.asyncio
async def test_a_second_concurrent_waiter_is_a_bug() -> None:
    flag = Flag()
    first = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="already awaited"):
        await flag.wait()
    flag.set()
    await asyncio.wait_for(first, 1)
