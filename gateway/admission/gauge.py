"""The load gauge: how much of a core this process uses, how late its loop runs, and what one
drive costs to stream.

Why: one asyncio process serves every drive on one core; past that core's capacity every
stream's audio arrives late at once and every avatar stutters together. A fixed
``max_drives`` cannot say where that point is (a drive's cost moves with its chunk size, its
conversion and the machine), so the process measures itself.

:class:`LoadGauge` judges the last second (:data:`WINDOW_S`) of samples taken every 100 ms
(:class:`~gateway.admission.sampler.LoadSampler` takes them). It says refuse while the CPU
share or the event loop's lag is over its threshold, and admit again only below
:data:`REOPEN` of both. Besides, it learns what one live drive costs to stream (the window's
CPU, less :data:`SETUP_CPU_S` per set-up and :data:`REFUSAL_CPU_S` per refusal, over its
mean number of live drives) and refuses the drive that would take
``cost x (live drives + 1)`` past the CPU threshold: a measured load reacts a second late,
and a burst is in before its cost shows.

It is pure: fed samples with their times, no clock of its own. The caller feeds counts that
only grow, and counts a set-up once it is over (never ahead of the CPU it used); then it asks
:meth:`LoadGauge.overload` before admitting a drive.

The runs behind each rule and each constant: docs/performance.md#admission.
"""

from __future__ import annotations

import itertools
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LoadGauge", "Overload"]

#: How often the sampler measures, and how far back the gauge looks.
SAMPLE_EVERY_S = 0.1
WINDOW_S = 1.0
#: Once refusing, admit again only below this fraction of each threshold (hysteresis).
REOPEN = 0.85
#: The fewest live drives (mean over the window) from which one drive's cost is estimated.
MIN_DRIVES_TO_ESTIMATE = 10
#: CPU seconds the gateway spends setting up one drive (the gRPC call, the vendor API call, the
#: WebSocket handshake, Start, logs), apart from streaming: a prior measured on the bench VM
#: (the warm figure: what is left over counts as streaming cost, the safe side), not learnt.
SETUP_CPU_S = 0.0033
#: CPU seconds the gateway spends refusing one drive (the gRPC call, the config read, the
#: status with its ErrorInfo), measured on the bench VM.
REFUSAL_CPU_S = 0.0008
#: The most of a window's CPU share that set-ups and refusals are taken to account for (lest a
#: host with cheaper set-ups than the prior be over-credited: the capacity at most doubles).
MAX_OVERHEAD_SHARE = 0.5


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
    setups: int  # drives whose set-up is over, so far
    refusals: int  # drives refused at admission, so far


class LoadGauge:
    """The process's recent load, from samples; decides admission against thresholds.

    Args:
        max_cpu: refuse above this share of one core (0: never on CPU).
        max_loop_lag_ms: refuse above this mean loop lag (0: never on lag).
        window_s: how far back the averages look.
        setup_cpu_s: the CPU seconds one drive's set-up is taken to cost (0: set-ups are not
            told apart from streaming).
    """

    def __init__(
        self,
        *,
        max_cpu: float,
        max_loop_lag_ms: float,
        window_s: float = WINDOW_S,
        setup_cpu_s: float = SETUP_CPU_S,
    ):
        self.max_cpu = max_cpu
        self.max_loop_lag_ms = max_loop_lag_ms
        self.window_s = window_s
        self.setup_cpu_s = setup_cpu_s
        self._samples: deque[_Sample] = deque()
        self._refusing = False

    def add(
        self,
        at: float,
        cpu_s: float,
        lag_s: float,
        drives: int = 0,
        setups: int = 0,
        refusals: int = 0,
    ) -> None:
        """Record one sample: the time, the process's CPU seconds, the loop's lag, the number
        of live drives, and how many drives have got through their set-up, and have been
        refused, so far (counts that only grow)."""
        self._samples.append(_Sample(at, cpu_s, max(0.0, lag_s), drives, setups, refusals))
        # Keep one sample at or before the window's start: the base of the CPU difference.
        while len(self._samples) > 2 and self._samples[1].at <= at - self.window_s:
            self._samples.popleft()
        if self.judged:
            # Reopening looks past the refusals' own CPU: refusing is load that only lasts
            # while closed, and counted it kept a fast ramp's gauge shut below capacity.
            if self._refusing:
                self._refusing = self._over(REOPEN, self.share_besides_refusing)
            else:
                self._refusing = self._over(1.0, self.cpu_share)

    def _over(self, fraction: float, cpu_share: float) -> bool:
        """Whether ``cpu_share`` or the loop's lag is above ``fraction`` of its threshold (a 0
        threshold is off)."""
        cpu_over = bool(self.max_cpu) and cpu_share > self.max_cpu * fraction
        lag_limit = self.max_loop_lag_ms * fraction
        return cpu_over or (bool(self.max_loop_lag_ms) and self.loop_lag_ms > lag_limit)

    @property
    def cpu_share(self) -> float:
        """Share of one core used over the window (0 before two samples)."""
        if (span := self._span()) is None:
            return 0.0
        first, last, elapsed = span
        return (last.cpu_s - first.cpu_s) / elapsed

    def _span(self) -> tuple[_Sample, _Sample, float] | None:
        """The window's first and last samples and the seconds between them (None before two
        samples, or none apart)."""
        if len(self._samples) < 2:
            return None
        first, last = self._samples[0], self._samples[-1]
        elapsed = last.at - first.at
        return (first, last, elapsed) if elapsed > 0 else None

    @property
    def loop_lag_ms(self) -> float:
        """How late the sampler's timer typically ran over the window, in ms: the median of
        the samples (0 with none). A median, not a mean: one pause of 50 ms (a GC, a burst of
        set-ups) in a quiet second is no overload, and a mean of ten samples made it one
        (refusals on an idle gateway, issue 16); lag in most samples still is."""
        recent = list(self._samples)[1:] or list(self._samples)
        if not recent:
            return 0.0
        return 1000.0 * statistics.median(s.lag_s for s in recent)

    @property
    def setup_share(self) -> float:
        """The share of one core the window's set-ups are taken to have used:
        ``setup_cpu_s`` each, at most :data:`MAX_OVERHEAD_SHARE` of :attr:`cpu_share`."""
        return self._share(lambda s: s.setups, self.setup_cpu_s)

    @property
    def refusal_share(self) -> float:
        """The share of one core the window's refusals are taken to have used:
        :data:`REFUSAL_CPU_S` each, at most :data:`MAX_OVERHEAD_SHARE` of :attr:`cpu_share`."""
        return self._share(lambda s: s.refusals, REFUSAL_CPU_S)

    @property
    def share_besides_refusing(self) -> float:
        """What reopening compares with its threshold: :attr:`cpu_share` less
        :attr:`refusal_share`."""
        return self.cpu_share - self.refusal_share

    def _share(self, count: Callable[[_Sample], int], cpu_each_s: float) -> float:
        if (span := self._span()) is None:
            return 0.0
        first, last, elapsed = span
        events = max(0, count(last) - count(first))
        return min(cpu_each_s * events / elapsed, MAX_OVERHEAD_SHARE * self.cpu_share)

    @property
    def cpu_per_drive(self) -> float | None:
        """What one live drive costs to stream, in shares of a core: the window's CPU share
        less its set-ups (:attr:`setup_share`), over its :attr:`mean_drives`. None before a
        whole window or below :data:`MIN_DRIVES_TO_ESTIMATE` drives."""
        mean_drives = self.mean_drives
        if not self.judged or mean_drives < MIN_DRIVES_TO_ESTIMATE:
            return None
        overhead = min(self.setup_share + self.refusal_share, MAX_OVERHEAD_SHARE * self.cpu_share)
        return (self.cpu_share - overhead) / mean_drives

    @property
    def mean_drives(self) -> float:
        """The mean number of live drives over the window's time, taken as linear between
        samples: a drive first counted at one sample was live for half the interval before
        it (not all of it: its cost has not all shown). 0 before two samples."""
        if (span := self._span()) is None:
            return 0.0
        pairs = itertools.pairwise(self._samples)
        return sum((a.drives + b.drives) / 2 * (b.at - a.at) for a, b in pairs) / span[2]

    @property
    def capacity(self) -> int | None:
        """How many drives the CPU threshold allows at the estimated streaming cost per drive
        (None: unknown)."""
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
            f"({drives} live drives at {per_drive:.2%} each, set-ups aside, over the last "
            f"second; limit {self.max_cpu:.0%}, about {capacity} drives): new drives wait "
            "until one ends",
            capacity,
        )

    def _measured_overload(self) -> Overload:
        cpu, lag = self.cpu_share, self.loop_lag_ms
        besides_refusing = self.share_besides_refusing
        if self.max_cpu and besides_refusing > self.max_cpu * REOPEN:
            why = f"the gateway used {cpu:.0%} of a core over the last second"
            if besides_refusing < cpu - 0.005:
                why += f" ({besides_refusing:.0%} besides refusing drives)"
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
