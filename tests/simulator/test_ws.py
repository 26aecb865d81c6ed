"""The simulated WebSocket drive over real loopback sockets (zego-api.md §7-§9)."""

from __future__ import annotations

import asyncio
import json
import os
import socket

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.simulator import CloseReason, DriveErrorKind as Kind, Simulator

from .helpers import (
    BYTES_PER_MS,
    FRAME,
    drive_by_ws_stream,
    send_paced,
    start_frame,
    stop_frame,
    ws_connect,
)


async def _grant(
    sim: Simulator, session: aiohttp.ClientSession, task: str = "t1"
) -> tuple[str, str]:
    return await drive_by_ws_stream(session, sim.http_url, task)


@pytest.mark.asyncio
async def test_byte_exact_recording_and_clean_close(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    drive_id, address = await _grant(sim, session)
    sizes = [2, 640, 4096, 1000, 6, 2] * 4  # whole samples, uneven frames
    chunks = [os.urandom(size) for size in sizes]
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id, SampleRate=16000))
        for chunk in chunks:
            await ws.send(chunk)
        await ws.send(stop_frame(drive_id))
    record = await sim.wait_closed(drive_id)
    assert record.audio == b"".join(chunks)
    assert record.frame_count == len(chunks)
    assert [n for _, n in record.frames] == sizes
    assert record.errors == []
    assert record.clean_close and record.close_code == 1000
    assert record.close_reason is CloseReason.CLIENT
    assert record.start == json.loads(start_frame(drive_id, SampleRate=16000))
    assert record.connected_at is not None and record.started_at is not None
    assert record.first_audio_at is not None and record.last_audio_at is not None
    assert record.stopped_at is not None and record.closed_at is not None
    assert (
        record.connected_at
        <= record.started_at
        <= record.first_audio_at
        <= record.last_audio_at
        <= record.stopped_at
        <= record.closed_at
    )
    times = [t for t, _ in record.frames]
    assert times == sorted(times)
    assert record.audio_ms == pytest.approx(sum(sizes) / BYTES_PER_MS)


@pytest.mark.asyncio
async def test_real_time_sender_has_no_underrun(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    drive_id, address = await _grant(sim, session)
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
        await send_paced(ws, bytes(BYTES_PER_MS * 800))
        await ws.send(stop_frame(drive_id))
    record = await sim.wait_closed(drive_id)
    assert record.underruns == 0, record.underrun_gaps_ms
    assert record.audio_ms == pytest.approx(800.0)
    assert 50.0 < record.max_buffer_ms < 300.0  # the 100 ms prebuffer, give or take


@pytest.mark.asyncio
async def test_a_300ms_pause_is_one_underrun(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    drive_id, address = await _grant(sim, session)
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
        await send_paced(ws, bytes(BYTES_PER_MS * 600), pause_after_ms=300, pause_ms=300)
        await ws.send(stop_frame(drive_id))
    record = await sim.wait_closed(drive_id)
    assert record.underruns == 1, record.underrun_gaps_ms
    (gap,) = record.underrun_gaps_ms
    assert 100.0 < gap < 400.0  # 300 ms of stall minus the ~100 ms that was buffered


@pytest.mark.asyncio
async def test_stop_lag(sim: Simulator, session: aiohttp.ClientSession) -> None:
    drive_id, address = await _grant(sim, session)
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
        await ws.send(bytes(FRAME))
        await asyncio.sleep(0.15)
        await ws.send(stop_frame(drive_id))
        record = await sim.wait_stopped(drive_id)
        assert record.stop_lag_ms is not None
        assert 140.0 <= record.stop_lag_ms < 1000.0
        assert record.closed_at is None  # still open: Stop is not the end of the connection


@pytest.mark.asyncio
async def test_wait_stopped_returns_when_closed_without_stop(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    drive_id, address = await _grant(sim, session)
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
    record = await sim.wait_stopped(drive_id)
    assert record.stopped_at is None and record.closed_at is not None
    assert record.stop_lag_ms is None


@pytest.mark.asyncio
async def test_protocol_errors_keep_the_connection_open(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    drive_id, address = await _grant(sim, session)
    async with ws_connect(address) as ws:
        await ws.send(bytes(FRAME))  # audio before Start
        await ws.send(start_frame("someone-else"))  # wrong DriveId
        await ws.send(start_frame(drive_id, SampleRate=8000))  # bad SampleRate
        await ws.send(start_frame(drive_id, Channel=2, VoiceChannel=5))  # bad VoiceChannel
        await ws.send(start_frame(drive_id, SampleRate=24000, Channel=2, VoiceChannel=2))
        await ws.send(start_frame(drive_id))  # second Start
        await ws.send(json.dumps({"Action": "Interrupt", "Payload": {"DriveId": drive_id}}))
        await ws.send(b"\x00" * 6)  # 1.5 stereo samples
        await ws.send(stop_frame(drive_id))
        await ws.send(bytes(FRAME))  # audio after Stop
        await ws.ping()  # still alive and answering
    record = await sim.wait_closed(drive_id)
    assert record.error_kinds == [
        Kind.AUDIO_BEFORE_START,
        Kind.WRONG_DRIVE_ID,
        Kind.BAD_SAMPLE_RATE,
        Kind.BAD_VOICE_CHANNEL,
        Kind.SECOND_START,
        Kind.UNKNOWN_ACTION,
        Kind.PARTIAL_SAMPLES,
        Kind.AUDIO_AFTER_STOP,
    ]
    assert (record.sample_rate, record.channel, record.voice_channel) == (24000, 2, 2)
    assert record.audio == b"\x00" * 6
    assert record.rejected_frames == 2 and record.rejected_bytes == 2 * FRAME
    assert len(record.text_messages) == 7
    assert record.pings == 1
    assert [kind for _, kind, _ in record.received] == ["binary"] + ["text"] * 6 + [
        "binary",
        "text",
        "binary",
        "ping",
    ]
    assert record.clean_close


@pytest.mark.asyncio
async def test_unknown_missing_and_reused_tokens(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    drive_id, address = await _grant(sim, session)
    base = address.split("?", 1)[0]
    for bad, status in ((f"{base}?Token=forged", 401), (base, 401)):
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(bad):
                pass
        assert info.value.response.status_code == status
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
    with pytest.raises(InvalidStatus) as info:
        async with ws_connect(address):
            pass
    assert info.value.response.status_code == 403
    record = sim.drive(drive_id)
    assert Kind.TOKEN_REUSED in record.error_kinds
    assert record.connect_attempts == 2
    assert [r.status for r in sim.handshake_rejections] == [401, 401, 403]
    sim.reset()  # addresses handed out before a reset stop working
    drive_id, address = await _grant(sim, session)
    sim.reset()
    with pytest.raises(InvalidStatus):
        async with ws_connect(address):
            pass


async def _open(address: str) -> ClientConnection:
    return await ws_connect(address)


@pytest.mark.asyncio
async def test_overlap_is_recorded(sim: Simulator, session: aiohttp.ClientSession) -> None:
    drive_a, address_a = await _grant(sim, session)
    drive_b, address_b = await _grant(sim, session)
    _, address_c = await _grant(sim, session, task="t2")
    ws_a = await _open(address_a)
    try:
        ws_c = await _open(address_c)  # another task: fine
        await ws_c.close()
        ws_b = await _open(address_b)
        await ws_b.close()
    finally:
        await ws_a.close()
    await sim.wait_closed(drive_a)
    ((task, first, second, at),) = sim.overlaps
    assert (task, first, second) == ("t1", drive_a, drive_b)
    connected_at = sim.drive(drive_b).connected_at
    assert connected_at is not None and at == pytest.approx(connected_at, abs=0.05)


@pytest.mark.asyncio
async def test_sequential_connections_do_not_overlap(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    for _ in range(3):
        drive_id, address = await _grant(sim, session)
        async with ws_connect(address) as ws:
            await ws.send(start_frame(drive_id))
            await ws.send(bytes(FRAME))
            await ws.send(stop_frame(drive_id))
    assert sim.overlaps == []


@pytest.mark.skipif(not hasattr(socket, "TCP_INFO"), reason="needs Linux TCP_INFO")
@pytest.mark.asyncio
async def test_aborted_then_reconnected_is_not_an_overlap(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    drive_a, address_a = await _grant(sim, session)
    _, address_b = await _grant(sim, session)
    ws_a = await _open(address_a)
    await ws_a.send(start_frame(drive_a))
    ws_a.transport.abort()  # gone at once, before the simulator reads the EOF
    ws_b = await _open(address_b)
    await ws_b.close()
    await sim.wait_closed(drive_a)
    assert sim.overlaps == []
    assert sim.drive(drive_a).close_reason is CloseReason.CONNECTION_LOST
    assert not sim.drive(drive_a).clean_close
    assert sim.drive(drive_a).close_code == 1006


@pytest.mark.asyncio
async def test_invalid_utf8_text_is_a_protocol_error(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    drive_id, address = await _grant(sim, session)
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
        await ws.send(b"\xff\xfe", text=True)
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(2):
                await ws.recv()
    record = await sim.wait_closed(drive_id)
    assert record.close_reason is CloseReason.PROTOCOL_ERROR
    assert record.close_code == 1007
    assert Kind.PROTOCOL_ERROR in record.error_kinds
    assert not record.clean_close
