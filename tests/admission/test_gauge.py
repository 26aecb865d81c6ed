"""The load gauge with plain numbers: thresholds, hysteresis, the learned cost per drive, and
set-ups and refusals told apart from streaming, on a synthetic process with measured costs."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from gateway.admission.gauge import REFUSAL_CPU_S, SETUP_CPU_S, LoadGauge

# The thresholds.


def fed(gauge: LoadGauge, samples: list[tuple[float, float, float]]) -> LoadGauge:
    for at, cpu_s, lag_s in samples:
        gauge.add(at, cpu_s, lag_s)
    return gauge


def test_no_samples_means_no_load() -> None:
    gauge = LoadGauge(max_cpu=0.5, max_loop_lag_ms=5)
    assert (gauge.cpu_share, gauge.loop_lag_ms, gauge.overload()) == (0.0, 0.0, None)


def test_cpu_share_is_cpu_time_over_wall_time_in_the_last_second() -> None:
    # 0.3 s of CPU per 0.1 s for the first second (3 cores?! no: a burst), then 0.05 per 0.1.
    samples = [(i / 10, 0.03 * i, 0.0) for i in range(11)]
    samples += [(1 + i / 10, 0.3 + 0.005 * i, 0.0) for i in range(1, 11)]
    gauge = fed(LoadGauge(max_cpu=0.5, max_loop_lag_ms=0), samples)
    assert gauge.cpu_share == pytest.approx(0.05)
    assert gauge.overload() is None
    gauge.add(2.1, 0.35 + 0.09, 0.0)  # 90 % of a core in the last 0.1 s
    assert gauge.cpu_share == pytest.approx((0.44 - 0.305) / 1.0)


def test_refuses_above_either_threshold_and_says_which() -> None:
    busy = fed(LoadGauge(max_cpu=0.8, max_loop_lag_ms=0), [(0, 0, 0), (1, 0.9, 0)])
    overload = busy.overload()
    assert overload is not None and overload.cpu_share == pytest.approx(0.9)
    assert "90% of a core" in overload.message and "limit 80%" in overload.message
    assert "open again below 68%" in overload.message
    late = LoadGauge(max_cpu=0.8, max_loop_lag_ms=5)
    fed(late, [(i / 10, i / 1000, 0.012) for i in range(10)])
    assert late.overload() is None  # 0.9 s of samples: no verdict yet
    late.add(1.0, 0.01, 0.012)
    overload = late.overload()
    assert overload is not None and "12.0 ms late" in overload.message


def test_one_pause_in_a_quiet_second_is_no_overload_but_sustained_lag_is() -> None:
    """A single late tick (a GC, a burst of set-ups) made the mean of ten samples cross 5 ms
    and refused drives on an idle gateway (issue 16); lag in most ticks still closes."""
    paused = fed(
        LoadGauge(max_cpu=0.8, max_loop_lag_ms=5),
        [(i / 10, i / 1000, 0.4 if i == 5 else 0.0) for i in range(11)],
    )
    assert paused.judged and paused.overload() is None and paused.loop_lag_ms == 0
    sustained = fed(
        LoadGauge(max_cpu=0.8, max_loop_lag_ms=5),
        [(i / 10, i / 1000, 0.008 if i % 5 else 0.0) for i in range(11)],
    )
    overload = sustained.overload()
    assert overload is not None and "8.0 ms late" in overload.message


def test_once_refusing_it_admits_again_only_well_below_the_threshold() -> None:
    gauge = LoadGauge(max_cpu=0.8, max_loop_lag_ms=0)
    cpu = 0.0
    verdicts = []
    # A second at each share of a core, ten samples per second.
    for second, share in enumerate([0.5, 0.85, 0.75, 0.7, 0.6, 0.75]):
        for tick in range(10):
            cpu += share / 10
            gauge.add(second + (tick + 1) / 10, cpu, 0.0)
        verdicts.append(gauge.overload() is not None)
    # Closed above 80 %; still closed at 75 and 70 % (above 68 %); open at 60 %, and 75 % no
    # longer closes it.
    assert verdicts == [False, True, True, True, False, False]


def test_reopening_looks_past_the_refusals_own_cpu() -> None:
    # Closed by a burst; then 0.6 of a core of streaming (under the 0.68 reopening mark) plus
    # 100 refusals a second (0.08 of a core), which would otherwise hold it shut.
    def refusing_after(seconds: int, *, counted: bool) -> list[bool]:
        gauge = LoadGauge(max_cpu=0.8, max_loop_lag_ms=0)
        gauge.add(0.0, 0.0, 0.0)
        cpu, refusals, verdicts = 0.0, 0, []
        for second, share in enumerate([0.9] + [0.6] * seconds):
            for tick in range(10):
                refused = 10 if second else 0
                refusals += refused
                cpu += share / 10 + refused * REFUSAL_CPU_S
                at = second + (tick + 1) / 10
                gauge.add(at, cpu, 0.0, refusals=refusals if counted else 0)
            verdicts.append(gauge.overload() is not None)
        return verdicts

    assert refusing_after(3, counted=False) == [True, True, True, True]  # 0.68 of a core
    assert refusing_after(3, counted=True) == [True, False, False, False]


def test_the_refusal_says_what_the_reopening_looks_at() -> None:
    gauge = LoadGauge(max_cpu=0.8, max_loop_lag_ms=0)
    gauge.add(0.0, 0.0, 0.0)
    gauge.add(1.0, 0.9, 0.0)  # closed
    gauge.add(2.0, 0.9 + 0.75 + 100 * REFUSAL_CPU_S, 0.0, refusals=100)
    overload = gauge.overload()
    assert overload is not None
    assert "used 83% of a core over the last second (75% besides refusing drives)" in (
        overload.message
    )
    assert "open again below 68%" in overload.message


def test_refusals_are_not_counted_as_streaming_cost() -> None:
    gauge = LoadGauge(max_cpu=0.7, max_loop_lag_ms=0)
    process = Process(gauge, setup_s=SETUP_CPU_S)
    process.step(50)
    for _ in range(20):
        process.step(refused=10)  # 100 refusals a second: 0.08 of a core
    assert gauge.refusal_share == pytest.approx(100 * REFUSAL_CPU_S, rel=0.02)
    assert gauge.capacity == int(0.7 / (STREAM + IDLE / 50))  # as with no refusals at all


def test_zero_turns_a_check_off() -> None:
    gauge = fed(LoadGauge(max_cpu=0, max_loop_lag_ms=0), [(0, 0, 0), (1, 5, 3)])
    assert gauge.cpu_share == 5 and gauge.loop_lag_ms > 1000
    assert gauge.overload() is None


def loaded(share: float, drives: int, *, max_cpu: float = 0.8) -> LoadGauge:
    """A gauge after one second at ``share`` of a core with ``drives`` live drives."""
    gauge = LoadGauge(max_cpu=max_cpu, max_loop_lag_ms=0)
    for tick in range(11):
        gauge.add(tick / 10, share * tick / 10, 0.0, drives)
    return gauge


def test_it_learns_what_a_drive_costs_and_refuses_the_one_past_capacity() -> None:
    gauge = loaded(0.5, 100)  # half a core for 100 drives: 0.5 % each, room for 160
    assert gauge.cpu_per_drive == pytest.approx(0.005)
    assert gauge.capacity == 160
    assert gauge.overload(100) is None and gauge.overload(159) is None
    overload = gauge.overload(160)
    assert overload is not None and overload.capacity == 160
    assert overload.cpu_share == pytest.approx(0.5)  # what was measured, not the projection
    assert "about 80% of a core" in overload.message and "160 live drives" in overload.message


def test_a_burst_is_refused_before_its_cost_shows() -> None:
    # A second at 30 % of a core for 50 drives; 150 more arrived since the last sample.
    gauge = loaded(0.3, 50)
    assert gauge.capacity == 133
    assert gauge.overload(50) is None
    assert gauge.overload(200) is not None


def test_no_estimate_from_few_drives_a_partial_window_or_with_cpu_off() -> None:
    assert loaded(0.5, 9).cpu_per_drive is None  # fixed costs would dominate
    assert loaded(0.5, 9).overload(1000) is None
    assert loaded(0.5, 100, max_cpu=0).overload(1000) is None  # the CPU check is off
    partial = LoadGauge(max_cpu=0.8, max_loop_lag_ms=0)
    for tick in range(5):
        partial.add(tick / 10, 0.09 * tick, 0.0, 100)
    assert partial.cpu_per_drive is None and partial.overload(1000) is None


@given(st.floats(0.05, 0.79), st.integers(10, 500), st.integers(0, 2000))
def test_admits_exactly_while_the_projection_stays_within_the_threshold(
    share: float, drives: int, live: int
) -> None:
    gauge = loaded(share, drives)
    per_drive = share / drives
    verdict = gauge.overload(live)
    if per_drive * (live + 1) <= 0.8 * (1 - 1e-9):
        assert verdict is None
    elif per_drive * (live + 1) > 0.8 * (1 + 1e-9):
        assert verdict is not None


@given(
    st.lists(
        st.tuples(
            st.floats(0.01, 0.5), st.floats(0, 0.5), st.floats(-0.01, 0.2)
        ),  # (step, cpu used in the step, lag)
        min_size=1,
        max_size=60,
    )
)
def test_the_window_keeps_one_base_sample_and_bounded_memory(
    steps: list[tuple[float, float, float]],
) -> None:
    gauge = LoadGauge(max_cpu=1, max_loop_lag_ms=10, window_s=1.0)
    at = cpu = 0.0
    history = [(at, cpu)]
    gauge.add(at, cpu, 0)
    for step, used, lag in steps:
        at, cpu = at + step, cpu + used
        history.append((at, cpu))
        gauge.add(at, cpu, lag)
    # The base is the latest sample at or before the window's start (or the first one).
    base_at, base_cpu = next(
        ((t, c) for t, c in reversed(history[:-1]) if t <= at - 1.0), history[0]
    )
    if at > base_at:
        assert gauge.cpu_share == pytest.approx((cpu - base_cpu) / (at - base_at))
    assert gauge.loop_lag_ms >= 0
    assert len(gauge._samples) <= 2 + 1.0 / 0.01


# Set-ups told apart from streaming, on a synthetic process with measured costs.

#: The bench VM's costs (gateway.admission.gauge, SETUP_CPU_S): 20 ms streams at 0.6 % of a
#: core each, 1.7 % idle, and a set-up of 4.3 ms in a cold process (3.3 ms warm, the prior).
STREAM = 0.006
IDLE = 0.017
COLD_SETUP_S = 0.0043


class Process:
    """A synthetic gateway feeding ``gauge`` every 100 ms: ``idle`` plus ``per_drive`` for
    each live drive (arrivals and ends half the interval), plus ``setup_s`` per arrival."""

    def __init__(
        self, gauge: LoadGauge, *, per_drive: float = STREAM, setup_s: float, idle: float = IDLE
    ) -> None:
        self.gauge, self.per_drive, self.setup_s, self.idle = gauge, per_drive, setup_s, idle
        self.at = self.cpu = 0.0
        self.drives = self.setups = self.refusals = 0
        gauge.add(0.0, 0.0, 0.0)

    def step(
        self, arrivals: int = 0, ends: int = 0, *, noise: float = 1.0, refused: int = 0
    ) -> None:
        before, self.drives = self.drives, self.drives + arrivals - ends
        streaming = (self.idle + self.per_drive * (before + self.drives) / 2) * 0.1
        self.cpu += noise * (streaming + self.setup_s * arrivals + REFUSAL_CPU_S * refused)
        self.setups += arrivals
        self.refusals += refused
        self.at += 0.1
        self.gauge.add(self.at, self.cpu, 0.0, self.drives, self.setups, self.refusals)

    def offer(self, arrivals: int) -> int:
        """Offer ``arrivals`` new drives one by one, then step; returns how many got in."""
        admitted = 0
        for _ in range(arrivals):
            if self.gauge.overload(self.drives + admitted) is None:
                admitted += 1
        self.step(admitted, refused=arrivals - admitted)
        return admitted


def cold_ramp(gauge: LoadGauge) -> tuple[Process, int]:
    """make bench QUICK=1's first rung: 50 streams in 1 s on an idle process, then 1 s."""
    process = Process(gauge, setup_s=COLD_SETUP_S)
    for _ in range(11):
        process.step()
    admitted = sum(process.offer(5) for _ in range(10))
    for _ in range(10):
        process.step()
    return process, admitted


def test_a_cold_fast_ramp_is_not_refused() -> None:
    process, admitted = cold_ramp(LoadGauge(max_cpu=0.7, max_loop_lag_ms=0))
    assert admitted == 50
    assert process.gauge.cpu_share == pytest.approx(0.317, abs=0.01)  # ~31 % of a core
    # Not telling set-ups apart is the known defect: the same ramp is refused at < 50 drives.
    _, admitted = cold_ramp(LoadGauge(max_cpu=0.7, max_loop_lag_ms=0, setup_cpu_s=0))
    assert admitted < 50


def test_mid_ramp_the_set_ups_are_taken_off() -> None:
    gauge = LoadGauge(max_cpu=0.7, max_loop_lag_ms=0)
    process = Process(gauge, setup_s=COLD_SETUP_S)
    for _ in range(13):
        process.step()
    for _ in range(8):
        process.offer(5)
    # Drives rose 0 -> 40 in the window, whose 40 set-ups took 0.17 s of its 0.29 s of CPU:
    # the plain ratio is 3x the streaming cost (room for < 40 drives: the ramp would stop).
    assert process.drives == 40 and 0.25 < gauge.cpu_share < 0.33
    plain = gauge.cpu_share / gauge.mean_drives
    assert plain > 2.5 * STREAM and int(0.7 / plain) < 40
    # 3.3 ms taken off per set-up (the cold ones cost 1 ms more: left in, the safe side).
    assert gauge.setup_share == pytest.approx(40 * SETUP_CPU_S, rel=0.02)
    per_drive = gauge.cpu_per_drive
    assert per_drive is not None and STREAM < per_drive < 0.6 * plain
    capacity = gauge.capacity
    assert capacity is not None and capacity >= 70


@pytest.mark.parametrize("setup_s", [SETUP_CPU_S, COLD_SETUP_S, 2 * SETUP_CPU_S])
def test_a_burst_after_a_steady_window_is_refused_near_the_true_capacity(
    setup_s: float,
) -> None:
    # 60 streams for 2 s, then 300 offered within a second (30 every 100 ms), then one more
    # every 100 ms for 2 s.
    gauge = LoadGauge(max_cpu=0.7, max_loop_lag_ms=0)
    process = Process(gauge, setup_s=setup_s)
    process.step(60)
    for _ in range(20):
        process.step()
    truth = (0.7 - IDLE) / STREAM  # 113.8 drives take the process to the threshold
    for offered in [30] * 10 + [1] * 20:
        process.offer(offered)
        # Never past the truth, even mid-burst (set-ups dearer than the prior err safe).
        assert process.drives <= truth
    # Near it: less the idle share spread over the drives (~3 %); dearer set-ups than the
    # prior took the measured share past 70 % mid-burst, and it stays closed until 60 %.
    assert process.drives >= 0.9 * truth


def test_set_ups_with_no_new_drives_leave_the_capacity_alone() -> None:
    # 50 live drives, and 30 set-ups a second that come to nothing (each drive ends as it is
    # set up): as many drives, more CPU.
    def capacity(churn: int, setup_s: float) -> int:
        gauge = LoadGauge(max_cpu=0.7, max_loop_lag_ms=0)
        process = Process(gauge, setup_s=setup_s)
        process.step(50, 0)
        for _ in range(20):
            process.step(churn, churn)
        assert gauge.capacity is not None
        return gauge.capacity

    steady = capacity(0, SETUP_CPU_S)
    assert steady == int(0.7 / (STREAM + IDLE / 50))  # the idle share, spread over the drives
    assert capacity(3, SETUP_CPU_S) in (steady - 1, steady)  # the prior is right: unchanged
    # Dearer set-ups than the prior (a cold process: 4.3 ms, not 3.3) shrink it by the excess
    # share over the drives' share: 30/s x 1 ms = 0.03 of a core against 0.317, under 10 %,
    # where counting the set-ups as streaming took 26 % off.
    cold = capacity(3, COLD_SETUP_S)
    excess = 30 * (COLD_SETUP_S - SETUP_CPU_S) / (50 * STREAM + IDLE)
    assert cold >= steady / (1 + excess) - 1 and cold >= 0.9 * steady
    plain = LoadGauge(max_cpu=0.7, max_loop_lag_ms=0, setup_cpu_s=0)
    process = Process(plain, setup_s=COLD_SETUP_S)
    process.step(50, 0)
    for _ in range(20):
        process.step(3, 3)
    assert plain.capacity is not None and plain.capacity < 0.8 * steady


def test_set_ups_never_account_for_more_than_half_the_window() -> None:
    # Set-ups that cost nothing here, 60 a second against a 3.3 ms prior: the credit stops at
    # half the window's CPU, so the capacity at most doubles the plain ratio's.
    gauge = LoadGauge(max_cpu=0.7, max_loop_lag_ms=0)
    process = Process(gauge, setup_s=0.0, per_drive=0.002)
    process.step(20)
    for _ in range(20):
        process.step(6, 6)
    assert gauge.setup_share == pytest.approx(0.5 * gauge.cpu_share)
    assert gauge.capacity == int(0.7 / (0.5 * gauge.cpu_share / 20))


@given(
    st.floats(0.001, 0.01),  # streaming cost per drive
    st.integers(10, 300),  # live drives
    st.integers(0, 6),  # set-ups every 100 ms (as many drives end)
    st.lists(st.floats(-0.05, 0.05), min_size=20, max_size=20),  # noise on each 100 ms's CPU
)
def test_the_capacity_tracks_the_streaming_cost_whatever_the_set_ups(
    per_drive: float, drives: int, setups: int, noise: list[float]
) -> None:
    gauge = LoadGauge(max_cpu=0.7, max_loop_lag_ms=0)
    process = Process(gauge, per_drive=per_drive, setup_s=SETUP_CPU_S, idle=0.0)
    process.step(drives)
    for wobble in noise:
        process.step(setups, setups, noise=1 + wobble)
    truth = 0.7 / per_drive
    capacity = gauge.capacity
    assert capacity is not None
    # Noise of 5 % on the whole CPU is 5 % x (1 + r) on the streaming part, r the set-ups'
    # CPU over the streaming CPU. Where that grows past 10 % (r > 1), the credit stops at
    # half the CPU, which keeps the estimate above 0.475 x (1 + r) x the truth: the cost is
    # never under 0.9 of the truth, so the capacity never over 1/0.9 of it.
    ratio = SETUP_CPU_S * setups * 10 / (per_drive * drives)
    assert capacity <= truth / 0.9 + 1
    if ratio <= 0.8:  # set-ups under 4/9 of the CPU: all of it taken off, within the noise
        assert capacity >= truth / (1 + 0.05 * (1 + ratio)) - 1
