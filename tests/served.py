"""A real ``dh-gateway serve`` process in front of the simulator in the test process."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from dhgateway_client import DriveGatewayClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.simulator import Simulator, SimulatorConfig

APP_ID = 1234567890
SECRET = "d" * 32
H = health_pb2.HealthCheckResponse


@dataclass
class Served:
    """A ``dh-gateway serve`` process, its address, a channel to it and the simulator."""

    process: asyncio.subprocess.Process
    address: str
    channel: grpc.aio.Channel
    client: DriveGatewayClient
    sim: Simulator
    stderr: list[bytes]

    async def exit_code(self, timeout_s: float = 20) -> int:
        async with asyncio.timeout(timeout_s):
            return await self.process.wait()

    async def not_serving(self) -> None:
        """Wait until health says NOT_SERVING (the drain began), by watching, not polling."""
        health = health_pb2_grpc.HealthStub(self.channel)
        watch = health.Watch(health_pb2.HealthCheckRequest())
        try:
            async with asyncio.timeout(10):
                async for answer in watch:
                    if answer.status == H.NOT_SERVING:
                        return
        finally:
            watch.cancel()


@asynccontextmanager
async def served(**env: str) -> AsyncIterator[Served]:
    """The simulator, and ``dh-gateway serve`` in front of it with ``DHGW_*`` ``env``."""
    async with Simulator(SimulatorConfig(app_id=APP_ID, server_secret=SECRET)) as sim:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "dh-gateway"),
            "--log-level",
            "INFO",
            "serve",
            env={
                **os.environ,
                "DHGW_ZEGO_APP_ID": str(APP_ID),
                "DHGW_ZEGO_SERVER_SECRET": SECRET,
                "DHGW_ZEGO_API_URL": sim.http_url,
                "DHGW_LISTEN": "127.0.0.1:0",
                "DHGW_METRICS_LISTEN": "",
                **{f"DHGW_{k}": v for k, v in env.items()},
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None and process.stderr is not None
        stderr: list[bytes] = []

        async def collect(stream: asyncio.StreamReader) -> None:
            while line := await stream.readline():  # ends at EOF, when the process exits
                stderr.append(line)

        collector = asyncio.create_task(collect(process.stderr))
        try:
            async with asyncio.timeout(30):
                line = await process.stdout.readline()
            match = re.search(rb"listening on (\S+)", line)
            assert match, (line, b"".join(stderr))
            address = match.group(1).decode()
            async with grpc.aio.insecure_channel(address) as channel:
                yield Served(process, address, channel, DriveGatewayClient(channel), sim, stderr)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            async with asyncio.timeout(10):
                await collector
