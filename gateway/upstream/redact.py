"""Keep secrets out of logs and error messages.

The WebSocket address carries its credential in the query (``?Token=...``, zego-api.md §7) and
every API request carries a ``Signature``. Pass any URL through :func:`redact_url`, and any
library message that might quote one through :func:`redact_text`, before it is logged or put in
an exception.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MASK", "SENSITIVE_KEYS", "WIRE_LOGGER", "RedactingAdapter", "redact_text", "redact_url"]

MASK = "***"

SENSITIVE_KEYS = frozenset(
    {"token", "signature", "secret", "serversecret", "access_token", "password", "sig", "key"}
)
"""Query keys whose values are masked, compared case-insensitively."""

_SENSITIVE_PAIR = re.compile(
    r"(?i)\b(" + "|".join(sorted(SENSITIVE_KEYS, key=len, reverse=True)) + r")=[^&\s\"'<>]*"
)


def redact_url(url: str) -> str:
    """``url`` with the values of sensitive query keys and any password masked.

    ``wss://10.0.0.1:8443/ws?Token=abc`` becomes ``wss://10.0.0.1:8443/ws?Token=***``. Other
    parameters, the host and the path are kept, so the result still says where we connected.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{MASK}@{hostport}" if ":" in userinfo else netloc
        query = (
            "&".join(_redact_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
        )
        fragment = redact_text(parts.fragment)
        return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
    except ValueError:
        # Not parseable as a URL: fall back to masking every sensitive `key=value` in the text.
        return redact_text(url)


def redact_text(text: str) -> str:
    """``text`` with every ``key=value`` of a sensitive key masked (for library messages)."""
    return _SENSITIVE_PAIR.sub(lambda m: f"{m.group(1)}={MASK}", text)


def _redact_pair(pair: str) -> str:
    key, sep, _value = pair.partition("=")
    return f"{key}={MASK}" if sep and key.lower() in SENSITIVE_KEYS else pair


class RedactingAdapter(logging.LoggerAdapter[logging.Logger]):
    """A logger for libraries that may quote a URL: every message passes :func:`redact_text`.

    websockets' DEBUG lines quote the handshake's request line, which carries the ``Token``.
    Tracebacks are formatted here, so that they are redacted too.
    """

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = f"{msg} {args}"
        exc_info = kwargs.pop("exc_info", None)
        if exc_info:
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                exc_info = sys.exc_info()
            text += "\n" + "".join(traceback.format_exception(*exc_info)).rstrip()
        kwargs.pop("stack_info", None)
        self.logger.log(level, redact_text(text), **kwargs)


WIRE_LOGGER = RedactingAdapter(logging.getLogger("gateway.upstream.wire"), {})
"""The logger handed to websockets."""
