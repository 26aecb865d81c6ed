"""The simulated HTTP API over real loopback sockets (zego-api.md §2-§7, §11, §14)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import aiohttp
import pytest

from gateway.simulator import Simulator, SimulatorConfig

from .helpers import APP_ID, SECRET, common_params, post, sign

Mutation = Callable[[dict[str, str]], None]


def _set(key: str, value: str) -> Mutation:
    def mutate(params: dict[str, str]) -> None:
        params[key] = value

    return mutate


def _drop(key: str) -> Mutation:
    def mutate(params: dict[str, str]) -> None:
        del params[key]

    return mutate


def _resign(offset_s: int) -> Mutation:
    """A correct signature over a timestamp ``offset_s`` away from now (read when applied)."""

    def mutate(params: dict[str, str]) -> None:
        timestamp = int(time.time()) + offset_s
        params["Timestamp"] = str(timestamp)
        params["Signature"] = sign(APP_ID, params["SignatureNonce"], SECRET, timestamp)

    return mutate


@pytest.mark.asyncio
async def test_good_call(sim: Simulator, session: aiohttp.ClientSession) -> None:
    status, env = await post(
        session, sim.http_url, common_params("DriveByWsStream"), {"TaskId": "t1"}
    )
    assert status == 200
    assert isinstance(env, dict)
    assert env["Code"] == 0 and env["Message"] == "success"
    uuid.UUID(env["RequestId"])
    drive_id = env["Data"]["DriveId"]
    uuid.UUID(drive_id)
    assert env["Data"]["WssAddress"].startswith(f"ws://127.0.0.1:{sim.port}/ws?Token=")
    (call,) = sim.api_calls
    assert (call.action, call.app_id, call.task_id, call.code) == (
        "DriveByWsStream",
        APP_ID,
        "t1",
        0,
    )
    assert (call.request_id, call.drive_id) == (env["RequestId"], drive_id)
    assert [d.drive_id for d in sim.drives] == [drive_id]
    assert sim.drive(drive_id).task_id == "t1"


@pytest.mark.asyncio
async def test_each_call_gets_a_fresh_drive(sim: Simulator, session: aiohttp.ClientSession) -> None:
    grants = []
    for _ in range(3):
        _, env = await post(
            session, sim.http_url, common_params("DriveByWsStream"), {"TaskId": "t1"}
        )
        assert isinstance(env, dict)
        grants.append((env["Data"]["DriveId"], env["Data"]["WssAddress"]))
    assert len({d for d, _ in grants}) == 3
    assert len({a for _, a in grants}) == 3
    assert [d.drive_id for d in sim.drives_for_task("t1")] == [d for d, _ in grants]


@pytest.mark.asyncio
async def test_url_without_slash_and_get(sim: Simulator, session: aiohttp.ClientSession) -> None:
    no_slash = sim.http_url.rstrip("/")
    status, env = await post(session, no_slash, common_params("DriveByWsStream"), {"TaskId": "t1"})
    assert status == 200 and isinstance(env, dict) and env["Code"] == 0
    # GET: every parameter in the query (§1).
    params = {**common_params("GetDigitalHumanStreamTaskStatus"), "TaskId": "t1"}
    async with session.get(no_slash, params=params) as resp:
        env = await resp.json()
    assert env["Code"] == 0 and env["Data"]["Status"] == 3


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (_drop("Action"), 100000006),
        (_set("Action", ""), 100000006),
        (_drop("AppId"), 100000001),
        (_set("AppId", "12ab"), 100000001),
        (_set("AppId", "-5"), 100000001),
        (_set("AppId", str(2**32)), 100000001),
        (_set("AppId", "42"), 100000010),
        (_drop("SignatureNonce"), 100000008),
        (_drop("Signature"), 100000009),
        (_drop("SignatureVersion"), 100000013),
        (_set("SignatureVersion", "1.0"), 100000014),
        (_drop("Timestamp"), 100000002),
        (_set("Timestamp", "12:00"), 100000003),
        (_set("Timestamp", str(int(time.time() * 1000))), 100000004),  # milliseconds
        (_resign(-11 * 60), 100000004),
        (_resign(11 * 60), 100000004),
        (_set("Signature", "0" * 32), 100000005),
        (_set("SignatureNonce", "another-nonce"), 100000005),
        (_set("Action", "DescribeDigitalHuman"), 100000007),
    ],
)
@pytest.mark.asyncio
async def test_common_parameter_errors(
    sim: Simulator, session: aiohttp.ClientSession, mutate: Mutation, code: int
) -> None:
    params = common_params("DriveByWsStream")
    mutate(params)
    status, env = await post(session, sim.http_url, params, {"TaskId": "t1"})
    assert status == 200, "API errors come with HTTP 200 (§4)"
    assert isinstance(env, dict)
    assert env["Code"] == code, env
    assert "Data" not in env
    assert sim.api_calls[-1].code == code
    assert sim.drives == []


@pytest.mark.asyncio
async def test_timestamp_within_ten_minutes_is_accepted(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    params = common_params("DriveByWsStream", timestamp=int(time.time()) - 9 * 60)
    _, env = await post(session, sim.http_url, params, {"TaskId": "t1"})
    assert isinstance(env, dict) and env["Code"] == 0


@pytest.mark.asyncio
async def test_wrong_secret_and_uppercase_signature(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    _, env = await post(
        session, sim.http_url, common_params("DriveByWsStream", secret="x" * 32), {"TaskId": "t"}
    )
    assert isinstance(env, dict) and env["Code"] == 100000005
    params = common_params("DriveByWsStream")
    params["Signature"] = params["Signature"].upper()
    _, env = await post(session, sim.http_url, params, {"TaskId": "t"})
    assert isinstance(env, dict) and env["Code"] == 100000005


@pytest.mark.parametrize(
    ("raw_body", "why"),
    [
        (b"{not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b"{}", "TaskId"),
        (b'{"TaskId": 5}', "TaskId"),
        (b'{"TaskId": ""}', "TaskId"),
        (b"", "TaskId"),
    ],
)
@pytest.mark.asyncio
async def test_bad_body_is_400000001(
    sim: Simulator, session: aiohttp.ClientSession, raw_body: bytes, why: str
) -> None:
    _, env = await post(session, sim.http_url, common_params("DriveByWsStream"), raw_body=raw_body)
    assert isinstance(env, dict)
    assert env["Code"] == 400000001
    assert why in env["Message"]


@pytest.mark.asyncio
async def test_rate_limit_per_app_id(sim: Simulator, session: aiohttp.ClientSession) -> None:
    async def call() -> int:
        _, env = await post(
            session, sim.http_url, common_params("DriveByWsStream"), {"TaskId": "t1"}
        )
        assert isinstance(env, dict)
        return int(env["Code"])

    codes = await asyncio.gather(*(call() for _ in range(12)))
    assert sorted(codes) == [0] * 10 + [400010009] * 2
    assert len(sim.drives) == 10
    assert [c.code for c in sim.api_calls].count(400010009) == 2


@pytest.mark.asyncio
async def test_task_list(session: aiohttp.ClientSession) -> None:
    config = SimulatorConfig(app_id=APP_ID, server_secret=SECRET, tasks=["known"])
    async with Simulator(config) as sim:
        _, env = await post(
            session, sim.http_url, common_params("DriveByWsStream"), {"TaskId": "other"}
        )
        assert isinstance(env, dict) and env["Code"] == 400000005
        _, env = await post(
            session, sim.http_url, common_params("DriveByWsStream"), {"TaskId": "known"}
        )
        assert isinstance(env, dict) and env["Code"] == 0


@pytest.mark.asyncio
async def test_stop_task_then_drive_and_status(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    url = sim.http_url
    _, env = await post(
        session, url, common_params("GetDigitalHumanStreamTaskStatus"), {"TaskId": "t"}
    )
    assert isinstance(env, dict) and env["Code"] == 0
    assert set(env["Data"]) == {"RoomId", "StreamId", "Status", "CreateTime"}
    _, env = await post(session, url, common_params("StopDigitalHumanStreamTask"), {"TaskId": "t"})
    assert isinstance(env, dict) and env["Code"] == 0 and "Data" not in env
    _, env = await post(session, url, common_params("StopDigitalHumanStreamTask"), {"TaskId": "t"})
    assert isinstance(env, dict) and env["Code"] == 400000007
    _, env = await post(session, url, common_params("DriveByWsStream"), {"TaskId": "t"})
    assert isinstance(env, dict) and env["Code"] == 400000005
