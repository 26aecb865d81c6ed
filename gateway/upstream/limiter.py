"""Request-rate limiting in front of the vendor's API (10 requests/s, zego-api.md §5).

:class:`RequestLimiter` is the interface the HTTP client waits on before every attempt;
:class:`LocalRateLimiter` is the in-process implementation, built on the pure
:class:`SlidingWindow`. Replicas share one through Redis instead
(:class:`~gateway.upstream.redis_limiter.RedisRateLimiter`), with the same window.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = [
    "DEFAULT_MARGIN_S",
    "LocalRateLimiter",
    "RequestLimiter",
    "SlidingWindow",
    "wait_turn",
    "window_for",
]

DEFAULT_MARGIN_S = 0.1
"""Added to every window. We count request starts; the vendor counts arrivals, on its clock.
A request on a fresh connection arrives later (TCP and TLS handshakes: about two round trips)
than one on a pooled connection, so a cold burst followed by a warm one looks closer together
to the vendor than to us. Measured on loopback under CPU load the difference reached 45 ms;
0.1 s also covers a couple of in-country round trips, for about 9 % of the peak rate. What it
does not cover ends as a 400010009, which the client retries."""


WaitCallback = Callable[[float], Awaitable[None]]
"""Awaited with the seconds a request is about to wait for the vendor's rate limit."""


class RequestLimiter(Protocol):
    """Admits requests so that one key (an AppId) never goes over the vendor's rate."""

    async def acquire(self, key: str, on_wait: WaitCallback | None = None) -> float:
        """Wait for this request's turn, then return the seconds waited.

        ``on_wait`` is awaited with the expected wait before waiting (never when there is none),
        so a caller can tell its client why nothing happens.

        Call it immediately before sending each request, retries included: a request that
        starts much later than its turn may cross into the next window.
        """
        ...


class SlidingWindow:
    """Hands out start times so that no window of ``window_s`` holds more than ``capacity``.

    Sans-I/O: the caller passes the time in and sleeps until the time it gets back. Times are
    handed out in call order, so callers are served first come, first served.

    Args:
        capacity: how many requests may start in any window.
        window_s: the length of the window, in seconds (include any safety margin).
    """

    def __init__(self, capacity: int, window_s: float) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self.capacity = capacity
        self.window_s = window_s
        # The last `capacity` start times handed out, oldest first; some may be in the future.
        self._starts: deque[float] = deque(maxlen=capacity)

    def reserve(self, now: float) -> float:
        """Book the next start time, at or after ``now``; the caller must not start before it.

        ``now`` must come from a clock that never goes back (``loop.time()``). A caller that
        gives up after reserving leaves its slot unused: the rate is still never exceeded.
        """
        start = now
        if self._starts:
            # FIFO: never before a caller that reserved earlier.
            start = max(start, self._starts[-1])
        if len(self._starts) == self.capacity:
            # The slot frees up one window after the oldest of the last `capacity` starts.
            start = max(start, self._starts[0] + self.window_s)
        self._starts.append(start)
        return start


async def wait_turn(
    delay: float,
    on_wait: WaitCallback | None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> float:
    """Announce a positive ``delay`` to ``on_wait``, sleep it, and return it (else 0.0)."""
    if delay <= 0:
        return 0.0
    if on_wait is not None:
        await on_wait(delay)
    await sleep(delay)
    return delay


def window_for(rate_per_s: float, window_s: float, margin_s: float) -> tuple[int, float]:
    """The ``(capacity, window_s)`` of a sliding window that keeps ``rate_per_s``.

    When ``rate_per_s * window_s`` is not a whole number, the window is shortened to keep the
    exact rate with a whole capacity; ``margin_s`` is then added (see :data:`DEFAULT_MARGIN_S`).

    Raises:
        ValueError: a rate or window that is not a positive number, a negative margin.
    """
    if not (math.isfinite(rate_per_s) and rate_per_s > 0):
        raise ValueError(f"rate_per_s must be a positive number, got {rate_per_s!r}")
    if not (math.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window_s must be a positive number, got {window_s!r}")
    if margin_s < 0:
        raise ValueError(f"margin_s must not be negative, got {margin_s!r}")
    # The epsilon keeps 10.0 * 1.0 from flooring to 9 through float rounding.
    capacity = max(1, math.floor(rate_per_s * window_s + 1e-9))
    return capacity, capacity / rate_per_s + margin_s


class LocalRateLimiter:
    """An in-process sliding-window limiter, one window per key, first come first served.

    It never lets more than ``rate_per_s * window_s`` requests start within any window of
    ``window_s`` (plus ``margin_s``) for one key. Callers over the rate wait their turn: nobody
    is refused, so a burst of 50 callers simply spreads over about five seconds at 10/s.

    Args:
        rate_per_s: the admitted rate, e.g. ``UpstreamConfig.requests_per_second``.
        window_s: the window the vendor counts over (see :func:`window_for`).
        margin_s: added to the window (see :data:`DEFAULT_MARGIN_S`).
        clock: a monotonic clock; ``None`` uses the running loop's ``time()``.
        sleep: how to wait; injectable for tests.
    """

    def __init__(
        self,
        rate_per_s: float,
        window_s: float = 1.0,
        *,
        margin_s: float = DEFAULT_MARGIN_S,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.capacity, self.window_s = window_for(rate_per_s, window_s, margin_s)
        self._clock = clock
        self._sleep = sleep
        self._windows: dict[str, SlidingWindow] = {}

    async def acquire(self, key: str, on_wait: WaitCallback | None = None) -> float:
        """Wait for this request's turn for ``key``; return the seconds waited."""
        now = self._now()
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = SlidingWindow(self.capacity, self.window_s)
        return await wait_turn(window.reserve(now) - now, on_wait, self._sleep)

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        return asyncio.get_running_loop().time()
