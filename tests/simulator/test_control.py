"""The ``/_sim/`` inspection endpoints, TLS mode, and the in-process waiters."""

from __future__ import annotations

import logging
import os
import ssl

import aiohttp
import pytest
from websockets.exceptions import InvalidStatus

from gateway.simulator import Simulator, SimulatorConfig

from .helpers import (
    APP_ID,
    FRAME,
    SECRET,
    common_params,
    drive_by_ws_stream,
    post,
    start_frame,
    stop_frame,
    ws_connect,
)


@pytest.mark.asyncio
async def test_state_endpoint_lists_calls_and_drives(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1")
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id, SampleRate=24000))
        await ws.send(b"\x01\x02" * 480)
        await ws.send(stop_frame(drive_id))
    await sim.wait_closed(drive_id)
    async with session.get(f"{sim.http_url}_sim/state") as resp:
        assert resp.status == 200
        state = await resp.json()
    assert state == sim.state_json()
    (call,) = state["api_calls"]
    assert (call["action"], call["code"], call["drive_id"]) == ("DriveByWsStream", 0, drive_id)
    (drive,) = state["drives"]
    assert drive["drive_id"] == drive_id and drive["task_id"] == "t1"
    assert (drive["sample_rate"], drive["channel"], drive["voice_channel"]) == (24000, 1, 0)
    assert drive["bytes"] == 960 and drive["frame_count"] == 1
    assert drive["audio_ms"] == pytest.approx(20.0)
    assert drive["start"]["Payload"]["SampleRate"] == 24000
    assert drive["clean_close"] is True and drive["close_code"] == 1000
    assert drive["errors"] == [] and drive["underruns"] == 0
    assert drive["stop_lag_ms"] is not None
    for key in ("connected_at", "started_at", "first_audio_at", "last_audio_at", "stopped_at"):
        assert isinstance(drive[key], float)
    # No secret anywhere in the JSON: neither the signature nor the token.
    text = str(state)
    assert SECRET not in text and address.split("Token=")[1] not in text
    async with session.get(f"{sim.http_url}_sim/drives/{drive_id}/audio") as resp:
        assert await resp.read() == b"\x01\x02" * 480
    async with session.get(f"{sim.http_url}_sim/drives/nope/audio") as resp:
        assert resp.status == 404


@pytest.mark.asyncio
async def test_fault_and_reset_endpoints(sim: Simulator, session: aiohttp.ClientSession) -> None:
    url = sim.http_url
    fault = {"fault": {"force_code": 400010002, "times": 1}, "task_id": "t1"}
    async with session.post(f"{url}_sim/faults", json=fault) as resp:
        assert resp.status == 200
        armed = await resp.json()
    assert armed["t1"]["fault"]["force_code"] == 400010002 and armed["t1"]["api_left"] == 1
    _, env = await post(session, url, common_params("DriveByWsStream"), {"TaskId": "t1"})
    assert isinstance(env, dict) and env["Code"] == 400010002
    for bad in ({"fault": {"nope": 1}}, {"fault": {"times": 0}}, {"what": 1}, [1]):
        async with session.post(f"{url}_sim/faults", json=bad) as resp:
            assert resp.status == 400
    async with session.post(f"{url}_sim/faults", json={"fault": {"http_status": 500}}) as resp:
        assert "*" in await resp.json()
    async with session.post(f"{url}_sim/faults", json={"clear": True}) as resp:
        assert await resp.json() == {}
    async with session.post(f"{url}_sim/reset") as resp:
        assert resp.status == 200
    assert sim.api_calls == [] and sim.drives == []


@pytest.mark.asyncio
async def test_wait_helpers(sim: Simulator, session: aiohttp.ClientSession) -> None:
    with pytest.raises(KeyError):
        await sim.wait_closed("unknown")
    drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t9")
    assert (await sim.wait_for_drive("t9")).drive_id == drive_id
    with pytest.raises(TimeoutError):
        await sim.wait_closed(drive_id, timeout=0.05)
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
        await ws.send(bytes(FRAME))
        await sim.wait_for(lambda: sim.drive(drive_id).frame_count == 1, timeout=2.0)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _exists(path: str) -> bool:
    return os.path.exists(path)


@pytest.mark.asyncio
async def test_tls_mode(session: aiohttp.ClientSession) -> None:
    config = SimulatorConfig(app_id=APP_ID, server_secret=SECRET, tls=True)
    async with Simulator(config) as sim:
        assert sim.http_url.startswith("https://127.0.0.1:")
        assert sim.ca_pem is not None and sim.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
        path = sim.ca_pem_path
        assert path is not None
        assert _read(path) == sim.ca_pem
        verifying = ssl.create_default_context(cafile=path)
        drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1", verifying)
        assert address.startswith("wss://127.0.0.1:")
        async with ws_connect(address, ssl_context=verifying) as ws:
            await ws.send(start_frame(drive_id))
            await ws.send(bytes(FRAME))
            await ws.send(stop_frame(drive_id))
        record = await sim.wait_closed(drive_id)
        assert record.audio_bytes == FRAME and record.clean_close
        # The vendor's samples skip verification (§8): that must work too.
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        drive_id, address = await drive_by_ws_stream(session, sim.http_url, "t1", insecure)
        async with ws_connect(address, ssl_context=insecure) as ws:
            await ws.send(start_frame(drive_id))
        # Without the CA, verification fails.
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await drive_by_ws_stream(session, sim.http_url, "t1", ssl.create_default_context())
        async with session.get(f"{sim.http_url}_sim/ca.pem", ssl=verifying) as resp:
            assert await resp.read() == sim.ca_pem
    assert not _exists(path)


@pytest.mark.asyncio
async def test_plain_mode_has_no_ca(sim: Simulator, session: aiohttp.ClientSession) -> None:
    assert sim.ca_pem is None and sim.ca_pem_path is None and sim.client_ssl_context() is None
    async with session.get(f"{sim.http_url}_sim/ca.pem") as resp:
        assert resp.status == 404


@pytest.mark.asyncio
async def test_no_secret_in_log_lines(
    sim: Simulator, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    params = common_params("DriveByWsStream")
    _, env = await post(session, sim.http_url, params, {"TaskId": "t1"})
    assert isinstance(env, dict)
    drive_id, address = env["Data"]["DriveId"], env["Data"]["WssAddress"]
    async with ws_connect(address) as ws:
        await ws.send(start_frame(drive_id))
    await sim.wait_closed(drive_id)
    with pytest.raises(InvalidStatus):  # the token is spent: 403
        async with ws_connect(address):
            pass
    ours = [r for r in caplog.records if r.name.startswith(("gateway.simulator", "aiohttp"))]
    assert ours, "the simulator logs its work"
    text = "\n".join(r.getMessage() for r in ours)
    for secret in (SECRET, params["Signature"], address.split("Token=")[1]):
        assert secret not in text
