"""Graceful drain of a real ``dh-gateway serve`` process, against the simulator in this process.

SIGTERM (or SIGINT): health turns NOT_SERVING, new drives get UNAVAILABLE / DRAINING, live
drives may finish for ``drain_timeout_s``, the rest are ended with their Stop sent; exit 0.
A second signal ends the live drives at once, still with their Stop.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from dhgateway_client import DriveError, DriveGatewayClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.simulator import Simulator, SimulatorConfig
from tests.service.conftest import chunks, pcm, realtime

APP_ID = 1234567890
SECRET = "d" * 32
H = health_pb2.HealthCheckResponse
C = grpc.StatusCode


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


async def started(stream: AsyncIterator[object]) -> str:
    event = await anext(stream)
    assert event.WhichOneof("event") == "started", event  # type: ignore[attr-defined]
    return str(event.drive_id)  # type: ignore[attr-defined]


async def drive_error(stream: AsyncIterator[object]) -> DriveError:
    with pytest.raises(DriveError) as caught:
        async for _ in stream:
            pass
    return caught.value


def speech(ms: int) -> AsyncIterator[bytes]:
    """``ms`` of audio at the pace of a real-time source."""
    return realtime(chunks(pcm(ms), 3200), 100)


@pytest.mark.asyncio
async def test_sigterm_lets_the_live_drive_finish() -> None:
    async with served(DRAIN_TIMEOUT_S="20") as s:
        stream = s.client.drive("live", speech(1500))
        drive_id = await started(stream)
        s.process.send_signal(signal.SIGTERM)
        await s.not_serving()
        error = await drive_error(s.client.drive("late", [pcm(100)]))
        assert (error.code, error.reason) == (C.UNAVAILABLE, "DRAINING")
        events = [e.WhichOneof("event") async for e in stream]
        assert events[-1] == "completed"
        assert await s.exit_code() == 0, b"".join(s.stderr)
        record = await s.sim.wait_closed(drive_id)
        assert record.stopped_at is not None and record.clean_close
        assert abs(record.audio_ms - 1500) <= 1
        assert s.sim.drives_for_task("late") == []


@pytest.mark.asyncio
async def test_a_drive_longer_than_the_drain_is_stopped_and_told_draining() -> None:
    async with served(DRAIN_TIMEOUT_S="0.5") as s:
        stream = s.client.drive("long", speech(20_000))
        drive_id = await started(stream)
        s.process.send_signal(signal.SIGTERM)
        error = await drive_error(stream)
        assert (error.code, error.reason) == (C.UNAVAILABLE, "DRAINING")
        assert error.metadata["drive_id"] == drive_id
        assert await s.exit_code() == 0, b"".join(s.stderr)
        record = await s.sim.wait_closed(drive_id)
        assert record.stopped_at is not None  # the Stop was sent before the socket closed
        assert record.audio_ms < 20_000


@pytest.mark.asyncio
async def test_a_second_signal_stops_the_drives_at_once_still_with_stop() -> None:
    async with served(DRAIN_TIMEOUT_S="120") as s:
        streams = [s.client.drive(f"t{i}", speech(20_000)) for i in range(3)]
        drive_ids = [await started(stream) for stream in streams]
        s.process.send_signal(signal.SIGTERM)
        await s.not_serving()
        s.process.send_signal(signal.SIGINT)
        for stream in streams:
            error = await drive_error(stream)
            assert (error.code, error.reason) == (C.UNAVAILABLE, "DRAINING")
        assert await s.exit_code() == 0, b"".join(s.stderr)
        for drive_id in drive_ids:
            record = await s.sim.wait_closed(drive_id)
            assert record.stopped_at is not None
        stderr = b"".join(s.stderr).decode()
        assert "SIGTERM: draining" in stderr and "SIGINT again" in stderr


@pytest.mark.asyncio
async def test_sigint_without_drives_exits_at_once() -> None:
    async with served() as s:
        s.process.send_signal(signal.SIGINT)
        assert await s.exit_code() == 0, b"".join(s.stderr)
