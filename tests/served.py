"""Real ``dh-gateway serve`` processes in front of the simulator in the test process:
:func:`served` (one, with a channel), :func:`serve_process` (one of several in front of one
simulator) and :func:`failed_start` (one that must refuse to start)."""

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


@dataclass
class GatewayProcess:
    """A started ``dh-gateway serve``: the process, where it listens and its stderr so far."""

    process: asyncio.subprocess.Process
    address: str
    stderr: list[bytes]


def _serve(sim: Simulator, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of ``dh-gateway serve`` with ``DHGW_*`` ``env``."""
    command = [str(Path(sys.executable).parent / "dh-gateway"), "--log-level", "INFO", "serve"]
    return command, {
        **os.environ,
        "DHGW_ZEGO_APP_ID": str(APP_ID),
        "DHGW_ZEGO_SERVER_SECRET": SECRET,
        "DHGW_ZEGO_API_URL": sim.http_url,
        "DHGW_LISTEN": "127.0.0.1:0",
        "DHGW_METRICS_LISTEN": "",
        **{f"DHGW_{k}": v for k, v in env.items()},
    }


def runs_uvloop(pid: int) -> bool:
    """Whether process ``pid`` loaded uvloop's extension module (runs on uvloop)."""
    return "uvloop/loop." in Path(f"/proc/{pid}/maps").read_text()


@asynccontextmanager
async def serve_process(sim: Simulator, **env: str) -> AsyncIterator[GatewayProcess]:
    """``dh-gateway serve`` in front of ``sim``, once it printed its address; killed on exit."""
    command, environ = _serve(sim, env)
    process = await asyncio.create_subprocess_exec(
        *command, env=environ, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
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
        if match is None:  # it exited: wait for its last words
            async with asyncio.timeout(10):
                await process.wait()
                await collector
        assert match, (line, b"".join(stderr))
        yield GatewayProcess(process, match.group(1).decode(), stderr)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        async with asyncio.timeout(10):
            await collector


async def failed_start(sim: Simulator, **env: str) -> tuple[int, str]:
    """Run ``dh-gateway serve`` that must fail to start: its exit status and stderr (it must
    exit within 30 s)."""
    command, environ = _serve(sim, env)
    process = await asyncio.create_subprocess_exec(
        *command, env=environ, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(30):
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert b"listening on" not in stdout, stdout
    assert process.returncode is not None
    return process.returncode, stderr.decode(errors="replace")


@asynccontextmanager
async def served(**env: str) -> AsyncIterator[Served]:
    """The simulator, and ``dh-gateway serve`` in front of it with ``DHGW_*`` ``env``."""
    async with (
        Simulator(SimulatorConfig(app_id=APP_ID, server_secret=SECRET)) as sim,
        serve_process(sim, **env) as started,
        grpc.aio.insecure_channel(started.address) as channel,
    ):
        yield Served(
            started.process,
            started.address,
            channel,
            DriveGatewayClient(channel),
            sim,
            started.stderr,
        )
