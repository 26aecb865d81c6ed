"""redis-py is optional (the ``redis`` extra): loaded only when ``server.redis_url`` is set.

Code that catches redis-py's errors reads them from here when the ``except`` runs
(``except (redis_extra.RedisError, TimeoutError)``), never with ``from ... import``, which would
bind the stand-in for good: the attribute is redis-py's own class once redis is loaded and,
until then, a class that nothing raises (there is no Redis client to fail before redis is
loaded). Whoever makes a Redis client calls :func:`require` first, for a clear
:class:`~gateway.errors.ConfigError` where redis-py is missing.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from gateway.errors import ConfigError

if TYPE_CHECKING:
    from redis.exceptions import RedisError as RedisError

__all__ = ["INSTALL", "RedisError", "require"]

#: How to install what ``server.redis_url`` needs.
INSTALL = "pip install 'dh-gateway[redis]'"


class _NotLoaded(Exception):
    """Stands for ``redis.exceptions.RedisError`` while redis is not loaded; never raised."""


def __getattr__(name: str) -> type[Exception]:
    if name != "RedisError":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    loaded = sys.modules.get("redis.exceptions")
    error: type[Exception] = _NotLoaded if loaded is None else loaded.RedisError
    return error


def require(setting: str = "server.redis_url") -> None:
    """Load redis-py (``redis.asyncio``) for ``setting``; call it before making a Redis client.

    Raises:
        ConfigError: redis-py is not installed; the message says how to install it.
    """
    try:
        import redis.asyncio  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"{setting} needs redis-py, which is not installed: {INSTALL}") from exc
