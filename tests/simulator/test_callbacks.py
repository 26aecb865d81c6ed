"""Signed server callbacks (zego-api.md §12) from the simulator's own playback, over loopback."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from typing import Any

import aiohttp
import pytest

from gateway.simulator import (
    CALLBACK_RETRY_DELAYS_S,
    CloseReason,
    PlayoutOutcome,
    Simulator,
    SimulatorConfig,
    callback_signature,
)

from .helpers import (
    APP_ID,
    BYTES_PER_MS,
    FRAME,
    call,
    drive_by_ws_stream,
    speak,
    start_frame,
    status_of,
    ws_connect,
)
from .receiver import (
    CALLBACK_SECRET,
    CallbackReceiver,
    always,
    callback_config,
    fail_first,
    verify,
)

TASK_CREATED = [(3, None, 1), (3, None, 3)]


def test_signature_matches_the_documented_recipe() -> None:
    # sorted(["secret", "1681221510", "abcdd22113"]) = ["1681221510", "abcdd22113", "secret"]
    expected = hashlib.sha1(b"1681221510abcdd22113secret").hexdigest()
    assert callback_signature("secret", "1681221510", "abcdd22113") == expected


@pytest.mark.asyncio
async def test_a_drive_is_queued_driving_ended_signed(session: aiohttp.ClientSession) -> None:
    async with CallbackReceiver() as rx:
        config = SimulatorConfig(**callback_config(rx.url, render_latency_ms=60))
        async with Simulator(config) as sim:
            drive_id = await speak(session, sim.http_url, "t1", 300)
            playout = await sim.wait_playout_ended(drive_id)
            await rx.wait_count(5)
            await sim.wait_callbacks(lambda cs: len(cs) == 5 and all(c.done for c in cs))
    assert rx.keys() == [*TASK_CREATED, (4, drive_id, 1), (4, drive_id, 2), (4, drive_id, 4)]
    for got in rx.received:
        body = got.body
        assert got.answered == 200 and verify(body)
        assert body["AppId"] == APP_ID and body["TaskId"] == "t1"
        assert isinstance(body["Timestamp"], str) and len(body["Timestamp"]) == 13  # ms
        assert abs(int(body["Timestamp"]) / 1000 - time.time()) < 5
        assert isinstance(body["EventTime"], int) and isinstance(body["Nonce"], str)
    assert len({r.body["Nonce"] for r in rx.received}) == 5
    record = sim.drive(drive_id)
    assert record.first_audio_at is not None and record.playback_end_at is not None
    # The avatar speaks render_latency_ms after the first audio, and plays all of it.
    assert playout.speaking_at == pytest.approx(record.first_audio_at + 0.060, abs=1e-9)
    assert playout.ended_at == pytest.approx(record.playback_end_at + 0.060, abs=1e-9)
    assert playout.outcome is PlayoutOutcome.PLAYED
    assert playout.played_ms == pytest.approx(300.0) == record.audio_ms
    # EventTime is the model's time, in Unix ms: driving to ended spans the audio played.
    times = {r.key[2]: r.body["EventTime"] for r in rx.received if r.key[0] == 4}
    assert times[1] <= times[2] <= times[4]
    assert times[4] - times[2] == pytest.approx(300, abs=3)
    records = sim.callbacks_for(drive_id=drive_id)
    assert [c.status for c in records] == [1, 2, 4]
    assert all(c.acknowledged and not c.gave_up for c in records)
    assert [a.kind for c in records for a in c.attempts] == ["first"] * 3


@pytest.mark.asyncio
async def test_timestamp_in_seconds(session: aiohttp.ClientSession) -> None:
    async with CallbackReceiver() as rx:
        config = SimulatorConfig(**callback_config(rx.url, callback_timestamp_unit="s"))
        async with Simulator(config) as sim:
            await call(session, sim.http_url, "StopDigitalHumanStreamTask", "t1")
            got = await rx.wait_count(3)
    assert rx.keys() == [*TASK_CREATED, (3, None, 5)]
    for r in got:
        assert len(r.body["Timestamp"]) == 10 and verify(r.body)
        assert set(r.body["Detail"]) == {"Status", "RoomId", "StreamId", "FailReason"}


@pytest.mark.asyncio
async def test_non_2xx_is_retried_on_the_scaled_schedule(session: aiohttp.ClientSession) -> None:
    scale = 0.05
    async with CallbackReceiver(fail_first(2, event_type=3, status=3)) as rx:
        config = SimulatorConfig(**callback_config(rx.url, callback_retry_scale=scale))
        async with Simulator(config) as sim:
            await status_of(session, sim.http_url, "t1")
            await sim.wait_callbacks(lambda cs: len(cs) == 2 and cs[1].acknowledged)
    (streaming,) = [c for c in sim.callbacks if c.status == 3]
    assert [a.kind for a in streaming.attempts] == ["first", "retry", "retry"]
    assert [a.http_status for a in streaming.attempts] == [500, 500, 200]
    gaps = [b.at - a.at for a, b in zip(streaming.attempts, streaming.attempts[1:], strict=False)]
    for gap, delay in zip(gaps, CALLBACK_RETRY_DELAYS_S, strict=False):
        assert delay * scale <= gap < delay * scale + 0.08
    tries = [r for r in rx.received if r.key == (3, None, 3)]
    assert len({r.body["Nonce"] for r in tries}) == 1, "a retry resends the same callback"
    assert len({r.body["Signature"] for r in tries}) == 1


@pytest.mark.asyncio
async def test_gives_up_after_five_retries(session: aiohttp.ClientSession) -> None:
    scale = 0.01
    async with CallbackReceiver(always(503)) as rx:
        config = SimulatorConfig(**callback_config(rx.url, callback_retry_scale=scale))
        async with Simulator(config) as sim:
            await status_of(session, sim.http_url, "t1")
            await sim.wait_callbacks(lambda cs: len(cs) == 2 and all(c.gave_up for c in cs))
    for record in sim.callbacks:
        assert len(record.attempts) == 6 and not record.acknowledged
        gaps = [b.at - a.at for a, b in zip(record.attempts, record.attempts[1:], strict=False)]
        for gap, delay in zip(gaps, CALLBACK_RETRY_DELAYS_S, strict=True):
            assert delay * scale <= gap < delay * scale + 0.08
    assert len(rx.received) == 12


@pytest.mark.asyncio
async def test_an_unreachable_receiver_is_retried(session: aiohttp.ClientSession) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/zego/callback"  # nothing listens there
    config = SimulatorConfig(**callback_config(url, callback_retry_scale=0.002))
    async with Simulator(config) as sim:
        await status_of(session, sim.http_url, "t1")
        await sim.wait_callbacks(lambda cs: len(cs) == 2 and all(c.gave_up for c in cs))
    for record in sim.callbacks:
        assert [a.http_status for a in record.attempts] == [None] * 6
        assert all(a.error for a in record.attempts)


@pytest.mark.asyncio
async def test_a_new_drive_interrupts_the_one_playing(
    csim: Simulator, rx: CallbackReceiver, session: aiohttp.ClientSession
) -> None:
    first, address = await drive_by_ws_stream(session, csim.http_url, "t1")
    async with ws_connect(address) as ws:
        await ws.send(start_frame(first))
        await ws.send(bytes(BYTES_PER_MS * 1000))  # one second, at once
        await asyncio.sleep(0.2)
        second = await speak(session, csim.http_url, "t1", 100)
    interrupted = await csim.wait_playout_ended(first)
    await csim.wait_playout_ended(second)
    await rx.wait_count(8)
    assert rx.keys(4) == [
        (4, first, 1),
        (4, first, 2),
        (4, first, 4),
        (4, second, 1),
        (4, second, 2),
        (4, second, 4),
    ]
    assert interrupted.outcome is PlayoutOutcome.INTERRUPTED
    assert interrupted.speaking_at is not None and interrupted.ended_at is not None
    assert interrupted.played_ms == pytest.approx(
        (interrupted.ended_at - interrupted.speaking_at) * 1000.0
    )
    assert 200 <= (interrupted.played_ms or 0) < 400
    assert csim.playout(second).outcome is PlayoutOutcome.PLAYED


@pytest.mark.asyncio
async def test_a_drive_that_breaks_fails(
    csim: Simulator, rx: CallbackReceiver, session: aiohttp.ClientSession
) -> None:
    broken, address = await drive_by_ws_stream(session, csim.http_url, "t1")
    async with ws_connect(address) as ws:
        await ws.send(start_frame(broken))
        await ws.send(bytes(FRAME))
        await ws.send(b"\xff\xfe", text=True)  # invalid UTF-8: the library fails it
        await ws.wait_closed()
    dropped = await speak(session, csim.http_url, "t2", 60, stop=False)  # closed before Stop
    await csim.wait_playout_ended(broken)
    await csim.wait_playout_ended(dropped)
    await rx.wait_for(lambda: (4, dropped, 3) in rx.keys())
    assert csim.drive(broken).close_reason is CloseReason.PROTOCOL_ERROR
    assert (4, broken, 3) in rx.keys() and (4, broken, 4) not in rx.keys()
    for drive_id in (broken, dropped):
        playout = csim.playout(drive_id)
        assert playout.outcome is PlayoutOutcome.FAILED
        assert "connection ended" in playout.reason


@pytest.mark.asyncio
async def test_a_stop_without_audio_ends_without_speaking(
    session: aiohttp.ClientSession,
) -> None:
    async with CallbackReceiver() as rx:
        async with Simulator(SimulatorConfig(**callback_config(rx.url))) as sim:
            drive_id = await speak(session, sim.http_url, "t1", 0)
            playout = await sim.wait_playout_ended(drive_id)
            await rx.wait_count(4)
    assert rx.keys(4) == [(4, drive_id, 1), (4, drive_id, 4)]
    assert playout.speaking_at is None and playout.played_ms == 0.0


@pytest.mark.asyncio
async def test_without_a_url_nothing_is_sent_but_playback_is_recorded(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    drive_id = await speak(session, sim.http_url, "t1", 100)
    playout = await sim.wait_playout_ended(drive_id)
    assert sim.callbacks == [] and playout.played_ms == pytest.approx(100.0)
    state = sim.state_json()
    assert state["callbacks"] == [] and state["playouts"] == [playout.to_json()]


@pytest.mark.asyncio
async def test_state_json_hides_the_signature(
    csim: Simulator, rx: CallbackReceiver, session: aiohttp.ClientSession
) -> None:
    await status_of(session, csim.http_url, "t1")
    await rx.wait_count(2)
    async with session.get(f"{csim.http_url}_sim/state") as resp:
        state = await resp.json()
    text = str(state)
    assert CALLBACK_SECRET not in text
    assert all(r.body["Signature"] not in text for r in rx.received)
    assert [c["status"] for c in state["callbacks"]] == [1, 3]
    assert "***" in repr(csim.config) and CALLBACK_SECRET not in repr(csim.config)


def test_config_checks_the_callback_fields() -> None:
    base: dict[str, Any] = {"app_id": APP_ID, "server_secret": "s"}
    with pytest.raises(ValueError, match="callback_secret"):
        SimulatorConfig(**base, callback_url="http://127.0.0.1:1/cb")
    with pytest.raises(ValueError, match="http"):
        SimulatorConfig(**base, callback_url="ftp://127.0.0.1/cb", callback_secret="x")
    with pytest.raises(ValueError, match="timestamp_unit"):
        SimulatorConfig(**base, callback_timestamp_unit="us")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SimulatorConfig(**base, task_max_idle_s=0)
    config = SimulatorConfig(
        **base, callback_url="http://user:pw@127.0.0.1:9/cb?k=v", callback_secret="x"
    )
    assert config.callback_origin == "http://127.0.0.1:9"
    assert "pw" not in repr(config) and "k=v" not in repr(config)


@pytest.mark.asyncio
async def test_callbacks_can_be_pointed_at_a_receiver_later(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    await status_of(session, sim.http_url, "before")
    assert sim.callbacks == []
    async with CallbackReceiver() as rx:
        sim.set_callbacks(rx.url, CALLBACK_SECRET, callback_timestamp_unit="s")
        await speak(session, sim.http_url, "t1", 40)
        await rx.wait_count(5)
        with pytest.raises(ValueError):
            sim.set_callbacks(rx.url, callback_cafile="/nowhere")
        with pytest.raises(ValueError):
            sim.set_callbacks(rx.url, callback_retry_scale=-1)
        async with CallbackReceiver() as other:
            settings = {"url": other.url, "callback_retry_scale": 0.5}
            async with session.post(f"{sim.http_url}_sim/callbacks", json=settings) as resp:
                assert resp.status == 200
                assert (await resp.json())["callback_origin"] == other.url.rsplit("/", 2)[0]
            assert sim.config.callback_secret == CALLBACK_SECRET  # kept
            await call(session, sim.http_url, "StopDigitalHumanStreamTask", "t1")
            await other.wait_count(1)
            bad = {"url": other.url, "callback_retry_scale": "fast"}
            async with session.post(f"{sim.http_url}_sim/callbacks", json=bad) as resp:
                assert resp.status == 400
    assert all(len(r.body["Timestamp"]) == 10 and verify(r.body) for r in rx.received)
    assert other.keys() == [(3, None, 5)] and sim.config.callback_retry_scale == 0.5
