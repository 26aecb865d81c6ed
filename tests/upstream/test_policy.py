"""Retry policy: the backoff generator and what is retryable."""

from __future__ import annotations

import itertools
import ssl

import aiohttp
import pytest
from hypothesis import given, strategies as st

from gateway.errors import DriveEnded, Reason, UpstreamUnreachable
from gateway.upstream.codes import api_error
from gateway.upstream.policy import RetryKind, backoff, is_retryable, retry_kind


def test_backoff_grows_then_caps_without_jitter() -> None:
    delays = list(itertools.islice(backoff(0.1, 1.0, jitter=0.0), 7))
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])


def test_backoff_jitter_uses_the_injected_rng() -> None:
    delays = list(itertools.islice(backoff(1.0, 8.0, jitter=0.5, rng=lambda: 1.0), 3))
    assert delays == pytest.approx([0.5, 1.0, 2.0])


@given(
    initial=st.floats(0.001, 10.0),
    cap=st.floats(0.001, 60.0),
    factor=st.floats(1.0, 4.0),
    jitter=st.floats(0.0, 0.99),
    draws=st.lists(st.floats(0.0, 0.9999999), min_size=1, max_size=40),
)
def test_backoff_stays_within_bounds(
    initial: float, cap: float, factor: float, jitter: float, draws: list[float]
) -> None:
    source = iter(draws)
    delays = backoff(initial, cap, factor=factor, jitter=jitter, rng=lambda: next(source))
    base = min(initial, cap)
    for delay in itertools.islice(delays, len(draws)):
        assert 0 < delay <= cap * (1 + 1e-9)
        assert (1 - jitter) * base * (1 - 1e-9) <= delay <= base * (1 + 1e-9)
        base = min(base * factor, cap)


@pytest.mark.parametrize(
    ("initial", "factor", "jitter", "message"),
    [(0.0, 2.0, 0.5, "positive"), (1.0, 0.5, 0.5, "factor"), (1.0, 2.0, 1.0, "jitter")],
)
def test_backoff_rejects_bad_parameters(
    initial: float, factor: float, jitter: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        next(backoff(initial, 1.0, factor=factor, jitter=jitter))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError(), True),
        (ConnectionRefusedError(), True),
        (aiohttp.ServerDisconnectedError(), True),
        (aiohttp.ClientPayloadError("truncated"), True),
        (ssl.SSLCertVerificationError("bad cert"), False),
        (aiohttp.InvalidURL("x"), False),
        (ValueError("bug"), False),
        (UpstreamUnreachable("5xx"), True),
        (UpstreamUnreachable("garbage", retryable=False), False),
        (api_error(400010002, "busy", "r"), True),
        (api_error(400010009, "slow down", "r"), True),
        (api_error(400000005, "no task", "r"), False),
        (DriveEnded(Reason.DRAINING, "draining"), False),
    ],
)
def test_is_retryable(exc: BaseException, expected: bool) -> None:
    assert is_retryable(exc) is expected


def test_retry_kind_separates_rate_limits() -> None:
    assert retry_kind(api_error(400010009, "", "r")) is RetryKind.RATE_LIMIT
    assert retry_kind(api_error(400010002, "", "r")) is RetryKind.TRANSIENT
    assert retry_kind(UpstreamUnreachable("timeout")) is RetryKind.TRANSIENT
    assert retry_kind(api_error(100000005, "", "r")) is None
