"""The HTTP client against the simulator (and a scripted loopback server for the answers the
simulator never gives): signing, typed errors, retries within budgets, the rate limiter."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from gateway.config import Credentials, UpstreamConfig
from gateway.errors import Reason, UpstreamApiError, UpstreamUnreachable
from gateway.simulator import Fault, Simulator
from gateway.upstream import Attempt, LocalRateLimiter, UpstreamClient
from gateway.upstream.limiter import WaitCallback
from gateway.upstream.signing import sign
from tests.upstream.conftest import APP_ID, SECRET, TASK, free_port, short_config, sim_config
from tests.upstream.test_limiter import max_in_any_window


@pytest.mark.asyncio
async def test_grants_a_drive(
    sim: Simulator, client: UpstreamClient, credentials: Credentials
) -> None:
    grant = await client.drive_by_ws_stream(TASK, credentials)
    (call,) = sim.api_calls
    assert (call.action, call.app_id, call.task_id, call.code) == (
        "DriveByWsStream",
        APP_ID,
        TASK,
        0,
    )
    assert grant.drive_id == call.drive_id
    assert grant.request_id == call.request_id
    assert grant.wss_address.startswith("ws://127.0.0.1:")
    assert (grant.attempts, grant.waited_s) == (1, 0.0)
    token = grant.wss_address.split("Token=", 1)[1]
    assert token not in repr(grant) and token not in str(grant)
    assert "Token=***" in repr(grant)


@pytest.mark.asyncio
async def test_a_wrong_secret_is_refused_fast_with_100000005(sim: Simulator) -> None:
    async with UpstreamClient(short_config(sim.http_url)) as client:
        with pytest.raises(UpstreamApiError) as caught:
            await client.drive_by_ws_stream(TASK, Credentials(app_id=APP_ID, server_secret="x"))
    assert caught.value.code == 100000005
    assert caught.value.reason is Reason.UPSTREAM_AUTH
    assert not caught.value.retryable
    assert caught.value.metadata["attempts"] == "1"
    assert len(sim.api_calls) == 1


@pytest.mark.asyncio
async def test_a_stale_clock_gets_100000004(sim: Simulator, credentials: Credentials) -> None:
    stale = lambda: time.time() - 3600  # noqa: E731
    async with UpstreamClient(short_config(sim.http_url), wall_clock=stale) as client:
        with pytest.raises(UpstreamApiError) as caught:
            await client.drive_by_ws_stream(TASK, credentials)
    assert (caught.value.code, caught.value.reason) == (100000004, Reason.UPSTREAM_AUTH)
    assert len(sim.api_calls) == 1


@pytest.mark.asyncio
async def test_fifty_concurrent_calls_all_succeed_within_the_rate(
    sim: Simulator, client: UpstreamClient, credentials: Credentials
) -> None:
    async with asyncio.timeout(15):
        grants = await asyncio.gather(
            *(client.drive_by_ws_stream(f"task-{i}", credentials) for i in range(50))
        )
    assert len({g.drive_id for g in grants}) == 50
    calls = sim.api_calls
    assert len(calls) == 50 and all(c.code == 0 for c in calls)
    assert max_in_any_window([c.time for c in calls], 1.0) <= 10
    assert all(g.attempts == 1 for g in grants)
    assert max(g.waited_s for g in grants) > 3.5  # the last ten waited four windows


@pytest.mark.parametrize(
    ("fault", "attempts"),
    [
        (Fault(http_status=503, times=2), 3),
        (Fault(force_code=400010002, times=2), 3),
        (Fault(force_code=400010009, times=2), 3),
        (Fault(api_delay_s=1.0, times=1), 2),  # beyond request_timeout_s=0.5
    ],
    ids=["http-503", "busy", "rate-limited", "timeout"],
)
@pytest.mark.asyncio
async def test_retryable_faults_are_retried_then_succeed(
    sim: Simulator, config: UpstreamConfig, credentials: Credentials, fault: Fault, attempts: int
) -> None:
    sim.set_fault(fault, task_id=TASK)
    seen: list[Attempt] = []
    async with UpstreamClient(config, on_attempt=seen.append) as client:
        grant = await client.drive_by_ws_stream(TASK, credentials)
    assert grant.attempts == attempts
    assert [a.outcome for a in seen] == ["retry"] * (attempts - 1) + ["ok"]
    assert grant.waited_s > 0
    await sim.wait_for(lambda: len(sim.api_calls) >= attempts, timeout=2.0)
    assert sim.api_calls[-1].code == 0


@pytest.mark.asyncio
async def test_a_refused_port_is_retried_until_the_vendor_is_up(credentials: Credentials) -> None:
    port = free_port()
    config = short_config(f"http://127.0.0.1:{port}/")
    async with UpstreamClient(config) as client:
        call = asyncio.create_task(client.drive_by_ws_stream(TASK, credentials))
        await asyncio.sleep(0.3)  # a few refused connections
        assert not call.done()
        async with Simulator(sim_config(port=port)) as sim:
            grant = await asyncio.wait_for(call, timeout=3.0)
            assert grant.attempts >= 2
            assert len(sim.api_calls) == 1


@pytest.mark.asyncio
async def test_transient_failures_beyond_the_budget_are_unreachable(
    sim: Simulator, credentials: Credentials
) -> None:
    sim.set_fault(Fault(http_status=503))
    config = short_config(sim.http_url, retry_budget_s=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with UpstreamClient(config) as client:
        with pytest.raises(UpstreamUnreachable) as caught:
            await client.drive_by_ws_stream(TASK, credentials)
    assert loop.time() - started < 1.5
    assert caught.value.reason is Reason.UPSTREAM_UNREACHABLE
    assert caught.value.retryable
    assert caught.value.metadata["http_status"] == "503"
    assert int(caught.value.metadata["attempts"]) == len(sim.api_calls) >= 3


@pytest.mark.parametrize(
    ("code", "reason"),
    [(400010009, Reason.UPSTREAM_RATE_LIMITED), (400010002, Reason.UPSTREAM_ERROR)],
)
@pytest.mark.asyncio
async def test_retryable_codes_beyond_their_budget(
    sim: Simulator, credentials: Credentials, code: int, reason: Reason
) -> None:
    sim.set_fault(Fault(force_code=code))
    config = short_config(sim.http_url, retry_budget_s=0.4, rate_limit_budget_s=0.8)
    async with UpstreamClient(config) as client:
        with pytest.raises(UpstreamApiError) as caught:
            await client.drive_by_ws_stream(TASK, credentials)
    assert (caught.value.code, caught.value.reason) == (code, reason)
    assert int(caught.value.metadata["attempts"]) == len(sim.api_calls) >= 2


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (400000005, Reason.UPSTREAM_TASK_NOT_FOUND),
        (400000006, Reason.UPSTREAM_TASK_NOT_STREAMING),
        (400000007, Reason.UPSTREAM_TASK_NOT_STREAMING),
        (400000002, Reason.UPSTREAM_NOT_ENABLED),
        (400010001, Reason.UPSTREAM_NOT_ENABLED),
        (100000017, Reason.UPSTREAM_NOT_ENABLED),
        (400000008, Reason.UPSTREAM_CONCURRENCY),
        (400000001, Reason.UPSTREAM_ERROR),
        (400010000, Reason.UPSTREAM_ERROR),
        (400010007, Reason.UPSTREAM_ERROR),
        (123456789, Reason.UPSTREAM_ERROR),
    ],
)
@pytest.mark.asyncio
async def test_non_retryable_codes_fail_fast(
    sim: Simulator,
    client: UpstreamClient,
    credentials: Credentials,
    code: int,
    reason: Reason,
) -> None:
    sim.set_fault(Fault(force_code=code, force_message="nope"))
    with pytest.raises(UpstreamApiError) as caught:
        await client.drive_by_ws_stream(TASK, credentials)
    error = caught.value
    assert (error.code, error.reason, error.retryable) == (code, reason, False)
    assert error.upstream_message == "nope"
    assert error.request_id == sim.api_calls[0].request_id
    assert len(sim.api_calls) == 1


@pytest.mark.asyncio
async def test_an_unknown_task_is_task_not_found(credentials: Credentials) -> None:
    async with Simulator(sim_config(tasks={"known"})) as sim:
        async with UpstreamClient(short_config(sim.http_url)) as client:
            with pytest.raises(UpstreamApiError) as caught:
                await client.drive_by_ws_stream("unknown", credentials)
            assert caught.value.reason is Reason.UPSTREAM_TASK_NOT_FOUND
            assert (await client.drive_by_ws_stream("known", credentials)).drive_id


# A scripted vendor for what the simulator never answers: it records each request and
# answers from a list (the last answer repeats).


@dataclass
class Scripted:
    answers: list[Callable[[], web.Response]]
    requests: list[tuple[str, dict[str, str], str, bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            (request.method, dict(request.query), request.content_type, await request.read())
        )
        index = min(len(self.requests), len(self.answers)) - 1
        return self.answers[index]()


def ok(data: object = None) -> Callable[[], web.Response]:
    body = (
        {"DriveId": "d1", "WssAddress": "wss://10.0.0.1:9/ws?Token=tok"} if data is None else data
    )
    return lambda: web.json_response(
        {"Code": 0, "Message": "success", "RequestId": "r", "Data": body}
    )


def status(code: int, text: str = "x") -> Callable[[], web.Response]:
    return lambda: web.Response(status=code, text=text)


@pytest_asyncio.fixture
async def scripted() -> AsyncIterator[Scripted]:
    script = Scripted(answers=[ok()])
    app = web.Application()
    app.router.add_post("/", script.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    script.url = f"http://127.0.0.1:{port}/"
    try:
        yield script
    finally:
        await runner.cleanup()


class CountingLimiter:
    """A limiter that never waits and records the key of every ``acquire``."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    async def acquire(self, key: str, on_wait: WaitCallback | None = None) -> float:
        self.keys.append(key)
        return 0.0


@pytest.mark.asyncio
async def test_the_request_shape_and_a_fresh_signature_per_retry(
    scripted: Scripted, credentials: Credentials
) -> None:
    scripted.answers = [status(502), status(503), ok()]
    limiter = CountingLimiter()
    config = short_config(scripted.url)
    async with UpstreamClient(config, limiter=limiter) as client:
        grant = await client.drive_by_ws_stream(TASK, credentials)
    assert (grant.drive_id, grant.attempts) == ("d1", 3)
    assert limiter.keys == [str(APP_ID)] * 3  # the limiter is asked before every attempt
    nonces = set()
    for method, query, content_type, body in scripted.requests:
        assert method == "POST" and content_type == "application/json"
        assert json.loads(body) == {"TaskId": TASK}
        assert query["Action"] == "DriveByWsStream" and query["SignatureVersion"] == "2.0"
        assert query["AppId"] == str(APP_ID)
        expected = sign(APP_ID, query["SignatureNonce"], SECRET, int(query["Timestamp"]))
        assert query["Signature"] == expected
        nonces.add(query["SignatureNonce"])
    assert len(nonces) == 3


@pytest.mark.parametrize(
    ("answer", "retryable"),
    [
        (status(200, "<html>hello</html>"), False),
        (status(404, "not found"), False),
        (lambda: web.json_response(["not", "an", "envelope"]), False),
        (lambda: web.json_response({"Code": "zero", "Message": "?"}), False),
        (ok({"DriveId": "d1"}), False),  # Code 0 without a WssAddress
    ],
    ids=["html-200", "http-404", "json-list", "bad-code", "no-address"],
)
@pytest.mark.asyncio
async def test_malformed_answers_are_unreachable_and_not_retried(
    scripted: Scripted,
    credentials: Credentials,
    answer: Callable[[], web.Response],
    retryable: bool,
) -> None:
    scripted.answers = [answer]
    async with UpstreamClient(short_config(scripted.url)) as client:
        with pytest.raises(UpstreamUnreachable) as caught:
            await client.drive_by_ws_stream(TASK, credentials)
    assert caught.value.retryable is retryable
    assert len(scripted.requests) == 1


@pytest.mark.asyncio
async def test_flat_fields_and_a_code_in_an_error_status(
    scripted: Scripted, credentials: Credentials
) -> None:
    flat = {"Code": 0, "RequestId": "r", "DriveId": "d2", "WssAddress": "ws://h/ws?Token=t"}
    scripted.answers = [
        lambda: web.json_response(
            {"Code": 400000005, "Message": "gone", "RequestId": "r"}, status=400
        ),
        lambda: web.json_response(flat),
    ]
    async with UpstreamClient(short_config(scripted.url)) as client:
        with pytest.raises(UpstreamApiError) as caught:
            await client.drive_by_ws_stream(TASK, credentials)
        assert caught.value.reason is Reason.UPSTREAM_TASK_NOT_FOUND
        assert (await client.drive_by_ws_stream(TASK, credentials)).drive_id == "d2"


@pytest.mark.asyncio
async def test_an_injected_session_is_left_open(
    scripted: Scripted, credentials: Credentials
) -> None:
    async with aiohttp.ClientSession() as session:
        async with UpstreamClient(short_config(scripted.url), session=session) as client:
            await client.drive_by_ws_stream(TASK, credentials)
        assert not session.closed
        with pytest.raises(RuntimeError):
            await client.drive_by_ws_stream(TASK, credentials)


@pytest.mark.asyncio
async def test_an_owned_session_is_closed(scripted: Scripted, credentials: Credentials) -> None:
    client = UpstreamClient(short_config(scripted.url))
    await client.drive_by_ws_stream(TASK, credentials)  # created lazily on first use
    session = client._session
    assert session is not None and not session.closed
    await client.close()
    await client.close()
    assert session.closed


@pytest.mark.asyncio
async def test_a_shared_limiter_spans_clients(scripted: Scripted, credentials: Credentials) -> None:
    limiter = LocalRateLimiter(10, window_s=0.2, margin_s=0.02)  # 2 per 0.22 s
    config: UpstreamConfig = short_config(scripted.url)
    async with (
        UpstreamClient(config, limiter=limiter) as a,
        UpstreamClient(config, limiter=limiter) as b,
    ):
        grants = await asyncio.gather(
            *(c.drive_by_ws_stream(TASK, credentials) for c in (a, b, a, b))
        )
    assert sorted(g.waited_s > 0 for g in grants) == [False, False, True, True]
