"""The vendor's return codes: ONE table from ``Code`` to what the gateway does about it.

The rows are the Digital Human API's global codes (zego-api.md §14a) and ZEGO's common gateway
codes (§14b, documented for other ZEGO APIs and probably shared by this host). A code that is not
in the table is :attr:`Category.UNKNOWN`, reason ``UPSTREAM_ERROR``, not retryable.

Only two codes are retryable, and each has its own budget in the HTTP client:
``400010002`` "system busy" (the transient budget) and ``400010009`` "rate limit exceeded"
(the longer rate-limit budget). Everything else fails fast: sending the same request again would
get the same answer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType

from gateway.errors import Reason, UpstreamApiError

__all__ = [
    "BUSY",
    "CODES",
    "RATE_LIMITED",
    "SUCCESS",
    "Category",
    "CodeInfo",
    "api_error",
    "classify",
]

SUCCESS = 0
BUSY = 400010002
RATE_LIMITED = 400010009


class Category(enum.StrEnum):
    """Who can fix a failure: it decides what the operator reads, not what the client sees."""

    #: Our request was wrong (a parameter, an Action, the Host): a gateway or client bug.
    CALLER_ERROR = "caller error"
    #: The stream task is missing, not streaming yet, or already stopped.
    TASK_STATE = "task state"
    #: AppId, ServerSecret, the service's activation on the account, or our clock.
    CREDENTIALS = "credentials or clock"
    #: A vendor limit: concurrent streams, free nodes, requests per second.
    CAPACITY = "capacity"
    #: The vendor is busy right now; the same request may succeed a moment later.
    TRANSIENT = "transient"
    #: The vendor's own fault, or a code the table does not know.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """What one vendor ``Code`` means to the gateway."""

    category: Category
    reason: Reason
    retryable: bool
    meaning: str


def _row(category: Category, reason: Reason, meaning: str, *, retryable: bool = False) -> CodeInfo:
    return CodeInfo(category, reason, retryable, meaning)


_CALLER = Category.CALLER_ERROR
_TASK = Category.TASK_STATE
_CRED = Category.CREDENTIALS
_CAP = Category.CAPACITY
_UNK = Category.UNKNOWN
_AUTH = Reason.UPSTREAM_AUTH
_ERR = Reason.UPSTREAM_ERROR

CODES: MappingProxyType[int, CodeInfo] = MappingProxyType(
    {
        # §14b: ZEGO's common gateway codes, checked before the request reaches the product.
        100000000: _row(_CALLER, _ERR, "wrong Host header"),
        100000001: _row(_CRED, _AUTH, "bad AppId format"),
        100000002: _row(_CRED, _AUTH, "Timestamp empty"),
        100000003: _row(_CRED, _AUTH, "bad Timestamp format (must be Unix seconds)"),
        100000004: _row(_CRED, _AUTH, "signature expired: check the clock (at most 10 min off)"),
        100000005: _row(_CRED, _AUTH, "signature invalid: check AppId and ServerSecret"),
        100000006: _row(_CALLER, _ERR, "Action empty"),
        100000007: _row(_CALLER, _ERR, "unsupported Action"),
        100000008: _row(_CRED, _AUTH, "SignatureNonce empty"),
        100000009: _row(_CRED, _AUTH, "Signature empty"),
        100000010: _row(_CRED, _AUTH, "failed to get the ServerSecret: check the AppId"),
        100000011: _row(_CRED, _AUTH, "failed to get the App config: check the AppId"),
        100000012: _row(_CALLER, _ERR, "failed to read the HTTP body"),
        100000013: _row(_CRED, _AUTH, "SignatureVersion empty"),
        100000014: _row(_CRED, _AUTH, "unsupported SignatureVersion (only 2.0)"),
        100000015: _row(_UNK, _ERR, "internal error of the vendor's API gateway"),
        100000017: _row(_CRED, Reason.UPSTREAM_NOT_ENABLED, "the App has not enabled this service"),
        # §14a: the Digital Human API's global codes.
        400000001: _row(_CALLER, _ERR, "invalid input parameters"),
        400000002: _row(_CRED, Reason.UPSTREAM_NOT_ENABLED, "Digital Human API not enabled"),
        400000003: _row(_CALLER, _ERR, "digital human not found"),
        400000004: _row(_CALLER, _ERR, "timbre not found"),
        400000005: _row(_TASK, Reason.UPSTREAM_TASK_NOT_FOUND, "task not found"),
        400000006: _row(_TASK, Reason.UPSTREAM_TASK_NOT_STREAMING, "video stream not started"),
        400000007: _row(_TASK, Reason.UPSTREAM_TASK_NOT_STREAMING, "video stream already stopped"),
        400000008: _row(_CAP, Reason.UPSTREAM_CONCURRENCY, "stream concurrency limit exceeded"),
        400000009: _row(_CALLER, _ERR, "the stream does not support this timbre"),
        400000010: _row(_CALLER, _ERR, "digital human internal configuration error"),
        400000015: _row(_CALLER, _ERR, "stream ID already exists"),
        400000016: _row(_UNK, _ERR, "digital human model version error"),
        400010000: _row(_UNK, _ERR, "system error"),
        400010001: _row(_CRED, Reason.UPSTREAM_NOT_ENABLED, "no API call permission"),
        BUSY: _row(Category.TRANSIENT, _ERR, "system busy", retryable=True),
        400010007: _row(_CAP, _ERR, "insufficient resources (no available nodes)"),
        RATE_LIMITED: _row(
            _CAP, Reason.UPSTREAM_RATE_LIMITED, "API rate limit exceeded", retryable=True
        ),
    }
)
"""Every documented non-zero ``Code``. Read it through :func:`classify`."""

_UNKNOWN = CodeInfo(Category.UNKNOWN, Reason.UPSTREAM_ERROR, False, "undocumented code")


def classify(code: int) -> CodeInfo:
    """What a non-zero ``Code`` means; an undocumented code is ``UNKNOWN`` and not retryable."""
    return CODES.get(code, _UNKNOWN)


def api_error(code: int, message: str, request_id: str) -> UpstreamApiError:
    """The typed error for a non-zero ``Code`` in the vendor's envelope.

    Args:
        code: the envelope's ``Code`` (not 0).
        message: the envelope's ``Message`` (the vendor's words, kept as they are).
        request_id: the envelope's ``RequestId``, for the vendor's support.
    """
    info = classify(code)
    return UpstreamApiError(
        info.reason,
        code=code,
        upstream_message=message or info.meaning,
        request_id=request_id,
        retryable=info.retryable,
    )
