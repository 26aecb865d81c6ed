"""The endpoint the vendor calls back: ``POST /zego/callback`` on its own listen address.

The asyncio shell of :class:`~gateway.callbacks.verify.CallbackVerifier`: it bounds the body
(``MAX_BODY_BYTES``: 413 beyond) and the rate (``max_per_second``, a token bucket: 429 beyond),
asks the verifier, hands an accepted callback to ``apply`` and answers with what became of it
(:class:`Placed`: 200 applied or a duplicate, 404 when no drive or task of its is known, 503
when its replica could not be reached), and with the verdict's status otherwise. Nothing a
callback says reaches the answer or a log line but its verdict: the body carries a signature,
and a forged one should teach nothing.
"""

from __future__ import annotations

import enum
import logging
import ssl
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.callbacks.verify import Callback, CallbackVerifier
from gateway.web import Site

__all__ = ["MAX_BODY_BYTES", "PATH", "CallbackReceiver", "Placed"]

log = logging.getLogger("gateway.callbacks")

#: The largest body accepted: a callback is a few hundred bytes.
MAX_BODY_BYTES = 16 * 1024
PATH = "/zego/callback"


class Placed(enum.Enum):
    """What became of an accepted callback: the outcome counted, and the HTTP status answered."""

    APPLIED = ("accepted", 200)
    #: Another replica took the same callback already (a retry that landed there first).
    DUPLICATE = ("duplicate", 200)
    #: Another replica took another body under the same Nonce.
    REPLAYED = ("replayed", 401)
    UNKNOWN = ("unknown", 404)
    #: Its replica could not be reached (Redis down, or that replica cut off): the vendor's
    #: retry may reach it.
    UNPLACED = ("unplaced", 503)

    @property
    def outcome(self) -> str:
        return self.value[0]

    @property
    def http_status(self) -> int:
        return self.value[1]


class _Bucket:
    """A token bucket: ``rate`` per second, bursts of ``rate`` (pure; times passed in)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._tokens = rate
        self._at: float | None = None

    def take(self, now: float) -> bool:
        if self._at is not None:
            self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class CallbackReceiver:
    """Receives the vendor's callbacks until :meth:`stop`.

    Args:
        verifier: authenticates each body.
        apply: takes an accepted callback and says what became of it. It is awaited on the
            request, so it must answer within a bound (the vendor waits for the answer).
        counted: called with each verdict (and "unknown", "unplaced", "too_large",
            "rate_limited"), for the metrics.
        max_per_second: callbacks answered per second, beyond which 429.
        clock: Unix seconds (the vendor's timestamps are).
    """

    def __init__(
        self,
        verifier: CallbackVerifier,
        apply: Callable[[Callback], Awaitable[Placed]],
        *,
        counted: Callable[[str], None] = lambda outcome: None,
        max_per_second: float = 200.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = verifier
        self._apply = apply
        self._counted = counted
        self._bucket = _Bucket(max_per_second)
        self._clock = clock
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post(PATH, self._receive)
        self._site = Site(app)

    @property
    def address(self) -> str:
        return self._site.address

    async def start(self, listen: str, tls: ssl.SSLContext | None = None) -> str:
        """Serve on ``listen`` (port 0: a free one); returns the bound address.

        Raises:
            ConfigError: ``listen`` is malformed or cannot be bound.
        """
        return await self._site.start(listen, setting="callback_listen", tls=tls)

    async def stop(self) -> None:
        await self._site.stop()

    async def _receive(self, request: web.Request) -> web.Response:
        now = self._clock()
        if not self._bucket.take(now):
            return self._answer("rate_limited", 429)
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return self._answer("too_large", 413)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._answer("too_large", 413)
        verdict, callback = self._verifier.check(body, now)
        if callback is None:
            return self._answer(verdict.value, verdict.http_status)
        placed = await self._apply(callback)
        if placed in (Placed.UNKNOWN, Placed.UNPLACED):
            self._verifier.forget_nonce(callback.nonce)
        return self._answer(placed.outcome, placed.http_status)

    def _answer(self, outcome: str, status: int) -> web.Response:
        self._counted(outcome)
        if status >= 400:
            log.info("vendor callback refused: %s", outcome, extra={"http_status": status})
        return web.json_response({"code": 0 if status == 200 else status}, status=status)
