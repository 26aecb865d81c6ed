"""A one-waiter :class:`asyncio.Event`, for the per-drive wake-ups.

An ``asyncio.Event`` keeps a ``deque`` for its waiters from birth: about 1.1 KiB per event, and a
drive needs two, each only ever awaited by one task at a time. :class:`Flag` keeps a single
future, created only while someone waits.
"""

from __future__ import annotations

import asyncio

__all__ = ["Flag"]


class Flag:
    """Like ``asyncio.Event``, for ONE waiting task at a time (a second concurrent
    :meth:`wait` is a bug and raises RuntimeError)."""

    __slots__ = ("_set", "_waiter")

    def __init__(self, value: bool = False) -> None:
        self._set = value
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        """Set the flag and wake the waiter, if any."""
        self._set = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        """Return once the flag is set (at once if it is)."""
        if self._set:
            return
        if self._waiter is not None:
            raise RuntimeError("Flag.wait() is already awaited by another task")
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None
