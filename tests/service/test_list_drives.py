"""ListDrives across replicas and in pages: every replica sharing a Redis lists the drives of
all of them (each publishes its own), a replica that dies drops out within its lease's TTL, a
page token walks the whole list once whichever replica answers, and bad paging is
INVALID_ARGUMENT."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import grpc
import pytest
import pytest_asyncio
from dhgateway.v1 import gateway_pb2 as pb
from dhgateway_client import Drive, DriveError, DriveGatewayClient

from gateway.config import ServerConfig
from gateway.drive.machine import DriveState
from gateway.service.drive_list import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageAsk, page_of
from gateway.simulator import Simulator, SimulatorConfig
from gateway.tasks.board import ListedDrive
from gateway.tasks.model import ActiveDrive
from gateway.testing import Harness, running_gateway
from tests.conftest import redis_server
from tests.served import APP_ID, SECRET, serve_process
from tests.service.conftest import chunks, pcm, realtime, started_drive_id, two_replicas

C = grpc.StatusCode
#: The lease of the replica that is killed, and how it is kept (its WebSocket timeouts short,
#: so that the lease's arithmetic allows a 3 s TTL: gateway/registry/timing.py).
KILLED_TTL_S = 3.0
SHORT_LEASE = {
    "LEASE_TTL_S": str(KILLED_TTL_S),
    "LEASE_RENEW_S": "0.3",
    "REDIS_TIMEOUT_S": "0.25",
    "UPSTREAM_WS_HANDSHAKE_TIMEOUT_S": "0.5",
    "UPSTREAM_WS_PING_INTERVAL_S": "0.25",
    "UPSTREAM_WS_PING_TIMEOUT_S": "0.25",
    "UPSTREAM_WS_CLOSE_TIMEOUT_S": "0.2",
    "ADMIT_MAX_CPU": "0",
    "ADMIT_MAX_LOOP_LAG_MS": "0",
}
#: How long a replica's drive takes at most to show on another replica (it publishes within
#: 50 ms of a change; this leaves room for a loaded machine).
PUBLISHED_WITHIN_S = 5.0


@pytest_asyncio.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[Harness, Harness]]:
    async with two_replicas(redis_url) as pair:
        yield pair


@contextlib.asynccontextmanager
async def held(client: DriveGatewayClient, *tasks: str) -> AsyncIterator[list[str]]:
    """A 10 s drive of each task, started; their DriveIds. Cancelled on exit."""
    drives: list[Drive] = []
    try:
        for task in tasks:
            drives.append(client.drive(task, realtime(chunks(pcm(10_000), 3200), 100)))
        yield [await started_drive_id(d) for d in drives]
    finally:
        for drive in drives:
            await drive.aclose()


async def listed_until(
    client: DriveGatewayClient,
    done: Callable[[list[pb.DriveInfo]], bool],
    timeout_s: float = PUBLISHED_WITHIN_S,
) -> list[pb.DriveInfo]:
    """What ``client`` lists, once ``done`` holds of it (asked every 50 ms, at most
    ``timeout_s``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        drives = await client.list_drives()
        if done(drives):
            return drives
        assert loop.time() < deadline, f"not within {timeout_s:g} s: {drives}"
        await asyncio.sleep(0.05)


def ids(drives: list[pb.DriveInfo]) -> set[str]:
    return {d.drive_id for d in drives}


async def rpc_error(call: Awaitable[object]) -> DriveError:
    """The DriveError that ``call`` fails with (within 10 s)."""
    with pytest.raises(DriveError) as caught:
        await asyncio.wait_for(call, 10)
    return caught.value


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.asyncio
async def test_either_replica_lists_the_drives_of_both(replicas: tuple[Harness, Harness]) -> None:
    a, b = replicas
    assert a.app.replica != b.app.replica
    async with held(a.client, "both-a0", "both-a1") as on_a, held(b.client, "both-b0") as on_b:
        for harness in (a, b):
            drives = await listed_until(harness.client, lambda d: ids(d) == {*on_a, *on_b})
            runs = {d.drive_id: d.replica for d in drives}
            assert runs == {
                **dict.fromkeys(on_a, a.app.replica),
                **dict.fromkeys(on_b, b.app.replica),
            }
            assert {d.state for d in drives} == {pb.DRIVE_STATE_STREAMING}
            assert [d.task_id for d in drives] == ["both-a0", "both-a1", "both-b0"]
            assert all(d.profile == "" and d.started_time.seconds > 0 for d in drives)
        # The board carries what each drive sent and was billed (rewritten every lease renewal).
        drives = await listed_until(
            b.client, lambda d: all(x.sent_ms > 0 for x in d if x.replica == a.app.replica)
        )
        assert all(d.billed_ms == d.sent_ms for d in drives)
        (only,) = await b.client.list_drives("both-a1")
        assert (only.drive_id, only.replica) == (on_a[1], a.app.replica)
        # GetTask names the replica too, on either side.
        task = await b.client.get_task("both-a0")
        assert (task.active_drive.drive_id, task.active_drive.replica) == (on_a[0], a.app.replica)
    # The ends are published as well.
    await listed_until(b.client, lambda d: not d)


@pytest.mark.asyncio
async def test_seven_drives_in_pages_of_three_whichever_replica_answers(
    replicas: tuple[Harness, Harness],
) -> None:
    a, b = replicas
    tasks = [f"page-{n}" for n in range(7)]
    async with held(a.client, *tasks[::2]) as on_a, held(b.client, *tasks[1::2]) as on_b:
        everything = {*on_a, *on_b}
        await listed_until(a.client, lambda d: ids(d) == everything)
        await listed_until(b.client, lambda d: ids(d) == everything)
        pages: list[pb.ListDrivesResponse] = []
        token = ""
        for answering in (a, b, a):  # each page from another replica than the last
            page = await answering.client.list_drives_page(page_size=3, page_token=token)
            pages.append(page)
            token = page.next_page_token
        assert [len(p.drives) for p in pages] == [3, 3, 1]
        assert pages[0].next_page_token and pages[1].next_page_token
        assert pages[2].next_page_token == ""
        listed = [d for p in pages for d in p.drives]
        assert [d.task_id for d in listed] == tasks  # in order, none twice, none lost
        assert {d.drive_id for d in listed} == everything
        # The client's iterator walks the same pages.
        walked = [d.drive_id async for d in b.client.iter_drives(page_size=3)]
        assert walked == [d.drive_id for d in listed]
        # A task filter pages too, and its token is its own.
        page = await a.client.list_drives_page("page-3", page_size=1)
        assert [d.task_id for d in page.drives] == ["page-3"] and not page.next_page_token
        error = await rpc_error(
            a.client.list_drives_page("page-3", page_token=pages[0].next_page_token)
        )
        assert (error.code, error.reason) == (C.INVALID_ARGUMENT, "BAD_PAGE_TOKEN")


@pytest.mark.asyncio
@pytest.mark.usefixtures("redis_client")  # emptied for the test
async def test_a_replica_that_closes_takes_its_drives_off_at_once(redis_url: str) -> None:
    server = ServerConfig(listen="127.0.0.1:0", redis_url=redis_url)
    async with (
        Simulator(SimulatorConfig(app_id=APP_ID, server_secret=SECRET)) as sim,
        running_gateway(sim=sim, server=server) as a,
    ):
        async with running_gateway(sim=sim, server=server) as b, held(b.client, "closing") as on_b:
            await listed_until(a.client, lambda d: ids(d) == set(on_b))
        assert await a.client.list_drives() == []  # no wait: b took them off as it closed


@pytest.mark.asyncio
@pytest.mark.usefixtures("redis_client")
async def test_a_killed_replica_drops_out_within_its_lease_ttl(redis_url: str) -> None:
    loop = asyncio.get_running_loop()
    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(
            Simulator(SimulatorConfig(app_id=APP_ID, server_secret=SECRET))
        )
        server = ServerConfig(listen="127.0.0.1:0", redis_url=redis_url)
        a = await stack.enter_async_context(running_gateway(sim=sim, server=server))
        b = await stack.enter_async_context(serve_process(sim, REDIS_URL=redis_url, **SHORT_LEASE))
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(b.address))
        on_b = DriveGatewayClient(channel)
        drive = on_b.drive("killed", realtime(chunks(pcm(10_000), 3200), 100))
        drive_id = await started_drive_id(drive)
        (listed,) = await listed_until(a.client, lambda d: ids(d) == {drive_id})
        assert listed.replica and listed.replica != a.app.replica

        b.process.kill()  # SIGKILL: nothing of it takes its drives off the board
        killed_at = loop.time()
        async with asyncio.timeout(10):
            await b.process.wait()
        with contextlib.suppress(DriveError):
            async with asyncio.timeout(10):
                async for _ in drive:
                    pass
        await listed_until(a.client, lambda d: not d, timeout_s=KILLED_TTL_S + 2)
        took = loop.time() - killed_at
        # Gone by the lease's TTL after its last write (at most one renewal before the kill).
        assert KILLED_TTL_S - 1.0 <= took <= KILLED_TTL_S + 1.0, took


@pytest.mark.asyncio
async def test_one_process_lists_its_drives_from_memory(harness: Harness) -> None:
    assert harness.app.drive_list.board is None
    async with held(harness.client, "mem-1", "mem-0") as drive_ids:
        drives = await harness.client.list_drives()
        assert [d.task_id for d in drives] == ["mem-0", "mem-1"]
        assert ids(drives) == set(drive_ids)
        assert {d.replica for d in drives} == {harness.app.replica}
        first = await harness.client.list_drives_page(page_size=1)
        assert len(first.drives) == 1 and first.next_page_token
        rest = await harness.client.list_drives_page(page_size=1, page_token=first.next_page_token)
        assert [d.task_id for d in rest.drives] == ["mem-1"] and rest.next_page_token == ""

        # Bad page tokens: not base64, not JSON, other shapes, too deep, too long.
        for token in (
            "not a token!",
            b64("not json"),
            b64(json.dumps([2, "", "mem-0", "x"])),
            b64(json.dumps([1, "", "mem-0"])),
            b64(json.dumps({"task": "mem-0"})),
            b64("[" * 3000 + "]" * 3000),
            "A" * 5000,
        ):
            error = await rpc_error(harness.client.list_drives_page(page_token=token))
            assert (error.code, error.reason) == (C.INVALID_ARGUMENT, "BAD_PAGE_TOKEN"), token
        error = await rpc_error(
            harness.client.list_drives_page("mem-1", page_token=first.next_page_token)
        )
        assert (error.code, error.reason) == (C.INVALID_ARGUMENT, "BAD_PAGE_TOKEN")
        error = await rpc_error(harness.client.list_drives_page(page_size=-1))
        assert (error.code, error.reason) == (C.INVALID_ARGUMENT, "BAD_PAGE_SIZE")
        assert "-1" in error.message
        error = await rpc_error(harness.client.list_drives(page_size=-5))
        assert error.reason == "BAD_PAGE_SIZE"


@pytest.mark.asyncio
async def test_redis_away_fails_list_drives_unavailable() -> None:
    with contextlib.ExitStack() as redis:
        url = redis.enter_context(redis_server())
        server = ServerConfig(listen="127.0.0.1:0", redis_url=url)
        async with (
            Simulator(SimulatorConfig(app_id=APP_ID, server_secret=SECRET)) as sim,
            running_gateway(sim=sim, server=server) as gateway,
        ):
            assert await gateway.client.list_drives() == []
            redis.close()
            error = await rpc_error(gateway.client.list_drives())
            assert (error.code, error.reason) == (C.UNAVAILABLE, "SHARED_STATE_UNAVAILABLE")


def synthetic(
    count: int, *, tasks: int, state: DriveState = DriveState.QUEUED
) -> list[ListedDrive]:
    """``count`` drives over ``tasks`` task ids, several per task, in no particular order;
    each DriveId is its state's initial and its key."""
    return [
        ListedDrive(
            f"t{n % tasks:03d}",
            f"r{n % 3}/{n}",
            ActiveDrive(f"{state.name[0]}-r{n % 3}/{n}", state),
        )
        for n in reversed(range(count))
    ]


def ask(page_size: int, page_token: str = "") -> PageAsk:
    return PageAsk.of(pb.ListDrivesRequest(page_size=page_size, page_token=page_token))


def walk(drives: list[ListedDrive], page_size: int, token: str = "") -> list[pb.ListDrivesResponse]:
    """Every page of ``drives`` from ``token`` on."""
    pages = []
    while True:
        pages.append(page_of(drives, ask(page_size, token)))
        token = pages[-1].next_page_token
        if not token:
            return pages


def test_page_sizes_default_to_100_and_stop_at_1000() -> None:
    drives = synthetic(2500, tasks=40)
    assert [len(p.drives) for p in walk(drives, 0)] == [DEFAULT_PAGE_SIZE] * 25
    assert [len(p.drives) for p in walk(drives, 5000)] == [MAX_PAGE_SIZE] * 2 + [500]
    listed = [d.drive_id for p in walk(drives, 7) for d in p.drives]
    assert sorted(listed) == sorted(d.drive.drive_id for d in drives)  # none twice, none lost


def test_a_drive_keeps_its_place_when_it_starts_between_pages() -> None:
    first = page_of(synthetic(50, tasks=7), ask(20))
    # Between the pages every drive started: a DriveId and a state of its own, the same key.
    started = synthetic(50, tasks=7, state=DriveState.STREAMING)
    rest = [d for p in walk(started, 20, first.next_page_token) for d in p.drives]
    before = {d.drive_id.removeprefix("Q-") for d in first.drives}
    after = {d.drive_id.removeprefix("S-") for d in rest}
    assert len(before) == 20 and len(after) == 30 and not before & after
    order = [d.task_id for d in [*first.drives, *rest]]
    assert order == sorted(order)
