"""Several ``dh-gateway serve`` processes on one address (``DHGW_REUSE_PORT``, SO_REUSEPORT)
sharing one Redis: the kernel spreads connections over them, and a task still has one drive
whichever process a client reached. Without reuse_port a port in use stays a start-up error,
and the metrics listener never shares its port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager

import grpc
import pytest
import redis.asyncio as aioredis
from dhgateway_client import DriveGatewayClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.config import Credentials, GatewayConfig, ServerConfig
from gateway.service.server import server_options
from gateway.simulator import Simulator, SimulatorConfig
from tests.conftest import free_port
from tests.served import APP_ID, SECRET, failed_start, serve_process
from tests.service.conftest import chunks, pcm, realtime, started_drive_id, stream_error

C = grpc.StatusCode
#: Connections to open until one reaches the process that does not hold the drive: each lands
#: on either process by a hash of its source port, so all 40 on one has odds of 2 ** -39.
MAX_CHANNELS = 40
#: Admission by load off: two processes just started on a small machine may be over its CPU
#: threshold for a second, which would refuse a drive for a reason this file does not test.
UNLOADED = {"ADMIT_MAX_CPU": "0", "ADMIT_MAX_LOOP_LAG_MS": "0"}


@contextmanager
def reserved_port() -> Iterator[int]:
    """A loopback port kept from other programs while the gateways bind it.

    The socket sets SO_REUSEPORT too (so the gateways may join it) and never listens, so it
    takes no connection; it is closed once they have bound.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@asynccontextmanager
async def connection(address: str) -> AsyncIterator[DriveGatewayClient]:
    """A client on a channel of its own: a new TCP connection, not one shared by the
    process-wide subchannel pool (which would send every channel to the same process)."""
    options = [("grpc.use_local_subchannel_pool", 1)]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        yield DriveGatewayClient(channel)


async def flush(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()


def test_reuse_port_turns_so_reuseport_on_for_the_listeners() -> None:
    profiles = {"default": Credentials(app_id=1, server_secret="s")}
    shared = ServerConfig(reuse_port=True, redis_url="redis://127.0.0.1:1/0")
    assert (
        dict(server_options(GatewayConfig(profiles=profiles, server=shared)))["grpc.so_reuseport"]
        == 1
    )
    assert dict(server_options(GatewayConfig(profiles=profiles)))["grpc.so_reuseport"] == 0


@pytest.mark.asyncio
async def test_two_processes_on_one_port_share_connections_and_tasks(redis_url: str) -> None:
    await flush(redis_url)
    sim_config = SimulatorConfig(app_id=APP_ID, server_secret=SECRET)
    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(Simulator(sim_config))
        with reserved_port() as port, reserved_port() as health_port:
            env = {"LISTEN": f"127.0.0.1:{port}", "REUSE_PORT": "on", "REDIS_URL": redis_url}
            # The health-only listener is shared as well, or the second process could not start.
            env |= UNLOADED | {"HEALTH_LISTEN": f"127.0.0.1:{health_port}"}
            first = await stack.enter_async_context(serve_process(sim, **env))
            second = await stack.enter_async_context(serve_process(sim, **env))
        address = f"127.0.0.1:{port}"
        assert first.address == second.address == address
        async with grpc.aio.insecure_channel(f"127.0.0.1:{health_port}") as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
            assert answer.status == health_pb2.HealthCheckResponse.SERVING

        # A drive held by whichever process the first connection reached.
        near = await stack.enter_async_context(connection(address))
        holder = near.drive("shared", realtime(chunks(pcm(5000), 3200), 100))
        holder_id = await started_drive_id(holder)
        (held,) = await near.list_drives()
        assert held.drive_id == holder_id and held.replica

        # ListDrives names the process that runs each drive: a connection whose own drive
        # runs elsewhere than the holder reached the other process.
        far = None
        for n in range(MAX_CHANNELS):
            candidate = await stack.enter_async_context(connection(address))
            probe = candidate.drive(f"probe-{n}", realtime(chunks(pcm(2000), 3200), 100))
            await started_drive_id(probe)
            (mine,) = await candidate.list_drives(f"probe-{n}")
            await probe.aclose()
            if mine.replica != held.replica:
                far = candidate
                break
        assert far is not None, f"{MAX_CHANNELS} connections all reached one process"

        # (a) The other process serves drives too, and lists the first one's (shared) ...
        events = [e async for e in far.drive("elsewhere", [pcm(200)])]
        assert events[-1].WhichOneof("event") == "completed"
        for _ in range(100):  # published within 50 ms of its start: 5 s at most
            if holder_id in {d.drive_id for d in await far.list_drives()}:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the first process's drive never showed on the second")
        # (b) ... but not the task the first one holds: the registry is shared.
        error = await stream_error(far.drive("shared", [pcm(100)]))
        assert (error.code, error.reason) == (C.ALREADY_EXISTS, "TASK_BUSY")
        assert error.metadata["holder_drive_id"] == holder_id
        await holder.aclose()
        assert sim.overlaps == []
        assert first.process.returncode is None and second.process.returncode is None


@pytest.mark.asyncio
@pytest.mark.parametrize("first_shares", [False, True], ids=["neither-shares", "first-shares"])
async def test_without_reuse_port_a_used_port_is_a_start_up_error(
    redis_url: str, first_shares: bool
) -> None:
    sim_config = SimulatorConfig(app_id=APP_ID, server_secret=SECRET)
    shares = {"REUSE_PORT": "on", "REDIS_URL": redis_url} if first_shares else {}
    async with Simulator(sim_config) as sim, serve_process(sim, **shares) as first:
        status, stderr = await failed_start(sim, LISTEN=first.address)
        assert status == 2, stderr
        assert f"configuration error: cannot listen on {first.address} (in use" in stderr
        assert first.process.returncode is None


@pytest.mark.asyncio
async def test_processes_sharing_a_port_each_need_their_own_metrics_port(
    redis_url: str,
) -> None:
    sim_config = SimulatorConfig(app_id=APP_ID, server_secret=SECRET)
    metrics = f"127.0.0.1:{free_port()}"
    with reserved_port() as port:
        env = {"LISTEN": f"127.0.0.1:{port}", "REUSE_PORT": "on", "REDIS_URL": redis_url}
        async with Simulator(sim_config) as sim, serve_process(sim, **env, METRICS_LISTEN=metrics):
            status, stderr = await failed_start(sim, **env, METRICS_LISTEN=metrics)
    assert status == 2, stderr
    assert f"configuration error: metrics_listen {metrics!r} cannot be bound" in stderr
