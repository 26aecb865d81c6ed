"""Opening the drive's WebSocket: the handshake, and its failures translated once.

websockets' exceptions become :class:`~gateway.errors.UpstreamUnreachable`, whose message names
the address with its Token redacted (zego-api.md §8: the address carries a credential).
"""

from __future__ import annotations

import ssl
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, InvalidURI, WebSocketException

from gateway.config import UpstreamConfig
from gateway.errors import UpstreamUnreachable
from gateway.upstream.connection import WatchedConnection
from gateway.upstream.redact import WIRE_LOGGER, redact_text, redact_url
from gateway.upstream.tls import websocket_tls

__all__ = ["MAX_INCOMING_BYTES", "dial"]

#: The largest message accepted from the vendor; a bigger one closes the connection (1009).
MAX_INCOMING_BYTES = 2**20


def _handshake_error(exc: BaseException, address: str, timeout_s: float) -> UpstreamUnreachable:
    """Translate a failed opening handshake; the message names the redacted address only."""
    retryable = True
    http_status = ""
    if isinstance(exc, InvalidStatus):
        http_status = str(exc.response.status_code)
        retryable = exc.response.status_code >= 500
        detail = f"the handshake was refused with HTTP {http_status}"
    elif isinstance(exc, TimeoutError):
        detail = f"the handshake did not complete within {timeout_s} s"
    elif isinstance(exc, ssl.SSLError):
        retryable = False
        detail = f"TLS failed: {exc.__class__.__name__}: {redact_text(str(exc))}"
    else:
        detail = f"{exc.__class__.__name__}: {redact_text(str(exc))}"
    error = UpstreamUnreachable(
        f"cannot open the vendor's WebSocket at {address}: {detail}", retryable=retryable
    )
    if http_status:
        error.metadata["http_status"] = http_status
    return error


async def dial(wss_address: str, config: UpstreamConfig) -> WatchedConnection:
    """Open the WebSocket at ``wss_address`` (from DriveByWsStream) for one drive.

    The connection has no keepalive of its own: the caller must watch it with the loop's
    :class:`~gateway.upstream.keepalive.KeepAlive`.

    Raises:
        UpstreamUnreachable: an invalid address, a refused or timed-out handshake, TLS.
    """
    # websockets refuses an ssl argument for ws:// (the simulator without TLS).
    extra: dict[str, Any] = {}
    tls = websocket_tls(wss_address, config)
    if tls is not None:
        extra["ssl"] = tls
    try:
        connection = await connect(
            wss_address,
            # The vendor's samples dial the address as given: no proxy, no compression
            # (raw PCM does not compress, and deflate costs CPU per frame).
            compression=None,
            proxy=None,
            open_timeout=config.ws_handshake_timeout_s,
            ping_interval=None,  # the loop's KeepAlive pings instead
            ping_timeout=None,
            create_connection=WatchedConnection,
            close_timeout=config.ws_close_timeout_s,
            max_size=MAX_INCOMING_BYTES,
            logger=WIRE_LOGGER,
            **extra,
        )
    except InvalidURI:
        # websockets' message quotes the whole address, Token included: do not chain it.
        raise UpstreamUnreachable(
            f"the vendor's WebSocket address is not a valid URI: {redact_url(wss_address)}",
            retryable=False,
        ) from None
    except (WebSocketException, OSError, TimeoutError) as exc:
        # Redacted here only: a set-up that succeeds never puts the address in words.
        timeout_s = config.ws_handshake_timeout_s
        raise _handshake_error(exc, redact_url(wss_address), timeout_s) from exc
    assert isinstance(connection, WatchedConnection)
    return connection
