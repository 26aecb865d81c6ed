"""InterruptDriveTask on the simulator (zego-api.md §10, §11): the task's avatar stops at once,
its drive ends (EventType 4 Status 4) where its playhead was, the queued drives are dropped;
and every drive's stop-to-silence is on record."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from gateway.simulator import DriveStatus, PlayoutOutcome, Simulator, SimulatorConfig

from .helpers import (
    APP_ID,
    BYTES_PER_MS,
    SECRET,
    call,
    common_params,
    drive_by_ws_stream,
    post,
    send_paced,
    speak,
    start_frame,
    stop_frame,
    ws_connect,
)
from .receiver import CallbackReceiver, callback_config


@pytest.mark.asyncio
async def test_interrupt_silences_the_drive_where_its_playhead_is(
    session: aiohttp.ClientSession, rx: CallbackReceiver
) -> None:
    async with Simulator(SimulatorConfig(**callback_config(rx.url))) as sim:
        drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
        async with ws_connect(address) as ws:
            await ws.send(start_frame(drive_id))
            await ws.send(bytes(BYTES_PER_MS * 2000))  # 2 s at once: the avatar plays on
            await asyncio.sleep(0.3)
            asked = time.monotonic()
            env = await call(session, sim.http_url, "InterruptDriveTask", "t1")
            answered = time.monotonic()
            await ws.send(bytes(BYTES_PER_MS * 100))  # audio after it is never played
            await ws.send(stop_frame(drive_id))
        playout = sim.playout(drive_id)
        await rx.wait_for(lambda: (4, drive_id, 4) in rx.keys(4))
    assert env["Code"] == 0 and "Data" not in env
    assert playout.outcome is PlayoutOutcome.INTERRUPTED and playout.status is DriveStatus.ENDED
    assert playout.reason == "InterruptDriveTask"
    assert playout.ended_at is not None and asked <= playout.ended_at <= answered
    assert playout.interrupted_at == playout.ended_at
    assert playout.played_ms is not None and 250 <= playout.played_ms <= 450
    assert playout.played_ms == pytest.approx(playout.played_ms_at(playout.ended_at))
    # Its Stop came after the silence: the interruption is what asked it to stop.
    assert playout.stop_to_silence_ms == 0.0
    assert sim.drive(drive_id).audio_ms == pytest.approx(2100.0)  # recorded, never played
    playouts = sim.state_json()["playouts"]
    assert isinstance(playouts, list) and playouts[0]["stop_to_silence_ms"] == 0.0


@pytest.mark.asyncio
async def test_a_stopped_drive_goes_silent_once_its_audio_played(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    drive_id = await speak(session, sim.http_url, "t1", 200)
    playout = await sim.wait_playout_ended(drive_id)
    assert playout.outcome is PlayoutOutcome.PLAYED and playout.interrupted_at is None
    # Paced at 1x after a 100 ms burst: about 100 ms was still to play at the Stop.
    assert playout.stop_to_silence_ms is not None and 50 <= playout.stop_to_silence_ms <= 200


@pytest.mark.asyncio
async def test_interrupt_drops_the_queued_text_drives_and_an_idle_avatar_is_fine(
    session: aiohttp.ClientSession,
) -> None:
    config = SimulatorConfig(app_id=APP_ID, server_secret=SECRET, text_ms_per_char=10.0)
    async with Simulator(config) as sim:
        env = await call(session, sim.http_url, "InterruptDriveTask", "t1")
        assert env["Code"] == 0 and not sim.playouts  # nothing to cut
        body = {"TaskId": "t1", "TTSConfig": {"TimbreId": "tb"}}
        ids = []
        for text in ("a" * 100, "b" * 10):
            _, sent = await post(
                session, sim.http_url, common_params("DriveByText"), {**body, "Text": text}
            )
            assert isinstance(sent, dict)
            ids.append(sent["Data"]["DriveId"])
        assert (await call(session, sim.http_url, "InterruptDriveTask", "t1"))["Code"] == 0
        spoken, queued = (sim.playout(i) for i in ids)
        assert spoken.outcome is queued.outcome is PlayoutOutcome.INTERRUPTED
        assert queued.reason == "dropped from the queue" and queued.played_ms == 0.0
        assert spoken.stop_to_silence_ms == 0.0
        # An ended task is not interrupted: the vendor does not know it.
        assert sim.end_task("t1")
        assert (await call(session, sim.http_url, "InterruptDriveTask", "t1"))["Code"] == 400000005


@pytest.mark.asyncio
async def test_a_drive_started_after_an_interrupt_plays(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    assert (await call(session, sim.http_url, "InterruptDriveTask", "t1"))["Code"] == 0
    drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
        await send_paced(ws, bytes(BYTES_PER_MS * 100))
        await ws.send(stop_frame(drive_id))
    playout = await sim.wait_playout_ended(drive_id)
    assert playout.outcome is PlayoutOutcome.PLAYED
    assert playout.played_ms == pytest.approx(100.0)
