"""The numbers that keep a Redis lease safe: when a holder must end, and whether settings fit.

A lease (a Redis key with a TTL) is sure to live ``ttl_s`` from the moment its last successful
renewal was *sent*: Redis ran the command after that, and set the TTL when it ran. The holder
cannot know more (a renewal that got no answer may or may not have run), so it ends its drive
by its own clock, ``hold_s`` after that send, whatever its Redis calls are doing; that leaves
the margin for the clocks' drift, for a late timer, and for the drive's own end (its Stop sent
and its WebSocket closed: ``end_s``). The whole argument, with the numbers:
``docs/exclusivity.md``.

Pure arithmetic, no I/O: the configuration checks its settings with it, and the Redis
registry's :class:`~gateway.registry.lease.LeaseKeeper` keeps its deadlines by it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DRIFT_FIXED_S", "DRIFT_RATE", "TIMER_SLACK_S", "LeaseTiming"]

#: How far apart the gateway's clock and Redis's may run over one lease, as a share of it
#: (NTP keeps clocks within 0.05 %; 1 % is what Redlock assumes) ...
DRIFT_RATE = 0.01
#: ... plus this, for the clocks' granularity (Redis counts TTLs in milliseconds).
DRIFT_FIXED_S = 0.002
#: How late the event loop may run the holder's deadline and the first steps of its end (a
#: pause longer than this, such as a stopped process, is outside what a lease can guard).
TIMER_SLACK_S = 0.1


@dataclass(frozen=True, kw_only=True)
class LeaseTiming:
    """How a lease is kept.

    Attributes:
        ttl_s: the lease's TTL in Redis, set by each take and renewal.
        renew_s: how long after a renewal was sent the next one is.
        attempt_s: the longest one renewal call may take before it counts as failed (the
            gateway's: ``2 x server.redis_timeout_s``, one timeout retried once).
        end_s: the longest a holder told to end still has its vendor connection open (the
            gateway's: ``UpstreamConfig.ws_end_bound_s``; 0 for a holder that ends at once).
    """

    ttl_s: float = 15.0
    renew_s: float = 2.0
    attempt_s: float = 2.0
    end_s: float = 0.0

    @property
    def drift_s(self) -> float:
        """How much earlier than our clock says Redis may let the lease lapse."""
        return DRIFT_RATE * self.ttl_s + DRIFT_FIXED_S

    @property
    def margin_s(self) -> float:
        """How long before the lease could lapse its holder is ended."""
        return self.drift_s + TIMER_SLACK_S + self.end_s

    @property
    def hold_s(self) -> float:
        """How long after the last successful renewal was sent its holder is ended."""
        return self.ttl_s - self.margin_s

    @property
    def needed_s(self) -> float:
        """What a held lease needs before its deadline: the next renewal, and one more try
        if that one takes its whole attempt and fails."""
        return self.renew_s + 2 * self.attempt_s

    def problem(self) -> str | None:
        """Why these numbers cannot keep a lease (one sentence), or None when they fit."""
        if self.needed_s <= self.hold_s:
            return None
        least = (self.needed_s + TIMER_SLACK_S + self.end_s + DRIFT_FIXED_S) / (1 - DRIFT_RATE)
        return (
            f"is too short: a drive must end {self.margin_s:.3g} s before its lease can lapse "
            f"({self.drift_s:.3g} s of clock drift, {TIMER_SLACK_S:g} s of timer slack, "
            f"{self.end_s:.3g} s for its Stop and close), which leaves {self.hold_s:.3g} s "
            f"after a renewal, and renewing every {self.renew_s:g} s with a second try of "
            f"{self.attempt_s:g} s needs {self.needed_s:.3g} s: raise it to at least "
            f"{least:.3g} s, or lower server.lease_renew_s, server.redis_timeout_s or the "
            "upstream WebSocket timeouts"
        )
