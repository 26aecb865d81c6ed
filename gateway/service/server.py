"""Build, start and stop the gRPC server around a :class:`GatewayApp`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from dhgateway.v1 import gateway_pb2, gateway_pb2_grpc
from grpc_health.v1 import _async as health_aio, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway.errors import DriveEnded, Reason
from gateway.service.app import GatewayApp
from gateway.service.servicer import DriveGatewayServicer

log = logging.getLogger("gateway.service")

SERVICE_NAME = gateway_pb2.DESCRIPTOR.services_by_name["DriveGateway"].full_name

#: Room for the protobuf framing around the largest accepted audio chunk.
_MESSAGE_OVERHEAD = 64 * 1024


def server_options(app: GatewayApp) -> list[tuple[str, int]]:
    """Channel arguments of the listener.

    BDP probing is off: it grows the HTTP/2 window until the transport absorbs megabytes per
    stream whatever the application reads, which defeats pacing's backpressure on a flooding
    client. A fixed window of a few chunks keeps each drive's memory bounded.
    """
    max_message = app.config.limits.max_chunk_bytes + _MESSAGE_OVERHEAD
    return [
        ("grpc.max_receive_message_length", max_message),
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", 64 * 1024),
    ]


@dataclass
class RunningServer:
    """A started server: where it listens and how to stop it."""

    server: grpc.aio.Server
    health: health_aio.HealthServicer
    address: str
    port: int

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop listening; ``grace_s`` lets RPCs finish (None: cancel them now)."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)


async def start_server(app: GatewayApp, listen: str | None = None) -> RunningServer:
    """Start serving ``app`` on ``listen`` (default: the config's); port 0 picks a free one."""
    address = listen or app.config.server.listen
    server = grpc.aio.server(options=server_options(app))
    gateway_pb2_grpc.add_DriveGatewayServicer_to_server(DriveGatewayServicer(app), server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [
            SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    port = server.add_insecure_port(address)
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    host = address.rsplit(":", 1)[0]
    return RunningServer(server, health_servicer, f"{host}:{port}", port)


async def drain(app: GatewayApp, running: RunningServer, timeout_s: float) -> None:
    """Refuse new drives, let live ones finish for ``timeout_s``, then end the rest (Stop sent)."""
    app.draining = True
    await running.health.enter_graceful_shutdown()
    if app.drives:
        log.info("draining %d drives for up to %g s", len(app.drives), timeout_s)
        await app.wait_idle(timeout_s)
    app.end_all(DriveEnded(Reason.DRAINING, "the gateway is shutting down"))
    await app.wait_idle(app.config.upstream.ws_close_timeout_s + 1.0)
    await running.server.stop(grace=1.0)
