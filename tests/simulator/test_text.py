"""DriveByText on the simulator (zego-api.md §11b): its parameters, its render time, and how it
shares the avatar with the other drives (§10) and the callbacks (§12)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from gateway.simulator import DriveStatus, PlayoutOutcome, Simulator, SimulatorConfig
from gateway.simulator.text import render_ms

from .helpers import (
    APP_ID,
    BYTES_PER_MS,
    SECRET,
    common_params,
    drive_by_ws_stream,
    post,
    send_paced,
    start_frame,
    ws_connect,
)
from .receiver import CallbackReceiver, callback_config

MS_PER_CHAR = 10.0


def _body(text: str = "hello world", **tts: Any) -> dict[str, Any]:
    return {"TaskId": "t1", "Text": text, "TTSConfig": {"TimbreId": "timbre-1", **tts}}


async def _drive_by_text(
    session: aiohttp.ClientSession, sim: Simulator, body: dict[str, Any]
) -> dict[str, Any]:
    status, env = await post(session, sim.http_url, common_params("DriveByText"), body)
    assert status == 200 and isinstance(env, dict), env
    return env


def _simulator(**fields: Any) -> Simulator:
    config: dict[str, Any] = {
        "app_id": APP_ID,
        "server_secret": SECRET,
        "text_ms_per_char": MS_PER_CHAR,
    }
    return Simulator(SimulatorConfig(**(config | fields)))


@pytest.mark.asyncio
async def test_a_text_is_spoken_for_its_render_time_with_callbacks(
    session: aiohttp.ClientSession, rx: CallbackReceiver
) -> None:
    config = callback_config(rx.url, text_ms_per_char=MS_PER_CHAR, render_latency_ms=20)
    async with Simulator(SimulatorConfig(**config)) as sim:
        env = await _drive_by_text(session, sim, _body("x" * 30))
        assert env["Code"] == 0, env
        drive_id = env["Data"]["DriveId"]
        playout = await sim.wait_playout_ended(drive_id)
        await rx.wait_for(lambda: len(rx.keys(4)) >= 3)
    (record,) = sim.text_drives
    assert record.drive_id == drive_id and record.render_ms == pytest.approx(300.0)
    assert playout.text and playout.outcome is PlayoutOutcome.PLAYED
    assert playout.played_ms == pytest.approx(300.0)
    assert playout.speaking_at is not None and playout.ended_at is not None
    assert playout.speaking_at - playout.queued_at == pytest.approx(0.020)
    assert playout.ended_at - playout.speaking_at == pytest.approx(0.300)
    assert rx.keys(4) == [(4, drive_id, 1), (4, drive_id, 2), (4, drive_id, 4)]
    assert sim.api_calls[-1].drive_id == drive_id
    text_drives: Any = sim.state_json()["text_drives"]
    assert text_drives[0]["characters"] == 30


def test_the_speech_rate_scales_the_render_time() -> None:
    assert render_ms("abcd", 0, 100.0) == pytest.approx(400.0)
    assert render_ms("abcd", 500, 100.0) == pytest.approx(200.0)
    assert render_ms("abcd", -500, 100.0) == pytest.approx(800.0)
    # Characters are code points: a CJK character or an emoji counts once.
    assert render_ms("你好😀", 0, 100.0) == pytest.approx(300.0)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"TaskId": "t1", "TTSConfig": {"TimbreId": "timbre-1"}}, 400000001),
        (_body(""), 400000001),
        (_body("x" * 1801), 400000001),
        ({**_body(), "Text": 42}, 400000001),
        ({**_body(), "InterruptMode": 2}, 400000001),
        ({**_body(), "InterruptMode": True}, 400000001),
        ({"TaskId": "t1", "Text": "hi"}, 400000001),
        ({"TaskId": "t1", "Text": "hi", "TTSConfig": {}}, 400000001),
        ({"TaskId": "t1", "Text": "hi", "TTSConfig": {"TimbreId": ""}}, 400000001),
        (_body(SpeechRate=501), 400000001),
        (_body(SpeechRate=1.5), 400000001),
        (_body(PitchRate=-501), 400000001),
        (_body(TimbreId="no-such-timbre"), 400000004),
        ({**_body(), "TaskId": "unknown-task"}, 400000005),
        (_body("中" * 1800, SpeechRate=-500, PitchRate=500), 0),
        ({**_body("😀" * 1800), "InterruptMode": 1}, 0),
    ],
)
async def test_the_parameters_are_checked(
    session: aiohttp.ClientSession, body: dict[str, Any], code: int
) -> None:
    async with _simulator(tasks={"t1"}, timbres={"timbre-1"}) as sim:
        env = await _drive_by_text(session, sim, body)
    assert env["Code"] == code, env
    assert ("Data" in env) is (code == 0)
    assert len(sim.text_drives) == (code == 0)


@pytest.mark.asyncio
async def test_an_initializing_task_is_not_driven(session: aiohttp.ClientSession) -> None:
    async with _simulator(task_init_s=5.0) as sim:
        env = await _drive_by_text(session, sim, _body())
    assert env["Code"] == 400000006 and not sim.text_drives


@pytest.mark.asyncio
async def test_mode_0_queues_behind_the_current_drive_and_mode_1_interrupts(
    session: aiohttp.ClientSession,
) -> None:
    async with _simulator() as sim:
        first = (await _drive_by_text(session, sim, _body("a" * 30)))["Data"]["DriveId"]
        second = (await _drive_by_text(session, sim, _body("b" * 10)))["Data"]["DriveId"]
        queued = sim.playout(second)
        assert queued.status is DriveStatus.QUEUED and queued.speaking_at is None
        await sim.wait_playout_ended(second)
        a, b = sim.playout(first), sim.playout(second)
        assert a.outcome is PlayoutOutcome.PLAYED and b.outcome is PlayoutOutcome.PLAYED
        assert a.ended_at is not None and b.speaking_at == pytest.approx(a.ended_at)
        assert b.played_ms == pytest.approx(100.0)

        third = (await _drive_by_text(session, sim, _body("c" * 100)))["Data"]["DriveId"]
        fourth = (await _drive_by_text(session, sim, _body("d" * 100)))["Data"]["DriveId"]
        fifth = await _drive_by_text(session, sim, {**_body("e"), "InterruptMode": 1})
        await sim.wait_playout_ended(fifth["Data"]["DriveId"])
        c, d = sim.playout(third), sim.playout(fourth)
        assert c.outcome is PlayoutOutcome.INTERRUPTED and c.played_ms is not None
        assert c.played_ms < 1000.0
        assert d.outcome is PlayoutOutcome.INTERRUPTED and d.played_ms == 0.0
        assert d.reason == "dropped from the queue" and d.speaking_at is None


@pytest.mark.asyncio
async def test_a_ws_drive_interrupts_a_text_drive_and_a_task_end_fails_one(
    session: aiohttp.ClientSession,
) -> None:
    async with _simulator() as sim:
        spoken = (await _drive_by_text(session, sim, _body("a" * 100)))["Data"]["DriveId"]
        queued = (await _drive_by_text(session, sim, _body("b" * 10)))["Data"]["DriveId"]
        drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
        async with ws_connect(address) as ws:
            await ws.send(start_frame(drive_id))
            await send_paced(ws, bytes(BYTES_PER_MS * 40))
        first, second = sim.playout(spoken), sim.playout(queued)
        assert first.outcome is PlayoutOutcome.INTERRUPTED
        assert first.reason == "a newer drive started"
        assert second.outcome is PlayoutOutcome.INTERRUPTED and second.played_ms == 0.0
        # The WS drive fails when its connection closes without a Stop; then a text drive
        # on a task that ends fails (3) at once.
        later = (await _drive_by_text(session, sim, _body("c" * 100)))["Data"]["DriveId"]
        assert sim.end_task("t1")
        ended = sim.playout(later)
        assert ended.outcome is PlayoutOutcome.FAILED and ended.status is DriveStatus.FAILED
        assert ended.ended_at is not None and ended.ended_at <= time.monotonic()
