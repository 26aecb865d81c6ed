"""The :class:`Simulator`: a stand-in for the vendor's cloud on a loopback port.

One aiohttp server serves the HTTP API (``/``), the WebSocket drive endpoint (``/ws``) and the
inspection endpoints (``/_sim/``), over plain TCP or TLS. Build it only from the vendor's
documented protocol (zego-api.md): it must never share code with the client it tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from .api import ApiHandler
from .callbacks import CallbackRecord
from .config import SimulatorConfig
from .control import add_control_routes
from .faults import Fault
from .playout import Playout
from .records import ApiCall, DriveRecord, HandshakeRejection, Overlap
from .state import SimState
from .tasks import TaskEnd, TaskRecord
from .text import TextDriveRecord
from .tls import TlsMaterial, client_ssl_context, make_tls
from .ws import WsHandler

__all__ = ["Simulator"]

log = logging.getLogger("gateway.simulator")

_SHUTDOWN_TIMEOUT_S = 1.0  # for API handlers still sleeping in a fault's delay


class Simulator:
    """The simulated cloud. Use ``async with Simulator(config) as sim:``, or start()/stop().

    Everything it records is readable while it runs and after it stops; the lists returned
    by the properties are copies. It must run on one event loop, the one of its caller.
    """

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._state = SimState(config)
        self._runner: web.AppRunner | None = None
        self._tls: TlsMaterial | None = None
        self._ca_path: str | None = None
        self._port = 0

    # Lifecycle.

    async def start(self) -> None:
        """Bind and serve. After it returns, ``http_url`` and ``port`` are valid."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        config = self.config
        if config.tls:
            self._tls = make_tls(config.host)
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        sock = socket.create_server((config.host, config.port), family=family)
        self._port = sock.getsockname()[1]
        self._state.ws_port = config.advertised_port or self._port
        self._state.ws_scheme = "wss" if config.tls else "ws"

        app = web.Application()
        api = ApiHandler(self._state)
        # "?Action=..." with or without the slash (§1): on the wire both are the path "/".
        app.router.add_get("/", api.handle, allow_head=False)
        app.router.add_post("/", api.handle)
        app.router.add_get("/ws", WsHandler(self._state).handle, allow_head=False)
        add_control_routes(app, self._state, self.ca_pem, self.set_callbacks)
        # No access log: request lines carry the Signature and the Token.
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=_SHUTDOWN_TIMEOUT_S,
            keepalive_timeout=config.keepalive_timeout_s,
        )
        try:
            await runner.setup()
            site = web.SockSite(
                runner,
                sock,
                ssl_context=None if self._tls is None else self._tls.server_context,
            )
            await site.start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        try:
            await self._state.open()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("simulator serving at %s (app_id=%d)", self.http_url, config.app_id)
        if config.callback_origin is not None:
            log.info("simulator callbacks to %s", config.callback_origin)

    async def stop(self) -> None:
        """Close open connections (1001, or abort), stop serving, delete the CA file."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._state.freeze()
        live = self._state.all_live()
        if live:
            await asyncio.gather(*(conn.shutdown() for conn in live), return_exceptions=True)
        await runner.cleanup()
        await self._state.close()
        if self._ca_path is not None:
            os.unlink(self._ca_path)
            self._ca_path = None
        log.info("simulator stopped")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # Addresses and TLS.

    @property
    def port(self) -> int:
        return self._port

    @property
    def http_url(self) -> str:
        """The API base URL, with a trailing slash: ``http://127.0.0.1:PORT/``."""
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{self.config.advertised_host}:{self._port}/"

    @property
    def ca_pem(self) -> bytes | None:
        """The PEM of the CA that signed the server certificate (TLS mode), else ``None``."""
        return None if self._tls is None else self._tls.ca_pem

    @property
    def ca_pem_path(self) -> str | None:
        """A file holding :attr:`ca_pem`, created on first use, deleted by :meth:`stop`."""
        if self._tls is None:
            return None
        if self._ca_path is None:
            fd, path = tempfile.mkstemp(prefix="dh-sim-ca-", suffix=".pem")
            with os.fdopen(fd, "wb") as f:
                f.write(self._tls.ca_pem)
            self._ca_path = path
        return self._ca_path

    def client_ssl_context(self) -> ssl.SSLContext | None:
        """A client SSL context that trusts the simulator (TLS mode), else ``None``."""
        return None if self._tls is None else client_ssl_context(self._tls.ca_pem)

    # Callbacks.

    def set_callbacks(self, url: str | None, secret: str | None = None, **fields: Any) -> None:
        """Point the callbacks at ``url`` from now on (``None``: make no more), e.g. once the
        receiver's port is known. ``secret`` (kept when omitted) and the other ``callback_*``
        settings (``callback_timestamp_unit``, ``callback_retry_scale``, ``callback_timeout_s``)
        by keyword; raises ValueError as :class:`SimulatorConfig` does."""
        unknown = [n for n in fields if not n.startswith("callback_") or n == "callback_cafile"]
        if unknown:
            raise ValueError(f"not a callback setting of a running simulator: {unknown}")
        if secret is None:
            secret = self.config.callback_secret
        config = dataclasses.replace(
            self.config, callback_url=url, callback_secret=secret, **fields
        )
        self.config = config
        self._state.reconfigure(config)
        if config.callback_origin is not None:
            log.info("simulator callbacks to %s", config.callback_origin)

    # Faults.

    def set_fault(self, fault: Fault, task_id: str | None = None) -> None:
        """Arm ``fault`` for one TaskId, or for every task (``None``); replaces that scope's."""
        self._state.faults.set(fault, task_id)

    def clear_fault(self, task_id: str | None = None) -> None:
        """Disarm the fault of one scope (``None``: the global one)."""
        self._state.faults.discard(task_id)

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self._state.faults.clear()

    # Records.

    @property
    def api_calls(self) -> list[ApiCall]:
        return list(self._state.api_calls)

    @property
    def drives(self) -> list[DriveRecord]:
        """Every drive, in the order DriveByWsStream granted them."""
        return list(self._state.drives.values())

    def drive(self, drive_id: str) -> DriveRecord:
        """The record of one drive; raises KeyError for an unknown DriveId."""
        return self._state.drives[drive_id]

    def drives_for_task(self, task_id: str) -> list[DriveRecord]:
        return [d for d in self._state.drives.values() if d.task_id == task_id]

    @property
    def text_drives(self) -> list[TextDriveRecord]:
        """Every DriveByText accepted, in order (their playback: :meth:`playout`)."""
        return list(self._state.text_drives.values())

    @property
    def overlaps(self) -> list[Overlap]:
        """Each time a connection opened while another one of the same task was open."""
        return list(self._state.overlaps)

    @property
    def handshake_rejections(self) -> list[HandshakeRejection]:
        return list(self._state.rejections)

    @property
    def callbacks(self) -> list[CallbackRecord]:
        """Every callback made (with a callback URL configured), in the order made."""
        return list(self._state.callbacks.records)

    def callbacks_for(
        self, *, task_id: str | None = None, drive_id: str | None = None
    ) -> list[CallbackRecord]:
        """The callbacks of one task and/or one drive, in the order made."""
        return [
            c
            for c in self._state.callbacks.records
            if (task_id is None or c.task_id == task_id)
            and (drive_id is None or c.drive_id == drive_id)
        ]

    def playout(self, drive_id: str) -> Playout:
        """What the avatar played of one drive; raises KeyError before its valid Start."""
        playout = self._state.playouts.get(drive_id)
        if playout is None:
            raise KeyError(drive_id)
        return playout

    @property
    def playouts(self) -> list[Playout]:
        """Every drive's playback, in the order their Starts arrived."""
        return list(self._state.playouts.playouts.values())

    def task(self, task_id: str) -> TaskRecord | None:
        """A task the simulator has seen (``None``: not yet)."""
        return self._state.tasks.get(task_id)

    @property
    def tasks(self) -> list[TaskRecord]:
        return list(self._state.tasks.tasks.values())

    def end_task(self, task_id: str) -> bool:
        """End a live task now, as MaxIdleTime or TTL would (Status 5); whether it was live."""
        return self._state.tasks.end(task_id, TaskEnd.ENDED_BY_TEST, time.monotonic())

    def state_json(self) -> dict[str, object]:
        """The same JSON as ``GET /_sim/state``."""
        return self._state.snapshot()

    def reset(self) -> None:
        """Forget all records, tokens, faults, rate windows, tasks, playouts and callbacks
        (pending callback tries and retries are abandoned).

        Connections still open keep running, on records no longer listed; WebSocket
        addresses handed out before the reset are refused afterwards (401).
        """
        self._state.reset()

    # Waiting (event-based: each wakes on the change it waits for). The ``timeout`` keyword
    # is the agreed test-facing API (hence the ASYNC109 waivers); it maps to asyncio.timeout.

    async def wait_closed(
        self,
        drive_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> DriveRecord:
        """Wait until the drive's connection ended (or its handshake was refused by a fault).

        Raises KeyError for an unknown DriveId and TimeoutError after ``timeout`` seconds.
        """
        record = self.drive(drive_id)
        async with asyncio.timeout(timeout):
            await self._state.closed_event(drive_id).wait()
        return record

    async def wait_stopped(
        self,
        drive_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> DriveRecord:
        """Wait until a valid Stop arrived, or the connection ended without one.

        Check ``record.stopped_at`` to tell which. Raises like :meth:`wait_closed`.
        """
        record = self.drive(drive_id)
        async with asyncio.timeout(timeout):
            await self._state.stopped_event(drive_id).wait()
        return record

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until ``predicate()`` holds; it is re-checked after every recorded change
        (API call, drive granted, frame, connect, Stop, close). Raises TimeoutError.
        """
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._state.changed()

    async def wait_playout_ended(
        self,
        drive_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Playout:
        """Wait until the drive's playback ended (Status 3 or 4); raises TimeoutError."""

        def ended() -> bool:
            playout = self._state.playouts.get(drive_id)
            return playout is not None and playout.is_ended

        await self.wait_for(ended, timeout)
        return self.playout(drive_id)

    async def wait_callbacks(
        self,
        predicate: Callable[[list[CallbackRecord]], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[CallbackRecord]:
        """Wait until ``predicate(callbacks)`` holds (re-checked after each callback made,
        tried or given up); returns the callbacks then."""
        await self.wait_for(lambda: predicate(self.callbacks), timeout)
        return self.callbacks

    async def wait_for_drive(
        self,
        task_id: str | None = None,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> DriveRecord:
        """Wait until ``count`` drives were granted (for ``task_id``, or any); return the last."""

        def matching() -> list[DriveRecord]:
            if task_id is None:
                return self.drives
            return self.drives_for_task(task_id)

        await self.wait_for(lambda: len(matching()) >= count, timeout)
        return matching()[count - 1]
