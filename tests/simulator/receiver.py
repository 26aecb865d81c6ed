"""A small callback receiver on loopback, written from zego-api.md §12 alone.

It verifies each callback's signature with hashlib (not with the simulator's code), records
every POST with its arrival time, and answers what a test's ``answer`` function says.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from .helpers import APP_ID, SECRET

CALLBACK_SECRET = "callback-secret-0123456789abcdef"


def verify(body: dict[str, Any], secret: str = CALLBACK_SECRET) -> bool:
    """sha1 of the sorted [secret, Timestamp, Nonce], concatenated, equals Signature (§12)."""
    parts = sorted([secret, str(body["Timestamp"]), str(body["Nonce"])])
    return hashlib.sha1("".join(parts).encode()).hexdigest() == str(body["Signature"])


@dataclass(frozen=True)
class Received:
    at: float
    """Arrival (``time.monotonic()``)."""
    body: dict[str, Any]
    answered: int
    try_number: int
    """How many POSTs with this Nonce came before this one (0: the first)."""

    @property
    def key(self) -> tuple[int, str | None, int]:
        """(EventType, DriveId or None, Status)."""
        detail = self.body["Detail"]
        return self.body["EventType"], detail.get("DriveId"), detail["Status"]


Answer = Callable[[dict[str, Any], int], int]
"""(body, try number of this Nonce) -> the HTTP status to answer."""


def always(status: int) -> Answer:
    return lambda body, n: status


def fail_first(tries: int, *, event_type: int | None = None, status: int | None = None) -> Answer:
    """500 to the first ``tries`` tries of each matching callback, 200 otherwise."""

    def answer(body: dict[str, Any], n: int) -> int:
        if event_type is not None and body["EventType"] != event_type:
            return 200
        if status is not None and body["Detail"]["Status"] != status:
            return 200
        return 500 if n < tries else 200

    return answer


def by_signature(body: dict[str, Any], n: int) -> int:
    """200 for a good signature, 401 for a bad one (as the gateway's receiver must)."""
    return 200 if verify(body) else 401


class CallbackReceiver:
    """``async with CallbackReceiver() as rx:`` then point the simulator at ``rx.url``."""

    def __init__(self, answer: Answer = by_signature) -> None:
        self.answer = answer
        self.received: list[Received] = []
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        tries = sum(1 for r in self.received if r.body["Nonce"] == body["Nonce"])
        status = self.answer(body, tries)
        self.received.append(Received(time.monotonic(), body, status, tries))
        self._changed.set()
        return web.Response(status=status, text="ok" if status < 300 else "no")

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/zego/callback", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.create_server(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{port}/zego/callback"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until ``predicate()`` holds, re-checked at each POST; raises TimeoutError."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_count(self, count: int, timeout: float = 5.0) -> list[Received]:  # noqa: ASYNC109
        await self.wait_for(lambda: len(self.received) >= count, timeout)
        return list(self.received)

    def keys(self, event_type: int | None = None) -> list[tuple[int, str | None, int]]:
        """The (EventType, DriveId, Status) of each first try, in arrival order."""
        return [
            r.key
            for r in self.received
            if r.try_number == 0 and (event_type is None or r.body["EventType"] == event_type)
        ]


def callback_config(url: str, **fields: Any) -> dict[str, Any]:
    """SimulatorConfig keywords for a simulator that calls ``url`` back."""
    return {
        "app_id": APP_ID,
        "server_secret": SECRET,
        "callback_url": url,
        "callback_secret": CALLBACK_SECRET,
        **fields,
    }
