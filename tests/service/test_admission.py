"""Admission by load: the pure gauge with plain numbers, then the refusal end to end."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import grpc
import pytest
from dhgateway_client import DriveError
from hypothesis import given, strategies as st

from gateway.config import LimitsConfig
from gateway.errors import Reason
from gateway.service.admission import LoadGauge
from gateway.testing import Harness, running_gateway
from tests.service.conftest import chunks, pcm, realtime, stream_error

# The pure gauge.


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


def test_zero_turns_a_check_off() -> None:
    gauge = fed(LoadGauge(max_cpu=0, max_loop_lag_ms=0), [(0, 0, 0), (1, 5, 3)])
    assert gauge.cpu_share == 5 and gauge.loop_lag_ms > 1000
    assert gauge.overload() is None


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


# End to end.


async def refused(h: Harness, task: str) -> DriveError:
    return await stream_error(h.client.drive(task, [pcm(100)]))


async def until(predicate: Callable[[], bool]) -> None:
    """Wait (at most 5 s) for the sampler's ticks to make ``predicate`` true."""
    for _ in range(250):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the load gauge never got there")


@pytest.mark.asyncio
async def test_a_late_event_loop_refuses_new_drives_and_keeps_the_running_one() -> None:
    limits = LimitsConfig.for_test(admit_max_loop_lag_ms=20)
    async with running_gateway(limits=limits) as h:
        running = h.client.drive("task-running", realtime(chunks(pcm(1500), 3200), 100))
        await anext(running)  # Started
        # Hold the loop for 400 ms: the sampler's next tick runs that late.
        asyncio.get_running_loop().call_soon(time.sleep, 0.4)
        await until(lambda: h.app.load.overload() is not None)
        error = await refused(h, "task-new")
        assert (error.code, error.reason) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            Reason.GATEWAY_OVERLOADED.value,
        )
        assert float(error.metadata["loop_lag_ms"]) > 20
        assert error.metadata["retry_after_ms"] == "1000"
        assert not h.sim.drives_for_task("task-new")  # refused before any vendor call
        # The running drive goes on to its end, Stop and all.
        events = [event async for event in running]
        assert events[-1].WhichOneof("event") == "completed"
        # Once the loop keeps time again, new drives are welcome.
        await until(lambda: h.app.load.overload() is None)
        events = [event async for event in h.client.drive("task-new", [pcm(100)])]
        assert events[-1].WhichOneof("event") == "completed"


@pytest.mark.asyncio
async def test_a_busy_process_refuses_new_drives_on_cpu() -> None:
    limits = LimitsConfig.for_test(admit_max_cpu=0.5)
    async with running_gateway(limits=limits) as h:
        halt = threading.Event()

        def spin() -> None:  # a whole core, off the event loop (bounded by halt and time)
            deadline = time.monotonic() + 10
            while not halt.is_set() and time.monotonic() < deadline:
                pass

        burner = threading.Thread(target=spin, daemon=True)
        burner.start()
        try:
            await until(lambda: h.app.load.overload() is not None)
            error = await refused(h, "task-cpu")
        finally:
            halt.set()
            burner.join(5)
        assert error.reason == Reason.GATEWAY_OVERLOADED.value
        assert float(error.metadata["cpu_percent"]) > 50
        assert "of a core" in error.message
