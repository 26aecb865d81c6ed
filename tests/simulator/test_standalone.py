"""``python -m gateway.simulator`` as a real process: ready line, service, clean SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import sys
from pathlib import Path

import aiohttp
import pytest

from gateway.simulator.standalone import _config, build_parser
from tests.served import runs_uvloop

from .helpers import (
    APP_ID,
    SECRET,
    common_params,
    drive_by_ws_stream,
    post,
    start_frame,
    ws_connect,
)
from .receiver import CALLBACK_SECRET, CallbackReceiver, verify


async def _spawn(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.simulator",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("sig", "event_loop"), [(signal.SIGTERM, "uvloop"), (signal.SIGINT, "asyncio")]
)
@pytest.mark.asyncio
async def test_standalone_serves_and_stops_on_signal(sig: signal.Signals, event_loop: str) -> None:
    proc = await _spawn(
        "--port", "0", "--app-id", str(APP_ID), "--tasks", "a,b", "--log-level", "WARNING",
        "--event-loop", event_loop, env={"DH_SIMULATOR_SERVER_SECRET": SECRET},
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        async with asyncio.timeout(15):
            line = (await proc.stdout.readline()).decode()
        url = line.strip()
        assert runs_uvloop(proc.pid) == (event_loop == "uvloop")
        assert url.startswith("http://127.0.0.1:") and url.endswith("/"), line
        async with aiohttp.ClientSession() as session:
            _, env = await post(session, url, common_params("DriveByWsStream"), {"TaskId": "zz"})
            assert isinstance(env, dict) and env["Code"] == 400000005
            drive_id, address = await drive_by_ws_stream(session, url, "a")
            ws = await ws_connect(address)
            await ws.send(start_frame(drive_id))
            async with session.get(f"{url}_sim/state") as resp:
                state = await resp.json()
            assert [d["drive_id"] for d in state["drives"]] == [drive_id]
            proc.send_signal(sig)
            async with asyncio.timeout(10):
                assert await proc.wait() == 0
                await ws.wait_closed()
            assert ws.close_code == 1001  # the open connection was closed, going away
        stdout_rest = await proc.stdout.read()
        assert stdout_rest == b""  # the address is the only stdout line
        stderr = (await proc.stderr.read()).decode()
        assert SECRET not in stderr
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.asyncio
async def test_standalone_rejects_a_missing_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DH_SIMULATOR_SERVER_SECRET"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.simulator",
        "--app-id",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    async with asyncio.timeout(15):
        _, stderr = await proc.communicate()
    assert proc.returncode == 2
    assert b"--server-secret" in stderr


@pytest.mark.asyncio
async def test_standalone_tls_writes_its_ca(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    proc = await _spawn(
        "--app-id", str(APP_ID), "--server-secret", SECRET, "--tls", "--ca-file", str(ca_file),
        "--log-level", "WARNING",
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(15):
            url = (await proc.stdout.readline()).decode().strip()
        assert url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(ca_file))
        async with aiohttp.ClientSession() as session:
            drive_id, address = await drive_by_ws_stream(session, url, "t", context)
        assert drive_id and address.startswith("wss://127.0.0.1:")
        proc.terminate()
        async with asyncio.timeout(10):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_standalone_callback_flags_map_to_the_config() -> None:
    args = build_parser().parse_args(
        ["--app-id", "7", "--server-secret", "s", "--callback-url", "http://127.0.0.1:9/cb",
         "--callback-secret", "cs", "--callback-timestamp-unit", "s",
         "--callback-retry-scale", "0.5", "--render-latency-ms", "120", "--task-init-s", "1",
         "--task-max-idle-s", "900", "--task-ttl-s", "86400"]
    )  # fmt: skip
    config = _config(args)
    assert (config.callback_url, config.callback_secret) == ("http://127.0.0.1:9/cb", "cs")
    assert (config.callback_timestamp_unit, config.callback_retry_scale) == ("s", 0.5)
    assert (config.render_latency_ms, config.task_init_s) == (120.0, 1.0)
    assert (config.task_max_idle_s, config.task_ttl_s) == (900.0, 86400.0)
    plain = _config(build_parser().parse_args(["--app-id", "7", "--server-secret", "s"]))
    assert plain.callback_url is None and plain.task_max_idle_s is None
    assert plain.callback_timestamp_unit == "ms" and plain.render_latency_ms == 0.0


@pytest.mark.asyncio
async def test_standalone_sends_signed_callbacks() -> None:
    async with CallbackReceiver() as rx:
        proc = await _spawn(
            "--app-id", str(APP_ID), "--server-secret", SECRET, "--callback-url", rx.url,
            "--task-max-idle-s", "0.3", "--event-loop", "asyncio",
            env={"DH_SIMULATOR_CALLBACK_SECRET": CALLBACK_SECRET},
        )  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        try:
            async with asyncio.timeout(15):
                url = (await proc.stdout.readline()).decode().strip()
            async with aiohttp.ClientSession() as session:
                params = common_params("GetDigitalHumanStreamTaskStatus")
                _, env = await post(session, url, params, {"TaskId": "t1"})
                assert isinstance(env, dict) and env["Code"] == 0
            await rx.wait_count(3, timeout=5)
            proc.terminate()
            async with asyncio.timeout(10):
                assert await proc.wait() == 0
            stderr = (await proc.stderr.read()).decode()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert rx.keys() == [(3, None, 1), (3, None, 3), (3, None, 5)]
    assert all(verify(r.body) for r in rx.received)
    assert CALLBACK_SECRET not in stderr and SECRET not in stderr
    assert "callbacks to http://127.0.0.1:" in stderr
    assert all(r.body["Signature"] not in stderr for r in rx.received)
