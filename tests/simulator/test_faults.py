"""Each fault switch, over real loopback sockets."""

from __future__ import annotations

import asyncio
import itertools
import time

import aiohttp
import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from gateway.simulator import CloseReason, DriveErrorKind as Kind, Fault, Simulator, SimulatorConfig

from .helpers import (
    APP_ID,
    FRAME,
    SECRET,
    common_params,
    drive_by_ws_stream,
    post,
    start_frame,
    ws_connect,
)


async def _code(sim: Simulator, session: aiohttp.ClientSession, task: str = "t1") -> int | None:
    status, env = await post(
        session, sim.http_url, common_params("DriveByWsStream"), {"TaskId": task}
    )
    if not isinstance(env, dict):
        return None
    assert status == 200
    return int(env["Code"])


@pytest.mark.asyncio
async def test_force_code_for_n_calls_of_one_task(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    sim.set_fault(Fault(force_code=400010002, force_message="busy", times=2), task_id="t1")
    assert await _code(sim, session, "t2") == 0  # another task: untouched
    assert [await _code(sim, session) for _ in range(3)] == [400010002, 400010002, 0]
    forced = [c for c in sim.api_calls if c.code == 400010002]
    assert [c.message for c in forced] == ["busy", "busy"]


@pytest.mark.asyncio
async def test_force_code_still_validates_first(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    sim.set_fault(Fault(force_code=400010000))
    params = common_params("DriveByWsStream", secret="wrong")
    _, env = await post(session, sim.http_url, params, {"TaskId": "t1"})
    assert isinstance(env, dict) and env["Code"] == 100000005


@pytest.mark.asyncio
async def test_http_status_once(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.set_fault(Fault(http_status=503, times=1))
    status, body = await post(
        session, sim.http_url, common_params("DriveByWsStream"), {"TaskId": "t"}
    )
    assert status == 503 and isinstance(body, str)
    assert await _code(sim, session) == 0
    first, second = sim.api_calls
    assert (first.http_status, first.code, first.request_id) == (503, None, None)
    assert (second.http_status, second.code) == (200, 0)


@pytest.mark.asyncio
async def test_api_delay(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.set_fault(Fault(api_delay_s=0.3, action="DriveByWsStream"))
    started = time.monotonic()
    assert await _code(sim, session) == 0
    assert time.monotonic() - started >= 0.3
    sim.clear_faults()
    started = time.monotonic()
    assert await _code(sim, session) == 0
    assert time.monotonic() - started < 0.3


@pytest.mark.asyncio
async def test_refuse_handshake_once_then_succeed(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    sim.set_fault(Fault(refuse_handshake=True, times=1), task_id="t1")
    drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
    with pytest.raises(InvalidStatus) as info:
        async with ws_connect(address):
            pass
    assert info.value.response.status_code == 503
    record = await sim.wait_closed(drive_id, timeout=1.0)
    assert record.close_reason is CloseReason.FAULT_REFUSED
    assert record.error_kinds == [Kind.HANDSHAKE_REFUSED]
    drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
    assert (await sim.wait_closed(drive_id)).clean_close


@pytest.mark.asyncio
async def test_drop_after_bytes_aborts_the_tcp_connection(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    sim.set_fault(Fault(drop_after_bytes=3 * FRAME))
    drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
    with pytest.raises(ConnectionClosedError) as info:
        async with ws_connect(address) as ws:
            await ws.send(start_frame(drive_id))
            for _ in range(50):  # bounded: the drop comes after 3 frames
                await ws.send(bytes(FRAME))
                await asyncio.sleep(0.005)
    assert info.value.rcvd is None  # no close frame: an abort, not a clean close
    record = await sim.wait_closed(drive_id)
    assert record.close_reason is CloseReason.FAULT_DROP
    assert record.close_code == 1006 and not record.clean_close
    assert record.audio_bytes == 3 * FRAME


@pytest.mark.asyncio
async def test_read_delay_spaces_out_arrivals(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    sim.set_fault(Fault(read_delay_s=0.05))
    drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
        for _ in range(4):
            await ws.send(bytes(FRAME))
    record = await sim.wait_closed(drive_id)
    times = [t for t, _ in record.frames]
    assert len(times) == 4
    assert all(b - a >= 0.045 for a, b in itertools.pairwise(times))


@pytest.mark.asyncio
async def test_silent_peer_is_detected_by_client_keepalive(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    sim.set_fault(Fault(silent_after_bytes=2 * FRAME))
    drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
    started = time.monotonic()
    with pytest.raises(ConnectionClosed) as info:
        async with ws_connect(
            address, ping_interval=0.1, ping_timeout=0.2, close_timeout=0.2
        ) as ws:
            await ws.send(start_frame(drive_id))
            for _ in range(40):  # bounded; keepalive fails within ~0.3 s
                await ws.send(bytes(FRAME))
                await asyncio.sleep(0.02)
    assert time.monotonic() - started < 1.5
    assert info.value.sent is not None and info.value.sent.code == 1011  # keepalive timeout
    assert info.value.rcvd is None  # the simulator never answered the close either
    record = await sim.wait_closed(drive_id, timeout=2.0)
    assert record.audio_bytes == 2 * FRAME  # nothing read after the silence began
    assert record.close_reason is CloseReason.CONNECTION_LOST
    assert not record.clean_close


@pytest.mark.asyncio
async def test_silence_can_end(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.set_fault(Fault(silent_after_bytes=FRAME, silent_for_s=0.3))
    drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
        for _ in range(3):
            await ws.send(bytes(FRAME))
    record = await sim.wait_closed(drive_id)
    assert record.audio_bytes == 3 * FRAME
    first, second, _ = (t for t, _ in record.frames)
    assert second - first >= 0.25
    assert record.clean_close


@pytest.mark.asyncio
async def test_unknown_text_after_start(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.set_fault(Fault(send_text_after_start='{"Action":"Whatever"}'))
    drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
        async with asyncio.timeout(2):
            assert await ws.recv() == '{"Action":"Whatever"}'
    assert (await sim.wait_closed(drive_id)).clean_close


@pytest.mark.asyncio
async def test_task_fault_shadows_global_and_clear(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    sim.set_fault(Fault(force_code=400010000))
    sim.set_fault(Fault(force_code=400000006), task_id="t1")
    assert await _code(sim, session, "t1") == 400000006
    assert await _code(sim, session, "t2") == 400010000
    sim.clear_fault("t1")
    assert await _code(sim, session, "t1") == 400010000
    sim.clear_faults()
    assert await _code(sim, session, "t1") == 0


@pytest.mark.asyncio
async def test_shutdown_with_open_connections(session: aiohttp.ClientSession) -> None:
    sim = Simulator(SimulatorConfig(app_id=APP_ID, server_secret=SECRET))
    await sim.start()
    sim.set_fault(Fault(silent_after_bytes=FRAME), task_id="silent")
    normal_id, normal = await drive_by_ws_stream(session, sim.http_url, "normal")
    silent_id, silent = await drive_by_ws_stream(session, sim.http_url, "silent")
    async with ws_connect(normal) as ws_n, ws_connect(silent) as ws_s:
        await ws_s.send(start_frame(silent_id))
        await ws_s.send(bytes(FRAME))
        await sim.wait_for(lambda: sim.drive(silent_id).audio_bytes == FRAME)
        started = time.monotonic()
        await sim.stop()
        assert time.monotonic() - started < 3.0
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(2):
                await ws_n.recv()
    assert ws_n.close_code == 1001
    for drive_id in (normal_id, silent_id):
        assert sim.drive(drive_id).close_reason is CloseReason.SHUTDOWN
