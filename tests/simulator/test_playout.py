"""The simulator's record of what each drive played (:class:`Playout`), unit and over sockets."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from gateway.simulator import (
    DriveRecord,
    DriveStatus,
    Playout,
    PlayoutOutcome,
    Simulator,
    SimulatorConfig,
)
from gateway.simulator.playout import PlayoutBook

from .helpers import (
    APP_ID,
    BYTES_PER_MS,
    SECRET,
    drive_by_ws_stream,
    send_paced,
    start_frame,
    stop_frame,
    ws_connect,
)

Event = tuple[str, DriveStatus, float]


def _book(latency_ms: float = 0.0) -> tuple[PlayoutBook, list[Event], list[tuple[str, bool]]]:
    events: list[Event] = []
    activity: list[tuple[str, bool]] = []

    def on_status(playout: Playout, status: DriveStatus, at: float) -> None:
        events.append((playout.drive_id, status, at))

    def on_activity(task_id: str, active: bool, at: float) -> None:
        activity.append((task_id, active))

    return PlayoutBook(latency_ms, on_status, on_activity), events, activity


def _record(drive_id: str = "d1") -> DriveRecord:
    record = DriveRecord(drive_id=drive_id, task_id="t", created_at=0.0)
    record.sample_rate, record.channel = 16000, 1
    return record


def _feed(book: PlayoutBook, record: DriveRecord, at: float, ms: int) -> None:
    data = bytes(BYTES_PER_MS * ms)
    record.add_audio(at, data)
    book.on_audio(record, at, len(data))


@pytest.mark.asyncio
async def test_played_ms_follows_the_playhead_across_an_underrun() -> None:
    book, events, _ = _book(latency_ms=50)
    record = _record()
    t0 = time.monotonic() - 10.0  # all in the past: each status is due at once
    book.on_start(record, t0)
    _feed(book, record, t0, 100)  # plays 0.05..0.15
    _feed(book, record, t0 + 0.3, 100)  # 150 ms late: an underrun; plays 0.35..0.45
    assert record.underruns == 1
    playout = book.get("d1")
    assert playout is not None
    assert playout.played_ms_at(t0 + 0.04) == 0.0
    assert playout.played_ms_at(t0 + 0.10) == pytest.approx(50.0)
    assert playout.played_ms_at(t0 + 0.30) == pytest.approx(100.0)
    assert playout.played_ms_at(t0 + 0.40) == pytest.approx(150.0)
    assert playout.played_ms_at(t0 + 9.00) == pytest.approx(200.0)
    assert playout.drained_at == pytest.approx(t0 + 0.45)
    book.on_stop(record, t0 + 0.31)
    await asyncio.sleep(0)  # the timers are due: let them fire
    await asyncio.sleep(0.01)
    assert [(s, round(at - t0, 6)) for _, s, at in events] == [
        (DriveStatus.QUEUED, 0.0),
        (DriveStatus.DRIVING, 0.05),
        (DriveStatus.ENDED, 0.45),
    ]
    assert playout.outcome is PlayoutOutcome.PLAYED and playout.played_ms == pytest.approx(200)


@pytest.mark.asyncio
async def test_a_stop_after_the_audio_ran_out_ends_at_the_stop() -> None:
    book, events, activity = _book()
    record = _record()
    t0 = time.monotonic() - 5.0
    book.on_start(record, t0)
    _feed(book, record, t0, 100)
    book.on_stop(record, t0 + 1.0)
    await asyncio.sleep(0.01)
    assert [(s, round(at - t0, 6)) for _, s, at in events][-1] == (DriveStatus.ENDED, 1.0)
    assert activity == [("t", True), ("t", False)]


@pytest.mark.asyncio
async def test_interrupt_and_failure_cut_the_playhead() -> None:
    book, events, _ = _book()
    now = time.monotonic()
    first, second = _record("a"), _record("b")
    book.on_start(first, now - 0.2)
    _feed(book, first, now - 0.2, 500)
    book.on_start(second, now)  # 200 ms into the first drive's 500
    a = book.get("a")
    assert a is not None and a.outcome is PlayoutOutcome.INTERRUPTED
    assert a.played_ms == pytest.approx(200.0)
    _feed(book, second, now, 300)
    book.on_closed(second, now + 0.1, "connection ended: client")
    b = book.get("b")
    assert b is not None and b.outcome is PlayoutOutcome.FAILED
    assert b.played_ms == pytest.approx(100.0) and b.status is DriveStatus.FAILED
    statuses = [(d, s) for d, s, _ in events]
    assert statuses == [
        ("a", DriveStatus.QUEUED),
        ("a", DriveStatus.DRIVING),
        ("a", DriveStatus.ENDED),
        ("b", DriveStatus.QUEUED),
        ("b", DriveStatus.DRIVING),
        ("b", DriveStatus.FAILED),
    ]
    book.on_closed(first, now + 0.2, "late")  # already ended: nothing more
    assert len(events) == 6


@pytest.mark.asyncio
async def test_played_ms_matches_the_audio_over_sockets(session: aiohttp.ClientSession) -> None:
    config = SimulatorConfig(app_id=APP_ID, server_secret=SECRET, render_latency_ms=30)
    async with Simulator(config) as sim:
        drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
        async with ws_connect(address) as ws:
            await ws.send(start_frame(drive_id))
            pcm = bytes(BYTES_PER_MS * 400)
            await send_paced(ws, pcm, prebuffer_ms=40, pause_after_ms=200, pause_ms=150)
            await ws.send(stop_frame(drive_id))
        playout = await sim.wait_playout_ended(drive_id)
    record = sim.drive(drive_id)
    assert record.underruns == 1
    assert playout.played_ms == pytest.approx(record.audio_ms) == pytest.approx(400.0)
    assert record.playback_end_at is not None and playout.ended_at is not None
    assert playout.ended_at == pytest.approx(record.playback_end_at + 0.030)
    # Wall time of the ended status vs when the test saw it: the timer fired on time.
    assert time.monotonic() - playout.ended_at < 1.0
    assert sim.playouts == [playout] and playout.to_json()["outcome"] == "played"
