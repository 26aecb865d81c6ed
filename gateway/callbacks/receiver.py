"""The endpoint the vendor calls back: ``POST /zego/callback`` on its own listen address.

The asyncio shell of :class:`~gateway.callbacks.verify.CallbackVerifier`: it bounds the body
(``MAX_BODY_BYTES``: 413 beyond) and the rate (``max_per_second``, a token bucket: 429 beyond),
asks the verifier, hands an accepted callback to ``apply`` and answers at once: 200 for an
accepted or duplicate callback (404 when ``apply`` knows nothing of its drive or task), and the
verdict's status otherwise. Nothing a callback says reaches the answer or a log line but its
verdict: the body carries a signature, and a forged one should teach nothing.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable

from aiohttp import web

from gateway.callbacks.verify import Callback, CallbackVerifier
from gateway.web import Site

__all__ = ["MAX_BODY_BYTES", "PATH", "CallbackReceiver"]

log = logging.getLogger("gateway.callbacks")

#: The largest body accepted: a callback is a few hundred bytes.
MAX_BODY_BYTES = 16 * 1024
PATH = "/zego/callback"


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
        apply: takes an accepted callback; returns False when it knows nothing of its drive or
            task (answered 404). It must not block: it runs on the request.
        counted: called with each verdict (and "unknown", "too_large", "rate_limited"), for
            the metrics.
        max_per_second: callbacks answered per second, beyond which 429.
        clock: Unix seconds (the vendor's timestamps are).
    """

    def __init__(
        self,
        verifier: CallbackVerifier,
        apply: Callable[[Callback], bool],
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
        if callback is not None and not self._apply(callback):
            return self._answer("unknown", 404)
        return self._answer(verdict.value, verdict.http_status)

    def _answer(self, outcome: str, status: int) -> web.Response:
        self._counted(outcome)
        if status >= 400:
            log.info("vendor callback refused: %s", outcome, extra={"http_status": status})
        return web.json_response({"code": 0 if status == 200 else status}, status=status)
