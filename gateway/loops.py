"""The event loops the gateway and the simulator can run on, and how to run one.

uvloop (libuv) is the default: grpc.aio's completions, aiohttp's and websockets' socket writes
all cost less on it (about a tenth of the gateway's CPU per audio chunk on the bench VM).
"asyncio" (the standard library's loop) is there for comparison, and is what "uvloop" runs on
where uvloop is not installed: it has no wheels for Windows or PyPy, and pyproject.toml's
platform marker leaves it out there.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("gateway")

#: The names ``server.event_loop`` (``DHGW_EVENT_LOOP``) and ``--event-loop`` accept.
EVENT_LOOPS = ("uvloop", "asyncio")


def run_loop(main: Coroutine[Any, Any, T], event_loop: str) -> T:
    """Run ``main`` to completion on a new event loop of the kind ``event_loop`` names (one of
    :data:`EVENT_LOOPS`; "uvloop" without uvloop installed runs on asyncio's, and logs so);
    call it from the main thread with no loop running."""
    # Imported here: the configuration names the loops, and gateway.drive (pure, no asyncio)
    # imports the configuration.
    import asyncio

    if event_loop not in EVENT_LOOPS:
        raise ValueError(f"unknown event loop {event_loop!r}: expected one of {EVENT_LOOPS}")
    if event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("event loop: uvloop is not installed here, running on asyncio's")
        else:
            return uvloop.run(main)
    return asyncio.run(main)
