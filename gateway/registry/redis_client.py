"""The Redis client the replicas share, and how the registry reads its failures.

:func:`shared_client` makes the client (registry and request rate) with bounded timeouts;
:func:`answering` turns Redis's failures into the gateway's UNAVAILABLE; :func:`end_tasks`
ends the registry's background tasks for good, whatever redis-py swallowed. Importing this
module does not import redis-py (:mod:`gateway.redis_extra`); :func:`shared_client` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from gateway import redis_extra
from gateway.errors import SharedStateUnavailable

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["REDIS_TIMEOUT_S", "answering", "end_tasks", "shared_client", "text"]

#: A Redis that does not answer within this long, twice (one quick retry rides out a dropped
#: connection), counts as down: a set-up fails UNAVAILABLE within about 2 s instead of
#: hanging (redis-py's default is 10 retries). The default of ``server.redis_timeout_s``.
REDIS_TIMEOUT_S = 1.0


def shared_client(url: str, *, timeout_s: float = REDIS_TIMEOUT_S) -> aioredis.Redis:
    """The client for the Redis that replicas share (registry, request rate), with the
    timeouts above; whoever calls it closes it.

    Raises:
        ConfigError: redis-py is not installed (:func:`gateway.redis_extra.require`).
    """
    redis_extra.require()
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialWithJitterBackoff

    retry = Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=1)
    return aioredis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=retry
    )


@contextlib.contextmanager
def answering(doing: str) -> Iterator[None]:
    """Redis's failures (connection, timeout) as the gateway's error, for the client."""
    try:
        yield
    except redis_extra.RedisError as exc:
        raise SharedStateUnavailable(doing) from exc


async def end_tasks(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait until they are done. The request is repeated (every 50 ms, for
    at most 5 s): redis-py can swallow one (:mod:`gateway.redis_calls`), and a task left
    pending would be destroyed with the loop, its connection unclosed."""
    for _ in range(100):
        pending = [task for task in tasks if not task.done()]
        if not pending:
            break
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.05)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a lease lost or Redis gone was logged already


def text(value: bytes | str) -> str:
    """A Redis reply as text (the client returns bytes unless told to decode)."""
    return value.decode() if isinstance(value, bytes) else str(value)
