"""The drive's WebSocket: Start, raw PCM frames, Stop, close (zego-api.md §8).

:class:`DriveSession` is a thin shell on ``websockets.asyncio.client``: it owns one connection
(opened by :func:`~gateway.upstream.dial.dial`, which translates a failed handshake into
:class:`~gateway.errors.UpstreamUnreachable`), a background reader and the accounting of the
audio sent. A connection lost mid-drive is translated here, once, into
:class:`~gateway.errors.UpstreamDisconnected`, which says how much audio went out before it died.

Liveness: the loop's :class:`~gateway.upstream.keepalive.KeepAlive` pings every
``ws_ping_interval_s`` and gives up after ``ws_ping_timeout_s`` without an answer (websockets'
own keepalive, a task per connection, is off); a send that stays blocked by flow control for
``ws_ping_interval_s + ws_ping_timeout_s`` (the peer stopped reading) also declares the
connection dead. Either way :attr:`DriveSession.closed` resolves, at the latest
``ws_close_timeout_s`` later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from websockets.exceptions import ConnectionClosed

from gateway.config import UpstreamConfig
from gateway.errors import UpstreamDisconnected
from gateway.upstream.api import DriveGrant
from gateway.upstream.codec import (
    SAMPLE_WIDTH_BYTES,
    EventCallback,
    check_format,
    decode,
    start_command,
    stop_command,
)
from gateway.upstream.connection import WatchedConnection
from gateway.upstream.dial import dial
from gateway.upstream.keepalive import KeepAlive
from gateway.upstream.redact import redact_text, redact_url

__all__ = ["DriveSession"]

logger = logging.getLogger("gateway.upstream")


class DriveSession:
    """One drive on the vendor's WebSocket: Start, PCM frames, Stop, close.

    It keeps only the connection's own state; what the drive owes (one Stop once Start went
    out) is the caller's to decide (``gateway.drive.core``). Open it with :meth:`open`, which
    sends Start; then call :meth:`send_audio` per frame, :meth:`send_stop` once when the audio
    is finished, and always :meth:`close`, which never raises. Watch :attr:`closed` to notice a
    dead connection between frames.

    Attributes:
        drive_id: the drive's ``DriveId``.
        sample_rate, channels: the audio format announced in Start.
        bytes_sent: PCM handed to the connection so far (what a loss reports).
        closed: resolves when the connection is gone or declared dead: ``None`` when we closed
            it (or the vendor closed it after Stop), else the
            :class:`~gateway.errors.UpstreamDisconnected`. After a keepalive timeout the
            connection may still carry a Stop: :meth:`send_stop` tries.
    """

    def __init__(
        self,
        connection: WatchedConnection,
        grant: DriveGrant,
        *,
        sample_rate: int,
        channels: int,
        voice_channel: int | None,
        config: UpstreamConfig,
        on_event: EventCallback | None,
    ) -> None:
        """Private: use :meth:`open`."""
        self._loop = loop = asyncio.get_running_loop()
        self._conn = connection
        self._config = config
        self._address = redact_url(grant.wss_address)
        self._voice_channel = voice_channel
        self._on_event = on_event
        self._stall_timeout_s = config.ws_ping_interval_s + config.ws_ping_timeout_s
        self.drive_id = grant.drive_id
        self.sample_rate = sample_rate
        self.channels = channels
        self._bytes_per_ms = sample_rate * channels * SAMPLE_WIDTH_BYTES / 1000
        self.bytes_sent = 0
        self.closed: asyncio.Future[UpstreamDisconnected | None] = loop.create_future()
        self._messages = 0  # received from the vendor
        self._stopped = False  # Stop went out: the vendor may close from now on
        self._closing = False
        self._close_task: asyncio.Task[None] | None = None
        self._lost: tuple[str, int] | None = None
        self._reader = loop.create_task(self._read_loop(), name=f"dh-drive-reader-{self.drive_id}")
        connection.forget_handshake_request()
        self._keepalive = KeepAlive.for_loop(config.ws_ping_interval_s, config.ws_ping_timeout_s)
        self._keepalive.watch(connection, self._keepalive_failed)

    @classmethod
    async def open(
        cls,
        grant: DriveGrant,
        *,
        sample_rate: int,
        channels: int = 1,
        voice_channel: int | None = None,
        config: UpstreamConfig,
        on_event: EventCallback | None = None,
        on_connected: Callable[[], None] | None = None,
    ) -> DriveSession:
        """Connect to ``grant.wss_address`` and send Start.

        Args:
            grant: from :meth:`~gateway.upstream.UpstreamClient.drive_by_ws_stream`; one drive only.
            sample_rate: 16000 or 24000, the rate of the PCM you will send.
            channels: 1 (mono) or 2 (interleaved stereo).
            voice_channel: stereo only: 0 mixed, 1 left, 2 right; None leaves the vendor's default.
            config: handshake, keepalive and close timeouts; TLS verification.
            on_event: receives whatever the vendor sends on the connection.
            on_connected: called once the handshake is done, before Start is sent (what a
                trace tells apart); it must not raise.

        Raises:
            ValueError: an unsupported audio format.
            UpstreamUnreachable: the handshake failed (refused, timed out, TLS).
            UpstreamDisconnected: the connection died before Start was sent.
        """
        check_format(sample_rate, channels, voice_channel)
        # A caller cancelled mid-handshake (a drive ended from outside while it was set up)
        # must not leave a connection behind: the dial finishes in its own task, bounded by
        # the handshake timeout, and what it opened is closed.
        dialing = asyncio.ensure_future(dial(grant.wss_address, config))
        try:
            connection = await asyncio.shield(dialing)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await (await dialing).close()
            raise
        if on_connected is not None:
            on_connected()
        session = cls(
            connection,
            grant,
            sample_rate=sample_rate,
            channels=channels,
            voice_channel=voice_channel,
            config=config,
            on_event=on_event,
        )
        try:
            await session._send(
                start_command(session.drive_id, sample_rate, channels, voice_channel)
            )
        except BaseException:
            await session.close()
            raise
        logger.debug(
            "drive %s: connected to %s, Start sent (%d Hz, %d ch)",
            session.drive_id,
            session._address,
            sample_rate,
            channels,
        )
        return session

    # Public methods for sending.

    async def send_audio(self, frame: bytes) -> None:
        """Send one binary frame of PCM; waits while websockets' write buffer is full.

        The frame must hold whole samples of every channel. Empty frames are skipped.

        Raises:
            UpstreamDisconnected: the connection is dead; nothing more can be sent.
            RuntimeError: called after Stop or close.
            ValueError: a partial sample.
        """
        if self._stopped or self._closing:
            raise RuntimeError(f"drive {self.drive_id}: audio sent after Stop or close")
        if self._lost is not None:
            raise self._lost_error()
        if not frame:
            return
        if len(frame) % (SAMPLE_WIDTH_BYTES * self.channels):
            raise ValueError(f"a frame of {len(frame)} bytes holds a partial sample")
        conn = self._conn
        # The hot path: most sends never wait, so they need no timeout and no task switch.
        if conn.write_audio(frame):
            if conn.write_blocked:  # websockets' own wait for the write buffer to drain
                await self._bounded(conn.drain())
        else:
            await self._send(frame)  # says why the connection is unusable
        self.bytes_sent += len(frame)

    async def send_stop(self) -> None:
        """Send Stop. Call it once, as soon as the audio is finished: until Stop arrives the
        avatar waits for more PCM and stutters (zego-api.md §8).

        Raises:
            UpstreamDisconnected: the connection died before Stop went out.
            RuntimeError: called twice, or after close.
        """
        if self._stopped or self._closing:
            raise RuntimeError(f"drive {self.drive_id}: Stop sent twice or after close")
        await self._send(stop_command(self.drive_id))
        self._stopped = True
        sent_ms = self.bytes_sent / self._bytes_per_ms
        logger.debug("drive %s: Stop sent after %.0f ms of audio", self.drive_id, sent_ms)

    async def close(self) -> None:
        """Close the connection within ``ws_close_timeout_s``; never raises, safe to repeat.

        A peer slow to answer the close frame is waited for within the bound, then the TCP
        connection is aborted. Cancelling the caller does not interrupt the close.
        """
        if self._close_task is None:
            self._closing = True
            self._close_task = asyncio.get_running_loop().create_task(self._close())
        await asyncio.shield(self._close_task)

    # Internals.

    async def _send(self, message: str | bytes) -> None:
        """Send one message; translate a dead connection into UpstreamDisconnected."""
        await self._bounded(self._conn.send(message))

    async def _bounded(self, sending: Awaitable[None]) -> None:
        """Await a send within the stall bound; translate a dead connection."""
        try:
            async with asyncio.timeout(self._stall_timeout_s):
                await sending
        except TimeoutError as exc:
            # The peer stopped reading: the kernel's buffers are full and websockets' ping
            # is stuck behind our data, so keepalive alone would never notice. Abort.
            self._record_lost(f"a send stayed blocked for {self._stall_timeout_s} s")
            self._conn.abort()
            raise self._lost_error() from exc
        except (ConnectionClosed, OSError) as exc:  # OSError: the wait for drain saw it die
            self._record_lost(redact_text(str(exc)) or type(exc).__name__)
            raise self._lost_error() from exc

    def _keepalive_failed(self, detail: str) -> None:
        # Silent is not necessarily gone: the drive ends now, but its Stop still goes out and
        # the close waits ws_close_timeout_s before it aborts, so a vendor that only stalled
        # still hears the Stop instead of waiting for audio that never comes.
        self._connection_gone(detail)

    def _record_lost(self, detail: str) -> None:
        if self._lost is None:
            self._lost = (detail, self.bytes_sent)

    def _lost_error(self) -> UpstreamDisconnected:
        detail, bytes_sent = self._lost or ("connection closed", self.bytes_sent)
        sent_ms = bytes_sent / self._bytes_per_ms
        error = UpstreamDisconnected(
            f"the vendor's WebSocket for drive {self.drive_id} at {self._address} was lost "
            f"after {sent_ms:.0f} ms of audio ({bytes_sent} bytes): {detail}",
            bytes_sent=bytes_sent,
        )
        error.with_metadata({"drive_id": self.drive_id, "sent_ms": f"{sent_ms:.0f}"})
        return error

    async def _close(self) -> None:
        timeout_s = self._config.ws_close_timeout_s
        try:
            # websockets bounds the closing handshake by close_timeout; this outer bound also
            # covers a close frame stuck behind a full write buffer.
            async with asyncio.timeout(timeout_s + 0.1):
                await self._conn.close()
        except TimeoutError:
            logger.warning(
                "drive %s: the vendor did not complete the close within %s s; aborting",
                self.drive_id,
                timeout_s,
            )
            self._conn.abort()
        except Exception:
            logger.exception("drive %s: closing the WebSocket failed; aborting", self.drive_id)
            self._conn.abort()
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self._reader)
        except TimeoutError:
            self._reader.cancel()
        except Exception:
            logger.exception("drive %s: the reader failed", self.drive_id)
        self._connection_gone("closed by the gateway")
        logger.debug(
            "drive %s: closed (%s) after %d bytes",
            self.drive_id,
            "clean" if self._conn.close_code == 1000 else "not clean",
            self.bytes_sent,
        )

    async def _read_loop(self) -> None:
        detail = "connection closed"
        try:
            while True:
                self._dispatch(await self._conn.recv())
        except ConnectionClosed as exc:
            detail = redact_text(str(exc))
        except Exception as exc:
            logger.exception("drive %s: the reader failed", self.drive_id)
            detail = f"reader failed: {exc.__class__.__name__}"
        finally:
            self._connection_gone(detail)

    def _connection_gone(self, detail: str) -> None:
        self._keepalive.unwatch(self._conn)
        if self.closed.done():
            return
        if self._closing or self._stopped:
            self.closed.set_result(None)
            return
        self._record_lost(detail)
        error = self._lost_error()
        logger.warning("%s", error.message)
        self.closed.set_result(error)

    def _dispatch(self, message: str | bytes) -> None:
        """Surface one message from the vendor; nothing it sends may break the drive."""
        self._messages += 1
        event = decode(message)
        if isinstance(message, str):
            preview = redact_text(message[:200])
        else:
            preview = f"<{len(message)} bytes>"
        # Nothing coming back is documented: say so loudly once, then quietly.
        log = logger.info if self._messages == 1 else logger.debug
        log("drive %s: the vendor sent a %s message: %s", self.drive_id, event.kind, preview)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                logger.exception("drive %s: on_event failed", self.drive_id)
