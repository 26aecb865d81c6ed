"""An in-package test fixture: the simulator, a gateway in front of it, and a channel to it.

For tests, benchmarks and demos of code that talks to dh-gateway (grpclib's ``testing.py``
idea)::

    async with running_gateway() as h:
        async for event in h.client.drive("task-1", chunks):
            ...
        record = await h.sim.wait_closed(h.sim.drives[-1].drive_id)

Everything listens on loopback ports picked by the OS. Nothing here is a mock: the gateway is
the real one and the simulator speaks the vendor's documented protocol.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from dhgateway_client import DriveGatewayClient

from gateway.config import GatewayConfig
from gateway.observability import interceptors_for
from gateway.service.app import GatewayApp
from gateway.service.server import RunningServer, start_server
from gateway.simulator import Simulator, SimulatorConfig

TEST_APP_ID = 1234567890


@dataclass
class Harness:
    """A running simulator + gateway + client channel."""

    sim: Simulator
    app: GatewayApp
    server: RunningServer
    channel: grpc.aio.Channel
    client: DriveGatewayClient

    @property
    def config(self) -> GatewayConfig:
        """The gateway's configuration."""
        return self.app.config

    @property
    def address(self) -> str:
        """Where the gateway listens (host:port)."""
        return self.server.address


@asynccontextmanager
async def running_gateway(
    *,
    tasks: frozenset[str] | None = None,
    simulator: dict[str, Any] | None = None,
    sim: Simulator | None = None,
    **config_changes: Any,
) -> AsyncIterator[Harness]:
    """Start the simulator and a gateway in front of it; stop both on exit.

    Args:
        tasks: the simulator's known task ids (None: any task exists).
        simulator: extra :class:`SimulatorConfig` fields.
        sim: a running simulator to use instead (e.g. shared by two replicas; left running).
        config_changes: :class:`GatewayConfig` fields to change from ``for_test()``.
    """
    async with contextlib.AsyncExitStack() as stack:
        if sim is None:
            sim_config = SimulatorConfig(
                app_id=TEST_APP_ID,
                server_secret=secrets.token_hex(16),
                host="127.0.0.1",
                port=0,
                tasks=tasks,
                **(simulator or {}),
            )
            sim = await stack.enter_async_context(Simulator(sim_config))
        config = GatewayConfig.for_test(
            app_id=sim.config.app_id,
            server_secret=sim.config.server_secret,
            api_url=sim.http_url,
            **config_changes,
        )
        app = await stack.enter_async_context(GatewayApp(config))
        server = await start_server(app, interceptors=interceptors_for(app.metrics))
        try:
            async with grpc.aio.insecure_channel(server.address) as channel:
                yield Harness(sim, app, server, channel, DriveGatewayClient(channel))
        finally:
            await server.stop(grace_s=None)
