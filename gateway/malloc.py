"""glibc's malloc arenas, bounded for the gateway process.

Why: the gateway's threads allocate a drive's buffers on one thread and free them on another;
with glibc's many arenas (up to eight per core) that fragments the heap and RSS grows. Two are
enough: one for the event loop, one shared by grpc's threads.

The caller: :func:`limit_malloc_arenas` once at start-up, before threads allocate
(``dh-gateway serve`` does); ``MALLOC_ARENA_MAX``, when set, wins.

What it saves, and how it was measured: docs/performance.md#memory-mallocs-arenas.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["DEFAULT_ARENAS", "limit_malloc_arenas"]

#: ``M_ARENA_MAX`` in glibc's ``malloc.h``.
_M_ARENA_MAX = -8
#: Arenas for the gateway: one for the event loop, one shared by grpc's threads.
DEFAULT_ARENAS = 2


def limit_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Bound glibc's malloc arenas to ``arenas``; returns whether the bound was set.

    Call it at start-up, before threads allocate (arenas made before stay). It leaves glibc
    alone when ``MALLOC_ARENA_MAX`` is set (the operator chose) and does nothing on a C library
    without ``mallopt`` (musl has a stub that refuses).
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))
