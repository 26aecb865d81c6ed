"""Await redis-py without losing a cancellation.

Why: redis-py sometimes completes a command although the awaiting task was cancelled during
it, and the cancellation is gone: a task that should stop (a queued drive whose client left, a
lease refresher told to stop) carries on.

The caller: await every Redis call through :func:`cancellable`
(``await cancellable(redis.get(key))``), which raises the lost cancellation again.

How often it happened, and what it broke:
docs/performance.md#redis-cancellations-redis-py-swallowed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["cancellable"]

T = TypeVar("T")


async def cancellable(call: Awaitable[T]) -> T:
    """``await call``, then raise ``CancelledError`` if the task was cancelled meanwhile and the
    call swallowed it (the task's count of cancel requests grew). An enclosing
    ``asyncio.timeout`` that expired during the call still becomes its ``TimeoutError``: the
    request was the timeout's own."""
    task = asyncio.current_task()
    requested = task.cancelling() if task is not None else 0
    result = await call
    if task is not None and task.cancelling() > requested:
        raise asyncio.CancelledError
    return result
