"""Tasks end by MaxIdleTime and TTL (zego-api.md §6, §12); the task status API (§11)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.simulator import (
    CloseReason,
    DriveErrorKind,
    PlayoutOutcome,
    Simulator,
    SimulatorConfig,
    TaskEnd,
    TaskStatus,
)
from gateway.simulator.callbacks import wall_time

from .helpers import (
    APP_ID,
    BYTES_PER_MS,
    FRAME,
    SECRET,
    call,
    common_params,
    drive_by_ws_stream,
    post,
    speak,
    start_frame,
    status_of,
    ws_connect,
)
from .receiver import CallbackReceiver, callback_config


@pytest.mark.asyncio
async def test_max_idle_time_ends_an_undriven_task(session: aiohttp.ClientSession) -> None:
    max_idle = 0.3
    async with CallbackReceiver() as rx:
        config = SimulatorConfig(**callback_config(rx.url, task_max_idle_s=max_idle))
        async with Simulator(config) as sim:
            drive_id = await speak(session, sim.http_url, "t1", 100)
            playout = await sim.wait_playout_ended(drive_id)
            assert (await status_of(session, sim.http_url, "t1"))["Data"]["Status"] == 3
            await rx.wait_for(lambda: (3, None, 5) in rx.keys(), timeout=3)
            task = sim.task("t1")
            assert task is not None and task.end_reason is TaskEnd.MAX_IDLE_TIME
            assert playout.ended_at is not None
            # Idle from the end of the last drive's playback, exactly MaxIdleTime.
            assert task.ended_at == pytest.approx(playout.ended_at + max_idle)
            (ended,) = [r for r in rx.received if r.key == (3, None, 5)]
            assert ended.body["EventTime"] == pytest.approx(
                wall_time(playout.ended_at + max_idle) * 1000, abs=3
            )
            assert ended.at - (playout.ended_at + max_idle) < 0.2
            # An ended task is gone (§14a: no dedicated code is documented).
            assert (await status_of(session, sim.http_url, "t1"))["Code"] == 400000005
            assert (await call(session, sim.http_url, "DriveByWsStream", "t1"))["Code"] == 400000005
            env = await call(session, sim.http_url, "StopDigitalHumanStreamTask", "t1")
            assert env["Code"] == 400000007
    assert [s for _, s in task.history] == [1, 3, 5]


@pytest.mark.asyncio
async def test_a_playing_drive_keeps_the_task_alive(session: aiohttp.ClientSession) -> None:
    config = SimulatorConfig(app_id=APP_ID, server_secret=SECRET, task_max_idle_s=0.15)
    async with Simulator(config) as sim:
        drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
        async with ws_connect(address) as ws:
            await ws.send(start_frame(drive_id))
            await asyncio.sleep(0.4)  # started, never stopped: driven all along
            task = sim.task("t1")
            assert task is not None and task.alive and task.idle_deadline is None
        await sim.wait_playout_ended(drive_id)  # failed: closed before its Stop
        await sim.wait_for(lambda: not task.alive, timeout=2)
    assert task.end_reason is TaskEnd.MAX_IDLE_TIME


@pytest.mark.asyncio
async def test_ttl_ends_the_task_and_its_open_drive(session: aiohttp.ClientSession) -> None:
    async with CallbackReceiver() as rx:
        config = SimulatorConfig(**callback_config(rx.url, task_ttl_s=0.4))
        async with Simulator(config) as sim:
            drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
            async with ws_connect(address) as ws:
                await ws.send(start_frame(drive_id))
                with pytest.raises(ConnectionClosed) as closed:
                    async with asyncio.timeout(3):
                        for _ in range(200):  # audio until the task ends (bounded)
                            await ws.send(bytes(FRAME))
                            await asyncio.sleep(0.02)
                        await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
            record = await sim.wait_closed(drive_id)
            playout = await sim.wait_playout_ended(drive_id)
            await rx.wait_for(lambda: (4, drive_id, 3) in rx.keys())
    task = sim.task("t1")
    assert task is not None and task.end_reason is TaskEnd.TTL
    assert task.ended_at == pytest.approx(task.created_at + 0.4)
    assert record.close_reason is CloseReason.TASK_ENDED
    assert playout.outcome is PlayoutOutcome.FAILED and playout.reason == "the task ended"
    assert playout.ended_at == task.ended_at
    keys = rx.keys()
    assert keys.index((3, None, 5)) < keys.index((4, drive_id, 3))


@pytest.mark.asyncio
async def test_a_connection_for_an_ended_task_is_refused(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
    assert sim.end_task("t1") and not sim.end_task("t1")
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(address):
            pass
    assert refused.value.response.status_code == 403
    record = await sim.wait_closed(drive_id)
    assert DriveErrorKind.TASK_ENDED in record.error_kinds
    assert record.close_reason is CloseReason.TASK_ENDED
    async with session.post(f"{sim.http_url}_sim/tasks/t1/end") as resp:
        assert resp.status == 404
    await status_of(session, sim.http_url, "t2")
    async with session.post(f"{sim.http_url}_sim/tasks/t2/end") as resp:
        assert resp.status == 200
    tasks: Any = sim.state_json()["tasks"]
    assert tasks[1]["end_reason"] == "ended_by_test"


@pytest.mark.asyncio
async def test_stop_api_closes_the_open_drive(
    csim: Simulator, rx: CallbackReceiver, session: aiohttp.ClientSession
) -> None:
    drive_id, address = await drive_by_ws_stream(session, csim.http_url, "t1")
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
        await ws.send(bytes(BYTES_PER_MS * 200))
        env = await call(session, csim.http_url, "StopDigitalHumanStreamTask", "t1")
        assert env["Code"] == 0
        await ws.wait_closed()
    playout = await csim.wait_playout_ended(drive_id)
    await rx.wait_for(lambda: (4, drive_id, 3) in rx.keys())
    assert (3, None, 5) in rx.keys() and playout.outcome is PlayoutOutcome.FAILED
    assert 0 <= (playout.played_ms or 0) < 200


@pytest.mark.asyncio
async def test_a_task_initializes_before_it_streams(session: aiohttp.ClientSession) -> None:
    async with CallbackReceiver() as rx:
        config = SimulatorConfig(**callback_config(rx.url, task_init_s=0.2))
        async with Simulator(config) as sim:
            env = await status_of(session, sim.http_url, "t1")
            assert env["Data"]["Status"] == 1
            assert (await call(session, sim.http_url, "DriveByWsStream", "t1"))["Code"] == 400000006
            await rx.wait_count(2, timeout=2)
            env = await status_of(session, sim.http_url, "t1")
            assert env["Data"]["Status"] == 3
            assert (await call(session, sim.http_url, "DriveByWsStream", "t1"))["Code"] == 0
    first, second = rx.received
    assert (first.key, second.key) == ((3, None, 1), (3, None, 3))
    assert second.body["EventTime"] - first.body["EventTime"] == pytest.approx(200, abs=3)


@pytest.mark.asyncio
async def test_status_api_answers_signed_and_rate_limited(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    env = await status_of(session, sim.http_url, "t1")
    assert env["Code"] == 0
    data = env["Data"]
    assert set(data) == {"RoomId", "StreamId", "Status", "CreateTime"}  # FailReason: Status 2
    assert data["Status"] == TaskStatus.STREAMING and abs(data["CreateTime"] - time.time()) < 5
    assert (data["RoomId"], data["StreamId"]) == ("sim_room_t1", "sim_stream_t1")
    again = await status_of(session, sim.http_url, "t1")
    assert again["Data"]["CreateTime"] == data["CreateTime"]
    params = common_params("GetDigitalHumanStreamTaskStatus", secret="x" * 32)
    _, refused = await post(session, sim.http_url, params, {"TaskId": "t1"})
    assert isinstance(refused, dict) and refused["Code"] == 100000005
    codes = await asyncio.gather(*(status_of(session, sim.http_url, "t1") for _ in range(10)))
    assert sorted(e["Code"] for e in codes) == [0] * 8 + [400010009] * 2
    actions = {c.action for c in sim.api_calls}
    assert actions == {"GetDigitalHumanStreamTaskStatus"}


@pytest.mark.asyncio
async def test_unknown_tasks_are_not_created(session: aiohttp.ClientSession) -> None:
    config = SimulatorConfig(app_id=APP_ID, server_secret=SECRET, tasks=["known"])
    async with Simulator(config) as sim:
        assert (await status_of(session, sim.http_url, "other"))["Code"] == 400000005
        assert sim.task("other") is None and sim.tasks == []
        sim.reset()
        assert (await status_of(session, sim.http_url, "known"))["Code"] == 0
        assert [t.task_id for t in sim.tasks] == ["known"]
