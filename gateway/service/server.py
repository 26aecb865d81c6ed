"""Build, start, drain and stop the gRPC server around a :class:`GatewayApp`.

The server serves ``dhgateway.v1.DriveGateway``, ``grpc.health.v1.Health`` (SERVING once
started; NOT_SERVING from the start of a drain, and while the Redis of the replica mode does
not answer) and reflection, on a TCP address or a Unix
socket, in plaintext or TLS (mutual when a client CA is configured). An optional second,
plaintext listener serves only health, for probes that cannot do TLS.

Several processes may share one ``host:port`` when ``server.reuse_port`` is on: both listeners
(the main one and the health-only one) then set ``SO_REUSEPORT`` and the kernel spreads new
connections over the processes (by a hash of each connection's addresses, so one connection,
and every stream on it, stays with one process). The caller must start every process with the
same explicit port (port 0 would give each its own), the same ``redis_url`` (the shared task
registry is what keeps one drive per task across them; the config refuses reuse_port without
it), a distinct ``observability.metrics_listen`` port or "" (that listener never shares: a
scrape must reach one known process), and the same user (the kernel shares a port only between
sockets of one user). A process without ``reuse_port`` still fails to start on a port in use.

Interceptors run in this order: the app's tracer's (which read a Drive call's trace context,
when tracing is on), the caller's ``interceptors`` (observability, which should see every call,
refused ones included), then :class:`~gateway.service.auth.AuthInterceptor`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from dhgateway.v1 import gateway_pb2
from grpc_health.v1 import _async as health_aio, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway.config import GatewayConfig, ServerConfig
from gateway.errors import ConfigError, draining
from gateway.service.app import GatewayApp
from gateway.service.auth import Authenticator, AuthInterceptor
from gateway.service.decoding import add_servicer
from gateway.service.servicer import DriveGatewayServicer

log = logging.getLogger("gateway.service")

SERVICE_NAME = gateway_pb2.DESCRIPTOR.services_by_name["DriveGateway"].full_name
HEALTH_SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name

#: Room for the protobuf framing around the largest accepted audio chunk.
_MESSAGE_OVERHEAD = 64 * 1024
#: After the drives ended, how long handlers may take to write their final status.
_STOP_GRACE_S = 1.0


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def server_options(app: GatewayApp | GatewayConfig) -> list[tuple[str, int]]:
    """Channel arguments of the listener.

    BDP probing is off: it grows the HTTP/2 window until the transport absorbs megabytes per
    stream whatever the application reads, which defeats pacing's backpressure on a flooding
    client. A fixed window of a few chunks keeps each drive's memory bounded.

    ``SO_REUSEPORT`` is off unless ``server.reuse_port`` is on, so that a second gateway on
    the same port fails to start instead of silently sharing the port (grpc's default on Linux
    is to share).
    """
    config = app.config if isinstance(app, GatewayApp) else app
    server = config.server
    return [
        ("grpc.max_receive_message_length", config.limits.max_chunk_bytes + _MESSAGE_OVERHEAD),
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", 64 * 1024),
        _reuse_port(server),
        ("grpc.keepalive_time_ms", _ms(server.keepalive_time_s)),
        ("grpc.keepalive_timeout_ms", _ms(server.keepalive_timeout_s)),
        ("grpc.http2.min_ping_interval_without_data_ms", _ms(server.min_ping_interval_s)),
        ("grpc.http2.max_ping_strikes", server.max_ping_strikes),
        ("grpc.max_concurrent_streams", server.max_concurrent_streams),
    ]


def _reuse_port(server: ServerConfig) -> tuple[str, int]:
    """The ``SO_REUSEPORT`` option of both listeners: on only with ``server.reuse_port``."""
    return ("grpc.so_reuseport", 1 if server.reuse_port else 0)


def server_credentials(server: ServerConfig) -> grpc.ServerCredentials | None:
    """The listener's TLS credentials (None: plaintext).

    Raises:
        ConfigError: a file cannot be read, is not a PEM certificate or key, the key does not
            match the certificate, or the client CA bundle holds no certificate.
    """
    tls = server.tls
    if tls is None:
        return None
    try:
        chain = Path(tls.cert_file).read_bytes()
        key = Path(tls.key_file).read_bytes()
        client_ca = Path(tls.client_ca_file).read_bytes() if tls.client_ca_file else None
    except OSError as exc:
        raise ConfigError(f"server.tls: cannot read a file: {exc}") from exc
    _check_tls_material(tls.cert_file, tls.key_file, tls.client_ca_file)
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def _check_tls_material(cert_file: str, key_file: str, client_ca_file: str | None) -> None:
    """Load the files with the standard library's TLS, which says what is wrong with them:
    grpc would fail only at bind time, saying "Failed to bind to address"."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"server.tls: cert_file {cert_file!r} and key_file {key_file!r} are not a PEM "
            f"certificate chain and its private key ({exc.reason or exc})"
        ) from exc
    if client_ca_file:
        try:
            context.load_verify_locations(cafile=client_ca_file)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"server.tls: client_ca_file {client_ca_file!r} holds no PEM CA certificate "
                f"({exc.reason or exc})"
            ) from exc


def _bind(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    try:
        if credentials is None:
            return server.add_insecure_port(address)
        return server.add_secure_port(address, credentials)
    except RuntimeError as exc:  # grpc says only "Failed to bind to address"
        raise ConfigError(f"cannot listen on {address} (in use, or not an address here)") from exc


def _shown(address: str, port: int) -> str:
    if address.startswith(("unix:", "unix-abstract:")):
        return address
    return f"{address.rsplit(':', 1)[0]}:{port}"


@dataclass
class RunningServer:
    """A started server: where it listens and how to stop it."""

    server: grpc.aio.Server
    health: health_aio.HealthServicer
    address: str
    port: int
    #: The health-only listener, if configured.
    health_server: grpc.aio.Server | None = None
    health_address: str = ""

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop listening; ``grace_s`` lets RPCs finish (None: cancel them now)."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        if self.health_server is not None:
            await self.health_server.stop(None)


async def start_server(
    app: GatewayApp,
    listen: str | None = None,
    *,
    interceptors: Sequence[grpc.aio.ServerInterceptor[Any, Any]] = (),
) -> RunningServer:
    """Start serving ``app`` on ``listen`` (default: the config's); port 0 picks a free one.

    With ``server.reuse_port`` the port may already be held by other gateway processes that
    share it (see the module's docstring for what the caller must give each of them).

    Args:
        app: the gateway.
        listen: overrides ``config.server.listen``.
        interceptors: installed before (outside) the API key check, such as
            ``gateway.observability.interceptors_for(app.metrics)``.

    Raises:
        ConfigError: the address cannot be bound, or a TLS file cannot be read.
    """
    config = app.config
    address = listen or config.server.listen
    authenticator = Authenticator(config.auth, config.limits)
    server = grpc.aio.server(
        options=server_options(app),
        interceptors=[*app.tracer.interceptors(), *interceptors, AuthInterceptor(authenticator)],
    )
    add_servicer(DriveGatewayServicer(app, authenticator), server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [SERVICE_NAME, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    port = _bind(server, address, server_credentials(config.server))
    health_server = None
    health_address = ""
    if config.server.health_listen:
        # Shared like the main listener: each process sharing the port has its own health
        # listener on the same address too, and a probe is answered by whichever it reached.
        health_server = grpc.aio.server(options=[_reuse_port(config.server)])
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        health_port = _bind(health_server, config.server.health_listen, None)
        health_address = _shown(config.server.health_listen, health_port)
    await server.start()
    if health_server is not None:
        await health_server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    if app.shared_state is not None:
        app.shared_state.on_change(_health_follows(app, health_servicer))
    return RunningServer(
        server, health_servicer, _shown(address, port), port, health_server, health_address
    )


def _health_follows(app: GatewayApp, health: health_aio.HealthServicer) -> Callable[[bool], None]:
    """A shared-state listener that turns health NOT_SERVING while Redis does not answer."""
    pending: set[asyncio.Task[None]] = set()  # held until done: the loop keeps weak refs

    async def set_all(up: bool) -> None:
        if app.admission.draining:
            return  # draining stays NOT_SERVING
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if up
            else (health_pb2.HealthCheckResponse.NOT_SERVING)
        )
        for name in ("", SERVICE_NAME):
            await health.set(name, status)

    def follow(up: bool) -> None:
        task = asyncio.get_running_loop().create_task(set_all(up))
        pending.add(task)
        task.add_done_callback(pending.discard)

    return follow


async def _wait_drives(app: GatewayApp, timeout_s: float, interrupt: asyncio.Event) -> None:
    """Wait until the live drives finished, ``timeout_s`` passed, or ``interrupt`` is set."""
    waiters = {asyncio.ensure_future(d.wait_finished(timeout_s)) for d in list(app.drives)}
    interrupted = asyncio.ensure_future(interrupt.wait())
    try:
        # Each round ends at least one waiter, and each waiter ends by ``timeout_s``.
        while waiters and not interrupted.done():
            done, _ = await asyncio.wait(
                waiters | {interrupted}, return_when=asyncio.FIRST_COMPLETED
            )
            waiters -= done
    finally:
        for waiter in (*waiters, interrupted):
            waiter.cancel()
        await asyncio.gather(*waiters, interrupted, return_exceptions=True)


async def drain(
    app: GatewayApp,
    running: RunningServer,
    timeout_s: float,
    *,
    now: asyncio.Event | None = None,
) -> None:
    """Drain and stop: the gateway's answer to SIGTERM.

    Health turns NOT_SERVING and new drives get UNAVAILABLE / DRAINING at once; live drives may
    finish for ``timeout_s`` (or until ``now`` is set: a second signal); then every drive left
    is ended with DRAINING (its Stop sent, its WebSocket closed) and the server stops.
    """
    app.start_draining()
    await running.health.enter_graceful_shutdown()
    if app.drives:
        log.info("draining %d drives for up to %g s", len(app.drives), timeout_s)
        await _wait_drives(app, timeout_s, now or asyncio.Event())
    if app.drives:
        log.info("ending %d drives, each with its Stop", len(app.drives))
        app.end_all(draining())
        # Each drive's clean-up is bounded by the WebSocket's close timeout.
        close_s = app.config.upstream.ws_close_timeout_s + 1.0
        await _wait_drives(app, close_s, asyncio.Event())
    await running.stop(grace_s=_STOP_GRACE_S)
