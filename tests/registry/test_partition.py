"""Exclusivity survives partitions: a replica cut off from Redis ends its drive (Stop sent,
WebSocket closed) before another replica can take the task, whatever its Redis calls do.

Two gateways share one simulator and one real redis-server; replica A reaches Redis through a
:class:`~bench.faulty_proxy.FaultyProxy`, replica B directly. In each case A drives a
task (long audio, so only the partition can end it), B queues for the same task, and then
hypothesis's schedule plays on A's link: a pause, up to two passing faults (freeze, drop or
delay, each for a while, then healed for a while), then a cut that lasts (freeze, drop, or a
delay longer than the lease). After each case:

- the simulator saw no two connections of the task at once (``sim.overlaps``);
- A's drive ended UNAVAILABLE / SHARED_STATE_UNAVAILABLE, its Stop received;
- B's drive connected only after A's connection was closed (the simulator's times).

The leases are short (1.5 s) and the upstream timeouts with them, so each case takes about two
seconds. The schedules run are counted and printed at the end (``-s`` shows them).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import grpc
import pytest
import redis.asyncio as aioredis
from dhgateway.v1 import gateway_pb2 as pb
from dhgateway_client import DriveError, DriveOptions
from hypothesis import HealthCheck, given, settings, strategies as st

from bench.faulty_proxy import FaultyProxy
from gateway.config import LimitsConfig, ServerConfig, UpstreamConfig
from gateway.config.model import lease_timing
from gateway.simulator import Simulator, SimulatorConfig
from gateway.testing import TEST_APP_ID, Harness, running_gateway
from tests.service.conftest import chunks, pcm, realtime
from tests.upstream.conftest import short_config

EXAMPLES = int(os.environ.get("PARTITION_EXAMPLES", "50"))
#: The longest any one wait of a case may take (a case takes about two seconds).
WAIT_S = 20.0

Kind = Literal["freeze", "drop", "delay"]


@dataclass(frozen=True)
class Fault:
    kind: Kind
    #: For how long the fault lasts (a passing one), then how long the link is healed.
    for_s: float
    healed_s: float
    #: A delay's delay of each chunk.
    delay_s: float = 0.0


@dataclass(frozen=True)
class Schedule:
    """What happens to A's link to Redis once A's drive streams."""

    pause_s: float
    passing: tuple[Fault, ...]
    cut: Kind
    cut_delay_s: float

    def describe(self) -> str:
        return " > ".join([*(f.kind for f in self.passing), f"cut:{self.cut}"])


KINDS: list[Kind] = ["freeze", "drop", "delay"]
faults = st.builds(
    Fault,
    kind=st.sampled_from(KINDS),
    for_s=st.floats(0.02, 0.4),
    healed_s=st.floats(0.0, 0.2),
    delay_s=st.floats(0.01, 0.4),
)
schedules = st.builds(
    Schedule,
    pause_s=st.floats(0.0, 0.2),
    passing=st.lists(faults, max_size=2).map(tuple),
    cut=st.sampled_from(KINDS),
    # Longer than a lease: every renewal and the release time out.
    cut_delay_s=st.floats(1.6, 3.0),
)


def upstream_config(api_url: str) -> UpstreamConfig:
    """Short upstream timeouts: the time a drive takes to end counts against its lease (here
    0.8 s: a 0.5 s handshake or send bound, then a 0.2 s close)."""
    return short_config(
        api_url,
        ws_handshake_timeout_s=0.5,
        ws_ping_interval_s=0.25,
        ws_ping_timeout_s=0.25,
        ws_close_timeout_s=0.2,
    )


def server_config(redis_url: str) -> ServerConfig:
    """A 1.5 s lease renewed every 0.15 s, Redis calls of 0.1 s (retried once)."""
    return ServerConfig(
        listen="127.0.0.1:0",
        redis_url=redis_url,
        lease_ttl_s=1.5,
        lease_renew_s=0.15,
        redis_timeout_s=0.1,
    )


@dataclass
class Tally:
    cases: int = 0
    overlaps: int = 0
    schedules: collections.Counter[str] = field(default_factory=collections.Counter)
    cuts: collections.Counter[str] = field(default_factory=collections.Counter)

    def lines(self) -> list[str]:
        lines = [f"partition: {self.cases} schedules, {self.overlaps} overlaps"]
        lines += [f"  {n:3d}  cut by {kind}" for kind, n in self.cuts.most_common()]
        passing = sum(n for key, n in self.schedules.items() if ">" in key)
        lines.append(f"  {passing:3d}  with passing faults before the cut")
        return lines


@dataclass
class Replicas:
    a: Harness
    b: Harness
    proxy: FaultyProxy


@contextlib.asynccontextmanager
async def replicas(redis_url: str) -> AsyncIterator[Replicas]:
    flushing = aioredis.Redis.from_url(redis_url)
    await flushing.flushdb()
    await flushing.aclose()
    redis_port = urlsplit(redis_url).port
    assert redis_port is not None
    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(
            Simulator(SimulatorConfig(app_id=TEST_APP_ID, server_secret="p" * 32))
        )
        proxy = await stack.enter_async_context(FaultyProxy(redis_port))
        upstream = upstream_config(sim.http_url)
        limits = LimitsConfig.for_test(queue_timeout_s=WAIT_S)
        made = []
        for url in (f"redis://127.0.0.1:{proxy.port}/0", redis_url):
            gateway = running_gateway(
                sim=sim, server=server_config(url), upstream=upstream, limits=limits
            )
            made.append(await stack.enter_async_context(gateway))
        yield Replicas(made[0], made[1], proxy)


async def play(proxy: FaultyProxy, schedule: Schedule) -> None:
    """The schedule's faults on A's link, up to the lasting cut."""
    await asyncio.sleep(schedule.pause_s)
    for fault in schedule.passing:
        start(proxy, fault.kind, fault.delay_s)
        await asyncio.sleep(fault.for_s)
        proxy.heal()
        await asyncio.sleep(fault.healed_s)
    start(proxy, schedule.cut, schedule.cut_delay_s)


def start(proxy: FaultyProxy, kind: Kind, delay_s: float) -> None:
    if kind == "freeze":
        proxy.freeze()
    elif kind == "drop":
        proxy.drop()
    else:
        proxy.delay(delay_s)


async def first_event(stream: AsyncIterator[pb.DriveEvent], kind: str) -> pb.DriveEvent:
    async with asyncio.timeout(WAIT_S):
        event = await anext(stream)
    assert event.WhichOneof("event") == kind, event
    return event


async def run_case(r: Replicas, schedule: Schedule, n: int, tally: Tally) -> None:
    task = f"partition-{n}"
    sim = r.a.sim
    # A: 30 s of audio at 1x; only the partition ends it.
    holder = r.a.client.drive(task, realtime(chunks(pcm(30_000), 3200), 100))
    queued = r.b.client.drive(task, [pcm(100)], DriveOptions(on_conflict="QUEUE"))
    try:
        a_id = (await first_event(holder, "started")).drive_id
        await first_event(queued, "queued")
        async with asyncio.timeout(WAIT_S):
            await play(r.proxy, schedule)
            with pytest.raises(DriveError) as caught:
                async for _ in holder:
                    pass
        error = caught.value
        assert (error.code, error.reason) == (
            grpc.StatusCode.UNAVAILABLE,
            "SHARED_STATE_UNAVAILABLE",
        ), (schedule, error)
        async with asyncio.timeout(WAIT_S):
            b_id = (await first_event(queued, "started")).drive_id
            async for _ in queued:
                pass
            a_record = await sim.wait_closed(a_id)
            b_record = await sim.wait_closed(b_id)
        tally.overlaps += len(sim.overlaps)
        assert sim.overlaps == [], (schedule, sim.overlaps)
        assert a_record.stopped_at is not None, schedule  # A's Stop reached the vendor
        assert a_record.closed_at is not None and b_record.connected_at is not None
        # A's connection closed before B's opened.
        assert a_record.closed_at < b_record.connected_at, schedule
    finally:
        for stream in (holder, queued):
            await stream.aclose()
        r.proxy.reset()
        sim.reset()
    tally.cases += 1
    tally.schedules[schedule.describe()] += 1
    tally.cuts[schedule.cut] += 1


def test_timing_of_the_partition_test_fits() -> None:
    """The settings below are valid gateway settings: the lease leaves the drive its margin."""
    timing = lease_timing(server_config("redis://127.0.0.1:1/0"), upstream_config("http://x/"))
    assert timing.problem() is None
    assert timing.hold_s > 0.5 and timing.margin_s < 1.0


@pytest.mark.timeout(300)
def test_no_two_drives_of_a_task_through_any_partition(redis_url: str) -> None:
    tally = Tally()
    with asyncio.Runner() as runner:
        stack = AsyncExitStack()
        r = runner.run(stack.enter_async_context(replicas(redis_url)))
        try:
            counter = iter(range(10_000))

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow],
            )
            @given(schedules)
            def one_case(schedule: Schedule) -> None:
                runner.run(run_case(r, schedule, next(counter), tally))

            one_case()
        finally:
            runner.run(stack.aclose())
            print("\n".join(tally.lines()))
    assert tally.cases >= min(EXAMPLES, 50) and tally.overlaps == 0
