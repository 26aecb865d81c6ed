"""The simulated WebSocket drive endpoint: ``/ws?Token=...`` (zego-api.md §7, §8).

Before the upgrade: the token must be one the API handed out (401 otherwise) and not spent
yet (403). One token serves one connection: the vendor says to get a new DriveId for every
drive (§8), and documents nothing about reusing an address (§17).

After the upgrade every frame goes to :mod:`.protocol`, which records it and its errors. The
simulator never closes a connection because of a protocol error and sends nothing unless a
fault says so (the vendor documents no server message, close code or heartbeat, §17). It
answers pings, as any WebSocket server does, and counts them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from .faults import Fault
from .protocol import TextOutcome, receive_binary, receive_text
from .records import (
    ABNORMAL_CLOSURE,
    CloseReason,
    DriveErrorKind,
    DriveRecord,
    HandshakeRejection,
)
from .state import SimState

__all__ = ["WsHandler"]

log = logging.getLogger("gateway.simulator")

_TCP_ESTABLISHED = 1  # tcpi_state in Linux's struct tcp_info
_SILENT_POLL_S = 0.02
_MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # the vendor documents none (§17); aiohttp's default
_LOGGED = frozenset({WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.PING, WSMsgType.PONG})


def peer_connected(transport: asyncio.BaseTransport | None) -> bool | None:
    """Whether the kernel still sees the TCP connection as established; ``None``: unknown.

    Reading a connection tells when the peer left, but a connection the simulator stopped
    reading (``Fault.silent_after_bytes``) or has not read yet still looks alive; the
    kernel's TCP state does not lag like that. Linux only (``TCP_INFO``).
    """
    if transport is None or transport.is_closing():
        return False
    sock: Any = transport.get_extra_info("socket")
    tcp_info = getattr(socket, "TCP_INFO", None)
    if sock is None or tcp_info is None:
        return None
    try:
        info: bytes = sock.getsockopt(socket.IPPROTO_TCP, tcp_info, 8)
    except OSError:
        return False
    return info[0] == _TCP_ESTABLISHED


def abort_with_reset(transport: asyncio.BaseTransport) -> None:
    """Abort a TCP connection so that the peer sees a reset, not an orderly close."""
    sock: Any = transport.get_extra_info("socket")
    if sock is not None:
        try:
            # SO_LINGER on, timeout 0: close() sends RST and drops unsent data.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    if isinstance(transport, asyncio.WriteTransport):
        transport.abort()
    else:
        transport.close()


class WsHandler:
    """The WebSocket endpoint (``/ws``): route ``handle``."""

    def __init__(self, state: SimState) -> None:
        self._state = state

    def _reject(self, status: int, reason: str, record: DriveRecord | None) -> web.Response:
        self._state.rejections.append(
            HandshakeRejection(
                time=time.monotonic(),
                status=status,
                reason=reason,
                drive_id=None if record is None else record.drive_id,
            )
        )
        log.info("ws handshake refused (%d): %s", status, reason)
        return web.Response(status=status, text=f"{reason}\n")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        state = self._state
        token = request.query.get("Token", "")
        record, spent = state.claim_token(token) if token else (None, False)
        if record is None:
            return self._reject(401, "unknown or missing Token", None)
        record.connect_attempts += 1
        if spent:
            record.add_error(DriveErrorKind.TOKEN_REUSED, "a second connection with one Token")
            return self._reject(403, "Token already used", record)
        task = state.tasks.get(record.task_id)
        if task is not None and not task.alive:
            record.add_error(DriveErrorKind.TASK_ENDED, "a connection for a task that ended")
            record.mark_closed(time.monotonic(), CloseReason.TASK_ENDED, None)
            state.drive_ended(record.drive_id)
            return self._reject(403, "the task has ended", record)
        fault = state.faults.take_ws(record.task_id)
        if fault is not None and fault.refuse_handshake:
            record.add_error(DriveErrorKind.HANDSHAKE_REFUSED, "refused by a fault switch")
            record.mark_closed(time.monotonic(), CloseReason.FAULT_REFUSED, None)
            state.drive_ended(record.drive_id)
            return self._reject(fault.refuse_status, "handshake refused (fault)", record)
        ws = web.WebSocketResponse(
            autoping=False,
            autoclose=True,
            compress=False,
            max_msg_size=_MAX_MESSAGE_BYTES,
            timeout=state.config.websocket_close_timeout_s,
        )
        if not ws.can_prepare(request).ok:
            record.add_error(DriveErrorKind.PROTOCOL_ERROR, "not a WebSocket upgrade request")
            record.mark_closed(time.monotonic(), CloseReason.PROTOCOL_ERROR, None)
            state.drive_ended(record.drive_id)
            return self._reject(400, "not a WebSocket upgrade", record)
        connection = _Connection(state, request, ws, record, fault)
        await connection.run()
        return ws


class _Connection:
    """One upgraded connection: reads frames, applies faults, records the end."""

    def __init__(
        self,
        state: SimState,
        request: web.Request,
        ws: web.WebSocketResponse,
        record: DriveRecord,
        fault: Fault | None,
    ) -> None:
        self._state = state
        self._request = request
        self._ws = ws
        self._record = record
        self._fault = fault if fault is not None else Fault()
        self._binary_bytes = 0
        self._silenced = False
        self._silence_spent = False
        self._finished = False
        self._shutting_down = asyncio.Event()
        self._task_ended = False

    @property
    def record(self) -> DriveRecord:
        return self._record

    def still_open(self) -> bool:
        if self._finished or self._ws.closed:
            return False
        return peer_connected(self._request.transport) is not False

    async def shutdown(self) -> None:
        """Close with 1001 (going away); abort when the client does not answer in time."""
        await self._close_first(WSCloseCode.GOING_AWAY, b"simulator stopping")

    async def end_for_task(self) -> None:
        """Close with 1000 because the task ended (the vendor documents no code, §17)."""
        self._task_ended = True
        await self._close_first(WSCloseCode.OK, b"task ended")

    async def _close_first(self, code: WSCloseCode, message: bytes) -> None:
        """A server-initiated close; an abort when the client does not answer in time."""
        self._shutting_down.set()
        transport = self._request.transport
        if self._silenced or transport is None:
            if transport is not None:
                transport.abort()
            return
        try:
            await self._ws.close(code=code, message=message)
        except (TimeoutError, ConnectionError, RuntimeError):
            transport.abort()

    async def run(self) -> None:
        """Complete the handshake, serve the connection, and record its end (always)."""
        record = self._record
        reason: CloseReason = CloseReason.CONNECTION_LOST
        code: int | None = ABNORMAL_CLOSURE
        opened = False
        try:
            await self._ws.prepare(self._request)
            now = time.monotonic()
            record.connected_at = now
            self._state.connection_opened(self, now)
            opened = True
            log.info("ws connected: drive=%s task=%s", record.drive_id, record.task_id)
            reason, code = await self._serve()
        finally:
            self._finished = True
            if self._task_ended:
                reason = CloseReason.TASK_ENDED
            record.mark_closed(time.monotonic(), reason, code)
            self._state.playouts.on_closed(record, time.monotonic(), f"connection ended: {reason}")
            if opened:
                self._state.connection_closed(self)
            else:  # the client left during the handshake
                self._state.drive_ended(record.drive_id)
            log.info(
                "ws closed: drive=%s reason=%s code=%s errors=%d underruns=%d",
                record.drive_id,
                record.close_reason,
                record.close_code,
                len(record.errors),
                record.underruns,
            )

    async def _serve(self) -> tuple[CloseReason, int | None]:
        """Read frames until the connection ends; returns how it ended."""
        ws, record, fault = self._ws, self._record, self._fault
        while True:
            self._state.notify()  # the previous frame is fully recorded
            msg = await ws.receive()
            now = time.monotonic()
            if msg.type in _LOGGED:
                data = msg.data.encode() if isinstance(msg.data, str) else msg.data
                size = len(data) if isinstance(data, bytes) else 0
                record.log_frame(now, msg.type.name.lower(), size)
            if msg.type is WSMsgType.TEXT:
                outcome = receive_text(record, msg.data, now)
                if outcome is TextOutcome.STOPPED:
                    self._state.playouts.on_stop(record, now)
                    self._state.drive_stopped(record.drive_id)
                elif outcome is TextOutcome.STARTED:
                    self._state.playouts.on_start(record, now)
                    if fault.send_text_after_start is not None:
                        await self._send_text(fault.send_text_after_start)
            elif msg.type is WSMsgType.BINARY:
                if receive_binary(record, msg.data, now):
                    self._state.playouts.on_audio(record, now, len(msg.data))
                self._binary_bytes += len(msg.data)
            elif msg.type is WSMsgType.PING:
                record.pings += 1
                await self._pong(msg.data)
            elif msg.type is WSMsgType.PONG:
                pass
            elif msg.type is WSMsgType.CLOSE:
                # An empty close frame carries no code: RFC 6455 §7.1.5 calls that 1005.
                return CloseReason.CLIENT, int(msg.data) or 1005
            elif msg.type is WSMsgType.CLOSING:
                return CloseReason.SHUTDOWN, int(WSCloseCode.GOING_AWAY)
            elif msg.type is WSMsgType.ERROR:
                exc = msg.data
                record.add_error(DriveErrorKind.PROTOCOL_ERROR, f"{type(exc).__name__}: {exc}")
                # The code aiohttp closed with (1007 bad UTF-8, 1009 too big, 1002 ...).
                sent_code = getattr(exc, "code", None)
                return CloseReason.PROTOCOL_ERROR, sent_code if isinstance(sent_code, int) else None
            else:  # CLOSED: the transport ended without a close frame
                if self._shutting_down.is_set():
                    return CloseReason.SHUTDOWN, ABNORMAL_CLOSURE
                return CloseReason.CONNECTION_LOST, ABNORMAL_CLOSURE

            if msg.type is WSMsgType.BINARY:
                ended = await self._binary_faults()
                if ended is not None:
                    return ended
            if fault.read_delay_s > 0:
                await asyncio.sleep(fault.read_delay_s)

    async def _binary_faults(self) -> tuple[CloseReason, int | None] | None:
        """Apply the byte-count faults after an audio frame; returns an end, if any."""
        fault, transport = self._fault, self._request.transport
        if transport is None:
            return CloseReason.CONNECTION_LOST, ABNORMAL_CLOSURE
        if fault.drop_after_bytes is not None and self._binary_bytes >= fault.drop_after_bytes:
            log.info("ws drive=%s: dropping the connection (fault)", self._record.drive_id)
            abort_with_reset(transport)
            return CloseReason.FAULT_DROP, ABNORMAL_CLOSURE
        if (
            fault.silent_after_bytes is not None
            and not self._silence_spent
            and self._binary_bytes >= fault.silent_after_bytes
        ):
            return await self._silence(transport)
        return None

    async def _silence(self, transport: asyncio.Transport) -> tuple[CloseReason, int | None] | None:
        """Stop reading, as a dead peer would, until the client leaves or the silence ends."""
        self._silenced = self._silence_spent = True
        log.info("ws drive=%s: going silent (fault)", self._record.drive_id)
        transport.pause_reading()
        loop = asyncio.get_running_loop()
        silent_for = self._fault.silent_for_s
        deadline = None if silent_for is None else loop.time() + silent_for
        # Polling, because a connection that is not read cannot report the peer leaving; the
        # kernel's TCP state can. Bounded by the silence, the peer, or the simulator stopping.
        while True:
            if self._shutting_down.is_set():
                return CloseReason.SHUTDOWN, ABNORMAL_CLOSURE
            if peer_connected(transport) is False:
                transport.abort()
                return CloseReason.CONNECTION_LOST, ABNORMAL_CLOSURE
            if deadline is not None and loop.time() >= deadline:
                self._silenced = False
                transport.resume_reading()
                return None
            try:
                async with asyncio.timeout(_SILENT_POLL_S):
                    await self._shutting_down.wait()
            except TimeoutError:
                pass

    async def _send_text(self, text: str) -> None:
        try:
            await self._ws.send_str(text)
        except ConnectionError:
            pass  # the read loop will see the connection end

    async def _pong(self, data: bytes) -> None:
        try:
            await self._ws.pong(data)
        except ConnectionError:
            pass
