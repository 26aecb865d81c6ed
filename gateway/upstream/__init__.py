"""The vendor's cloud, as the gateway sees it: the signed HTTP API and the drive's WebSocket.

* :class:`UpstreamClient` → :meth:`~UpstreamClient.drive_by_ws_stream` → :class:`DriveGrant`
  (rate-limited by a :class:`RequestLimiter`, retried per :mod:`gateway.upstream.policy`),
  :meth:`~UpstreamClient.drive_by_text` → :class:`TextGrant` and
  :meth:`~UpstreamClient.interrupt_drive_task` (the avatar silent now) the same way;
* :meth:`DriveSession.open` with the grant → ``send_audio()`` … ``send_stop()`` → ``close()``.

Failures are :class:`~gateway.errors.UpstreamError` subclasses; :mod:`gateway.upstream.codes`
is the one table of the vendor's return codes. Secrets never reach a log line: URLs go through
:func:`~gateway.upstream.redact.redact_url`.
"""

from __future__ import annotations

from gateway.upstream.api import Attempt, DriveGrant, TextGrant, UpstreamClient
from gateway.upstream.codec import UpstreamMessage
from gateway.upstream.limiter import LocalRateLimiter, RequestLimiter
from gateway.upstream.ws import DriveSession

#: The faces callers use; everything else is imported from its module.
__all__ = [
    "Attempt",
    "DriveGrant",
    "DriveSession",
    "LocalRateLimiter",
    "RequestLimiter",
    "TextGrant",
    "UpstreamClient",
    "UpstreamMessage",
]
