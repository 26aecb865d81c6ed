"""Everything the gateway does with websockets beyond its public API, in this one module.

Two things on the audio path are too slow through the public API (``docs/performance.md``):

* **Audio frames.** websockets serialises each frame through a ``BytesIO`` and draws each
  frame's 4-byte masking key with ``secrets.token_bytes``: one ``getrandom`` system call per
  frame, a measurable share of the gateway's CPU at 20 ms chunks. :func:`encode_binary_frame`
  produces the same wire format for an unfragmented binary message (FIN set, no extension,
  masked as a client must, RFC 6455 §5.2-5.3) with keys drawn from a pool of ``os.urandom``
  bytes: still the OS's cryptographic generator, as §5.3 requires, at one system call per
  thousand frames. The pool is discarded in a forked child so that two processes never share
  keys. :meth:`WatchedConnection.write_audio` writes such a frame straight to the transport.
* **Keepalive.** websockets' keepalive is a task per connection; the gateway pings every
  connection of a loop from one timer (``keepalive.py``) through the sans-I/O protocol,
  :meth:`WatchedConnection.ping_now`, and counts any bytes from the peer as proof of life.

Every other message (Start, Stop, close) goes through websockets' own protocol on the same
transport, so the byte stream stays in order. ``tests/upstream/test_websockets_internals.py``
fails loudly when the installed websockets no longer has what this module uses; pyproject pins
the tested major version.
"""

from __future__ import annotations

import os
import struct

from websockets.asyncio.client import ClientConnection
from websockets.protocol import State

try:  # websockets' C speedup, as websockets.frames itself does
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover  # a build without its C extension
    from websockets.utils import apply_mask

__all__ = ["WatchedConnection", "encode_binary_frame"]

_FIN_BINARY = 0x82  # FIN bit, opcode 0x2
_MASKED = 0x80
_KEYS_PER_DRAW = 1024


class _MaskKeys:
    """Masking keys from the OS's CSPRNG, drawn a thousand at a time."""

    def __init__(self) -> None:
        self._pool = b""
        self._offset = 0

    def next(self) -> bytes:
        if self._offset >= len(self._pool):
            self._pool = os.urandom(4 * _KEYS_PER_DRAW)
            self._offset = 0
        key = self._pool[self._offset : self._offset + 4]
        self._offset += 4
        return key

    def discard(self) -> None:
        self._pool = b""
        self._offset = 0


_keys = _MaskKeys()
os.register_at_fork(after_in_child=_keys.discard)


def encode_binary_frame(payload: bytes) -> bytes:
    """One complete, masked binary frame carrying ``payload``, ready for the transport."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", _FIN_BINARY, _MASKED | length)
    elif length < 65536:
        head = struct.pack("!BBH", _FIN_BINARY, _MASKED | 126, length)
    else:
        head = struct.pack("!BBQ", _FIN_BINARY, _MASKED | 127, length)
    key = _keys.next()
    return head + key + apply_mask(payload, key)


class WatchedConnection(ClientConnection):
    """A websockets client connection with the gateway's fast paths, and a record of when the
    peer last sent anything. Pass it as ``connect(..., create_connection=WatchedConnection)``.
    """

    #: ``loop.time()`` when bytes last arrived from the peer (the handshake's, at first).
    last_received_at: float = 0.0

    def data_received(self, data: bytes) -> None:
        self.last_received_at = self.loop.time()
        super().data_received(data)

    def forget_handshake_request(self) -> None:
        """Drop the handshake's request (headers, ~1 KiB) once open: it serves nobody now.
        (The response stays: websockets reads ``response is None`` as "in the handshake".)"""
        self.request = None

    def write_audio(self, payload: bytes) -> bool:
        """Write one binary frame straight to the transport, as ``send`` would in the end,
        minus its per-message async context manager and a system call per masking key.

        Returns False, writing nothing, when the connection is not open: the caller must then
        go through ``send`` (which says why). After True, the caller must ``await drain()``
        while :attr:`write_blocked`.
        """
        if self.protocol.state is not State.OPEN or self.transport.is_closing():
            return False
        self.transport.write(encode_binary_frame(payload))
        return True

    @property
    def write_blocked(self) -> bool:
        """Whether writes are over the write buffer's high-water mark (wait for ``drain``)."""
        return self.paused

    def ping_now(self, payload: bytes) -> bool:
        """Write a ping at once, with no task, future or timer; False (nothing written) when
        the connection is not open or its writes are blocked (the ping would queue behind
        audio)."""
        if self.protocol.state is not State.OPEN or self.paused:
            return False
        self.protocol.send_ping(payload)
        for data in self.protocol.data_to_send():
            self.transport.write(data)
        return True

    def abort(self) -> None:
        """Drop the TCP connection now, without a closing handshake."""
        self.transport.abort()
