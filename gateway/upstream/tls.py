"""TLS settings toward the vendor, decided in one place.

* The HTTP API (a public host name): always verified; ``ca_file`` adds a trust anchor.
* The drive's WebSocket (an IP-literal ``wss://`` address, zego-api.md §7-8): NOT verified by
  default, because the vendor's docs say to skip verification; verified (host name included)
  when ``tls_verify`` is on or a ``ca_file`` is given. The first WebSocket of each mode in a
  process logs one WARNING that says which.
"""

from __future__ import annotations

import functools
import logging
import ssl

from gateway.config import UpstreamConfig

__all__ = ["api_tls", "websocket_tls"]

logger = logging.getLogger("gateway.upstream")

_announced: set[bool] = set()


@functools.lru_cache(maxsize=8)
def _context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    # Cached: loading the system store reads files; one context per setting is enough.
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    # The system store plus the configured bundle: ca_file adds trust, it does not replace it.
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    return context


def api_tls(config: UpstreamConfig) -> ssl.SSLContext:
    """The TLS context of the HTTP API: verification always on."""
    return _context(True, config.ca_file)


def websocket_tls(address: str, config: UpstreamConfig) -> ssl.SSLContext | None:
    """The TLS context for a drive's WebSocket ``address``; None for a plain ``ws://`` one."""
    if not address.lower().startswith("wss://"):
        return None
    verify = config.tls_verify or config.ca_file is not None
    if verify not in _announced:
        _announced.add(verify)
        if verify:
            logger.warning(
                "TLS certificate verification of the vendor's WebSocket is ON (CA: %s); the "
                "vendor's docs say to skip it, so its certificates may fail to verify",
                config.ca_file or "the system store",
            )
        else:
            logger.warning(
                "TLS certificate verification of the vendor's WebSocket is OFF, as the vendor's "
                "docs require; set tls_verify or ca_file to turn it on"
            )
    return _context(verify, config.ca_file)
