"""The vendor's cloud, as the gateway sees it: the signed HTTP API and the drive's WebSocket.

* :class:`UpstreamClient` → :meth:`~UpstreamClient.drive_by_ws_stream` → :class:`DriveGrant`
  (rate-limited by a :class:`RequestLimiter`, retried per :mod:`gateway.upstream.policy`);
* :meth:`DriveSession.open` with the grant → ``send_audio()`` … ``stop()`` → ``close()``.

Failures are :class:`~gateway.errors.UpstreamError` subclasses; :mod:`gateway.upstream.codes`
is the one table of the vendor's return codes. Secrets never reach a log line: URLs go through
:func:`redact_url`.
"""

from __future__ import annotations

from gateway.upstream.api import ApiResult, Attempt, DriveGrant, UpstreamClient
from gateway.upstream.codec import SAMPLE_RATES, SAMPLE_WIDTH_BYTES, EventCallback, UpstreamMessage
from gateway.upstream.codes import CODES, Category, CodeInfo, api_error, classify
from gateway.upstream.limiter import LocalRateLimiter, RequestLimiter, SlidingWindow
from gateway.upstream.policy import RetryKind, backoff, is_retryable, retry_kind
from gateway.upstream.redact import redact_text, redact_url
from gateway.upstream.signing import new_nonce, sign, signed_query
from gateway.upstream.ws import DriveSession

__all__ = [
    "CODES",
    "SAMPLE_RATES",
    "SAMPLE_WIDTH_BYTES",
    "ApiResult",
    "Attempt",
    "Category",
    "CodeInfo",
    "DriveGrant",
    "DriveSession",
    "EventCallback",
    "LocalRateLimiter",
    "RequestLimiter",
    "RetryKind",
    "SlidingWindow",
    "UpstreamClient",
    "UpstreamMessage",
    "api_error",
    "backoff",
    "classify",
    "is_retryable",
    "new_nonce",
    "redact_text",
    "redact_url",
    "retry_kind",
    "sign",
    "signed_query",
]
