"""Callback fault switches: drop, delay, duplicate, reorder, bad signature, skewed Timestamp."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from gateway.simulator import Fault, Simulator

from .helpers import speak, status_of
from .receiver import CallbackReceiver, verify


@pytest.mark.asyncio
async def test_drop_sends_nothing(
    csim: Simulator, rx: CallbackReceiver, session: aiohttp.ClientSession
) -> None:
    csim.set_fault(Fault(callback_drop=True, callback_event_type=4))
    drive_id = await speak(session, csim.http_url, "t1", 60)
    await csim.wait_playout_ended(drive_id)
    await csim.wait_callbacks(lambda cs: len(cs) == 5)
    await rx.wait_count(2)
    assert rx.keys() == [(3, None, 1), (3, None, 3)]
    dropped = csim.callbacks_for(drive_id=drive_id)
    assert [c.status for c in dropped] == [1, 2, 4]
    assert all(c.dropped and c.attempts == [] and c.faults == ["drop"] for c in dropped)


@pytest.mark.asyncio
async def test_delay_lets_later_callbacks_pass(
    csim: Simulator, rx: CallbackReceiver, session: aiohttp.ClientSession
) -> None:
    csim.set_fault(Fault(callback_delay_s=0.25, callback_event_type=4, callback_status=1))
    drive_id = await speak(session, csim.http_url, "t1", 60)
    await rx.wait_count(5)
    await csim.wait_callbacks(lambda cs: len(cs) == 5 and all(c.done for c in cs))
    assert rx.keys(4) == [(4, drive_id, 2), (4, drive_id, 4), (4, drive_id, 1)]
    (queued,) = [c for c in csim.callbacks if c.status == 1 and c.event_type == 4]
    assert queued.attempts[0].at - queued.created_at >= 0.25
    assert verify(rx.received[-1].body)


@pytest.mark.asyncio
async def test_duplicate_sends_the_same_body_twice(
    csim: Simulator, rx: CallbackReceiver, session: aiohttp.ClientSession
) -> None:
    csim.set_fault(Fault(callback_duplicate=True, callback_event_type=4, callback_status=4))
    drive_id = await speak(session, csim.http_url, "t1", 40)
    await rx.wait_count(6)
    await csim.wait_callbacks(lambda cs: len(cs) == 5 and len(cs[-1].attempts) == 2)
    copies = [r for r in rx.received if r.key == (4, drive_id, 4)]
    assert len(copies) == 2 and copies[0].body == copies[1].body
    assert [r.try_number for r in copies] == [0, 1]
    (ended,) = [c for c in csim.callbacks if c.status == 4]
    assert [a.kind for a in ended.attempts] == ["first", "duplicate"]


@pytest.mark.asyncio
async def test_reorder_swaps_with_the_next(
    csim: Simulator, rx: CallbackReceiver, session: aiohttp.ClientSession
) -> None:
    csim.set_fault(Fault(callback_reorder=True, callback_event_type=3, callback_status=1))
    await status_of(session, csim.http_url, "t1")
    await rx.wait_count(2)
    assert rx.keys() == [(3, None, 3), (3, None, 1)]


@pytest.mark.asyncio
async def test_reorder_of_the_last_callback_is_bounded(
    csim: Simulator, rx: CallbackReceiver, session: aiohttp.ClientSession
) -> None:
    csim.set_fault(
        Fault(
            callback_reorder=True,
            callback_reorder_max_s=0.15,
            callback_event_type=3,
            callback_status=3,
        )
    )
    await status_of(session, csim.http_url, "t1")
    await csim.wait_callbacks(lambda cs: len(cs) == 2 and all(c.done for c in cs))
    assert rx.keys() == [(3, None, 1), (3, None, 3)]
    (streaming,) = [c for c in csim.callbacks if c.status == 3]
    assert 0.15 <= streaming.attempts[0].at - streaming.created_at < 0.5


@pytest.mark.asyncio
async def test_bad_signature_is_refused_then_given_up(
    csim: Simulator, rx: CallbackReceiver, session: aiohttp.ClientSession
) -> None:
    csim.set_fault(Fault(callback_bad_signature=True, callback_status=3), task_id="t1")
    await status_of(session, csim.http_url, "t1")
    await status_of(session, csim.http_url, "t2")  # another task: not faulted
    await csim.wait_callbacks(lambda cs: len(cs) == 4 and any(c.gave_up for c in cs))
    (bad,) = [c for c in csim.callbacks if not c.signature_valid]
    assert (bad.task_id, bad.status, bad.faults) == ("t1", 3, ["bad_signature"])
    assert [a.http_status for a in bad.attempts] == [401] * 6 and bad.gave_up
    forged = [r for r in rx.received if r.body["Nonce"] == bad.nonce]
    assert len(forged) == 6 and not any(verify(r.body) for r in forged)
    others = [r for r in rx.received if r.body["Nonce"] != bad.nonce]
    assert len(others) == 3 and all(verify(r.body) and r.answered == 200 for r in others)


@pytest.mark.asyncio
async def test_timestamp_skew_and_times(
    csim: Simulator, rx: CallbackReceiver, session: aiohttp.ClientSession
) -> None:
    csim.set_fault(Fault(callback_timestamp_skew_s=-600, times=1))
    await status_of(session, csim.http_url, "t1")
    got = await rx.wait_count(2)
    stale, fresh = (int(r.body["Timestamp"]) / 1000 for r in got)
    assert stale == pytest.approx(time.time() - 600, abs=5)
    assert fresh == pytest.approx(time.time(), abs=5)
    assert all(verify(r.body) for r in got), "skewed, yet signed over what is sent"
    faults: Any = csim.state_json()["faults"]
    assert faults["*"]["callbacks_left"] == 0


@pytest.mark.asyncio
async def test_callback_faults_over_the_control_endpoint(
    csim: Simulator, rx: CallbackReceiver, session: aiohttp.ClientSession
) -> None:
    fault = {"callback_drop": True, "callback_event_type": 3}
    async with session.post(f"{csim.http_url}_sim/faults", json={"fault": fault}) as resp:
        assert resp.status == 200
        armed = await resp.json()
    assert armed["*"]["fault"]["callback_drop"] is True
    await status_of(session, csim.http_url, "t1")
    await csim.wait_callbacks(lambda cs: len(cs) == 2)
    assert all(c.dropped for c in csim.callbacks) and rx.received == []
    with pytest.raises(ValueError):
        Fault(callback_event_type=5)
    assert not Fault(callback_event_type=3).affects_callbacks
