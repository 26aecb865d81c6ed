"""The vendor's request rate, kept by every replica together through Redis.

The vendor counts API requests per AppId (10 per second, zego-api.md §5), whichever replica
sends them. Each process's own :class:`~gateway.upstream.limiter.LocalRateLimiter` would admit
the whole rate: N replicas, N times the rate, and the excess comes back as 400010009 retries
that delay set-ups by a second or more. :class:`RedisRateLimiter` books the same sliding window
as :class:`~gateway.upstream.limiter.SlidingWindow`, in Redis:

* one Lua script per request (atomic on the server), so callers of every replica are served
  first come, first served, in the order Redis ran their scripts;
* on Redis's clock (``TIME``), so the replicas' clocks never have to agree;
* ``dhgw:rate:<AppId>`` holds the last ``capacity`` start times handed out (microseconds, some
  in the future) and expires one window after the last of them.

Why not a rate-limit library: those for Redis answer "allowed or not now"; a refused caller
would poll, and replicas would race for each freed slot with no order. The vendor's window wants
a booking: each caller learns its start time at once and sleeps until it.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.errors import SharedStateUnavailable
from gateway.redis_calls import cancellable
from gateway.upstream.limiter import DEFAULT_MARGIN_S, WaitCallback, wait_turn, window_for

__all__ = ["RedisRateLimiter"]

PREFIX = "dhgw:rate:"

# KEYS: the start times. ARGV: capacity, window (µs). Returns this caller's wait in µs.
# The times are written with %.0f: Lua would print a 16-digit number in exponent form.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local capacity, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local start = now
local last = redis.call('LINDEX', KEYS[1], -1)
if last then start = math.max(start, tonumber(last)) end
if redis.call('LLEN', KEYS[1]) >= capacity then
  start = math.max(start, tonumber(redis.call('LPOP', KEYS[1])) + window)
end
redis.call('RPUSH', KEYS[1], string.format('%.0f', start))
redis.call('PEXPIRE', KEYS[1], math.ceil((start - now + window) / 1000))
return start - now
"""


class RedisRateLimiter:
    """A :class:`~gateway.upstream.limiter.RequestLimiter` shared by the replicas on one Redis.

    The same admission as :class:`~gateway.upstream.limiter.LocalRateLimiter` (no window of
    ``window_s`` + ``margin_s`` holds more than ``rate_per_s * window_s`` request starts for one
    key, callers wait their turn, nobody is refused), counted over all replicas.

    Args:
        client: a ``redis.asyncio.Redis``; whoever made it closes it.
        rate_per_s, window_s, margin_s: as for ``LocalRateLimiter``.

    Raises (from :meth:`acquire`):
        SharedStateUnavailable: Redis did not answer.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        rate_per_s: float,
        window_s: float = 1.0,
        *,
        margin_s: float = DEFAULT_MARGIN_S,
    ) -> None:
        self.capacity, self.window_s = window_for(rate_per_s, window_s, margin_s)
        self._reserve = client.register_script(_RESERVE)

    async def acquire(self, key: str, on_wait: WaitCallback | None = None) -> float:
        """Wait for this request's turn for ``key`` (an AppId); return the seconds waited."""
        try:
            wait_us = await cancellable(
                self._reserve(keys=[PREFIX + key], args=[self.capacity, round(self.window_s * 1e6)])
            )
        except RedisError as exc:
            raise SharedStateUnavailable("booking the vendor API rate") from exc
        return await wait_turn(int(wait_us) / 1e6, on_wait)
