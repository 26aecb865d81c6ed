"""Retry policy of the vendor's HTTP API: pure, after websockets' ``backoff()`` and
``process_exception()``.

:func:`backoff` says how long to wait before each retry; :func:`is_retryable` says whether a
failure may succeed if the same request is sent again; :func:`retry_kind` says which budget a
retry spends. The client owns the clock and the sleeping.
"""

from __future__ import annotations

import enum
import random
import ssl
from collections.abc import Callable, Iterator

import aiohttp

from gateway.errors import GatewayError, Reason, UpstreamApiError, UpstreamUnreachable

__all__ = ["RETRYABLE_HTTP_STATUSES", "RetryKind", "backoff", "is_retryable", "retry_kind"]

RETRYABLE_HTTP_STATUSES = frozenset({408, 429})
"""Retryable besides every 5xx: a request timeout or a throttling proxy in front of the vendor."""


class RetryKind(enum.Enum):
    """Which budget a retry spends."""

    #: Transport errors, timeouts, HTTP 5xx, Code 400010002: ``UpstreamConfig.retry_budget_s``.
    TRANSIENT = "transient"
    #: Code 400010009: the longer ``UpstreamConfig.rate_limit_budget_s``.
    RATE_LIMIT = "rate limit"


def backoff(
    initial_s: float,
    max_s: float,
    *,
    factor: float = 2.0,
    jitter: float = 0.5,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Yield retry delays forever: exponential growth, capped, with jitter.

    The n-th delay is ``min(initial_s * factor**n, max_s)`` scaled by a random factor in
    ``(1 - jitter, 1]``, so concurrent callers that failed together spread out. The caller stops
    drawing when its budget is spent.

    Args:
        initial_s: the first (largest possible) delay.
        max_s: the cap; no delay is longer.
        factor: the growth factor, at least 1.
        jitter: the fraction of each delay that is random, in ``[0, 1)``.
        rng: a source of floats in ``[0, 1)``; inject a fixed one in tests.
    """
    if not (initial_s > 0 and max_s > 0):
        raise ValueError("initial_s and max_s must be positive")
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    if not 0 <= jitter < 1:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")
    base = min(initial_s, max_s)
    while True:
        yield base * (1.0 - jitter * rng())
        base = min(base * factor, max_s)


def is_retryable(exc: BaseException) -> bool:
    """Whether the request that failed with ``exc`` may succeed if sent again, later.

    Our own errors say so themselves (``retryable``). Library errors: transport failures and
    timeouts are retryable; TLS failures and bad URLs are not (they are configuration); an HTTP
    error is retryable when it is a 5xx, 408 or 429.
    """
    if isinstance(exc, UpstreamApiError | UpstreamUnreachable):
        return exc.retryable
    if isinstance(exc, GatewayError):
        return False
    # Certificate and TLS failures are OSErrors too: test them before the transport errors.
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError | aiohttp.InvalidURL):
        return False
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status >= 500 or exc.status in RETRYABLE_HTTP_STATUSES
    return isinstance(exc, aiohttp.ClientError | TimeoutError | OSError)


def retry_kind(exc: BaseException) -> RetryKind | None:
    """Which budget a retry after ``exc`` spends, or ``None`` when it must not be retried."""
    if isinstance(exc, UpstreamApiError) and exc.reason is Reason.UPSTREAM_RATE_LIMITED:
        return RetryKind.RATE_LIMIT if exc.retryable else None
    return RetryKind.TRANSIENT if is_retryable(exc) else None
