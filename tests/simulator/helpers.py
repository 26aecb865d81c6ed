"""A hand-written vendor client for the simulator tests, straight from zego-api.md.

Deliberately independent of both the simulator and the gateway's own client: the signature
is computed here with hashlib, the URLs and JSON frames are spelled out by hand.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import ssl
import time
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect

APP_ID = 1234567890
SECRET = "0123456789abcdef0123456789abcdef"

# 16 kHz, 16-bit, mono: 32 bytes per ms.
BYTES_PER_MS = 32
FRAME_MS = 20
FRAME = BYTES_PER_MS * FRAME_MS


def sign(app_id: int, nonce: str, secret: str, timestamp: int) -> str:
    """md5(AppId + SignatureNonce + ServerSecret + Timestamp), lowercase hex (zego-api.md §3)."""
    return hashlib.md5(f"{app_id}{nonce}{secret}{timestamp}".encode()).hexdigest()


def common_params(
    action: str,
    *,
    app_id: int = APP_ID,
    secret: str = SECRET,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The common query parameters of §2, freshly signed."""
    ts = int(time.time()) if timestamp is None else timestamp
    nonce = secrets.token_hex(8)
    return {
        "Action": action,
        "AppId": str(app_id),
        "SignatureNonce": nonce,
        "Timestamp": str(ts),
        "Signature": sign(app_id, nonce, secret, ts),
        "SignatureVersion": "2.0",
    }


async def post(
    session: aiohttp.ClientSession,
    base_url: str,
    params: dict[str, str],
    body: Any = None,
    *,
    raw_body: bytes | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[int, dict[str, Any] | str]:
    """POST one API call; returns (HTTP status, parsed JSON envelope or the text)."""
    data = raw_body if raw_body is not None else json.dumps(body or {}).encode()
    async with session.post(
        base_url,
        params=params,
        data=data,
        headers={"Content-Type": "application/json"},
        ssl=ssl_context if ssl_context is not None else True,
    ) as resp:
        text = await resp.text()
        if resp.content_type == "application/json":
            return resp.status, json.loads(text)
        return resp.status, text


async def drive_by_ws_stream(
    session: aiohttp.ClientSession,
    base_url: str,
    task_id: str,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[str, str]:
    """Call DriveByWsStream (§7); returns (DriveId, WssAddress), asserting success."""
    status, env = await post(
        session,
        base_url,
        common_params("DriveByWsStream"),
        {"TaskId": task_id},
        ssl_context=ssl_context,
    )
    assert status == 200, env
    assert isinstance(env, dict) and env["Code"] == 0, env
    return env["Data"]["DriveId"], env["Data"]["WssAddress"]


def start_frame(drive_id: str, **payload: Any) -> str:
    """The Start command (§8); extra Payload fields as keywords."""
    return json.dumps({"Action": "Start", "Payload": {"DriveId": drive_id, **payload}})


def stop_frame(drive_id: str) -> str:
    """The Stop command (§8)."""
    return json.dumps({"Action": "Stop", "Payload": {"DriveId": drive_id}})


def ws_connect(
    address: str, *, ssl_context: ssl.SSLContext | None = None, **kwargs: Any
) -> connect:
    """Dial a WssAddress as the vendor's samples do: no headers, no subprotocol (§8)."""
    kwargs.setdefault("ping_interval", None)
    kwargs.setdefault("open_timeout", 5)
    kwargs.setdefault("close_timeout", 2)
    if ssl_context is not None:
        kwargs["ssl"] = ssl_context
    return connect(address, compression=None, **kwargs)


async def send_paced(
    ws: ClientConnection,
    pcm: bytes,
    *,
    prebuffer_ms: int = 100,
    pause_after_ms: int | None = None,
    pause_ms: int = 0,
) -> None:
    """Send ``pcm`` in 20 ms frames at 1x real time after a burst of ``prebuffer_ms``.

    With ``pause_after_ms``, stall ``pause_ms`` once that much audio was sent, then burst
    another ``prebuffer_ms`` and carry on at 1x. Bounded: one iteration per frame.
    """
    loop = asyncio.get_running_loop()
    frames = [pcm[i : i + FRAME] for i in range(0, len(pcm), FRAME)]
    origin = loop.time() - prebuffer_ms / 1000.0
    sent_ms = 0
    paused = False
    for frame in frames:
        if pause_after_ms is not None and not paused and sent_ms >= pause_after_ms:
            paused = True
            await asyncio.sleep(pause_ms / 1000.0)
            origin = loop.time() - prebuffer_ms / 1000.0 - sent_ms / 1000.0
        due = origin + sent_ms / 1000.0
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await ws.send(frame)
        sent_ms += FRAME_MS


async def call(
    session: aiohttp.ClientSession, base_url: str, action: str, task_id: str
) -> dict[str, Any]:
    """One API call naming ``task_id`` (§11); returns its envelope, asserting HTTP 200."""
    status, env = await post(session, base_url, common_params(action), {"TaskId": task_id})
    assert status == 200 and isinstance(env, dict), env
    return env


async def status_of(session: aiohttp.ClientSession, base_url: str, task_id: str) -> dict[str, Any]:
    """GetDigitalHumanStreamTaskStatus (§11); returns its envelope."""
    return await call(session, base_url, "GetDigitalHumanStreamTaskStatus", task_id)


async def speak(
    session: aiohttp.ClientSession, base_url: str, task_id: str, ms: int, *, stop: bool = True
) -> str:
    """One whole drive: Start, ``ms`` of silence paced at 1x, Stop (optional), close."""
    drive_id, address = await drive_by_ws_stream(session, base_url, task_id)
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
        await send_paced(ws, bytes(BYTES_PER_MS * ms))
        if stop:
            await ws.send(stop_frame(drive_id))
    return drive_id
