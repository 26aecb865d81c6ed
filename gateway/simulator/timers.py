"""One pending timer per key, on the running event loop: the task and playout books' clocks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable

__all__ = ["Timers"]


class Timers:
    """At most one armed timer per key; none fire once closed (the records stay)."""

    def __init__(self) -> None:
        self._handles: dict[Hashable, asyncio.TimerHandle] = {}
        self.closed = False

    def arm(self, key: Hashable, at: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` at ``at`` (``time.monotonic()``), replacing the key's timer."""
        self.cancel(key)
        if self.closed:
            return
        delay = max(0.0, at - time.monotonic())

        def fire() -> None:
            self._handles.pop(key, None)
            callback()

        self._handles[key] = asyncio.get_running_loop().call_later(delay, fire)

    def cancel(self, key: Hashable) -> None:
        handle = self._handles.pop(key, None)
        if handle is not None:
            handle.cancel()

    def clear(self) -> None:
        """Cancel every timer."""
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()

    def open(self) -> None:
        """The simulator (re)starts: timers may be armed again."""
        self.closed = False

    def close(self) -> None:
        """The simulator stops: cancel every timer, arm no more."""
        self.closed = True
        self.clear()
