"""Admission by load: refuse new drives before the running ones start to stutter.

Theory of operation. One asyncio process serves every drive on one core. Past that core's
capacity the event loop falls behind, every stream's audio arrives late at once, and every
avatar stutters together (``make bench`` shows it). A fixed ``max_drives`` cannot say where
that point is: a 100 ms-chunk stream costs a fifth of a 20 ms one, conversion costs more, and
machines differ. So the gateway measures itself:

* the process's CPU time against wall time: the share of one core it used, and
* the event loop's lag: how late a timer set for the next tick actually ran,

both over the last second, sampled every 100 ms by :class:`LoadSampler`. Once either is over
its threshold (``limits.admit_max_cpu``, ``limits.admit_max_loop_lag_ms``), new drives get
RESOURCE_EXHAUSTED / GATEWAY_OVERLOADED with a retry hint, and running drives keep their
cycles, until both are back below :data:`REOPEN` of their thresholds. Without that margin the
load, which wobbles by ~10 % from one second to the next, crept up: each dip under the
threshold let a second's worth of arrivals in (``make bench``: 546 of 800 100 ms streams
admitted at 89 % of a core against a threshold of 80 %).

Measures of the last second react a second late: a burst of arrivals is in before its cost
shows (``make bench``, 200 streams of 20 ms arriving at 50 a second: refusals began at 130
drives, and 30 running streams stuttered meanwhile). So the gauge also learns what one drive
costs, the window's CPU share over its mean number of live drives, and refuses the drive that
would take ``cost x (live drives + 1)`` past the CPU threshold: a limit in drives derived from
measured capacity, which moves with the mix of streams (a 100 ms-chunk stream costs a fifth of
a 20 ms one). Below :data:`MIN_DRIVES_TO_ESTIMATE` drives the estimate is not made (the
process's fixed costs would dominate it); the measured check stays as the backstop.

The defaults come from ``make bench`` on a 2-core VM (README, "Performance"): raise the CPU
share on a host where the gateway has a core to itself.

:class:`LoadGauge` is the pure part: it is fed samples (times in, no clock of its own) and
answers "why not admit?"; :class:`LoadSampler` is the thin asyncio shell that feeds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LoadGauge", "LoadSampler", "Overload"]

#: How often the sampler measures, and how far back the gauge looks.
SAMPLE_EVERY_S = 0.1
WINDOW_S = 1.0
#: Once refusing, admit again only below this fraction of each threshold (hysteresis).
REOPEN = 0.85
#: The fewest live drives (mean over the window) from which one drive's cost is estimated.
MIN_DRIVES_TO_ESTIMATE = 10


@dataclass(frozen=True, slots=True)
class Overload:
    """Why a new drive is refused now: the measured load against its threshold."""

    cpu_share: float
    loop_lag_ms: float
    message: str
    #: The drives the CPU threshold allows at the estimated cost per drive (None: no estimate).
    capacity: int | None = None


@dataclass(frozen=True, slots=True)
class _Sample:
    at: float  # monotonic seconds
    cpu_s: float  # the process's CPU seconds so far
    lag_s: float  # how late the sampler's own timer ran
    drives: int  # live drives at that moment


class LoadGauge:
    """The process's recent load, from samples; decides admission against thresholds.

    Args:
        max_cpu: refuse above this share of one core (0: never on CPU).
        max_loop_lag_ms: refuse above this mean loop lag (0: never on lag).
        window_s: how far back the averages look.
    """

    def __init__(self, *, max_cpu: float, max_loop_lag_ms: float, window_s: float = WINDOW_S):
        self.max_cpu = max_cpu
        self.max_loop_lag_ms = max_loop_lag_ms
        self.window_s = window_s
        self._samples: deque[_Sample] = deque()
        self._refusing = False

    def add(self, at: float, cpu_s: float, lag_s: float, drives: int = 0) -> None:
        """Record one sample: the time, the process's CPU seconds, the loop's lag, and the
        number of live drives."""
        self._samples.append(_Sample(at, cpu_s, max(0.0, lag_s), drives))
        # Keep one sample at or before the window's start: the base of the CPU difference.
        while len(self._samples) > 2 and self._samples[1].at <= at - self.window_s:
            self._samples.popleft()
        if self.judged:
            self._refusing = self._over(REOPEN if self._refusing else 1.0)

    def _over(self, fraction: float) -> bool:
        """Whether a measure is above ``fraction`` of its threshold (a 0 threshold is off)."""
        cpu_over = bool(self.max_cpu) and self.cpu_share > self.max_cpu * fraction
        lag_limit = self.max_loop_lag_ms * fraction
        return cpu_over or (bool(self.max_loop_lag_ms) and self.loop_lag_ms > lag_limit)

    @property
    def cpu_share(self) -> float:
        """Share of one core used over the window (0 before two samples)."""
        if len(self._samples) < 2:
            return 0.0
        first, last = self._samples[0], self._samples[-1]
        elapsed = last.at - first.at
        return (last.cpu_s - first.cpu_s) / elapsed if elapsed > 0 else 0.0

    @property
    def loop_lag_ms(self) -> float:
        """Mean lateness of the sampler's timer over the window, in ms (0 with no sample)."""
        recent = list(self._samples)[1:] or list(self._samples)
        if not recent:
            return 0.0
        return 1000.0 * sum(s.lag_s for s in recent) / len(recent)

    @property
    def cpu_per_drive(self) -> float | None:
        """What one live drive costs, in shares of a core: the window's CPU share over its
        mean number of live drives. None before a whole window or below
        :data:`MIN_DRIVES_TO_ESTIMATE` drives."""
        recent = list(self._samples)[1:]
        if not self.judged or not recent:
            return None
        mean_drives = sum(s.drives for s in recent) / len(recent)
        if mean_drives < MIN_DRIVES_TO_ESTIMATE:
            return None
        return self.cpu_share / mean_drives

    @property
    def capacity(self) -> int | None:
        """How many drives the CPU threshold allows at the estimated cost (None: unknown)."""
        return self._capacity_at(self.cpu_per_drive)

    def _capacity_at(self, per_drive: float | None) -> int | None:
        if not self.max_cpu or not per_drive:
            return None
        return int(self.max_cpu / per_drive)

    @property
    def judged(self) -> bool:
        """Whether the samples span a whole window: no verdict on less (a start-up hiccup
        in one or two samples is not a load)."""
        return bool(self._samples) and (
            self._samples[-1].at - self._samples[0].at >= self.window_s - 1e-9
        )

    def overload(self, drives: int = 0) -> Overload | None:
        """Why a new drive should be refused now that ``drives`` are live, or None to admit
        it (always None until the samples span a whole window)."""
        if self._refusing:
            return self._measured_overload()
        per_drive = self.cpu_per_drive
        capacity = self._capacity_at(per_drive)
        if per_drive is None or capacity is None or drives < capacity:
            return None
        projected = per_drive * (drives + 1)
        return Overload(
            self.cpu_share,
            self.loop_lag_ms,
            f"another drive would take the gateway to about {projected:.0%} of a core "
            f"({drives} live drives at {per_drive:.2%} each over the last second; limit "
            f"{self.max_cpu:.0%}, about {capacity} drives): new drives wait until one ends",
            capacity,
        )

    def _measured_overload(self) -> Overload:
        cpu, lag = self.cpu_share, self.loop_lag_ms
        if self.max_cpu and cpu > self.max_cpu * REOPEN:
            why = f"the gateway used {cpu:.0%} of a core over the last second"
            limit = f"limit {self.max_cpu:.0%}, open again below {self.max_cpu * REOPEN:.0%}"
        else:
            why = f"the gateway's event loop ran {lag:.1f} ms late over the last second"
            limit = (
                f"limit {self.max_loop_lag_ms:g} ms, "
                f"open again below {self.max_loop_lag_ms * REOPEN:.2g} ms"
            )
        return Overload(
            cpu, lag, f"{why} ({limit}): new drives wait until load falls", self.capacity
        )


class LoadSampler:
    """Feeds a :class:`LoadGauge` from this process: CPU time, loop lag and the number of
    live drives (``drives()``) every 100 ms.

    Call :meth:`start` inside the running loop and :meth:`stop` before it closes. Costs one
    timer wake-up per sample, nothing per chunk.
    """

    def __init__(
        self,
        gauge: LoadGauge,
        drives: Callable[[], int] = lambda: 0,
        every_s: float = SAMPLE_EVERY_S,
    ) -> None:
        self.gauge = gauge
        self.drives = drives
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="load sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            now = loop.time()
            self.gauge.add(now, time.process_time(), now - due, self.drives())
            due = now + self.every_s
            await asyncio.sleep(self.every_s)
