"""The loop's keepalive against the simulator: one timer pings every drive's WebSocket,
answers keep them alive, silence is declared within the bounds, nothing is left running."""

from __future__ import annotations

import asyncio

import pytest

from gateway.config import Credentials, UpstreamConfig
from gateway.errors import UpstreamDisconnected
from gateway.simulator import Fault, Simulator
from gateway.upstream import DriveSession, UpstreamClient
from gateway.upstream.keepalive import KeepAlive
from tests.upstream.conftest import lost, short_config

SESSIONS = 4


async def open_sessions(
    client: UpstreamClient, credentials: Credentials, config: UpstreamConfig, n: int
) -> list[DriveSession]:
    sessions = []
    for i in range(n):
        grant = await client.drive_by_ws_stream(f"keepalive-{i}", credentials)
        sessions.append(await DriveSession.open(grant, sample_rate=16000, config=config))
    return sessions


@pytest.mark.asyncio
async def test_one_timer_pings_every_connection_and_answers_keep_them_alive(
    sim: Simulator, client: UpstreamClient, credentials: Credentials, config: UpstreamConfig
) -> None:
    loop = asyncio.get_running_loop()
    sessions = await open_sessions(client, credentials, config, SESSIONS)
    try:
        # No connection runs a keepalive task of its own (the simulator's tasks share the loop).
        coroutines = [task.get_coro().__qualname__ for task in asyncio.all_tasks()]  # type: ignore[union-attr]
        assert not [name for name in coroutines if "keepalive" in name]
        keepalive = KeepAlive.for_loop(config.ws_ping_interval_s, config.ws_ping_timeout_s)
        assert len(keepalive) == SESSIONS and keepalive.running
        opened_at = loop.time()
        # Idle for several intervals: only the pongs arrive, and they keep every drive alive.
        await asyncio.sleep(4 * config.ws_ping_interval_s)
        for session in sessions:
            assert not session.closed.done()
            assert session._conn.last_received_at > opened_at  # a pong came back
    finally:
        for session in sessions:
            await session.close()
    assert len(keepalive) == 0 and not keepalive.running  # nothing left to wake the loop


@pytest.mark.parametrize(("interval_s", "timeout_s"), [(0.2, 0.6), (0.6, 0.2)])
@pytest.mark.asyncio
async def test_silence_is_declared_between_the_timeout_and_interval_plus_timeout(
    sim: Simulator,
    client: UpstreamClient,
    credentials: Credentials,
    interval_s: float,
    timeout_s: float,
) -> None:
    config = short_config(sim.http_url, ws_ping_interval_s=interval_s, ws_ping_timeout_s=timeout_s)
    loop = asyncio.get_running_loop()
    # After its first audio frame, the peer reads nothing more, so it answers no ping.
    sim.set_fault(Fault(silent_after_bytes=0), task_id="keepalive-0")
    healthy, silent = None, None
    try:
        [silent] = await open_sessions(client, credentials, config, 1)
        silent_from = loop.time()  # a ping sent from now on gets no answer
        await silent.send_audio(bytes(640))
        grant = await client.drive_by_ws_stream("keepalive-1", credentials)
        healthy = await DriveSession.open(grant, sample_rate=16000, config=config)
        gone = await lost(silent, interval_s + timeout_s + 2)
        elapsed = loop.time() - silent_from
        assert timeout_s - 0.01 <= elapsed <= interval_s + timeout_s + 0.5
        assert isinstance(gone, UpstreamDisconnected)
        assert f"no answer to a keepalive ping within {timeout_s:g} s" in gone.message
        # The same timers keep the answering connection alive.
        await asyncio.sleep(interval_s + timeout_s)
        assert not healthy.closed.done()
    finally:
        for session in (silent, healthy):
            if session is not None:
                await session.close()
