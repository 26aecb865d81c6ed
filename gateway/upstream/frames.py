"""Binary WebSocket frames from a client, encoded for the audio hot path (RFC 6455 §5.2-5.3).

websockets serialises each frame through a ``BytesIO`` and draws each frame's 4-byte masking
key with ``secrets.token_bytes``: one ``getrandom`` system call per frame, a measurable share
of the gateway's CPU at 20 ms chunks (``make bench QUICK=1``). :func:`encode_binary_frame`
produces the same wire format for an unfragmented binary message (FIN set, no extension,
masked as a client must) with keys drawn from a pool of ``os.urandom`` bytes: still the OS's
cryptographic generator, as §5.3 requires, at one system call per thousand frames. The pool
is discarded in a forked child so that two processes never share keys.

Only the hot path uses this; every other message (Start, Stop, pings, close) goes through
websockets' own protocol on the same transport, so the byte stream stays in order.
"""

from __future__ import annotations

import os
import struct

try:  # websockets' C speedup, as websockets.frames itself does
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover  # a build without its C extension
    from websockets.utils import apply_mask

__all__ = ["encode_binary_frame"]

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
