"""Whether the state replicas share (Redis) answers; health and readiness follow it.

Every drive of a replica in the Redis mode needs Redis (the task registry), so a replica that
cannot reach it must not look healthy: a load balancer or a client's health-aware channel
would go on sending it drives that can only fail SHARED_STATE_UNAVAILABLE. The probe pings
every ``interval_s`` within ``timeout_s`` and calls it down after ``failures`` misses in a row
(one slow answer is not an outage), and up again at the first answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("gateway.service")


class SharedStateProbe:
    """Pings the shared state in the background; :attr:`up` says whether it answers.

    The caller must :meth:`start` it (in a running loop) and :meth:`stop` it; listeners added
    with :meth:`on_change` are called with the new state at each change.
    """

    def __init__(
        self,
        ping: Callable[[], Awaitable[object]],
        *,
        interval_s: float = 1.0,
        timeout_s: float = 1.0,
        failures: int = 2,
    ) -> None:
        self._ping = ping
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.failures = failures
        self.up = True
        self._missed = 0
        self._listeners: list[Callable[[bool], None]] = []
        self._task: asyncio.Task[None] | None = None

    def on_change(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(up)`` whenever the state changes."""
        self._listeners.append(listener)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="shared state probe"
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:  # until stopped; each round is bounded by the timeout and the interval
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self._ping()
            except Exception:  # any failure to answer is a miss
                self._missed += 1
                if self.up and self._missed >= self.failures:
                    self._set(False)
            else:
                self._missed = 0
                if not self.up:
                    self._set(True)
            await asyncio.sleep(self.interval_s)

    def _set(self, up: bool) -> None:
        self.up = up
        if up:
            log.info("shared state (Redis) answers again")
        else:
            log.warning("shared state (Redis) does not answer: reporting NOT_SERVING")
        for listener in self._listeners:
            try:
                listener(up)
            except Exception:  # a listener must not stop the probe
                log.exception("a shared-state listener failed")
