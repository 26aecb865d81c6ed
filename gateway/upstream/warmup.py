"""Keep a connection to the vendor's API open, so that a drive's ``DriveByWsStream`` does not
pay for a new connection's TCP and TLS handshakes (two round trips) on the gateway's first
drive and after each idle spell.

Theory of operation
-------------------
aiohttp's pool closes a connection idle for 15 s, and the vendor's front end may close one
sooner; a voice agent's turns are often further apart than that, so without help most of its
drives would open a fresh connection first. Every ``interval_s`` without a call to the API, the
warmer sends ``HEAD`` to the API URL: no ``Action``, no signature, no credential, so it is not
an API call and spends nothing of the vendor's QPS limit; whatever status answers, the
connection goes back to the pool, open. It starts with the gateway (the first drive finds the
connection ready) and never delays a drive: it skips while calls flow, and a failed warm-up is
logged at debug only, because the drive that follows reports the vendor's state itself.

``bench/time_to_speak.py`` measures what it saves (docs/performance.md, "Speak sooner").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

__all__ = ["ApiWarmer"]

log = logging.getLogger("gateway.upstream")


class Warmable(Protocol):
    """What the warmer needs of :class:`~gateway.upstream.api.UpstreamClient`."""

    def idle_s(self, now: float) -> float:
        """Seconds since the last request to the API began (``loop.time()`` clock)."""

    async def warm(self) -> int | None:
        """Send the warm-up request; its HTTP status, or None when it failed."""


class ApiWarmer:
    """Warms ``client``'s connection now and whenever it was idle for ``interval_s``.

    Call :meth:`start` in the running loop and :meth:`stop` before the client closes; an
    ``interval_s`` of 0 turns it off (start does nothing).
    """

    def __init__(self, client: Warmable, interval_s: float) -> None:
        self._client = client
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self.interval_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="api warmer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failed = False
        while True:
            idle_s = self._client.idle_s(loop.time())
            if idle_s >= self.interval_s:
                status = await self._client.warm()
                if (status is None) != failed:
                    failed = status is None
                    log.debug("API warm-up %s", "failed" if failed else f"answered {status}")
                idle_s = 0.0
            await asyncio.sleep(self.interval_s - idle_s)
