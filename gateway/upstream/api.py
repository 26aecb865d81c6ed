"""The vendor's signed HTTP API: ``DriveByWsStream``, ``DriveByText``, ``InterruptDriveTask``
and the envelope around every answer.

:class:`UpstreamClient` is a thin shell around one ``aiohttp.ClientSession``: it signs, waits its
turn at the :class:`~gateway.upstream.limiter.RequestLimiter`, sends, parses the envelope, and
retries what :mod:`gateway.upstream.policy` calls retryable. aiohttp's exceptions are translated
here, once, into :class:`~gateway.errors.UpstreamUnreachable`.

Errors (what :meth:`UpstreamClient.call` raises):

* a non-zero ``Code`` → :class:`~gateway.errors.UpstreamApiError`, reason and ``retryable`` from
  :mod:`gateway.upstream.codes` (also when a retryable code outlived its budget);
* a transport failure, a timeout, HTTP 5xx/408/429 → :class:`~gateway.errors.UpstreamUnreachable`
  (``retryable=True``) once the transient budget is spent;
* any other HTTP status, or a body that is not the documented envelope →
  :class:`~gateway.errors.UpstreamUnreachable` with ``retryable=False``: the vendor (or whatever
  answers at ``api_url``) is at fault, not the caller, and the same request will not fix it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp

from gateway.config import Credentials, UpstreamConfig
from gateway.errors import UpstreamApiError, UpstreamError, UpstreamUnreachable
from gateway.upstream.envelope import interpret, text_field
from gateway.upstream.limiter import LocalRateLimiter, RequestLimiter, WaitCallback
from gateway.upstream.policy import (
    RetryKind,
    backoff,
    is_retryable,
    retry_kind,
)
from gateway.upstream.redact import redact_text, redact_url
from gateway.upstream.signing import signed_query
from gateway.upstream.tls import api_tls

__all__ = ["ApiResult", "Attempt", "DriveGrant", "TextGrant", "UpstreamClient"]

logger = logging.getLogger("gateway.upstream")

DRIVE_BY_WS_STREAM = "DriveByWsStream"
DRIVE_BY_TEXT = "DriveByText"
INTERRUPT_DRIVE_TASK = "InterruptDriveTask"


@dataclass(frozen=True, slots=True)
class DriveGrant:
    """What ``DriveByWsStream`` grants: one drive, on one WebSocket address.

    Attributes:
        drive_id: the ``DriveId`` to put in Start and Stop; use it for one drive only.
        wss_address: the WebSocket address; its ``Token`` is a credential (repr masks it).
        request_id: the vendor's ``RequestId`` of the successful call.
        attempts: how many requests it took (1 = no retry).
        waited_s: seconds spent waiting for the rate limiter and between retries.
    """

    drive_id: str
    wss_address: str
    request_id: str
    attempts: int
    waited_s: float

    def __repr__(self) -> str:
        return (
            f"DriveGrant(drive_id={self.drive_id!r}, "
            f"wss_address={redact_url(self.wss_address)!r}, request_id={self.request_id!r}, "
            f"attempts={self.attempts}, waited_s={self.waited_s:.3f})"
        )

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class TextGrant:
    """What ``DriveByText`` grants: the ``DriveId`` the vendor's callbacks will name (no
    WebSocket); the other fields as :class:`DriveGrant`'s."""

    drive_id: str
    request_id: str
    attempts: int
    waited_s: float


@dataclass(frozen=True, slots=True)
class ApiResult:
    """A successful envelope (``Code`` 0), with how it was obtained."""

    data: Mapping[str, Any]
    request_id: str
    attempts: int
    waited_s: float


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request to the vendor, reported to ``on_attempt`` (for metrics) and logged at DEBUG.

    Attributes:
        action: the API called.
        number: 1 for the first request, 2 for the first retry, ...
        outcome: ``ok``; ``retry`` (a retry follows after ``retry_in_s``); ``failed`` (raised).
        waited_s: seconds this attempt waited for the rate limiter.
        elapsed_s: seconds from sending the request to its outcome.
        code: the envelope's ``Code``, when one was parsed.
        http_status: the HTTP status, when a response arrived.
        error: a short redacted description of the failure.
        retry_in_s: the backoff before the next attempt.
    """

    action: str
    number: int
    outcome: Literal["ok", "retry", "failed"]
    waited_s: float
    elapsed_s: float
    code: int | None = None
    http_status: int | None = None
    error: str | None = None
    retry_in_s: float | None = None


class UpstreamClient:
    """Calls the vendor's HTTP API on one ``aiohttp.ClientSession``.

    Use it as ``async with UpstreamClient(config) as client:`` or call :meth:`close` when done.
    An injected ``session`` stays open (whoever creates it closes it); without one, the client
    creates its own on first use and closes it in :meth:`close`.

    Args:
        config: URLs, timeouts, budgets, backoff and the request rate.
        session: a session to share; it must not raise for HTTP status codes.
        limiter: where every attempt waits its turn, keyed by the AppId; by default an
            in-process :class:`~gateway.upstream.limiter.LocalRateLimiter` at
            ``config.requests_per_second``. Share one limiter between clients of one account.
        wall_clock: the Unix time to sign with; injectable to test clock skew.
        rng: the backoff jitter source.
        on_attempt: called after every attempt; it must not block, and its errors are logged.
    """

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        session: aiohttp.ClientSession | None = None,
        limiter: RequestLimiter | None = None,
        wall_clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        self._config = config
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._limiter = limiter or LocalRateLimiter(config.requests_per_second)
        self._wall_clock = wall_clock
        self._rng = rng
        self._on_attempt = on_attempt
        self._last_request_at = -math.inf  # loop.time() of the last request's start
        # Now, not at the first call: loading the system's CA store takes ~40 ms, which the
        # first drive's set-up would otherwise pay (``bench``: set-up p99 32 ms at 50 streams).
        self._tls = api_tls(config)
        self._timeout = aiohttp.ClientTimeout(
            total=config.request_timeout_s,
            connect=config.connect_timeout_s,
            sock_connect=config.connect_timeout_s,
        )

    async def __aenter__(self) -> Self:
        self._get_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if this client created it; safe to call more than once."""
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()

    async def drive_by_ws_stream(
        self, task_id: str, credentials: Credentials, *, on_wait: WaitCallback | None = None
    ) -> DriveGrant:
        """Get a fresh ``DriveId`` and WebSocket address for one drive of ``task_id``.

        Call it once per utterance: the vendor wants a new DriveId for every drive.
        ``on_wait`` is awaited (with the expected seconds) each time the call is about to wait
        for the vendor's rate limit: our limiter's turn, or a 400010009 retry.

        Raises:
            UpstreamApiError: a non-zero ``Code`` (task missing, not streaming, auth, ...).
            UpstreamUnreachable: transport, timeout or 5xx beyond the budget; a malformed answer.
        """
        result = await self.call(
            DRIVE_BY_WS_STREAM, {"TaskId": task_id}, credentials, on_wait=on_wait
        )
        # The doc's table lists the fields flat while its example nests them in Data (§16):
        # read Data first and fall back to the top level.
        drive_id = text_field(result.data, "DriveId")
        address = text_field(result.data, "WssAddress")
        if not drive_id or not address.startswith(("ws://", "wss://")):
            raise UpstreamUnreachable(
                "DriveByWsStream answered Code 0 without a DriveId and a ws(s) WssAddress",
                retryable=False,
                upstream_request_id=result.request_id,
            )
        grant = DriveGrant(drive_id, address, result.request_id, result.attempts, result.waited_s)
        logger.debug("DriveByWsStream granted for task %r: %r", task_id, grant)
        return grant

    async def drive_by_text(
        self,
        task_id: str,
        credentials: Credentials,
        *,
        text: str,
        timbre_id: str,
        speech_rate: int = 0,
        pitch_rate: int = 0,
        interrupt: bool = True,
        on_wait: WaitCallback | None = None,
    ) -> TextGrant:
        """Have the avatar of ``task_id`` speak ``text`` with the vendor's TTS (zego-api.md
        §11b): ``interrupt`` cuts what it plays now (InterruptMode 1), else the text waits for
        it (0). The caller checks the text and the rates first (the vendor answers 400000001).
        ``on_wait`` as for :meth:`drive_by_ws_stream`. A retried request may have been spoken
        already: the vendor documents no idempotency (§17).

        Raises:
            UpstreamApiError: a non-zero ``Code`` (task missing, not streaming, timbre, ...).
            UpstreamUnreachable: transport, timeout or 5xx beyond the budget; a malformed answer.
        """
        body = {
            "TaskId": task_id,
            "Text": text,
            "InterruptMode": 1 if interrupt else 0,
            "TTSConfig": {
                "TimbreId": timbre_id,
                "SpeechRate": speech_rate,
                "PitchRate": pitch_rate,
            },
        }
        result = await self.call(DRIVE_BY_TEXT, body, credentials, on_wait=on_wait)
        drive_id = text_field(result.data, "DriveId")
        if not drive_id:
            raise UpstreamUnreachable(
                "DriveByText answered Code 0 without a DriveId",
                retryable=False,
                upstream_request_id=result.request_id,
            )
        grant = TextGrant(drive_id, result.request_id, result.attempts, result.waited_s)
        logger.debug("DriveByText accepted for task %r: %r", task_id, grant)
        return grant

    async def interrupt_drive_task(
        self, task_id: str, credentials: Credentials, *, on_wait: WaitCallback | None = None
    ) -> ApiResult:
        """Make the avatar of ``task_id`` silent now: the vendor interrupts the drive it plays
        and drops the queued ones (zego-api.md §10, §11). The caller must have stopped sending
        first (audio sent later may play). Through the limiter and the retry rules of every
        call: a retried request interrupts again, which is harmless. ``on_wait`` as for
        :meth:`drive_by_ws_stream`; ``waited_s`` of the result is how long it waited before the
        request that was answered (the avatar went silent during that request).

        Raises:
            UpstreamApiError: a non-zero ``Code`` (400000005: the vendor knows no such task).
            UpstreamUnreachable: transport, timeout or 5xx beyond the budget; a malformed answer.
        """
        result = await self.call(
            INTERRUPT_DRIVE_TASK, {"TaskId": task_id}, credentials, on_wait=on_wait
        )
        logger.debug("InterruptDriveTask for task %r: %s", task_id, result.request_id)
        return result

    async def call(
        self,
        action: str,
        body: Mapping[str, Any],
        credentials: Credentials,
        *,
        on_wait: WaitCallback | None = None,
    ) -> ApiResult:
        """POST one signed request, retrying within the budgets; return the envelope's data.

        Every attempt is signed afresh and waits its turn at the limiter (key: the AppId).
        Transient failures are retried with jittered exponential backoff while the time spent
        retrying stays within ``retry_budget_s``; Code 400010009 within ``rate_limit_budget_s``.
        Each budget counts from that kind's first failure, so one call lasts at most about
        ``request_timeout_s + budget + request_timeout_s`` plus the limiter's queue.

        Raises:
            UpstreamApiError, UpstreamUnreachable: see the module docstring.
        """
        loop = asyncio.get_running_loop()
        delays: dict[RetryKind, Iterator[float]] = {
            RetryKind.TRANSIENT: self._backoff(self._config.backoff_initial_s),
            RetryKind.RATE_LIMIT: self._backoff(
                max(self._config.backoff_initial_s, 1.0 / self._config.requests_per_second)
            ),
        }
        budgets = {
            RetryKind.TRANSIENT: self._config.retry_budget_s,
            RetryKind.RATE_LIMIT: self._config.rate_limit_budget_s,
        }
        first_failure: dict[RetryKind, float] = {}
        waited_total = 0.0
        number = 0
        while True:
            number += 1
            waited = await self._limiter.acquire(str(credentials.app_id), on_wait)
            waited_total += waited
            started = loop.time()
            status: int | None = None
            try:
                status, raw = await self._post(action, body, credentials)
                data, request_id = interpret(action, status, raw)
            except UpstreamError as error:
                now = loop.time()
                kind = retry_kind(error)
                delay: float | None = None
                if kind is not None:
                    since = first_failure.setdefault(kind, now)
                    candidate = next(delays[kind])
                    if now + candidate - since <= budgets[kind]:
                        delay = candidate
                code = error.code if isinstance(error, UpstreamApiError) else None
                outcome: Literal["retry", "failed"] = "failed" if delay is None else "retry"
                self._report(
                    Attempt(
                        action,
                        number,
                        outcome,
                        waited,
                        now - started,
                        code,
                        status,
                        str(error),
                        delay,
                    )
                )
                if delay is None:
                    error.with_metadata({"attempts": str(number)})
                    raise
                if kind is RetryKind.RATE_LIMIT and on_wait is not None:
                    await on_wait(delay)
                await asyncio.sleep(delay)
                waited_total += delay
                continue
            self._report(Attempt(action, number, "ok", waited, loop.time() - started, 0, status))
            return ApiResult(data, request_id, number, waited_total)

    # Internals.

    def _backoff(self, initial_s: float) -> Iterator[float]:
        return backoff(initial_s, max(initial_s, self._config.backoff_max_s), rng=self._rng)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("UpstreamClient is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._tls), trust_env=False
            )
        return self._session

    def idle_s(self, now: float) -> float:
        """Seconds from the last request's start to ``now`` (``loop.time()``); infinite
        before the first."""
        return now - self._last_request_at

    async def warm(self) -> int | None:
        """Open (or keep open) a pooled connection to the API: an unsigned ``HEAD`` of
        ``api_url``, not an API call (:mod:`gateway.upstream.warmup`). Its HTTP status, or None
        when it failed; it never raises but for cancellation."""
        session = self._get_session()
        self._last_request_at = asyncio.get_running_loop().time()
        try:
            async with session.head(
                self._config.api_url, timeout=self._timeout, allow_redirects=False
            ) as response:
                return response.status
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None

    async def _post(
        self, action: str, body: Mapping[str, Any], credentials: Credentials
    ) -> tuple[int, bytes]:
        """One signed POST: returns (HTTP status, body); transport failures are translated."""
        session = self._get_session()
        self._last_request_at = asyncio.get_running_loop().time()
        params = signed_query(action, credentials, now=self._wall_clock())
        try:
            async with session.post(
                self._config.api_url,
                params=params,
                json=dict(body),
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            if isinstance(exc, TimeoutError):
                detail = (
                    f"timed out (connect {self._config.connect_timeout_s} s, "
                    f"total {self._config.request_timeout_s} s)"
                )
            else:
                # Library messages may quote the URL, which carries the signature: redact them.
                detail = redact_text(str(exc)) or "no detail"
            raise UpstreamUnreachable(
                f"{action}: the vendor API at {redact_url(self._config.api_url)} failed: "
                f"{type(exc).__name__}: {detail}",
                retryable=is_retryable(exc),
            ) from exc

    def _report(self, attempt: Attempt) -> None:
        logger.debug(
            "%s attempt %d %s: took %.3f s after %.3f s in the limiter%s%s%s",
            attempt.action,
            attempt.number,
            attempt.outcome,
            attempt.elapsed_s,
            attempt.waited_s,
            f", HTTP {attempt.http_status}" if attempt.http_status is not None else "",
            f"; {attempt.error}" if attempt.error else "",
            f"; next attempt in {attempt.retry_in_s:.3f} s" if attempt.retry_in_s else "",
        )
        if self._on_attempt is not None:
            try:
                self._on_attempt(attempt)
            except Exception:
                logger.exception("on_attempt callback failed")
