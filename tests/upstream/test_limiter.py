"""The request limiter: the pure sliding window, then the asyncio limiter on a real loop."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import given, strategies as st

from gateway.upstream.limiter import LocalRateLimiter, RequestLimiter, SlidingWindow


def max_in_any_window(times: list[float], window_s: float) -> int:
    """The largest number of ``times`` inside one half-open window ``[t, t + window_s)``."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, sum(1 for t in ordered[i:] if t < start + window_s))
    return best


def test_window_admits_capacity_then_waits_a_window() -> None:
    window = SlidingWindow(3, 1.0)
    assert [window.reserve(0.0) for _ in range(7)] == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0]


def test_window_frees_slots_as_time_passes() -> None:
    window = SlidingWindow(2, 1.0)
    assert window.reserve(0.0) == 0.0
    assert window.reserve(0.5) == 0.5
    assert window.reserve(0.6) == 1.0  # one window after the oldest of the last two
    assert window.reserve(5.0) == 5.0


@given(
    capacity=st.integers(1, 12),
    window_s=st.floats(0.01, 3.0),
    arrivals=st.lists(st.floats(0.0, 20.0), min_size=1, max_size=80),
)
def test_window_never_admits_more_than_capacity(
    capacity: int, window_s: float, arrivals: list[float]
) -> None:
    window = SlidingWindow(capacity, window_s)
    ordered = sorted(arrivals)  # a monotonic clock
    granted = [window.reserve(now) for now in ordered]
    assert all(g >= now for g, now in zip(granted, ordered, strict=True))
    assert granted == sorted(granted)  # first come, first served
    for i in range(capacity, len(granted)):
        assert granted[i] - granted[i - capacity] >= window_s * (1 - 1e-9)


@pytest.mark.asyncio
async def test_local_limiter_with_an_injected_clock() -> None:
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    limiter = LocalRateLimiter(10, clock=lambda: 100.0, sleep=fake_sleep)
    waits = [await limiter.acquire("app") for _ in range(25)]
    assert waits == pytest.approx([0.0] * 10 + [1.1] * 10 + [2.2] * 5)
    assert slept == pytest.approx([1.1] * 10 + [2.2] * 5)
    # Another key has its own window.
    assert await limiter.acquire("other") == 0.0


def test_local_limiter_keeps_the_exact_rate_with_a_whole_capacity() -> None:
    limiter = LocalRateLimiter(2.5, margin_s=0.0)
    assert limiter.capacity == 2 and limiter.window_s == pytest.approx(0.8)
    slow = LocalRateLimiter(0.5, margin_s=0.0)
    assert slow.capacity == 1 and slow.window_s == pytest.approx(2.0)
    with pytest.raises(ValueError):
        LocalRateLimiter(0)


@pytest.mark.asyncio
async def test_a_burst_waits_its_turn_in_order_on_a_real_loop() -> None:
    # 100/s over a 0.1 s window: 10 per window (+20 ms margin); 35 callers take ~0.36 s.
    limiter: RequestLimiter = LocalRateLimiter(100, window_s=0.1, margin_s=0.02)
    loop = asyncio.get_running_loop()
    turns: dict[int, float] = {}
    started: list[float] = []

    async def caller(index: int) -> float:
        asked = loop.time()
        waited = await limiter.acquire("app")
        turns[index] = asked + waited
        started.append(loop.time())
        return waited

    async with asyncio.timeout(5):
        waits = await asyncio.gather(*(caller(i) for i in range(35)))
    assert sum(1 for w in waits if w == 0) == 10
    # FIFO: callers ask in index order (gather starts them in order); no one gets an earlier
    # turn than someone who asked before them.
    in_order = [turns[i] for i in range(35)]
    # (The tolerance absorbs the time between reading `asked` and the limiter's own clock.)
    assert all(later >= earlier - 1e-3 for earlier, later in itertools.pairwise(in_order))
    assert max_in_any_window(started, 0.1) <= 10
