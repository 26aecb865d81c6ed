"""Request signing of the vendor's HTTP API (zego-api.md §2, §3).

Pure functions: no I/O, and the clock is read only when the caller does not pass ``now``.
Every request needs a fresh nonce and timestamp, so build a new :func:`signed_query` for every
attempt, retries included; never reuse one.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from gateway.config import Credentials

__all__ = ["SIGNATURE_VERSION", "new_nonce", "sign", "signed_query"]

SIGNATURE_VERSION = "2.0"
"""The only ``SignatureVersion`` the vendor accepts (zego-api.md §2)."""


def sign(app_id: int, nonce: str, server_secret: str, timestamp: int) -> str:
    """The ``Signature`` of one request.

    ``md5(AppId + SignatureNonce + ServerSecret + Timestamp)`` over plain string concatenation,
    with the AppId and the Unix timestamp (seconds) written in decimal.

    Args:
        app_id: the AppId, sent as ``AppId``.
        nonce: the ``SignatureNonce`` sent with the same request.
        server_secret: the account's ServerSecret; it is never sent.
        timestamp: the ``Timestamp`` sent with the same request, in Unix seconds.

    Returns:
        32 lowercase hex characters. Treat it as a secret: never log it.
    """
    message = f"{app_id}{nonce}{server_secret}{timestamp}"
    # md5 is the vendor's choice, not ours; it is not used for security by this process.
    return hashlib.md5(message.encode("utf-8"), usedforsecurity=False).hexdigest()


def new_nonce() -> str:
    """A fresh ``SignatureNonce``: 16 hex characters from 8 random bytes (the vendor's format)."""
    return secrets.token_hex(8)


def signed_query(action: str, credentials: Credentials, now: float | None = None) -> dict[str, str]:
    """The common query parameters of one request, signed with a fresh nonce.

    Args:
        action: the API name, e.g. ``"DriveByWsStream"``.
        credentials: the AppId and ServerSecret to sign with.
        now: the Unix time to sign with; ``None`` reads the wall clock. The vendor refuses a
            timestamp more than 10 minutes off its own clock (Code 100000004).

    Returns:
        ``Action``, ``AppId``, ``SignatureNonce``, ``Timestamp``, ``Signature`` and
        ``SignatureVersion``, as strings. The caller must send it once and then drop it: it
        holds the signature, so never log it (log :func:`gateway.upstream.redact_url` of the
        URL instead).
    """
    timestamp = int(time.time() if now is None else now)
    nonce = new_nonce()
    return {
        "Action": action,
        "AppId": str(credentials.app_id),
        "SignatureNonce": nonce,
        "Timestamp": str(timestamp),
        "Signature": sign(credentials.app_id, nonce, credentials.server_secret, timestamp),
        "SignatureVersion": SIGNATURE_VERSION,
    }
