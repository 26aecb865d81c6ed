"""Admission end to end: the gateway refuses new drives on a late loop, a busy core or a burst
past its learned capacity, and the running drives go on (the gauge itself: tests/admission)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import grpc
import pytest
from dhgateway_client import DriveError

from gateway.config import LimitsConfig
from gateway.errors import Reason
from gateway.testing import Harness, running_gateway
from tests.service.conftest import chunks, pcm, realtime, stream_error


async def refused(h: Harness, task: str) -> DriveError:
    return await stream_error(h.client.drive(task, [pcm(100)]))


async def until(predicate: Callable[[], bool]) -> None:
    """Wait (at most 5 s) for the sampler's ticks to make ``predicate`` true."""
    for _ in range(250):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the load gauge never got there")


@pytest.mark.asyncio
async def test_a_late_event_loop_refuses_new_drives_and_keeps_the_running_one() -> None:
    limits = LimitsConfig.for_test(admit_max_loop_lag_ms=5)
    async with running_gateway(limits=limits) as h:
        running = h.client.drive("task-running", realtime(chunks(pcm(1500), 3200), 100))
        await anext(running)  # Started
        # One pause, however long, in a quiet second is no overload ...
        asyncio.get_running_loop().call_soon(time.sleep, 0.3)
        for _ in range(60):  # 1.2 s of the sampler's ticks
            assert h.app.admission.gauge.overload() is None
            await asyncio.sleep(0.02)
        # ... a loop that runs late most of the time is: hold it 30 ms of every 60 for 1.8 s.
        loop = asyncio.get_running_loop()

        def hog(left: int) -> None:
            time.sleep(0.03)
            if left:
                loop.call_later(0.03, hog, left - 1)

        loop.call_soon(hog, 30)
        await until(lambda: h.app.admission.gauge.overload() is not None)
        error = await refused(h, "task-new")
        assert (error.code, error.reason) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            Reason.GATEWAY_OVERLOADED.value,
        )
        assert float(error.metadata["loop_lag_ms"]) > 5
        assert error.metadata["retry_after_ms"] == "1000"
        assert not h.sim.drives_for_task("task-new")  # refused before any vendor call
        assert h.app.admission.refused == 1  # what the sampler tells the gauge
        # The running drive goes on to its end, Stop and all.
        events = [event async for event in running]
        assert events[-1].WhichOneof("event") == "completed"
        # Once the loop keeps time again, new drives are welcome.
        await until(lambda: h.app.admission.gauge.overload() is None)
        events = [event async for event in h.client.drive("task-new", [pcm(100)])]
        assert events[-1].WhichOneof("event") == "completed"


@pytest.mark.asyncio
async def test_a_busy_process_refuses_new_drives_on_cpu() -> None:
    limits = LimitsConfig.for_test(admit_max_cpu=0.5)
    async with running_gateway(limits=limits) as h:
        halt = threading.Event()

        def spin() -> None:  # a whole core, off the event loop (bounded by halt and time)
            deadline = time.monotonic() + 10
            while not halt.is_set() and time.monotonic() < deadline:
                pass

        burner = threading.Thread(target=spin, daemon=True)
        burner.start()
        try:
            await until(lambda: h.app.admission.gauge.overload() is not None)
            error = await refused(h, "task-cpu")
        finally:
            halt.set()
            burner.join(5)
        assert error.reason == Reason.GATEWAY_OVERLOADED.value
        assert float(error.metadata["cpu_percent"]) > 50
        assert "of a core" in error.message


@pytest.mark.asyncio
async def test_a_burst_past_the_learned_capacity_is_refused_before_its_load_shows() -> None:
    limits = LimitsConfig.for_test(admit_max_cpu=1.0)
    async with running_gateway(limits=limits) as h:
        running = [
            h.client.drive(f"task-live-{i}", realtime(chunks(pcm(4000), 3200), 100))
            for i in range(10)
        ]
        for stream in running:
            await anext(stream)  # Started
        gauge = h.app.admission.gauge
        # A window clear of the ten set-ups: while it holds them, the credit they get (at most
        # half the CPU) can inflate the estimated capacity up to twice.
        await until(lambda: gauge.cpu_per_drive is not None and gauge.setup_share == 0)
        # Room for about 2.5x the live drives: the measured share stays far below the
        # threshold, so only the projection can refuse the burst.
        gauge.max_cpu = gauge.cpu_share * 2.5
        capacity = gauge.capacity
        assert capacity is not None and 20 <= capacity <= 30

        async def one(task: str) -> DriveError | None:
            try:
                events = [event async for event in h.client.drive(task, [pcm(100)])]
            except DriveError as error:
                return error
            assert events[-1].WhichOneof("event") == "completed"
            return None

        outcomes = await asyncio.gather(*(one(f"task-burst-{i}") for i in range(30)))
        refusals = [error for error in outcomes if error is not None]
        assert 0 < len(refusals) < 30
        projected = [e for e in refusals if "another drive would take" in e.message]
        assert projected, [e.message for e in refusals]
        for error in refusals:
            assert error.reason == Reason.GATEWAY_OVERLOADED.value
            assert int(error.metadata["capacity_drives"]) > 0
        for stream in running:  # the live drives go on to their end, Stop and all
            events = [event async for event in stream]
            assert events[-1].WhichOneof("event") == "completed"


@pytest.mark.asyncio
async def test_the_app_counts_a_set_up_once_it_is_over() -> None:
    async with running_gateway() as h:
        assert (h.app.admission.begun, h.app.admission.setups_done()) == (0, 0)
        stream = h.client.drive("task-one", realtime(chunks(pcm(600), 3200), 100))
        await anext(stream)  # Started: the set-up is over
        assert (h.app.admission.begun, h.app.admission.setups_done()) == (1, 1)
        events = [event async for event in stream]
        assert events[-1].WhichOneof("event") == "completed"
        assert (h.app.admission.begun, h.app.admission.setups_done()) == (1, 1)
