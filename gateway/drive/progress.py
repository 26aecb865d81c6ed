"""When to report progress to the client.

The contract says Progress comes at least once a second while audio flows and at most four times a
second. The schedule reports every ``interval_s`` (0.5 s by default) as long as some audio was
received or sent since the last report; a stalled drive does not spam identical reports.

Pure code: time comes in as ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Bounds from the contract.
MIN_INTERVAL_S = 0.25
MAX_INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True)
class ProgressSnapshot:
    """The accounting reported in a Progress event."""

    received_ms: int
    sent_ms: int
    lead_ms: int
    underruns: int
    #: Milliseconds of audio the avatar has played (the estimated playhead).
    played_ms: int = 0


class ProgressSchedule:
    """Decides when a Progress event is due.

    The caller must call :meth:`due` whenever it could report, passing the amounts so far, and
    report when it returns True; :meth:`next_at` tells when to look again.
    """

    def __init__(self, *, interval_s: float = 0.5) -> None:
        if not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
            raise ValueError(f"interval_s must be within [{MIN_INTERVAL_S}, {MAX_INTERVAL_S}]")
        self.interval_s = interval_s
        self._last_at: float | None = None
        self._last_amounts: tuple[int, int] = (0, 0)

    def start(self, now: float) -> None:
        """Begin the schedule (at Start): the first report is due one interval later."""
        self._last_at = now

    def next_at(self) -> float | None:
        """When a report could next be due (None before :meth:`start`)."""
        return None if self._last_at is None else self._last_at + self.interval_s

    def due(self, now: float, *, received_bytes: int, sent_bytes: int) -> bool:
        """True when a report is due at ``now``; the schedule then counts it as sent."""
        if self._last_at is None or now < self._last_at + self.interval_s:
            return False
        amounts = (received_bytes, sent_bytes)
        self._last_at = now
        if amounts == self._last_amounts:
            return False
        self._last_amounts = amounts
        return True
