"""What the gateway uses of websockets beyond its public API is still there.

All of it is in ``gateway/upstream/connection.py`` (audio frames straight to the transport,
pings through the sans-I/O protocol; both for speed, see docs/performance.md); the pyproject
range is the one tested here. A websockets release that renames any of these fails this test
loudly instead of breaking a drive.
"""

from __future__ import annotations

import asyncio
import importlib.metadata

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol
from websockets.protocol import Protocol, State
from websockets.uri import parse_uri

from gateway.upstream.connection import WatchedConnection, encode_binary_frame


def test_the_installed_version_is_in_the_tested_range() -> None:
    major = int(importlib.metadata.version("websockets").split(".")[0])
    assert major == 17, "pyproject pins websockets to the tested major version"


def test_protocol_and_connection_methods() -> None:
    assert {State.CONNECTING, State.OPEN} <= set(State)  # what ws.py and keepalive.py compare
    for name in ("send_ping", "data_to_send"):
        assert callable(getattr(Protocol, name, None)), f"Protocol.{name} is gone"
    for name in ("data_received", "connection_made", "drain", "send", "recv", "close"):
        assert callable(getattr(ClientConnection, name, None)), f"ClientConnection.{name} is gone"
    frame = encode_binary_frame(b"\x01\x02")  # masks with websockets' apply_mask
    key, payload = frame[2:6], frame[6:]
    assert bytes(p ^ k for p, k in zip(payload, key, strict=False)) == b"\x01\x02"


@pytest.mark.asyncio
async def test_connection_attributes() -> None:
    connection = ClientConnection(ClientProtocol(parse_uri("ws://127.0.0.1:1/")))
    for name in ("protocol", "paused", "request", "response", "loop"):
        assert hasattr(connection, name), f"ClientConnection().{name} is gone"
    assert connection.paused is False
    assert connection.protocol.state is State.CONNECTING


class _Transport(asyncio.Transport):
    """Just enough of a transport for ``connection_made``."""

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


@pytest.mark.asyncio
async def test_the_fast_paths_refuse_a_connection_that_is_not_open() -> None:
    connection = WatchedConnection(ClientProtocol(parse_uri("ws://127.0.0.1:1/")))
    assert connection.write_audio(b"\x00\x00") is False  # still in the handshake
    assert connection.ping_now(b"ping") is False
    assert connection.write_blocked is False
    connection.forget_handshake_request()
    assert connection.request is None
    transport = _Transport()
    connection.connection_made(transport)
    assert connection.transport is transport  # what write_audio, ping_now and abort use
