"""The return-code table (zego-api.md §14a, §14b)."""

from __future__ import annotations

import pytest

from gateway.errors import Reason, UpstreamApiError
from gateway.upstream.codes import CODES, Category, api_error, classify

# Every code of §14a and §14b: the table must hold them all.
DOCUMENTED = [
    *range(100000000, 100000016),
    100000017,
    *range(400000001, 400000011),
    400000015,
    400000016,
    400010000,
    400010001,
    400010002,
    400010007,
    400010009,
]


def test_the_table_holds_every_documented_code() -> None:
    assert sorted(CODES) == sorted(DOCUMENTED)
    assert 0 not in CODES


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (400000005, Reason.UPSTREAM_TASK_NOT_FOUND),
        (400000006, Reason.UPSTREAM_TASK_NOT_STREAMING),
        (400000007, Reason.UPSTREAM_TASK_NOT_STREAMING),
        (400000002, Reason.UPSTREAM_NOT_ENABLED),
        (400010001, Reason.UPSTREAM_NOT_ENABLED),
        (100000017, Reason.UPSTREAM_NOT_ENABLED),
        (400000008, Reason.UPSTREAM_CONCURRENCY),
        (400010009, Reason.UPSTREAM_RATE_LIMITED),
        (400010002, Reason.UPSTREAM_ERROR),
        (100000004, Reason.UPSTREAM_AUTH),
        (100000005, Reason.UPSTREAM_AUTH),
        (100000010, Reason.UPSTREAM_AUTH),
        (100000014, Reason.UPSTREAM_AUTH),
        (400000001, Reason.UPSTREAM_ERROR),
        (400010000, Reason.UPSTREAM_ERROR),
        (400010007, Reason.UPSTREAM_ERROR),
    ],
)
def test_reasons(code: int, reason: Reason) -> None:
    assert classify(code).reason is reason


def test_only_busy_and_rate_limit_are_retryable() -> None:
    assert {code for code, info in CODES.items() if info.retryable} == {400010002, 400010009}


def test_categories() -> None:
    assert classify(400010002).category is Category.TRANSIENT
    assert classify(400010009).category is Category.CAPACITY
    assert classify(400000008).category is Category.CAPACITY
    assert classify(400000005).category is Category.TASK_STATE
    assert classify(100000004).category is Category.CREDENTIALS
    assert classify(400000001).category is Category.CALLER_ERROR


def test_an_unknown_code_is_an_unknown_upstream_error() -> None:
    info = classify(123456789)
    assert (info.category, info.reason, info.retryable) == (
        Category.UNKNOWN,
        Reason.UPSTREAM_ERROR,
        False,
    )


def test_api_error_carries_the_envelope() -> None:
    error = api_error(400000005, "task not found", "req-1")
    assert isinstance(error, UpstreamApiError)
    assert (error.code, error.upstream_message, error.request_id) == (
        400000005,
        "task not found",
        "req-1",
    )
    assert error.reason is Reason.UPSTREAM_TASK_NOT_FOUND
    assert not error.retryable
    assert error.metadata["upstream_code"] == "400000005"
    # An empty Message falls back to the documented meaning.
    assert api_error(400010009, "", "r").upstream_message == "API rate limit exceeded"
