"""Keeping one held Redis lease: its renewals, and the deadline that ends its holder in time.

Two things run per held lease, and only the first talks to Redis:

* a task renews the lease ``renew_s`` after the last successful renewal was sent, each call
  bounded by ``attempt_s``; after a failed try it tries again (one attempt after the failed
  one began), and a lease found lost (another drive holds the task) ends the holder PREEMPTED;
* a timer (``loop.call_at``) set for ``hold_s`` after the last successful renewal was *sent*
  ends the holder UNAVAILABLE / SHARED_STATE_UNAVAILABLE when no renewal moved it. It is a
  callback on the loop, not a step of the task: a Redis call that hangs, however it hangs,
  cannot delay it. ``hold_s`` leaves the holder ``end_s`` to send its Stop and close before
  the lease could lapse (:mod:`gateway.registry.timing`; the argument:
  ``docs/exclusivity.md``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError, TimeoutError as RedisTimeoutError

from gateway.errors import DriveEnded, Reason, SharedStateUnavailable
from gateway.registry.base import Holder
from gateway.registry.timing import LeaseTiming

__all__ = ["LeaseKeeper"]

log = logging.getLogger("gateway.registry")


class LeaseKeeper:
    """Renews one lease and ends its holder before it can lapse.

    Args:
        key: the task key (for the logs).
        holder: the drive that holds the lease.
        renew: one renewal call; True when the lease was still the holder's (and extended).
        timing: the lease's TTL, renewal interval and bounds.
        taken_at: when the call that took the lease was sent (``loop.time()``).
    """

    def __init__(
        self,
        key: str,
        holder: Holder,
        renew: Callable[[], Awaitable[bool]],
        timing: LeaseTiming,
        *,
        taken_at: float,
    ) -> None:
        self.key = key
        self.holder = holder
        self.timing = timing
        self._renew = renew
        self._loop = asyncio.get_running_loop()
        #: When the last successful renewal (or the take) was sent: the lease lives at least
        #: ``ttl_s`` from then, by Redis's clock.
        self.renewed_at = taken_at
        #: The deadline passed unrenewed and the holder was told to end.
        self.expired = False
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def end_at(self) -> float:
        """When the holder is ended unless a renewal moves it (``loop.time()``)."""
        return self.renewed_at + self.timing.hold_s

    @property
    def lapses_at(self) -> float:
        """The earliest the lease may lapse in Redis, by this process's clock."""
        return self.renewed_at + self.timing.ttl_s - self.timing.drift_s

    def start(self) -> asyncio.Task[None]:
        """Arm the deadline and start renewing; returns the renewing task."""
        self._arm()
        self._task = asyncio.create_task(self._keep(), name=f"lease {self.key}")
        return self._task

    def stop(self) -> None:
        """The holder let go of the lease: no more renewals, no deadline."""
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()

    async def renew(self) -> bool:
        """Renew now, within ``attempt_s``; False when the lease was lost.

        Raises:
            RedisError: Redis failed or did not answer in time (``redis.TimeoutError``).
        """
        sent_at = self._loop.time()
        try:
            async with asyncio.timeout(self.timing.attempt_s):
                kept = await self._renew()
        except TimeoutError:
            raise RedisTimeoutError(f"no answer within {self.timing.attempt_s:g} s") from None
        if kept and sent_at > self.renewed_at and not self.expired:
            self.renewed_at = sent_at
            self._arm()
        return kept

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(self.end_at, self._expire)

    def _expire(self) -> None:
        """The deadline: no renewal was sent and answered in time. End the holder now, while
        the lease still lives long enough for its Stop and close."""
        self.expired = True
        log.warning(
            "lease of %s not renewed within %.3g s: ending its drive before the lease can lapse",
            self.key,
            self.timing.hold_s,
        )
        if self._task is not None:
            self._task.cancel()  # what a renewal in flight answers no longer matters
        self.holder.end(SharedStateUnavailable("keeping the task's lease"))

    async def _keep(self) -> None:
        timing = self.timing
        failed_try_at: float | None = None  # when the last try began, if it failed
        while True:
            if failed_try_at is None:
                due = self.renewed_at + timing.renew_s
            else:
                # Once an attempt's time after the failed try began: a Redis that refuses at
                # once is not asked in a busy loop, and one that timed out is asked again now.
                due = failed_try_at + timing.attempt_s
            await asyncio.sleep(max(0.0, due - self._loop.time()))
            began = self._loop.time()
            try:
                kept = await self.renew()
            except RedisError as exc:
                failed_try_at = began
                log.warning(
                    "lease of %s not renewed (%s): trying again; its drive ends in %.3g s "
                    "unless a renewal gets through",
                    self.key,
                    type(exc).__name__,
                    max(0.0, self.end_at - self._loop.time()),
                )
                continue
            failed_try_at = None
            if not kept:
                log.warning("lease of %s lost: ending its drive", self.key)
                if self._timer is not None:
                    self._timer.cancel()
                self.holder.end(
                    DriveEnded(Reason.PREEMPTED, "this drive lost its hold on the task")
                )
                return
