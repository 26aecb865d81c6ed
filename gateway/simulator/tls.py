"""Throwaway TLS for ``https``/``wss`` mode, made with trustme.

The vendor's address is an IP literal and its docs tell clients to skip certificate
verification (zego-api.md §7, §8). The simulator still hands out a CA, so that a client that
does verify can be tested too. trustme is the optional ``simulator`` extra: imported only when
TLS is made (:func:`require` says whether it can be).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

__all__ = ["INSTALL", "TlsMaterial", "client_ssl_context", "make_tls", "require"]

#: How to install what the simulator's TLS needs.
INSTALL = "pip install 'dh-gateway[simulator]'"


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """A server context and the PEM of the CA that signed its certificate."""

    server_context: ssl.SSLContext
    ca_pem: bytes


def require() -> None:
    """Load trustme; call it where ``--tls`` is asked for, to fail before serving.

    Raises:
        ModuleNotFoundError: trustme is not installed; the message says how to install it.
    """
    try:
        import trustme  # noqa: F401
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"the simulator's TLS needs trustme, which is not installed: {INSTALL}",
            name="trustme",
        ) from exc


def make_tls(host: str) -> TlsMaterial:
    """A fresh CA and a certificate for ``127.0.0.1``, ``::1``, ``localhost`` and ``host``.

    Raises:
        ModuleNotFoundError: trustme is not installed (:func:`require`).
    """
    require()
    import trustme

    ca = trustme.CA()
    names = ["127.0.0.1", "::1", "localhost"]
    if host and host not in names and host not in ("0.0.0.0", "::"):
        names.append(host)
    leaf = ca.issue_cert(*names)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    return TlsMaterial(server_context=context, ca_pem=ca.cert_pem.bytes())


def client_ssl_context(ca_pem: bytes) -> ssl.SSLContext:
    """A client context that verifies the simulator's certificate against its CA."""
    return ssl.create_default_context(cadata=ca_pem.decode("ascii"))
