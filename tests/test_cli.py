"""The ``dh-gateway`` command as a real process: config, health, api-key, refusals to start."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.config import ServerConfig, TlsConfig
from gateway.service.server import SERVICE_NAME
from tests.security.conftest import Pki, gateway, make_pki

DH_GATEWAY = str(Path(sys.executable).parent / "dh-gateway")
SECRET = "cli-secret-never-printed"
CREDS = {"DHGW_ZEGO_APP_ID": "1234567890", "DHGW_ZEGO_SERVER_SECRET": SECRET}


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


async def run(*args: str, env: dict[str, str] | None = None, stdin: bytes = b"") -> Result:
    """Run ``dh-gateway args`` with only ``env`` as DHGW_* variables; bounded in time."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DHGW_")}
    process = await asyncio.create_subprocess_exec(
        DH_GATEWAY,
        *args,
        env={**clean, **(env or {})},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(30):
            out, err = await process.communicate(stdin)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


@pytest.mark.asyncio
async def test_config_prints_the_effective_configuration_masked(tmp_path: Path) -> None:
    file = tmp_path / "gw.toml"
    file.write_text("[limits]\nmax_drives = 5\nidle_timeout_s = 4\n")
    env = {**CREDS, "DHGW_MAX_DRIVES": "6"}
    result = await run("config", "--config", str(file), "--idle-timeout-s", "3", env=env)
    assert result.code == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    config = tomllib.loads(result.stdout)
    assert config["limits"]["max_drives"] == 6
    assert config["limits"]["idle_timeout_s"] == 3.0
    assert config["profiles"]["default"]["server_secret"] == "***"
    result = await run("config", "--format", "json", env={**CREDS, "DHGW_CONFIG": str(file)})
    assert json.loads(result.stdout)["limits"]["max_drives"] == 5
    # The global --log-level is the observability.log_level setting.
    result = await run("--log-level", "DEBUG", "config", env=CREDS)
    assert tomllib.loads(result.stdout)["observability"]["log_level"] == "DEBUG"


@pytest.mark.asyncio
async def test_serve_lists_every_problem_one_per_line_and_exits_2() -> None:
    env = {"DHGW_MAX_DRIVES": "none", "DHGW_PACING": "maybe"}
    result = await run("serve", "--listen", "nowhere", env=env)
    assert result.code == 2
    lines = result.stderr.splitlines()
    assert lines == [
        "dh-gateway: configuration error: limits.max_drives (DHGW_MAX_DRIVES) must be an "
        "integer, got 'none'",
        "dh-gateway: configuration error: pacing.enabled (DHGW_PACING) must be on or off, "
        "got 'maybe'",
        "dh-gateway: configuration error: server.listen (--listen) must be host:port "
        "(port 0-65535) or unix:/path, got 'nowhere'",
        "dh-gateway: configuration error: no credentials for the default profile 'default': "
        "set DHGW_ZEGO_APP_ID and DHGW_ZEGO_SERVER_SECRET (or DHGW_ZEGO_SERVER_SECRET_FILE)",
    ]
    assert result.stdout == ""


@pytest.mark.asyncio
async def test_serve_refuses_an_open_insecure_listener_in_one_line() -> None:
    result = await run("serve", env={**CREDS, "DHGW_LISTEN": "0.0.0.0:50051"})
    assert result.code == 2
    (line,) = result.stderr.splitlines()
    assert "'0.0.0.0:50051' is reachable from other machines" in line
    assert "--allow-insecure" in line
    assert result.stdout == ""


@pytest.mark.asyncio
async def test_serve_says_when_its_port_is_taken() -> None:
    async with gateway() as h:
        result = await run("serve", "--listen", h.address, env=CREDS)
    assert result.code == 2
    # Our sentence comes last (grpc's core may log its own line before it).
    assert result.stderr.splitlines()[-1] == (
        f"dh-gateway: configuration error: cannot listen on {h.address} "
        "(in use, or not an address here)"
    )


@pytest.mark.asyncio
async def test_serve_without_its_redis_exits_1_in_one_line() -> None:
    env = {**CREDS, "DHGW_REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0"}
    result = await run("serve", "--listen", "127.0.0.1:0", env=env)
    assert result.code == 1
    assert result.stderr.splitlines()[-1] == (
        "dh-gateway: cannot start: the replicas' shared state (Redis) did not answer while "
        "subscribing to the task events"
    )
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.asyncio
async def test_health_exits_0_when_serving_and_1_otherwise() -> None:
    async with gateway() as h:
        result = await run("health", "--address", h.address)
        assert (result.code, result.stdout) == (0, "SERVING\n"), result.stderr
        result = await run("health", "--address", h.address, "--service", SERVICE_NAME)
        assert result.code == 0
        # The default address comes from the gateway's own variable.
        result = await run("health", env={"DHGW_LISTEN": h.address})
        assert result.code == 0
        result = await run("health", "--address", h.address, "--service", "no.such.Service")
        assert result.code == 1
        assert "NOT_FOUND" in result.stderr
        await h.server.health.enter_graceful_shutdown()
        result = await run("health", "--address", h.address)
        assert (result.code, result.stdout) == (1, "NOT_SERVING\n")
    address = f"127.0.0.1:{_closed_port()}"
    result = await run("health", "--address", address, "--timeout", "1")
    assert result.code == 1
    assert result.stderr.startswith(f"{address}: ")


@pytest.mark.asyncio
async def test_health_over_mutual_tls_and_on_the_probe_listener(pki: Pki) -> None:
    tls = TlsConfig(
        cert_file=str(pki.server_cert), key_file=str(pki.server_key), client_ca_file=str(pki.ca)
    )
    server = ServerConfig(listen="127.0.0.1:0", tls=tls, health_listen="127.0.0.1:0")
    async with gateway(server=server) as h:
        client = ["--cert-file", str(pki.client_cert), "--key-file", str(pki.client_key)]
        result = await run("health", "--address", h.address, "--ca-file", str(pki.ca), *client)
        assert result.code == 0, result.stderr
        # TLS without the client certificate, and plaintext, are refused.
        result = await run("health", "--address", h.address, "--ca-file", str(pki.ca))
        assert result.code == 1
        result = await run("health", "--address", h.address, "--timeout", "2")
        assert result.code == 1
        # The plaintext health-only listener, found through DHGW_HEALTH_LISTEN.
        env = {"DHGW_LISTEN": h.address, "DHGW_HEALTH_LISTEN": h.server.health_address}
        result = await run("health", env=env)
        assert result.code == 0, result.stderr


@pytest.mark.asyncio
async def test_api_key_prints_a_key_and_its_config_entry() -> None:
    result = await run("api-key", "--name", "frontend")
    assert result.code == 0
    key_line = next(line for line in result.stdout.splitlines() if "dhgw_" in line)
    key = key_line.removeprefix("# ")
    (entry,) = tomllib.loads(result.stdout)["auth"]["api_keys"]
    assert entry["name"] == "frontend"
    assert entry["sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert len(key) > 40  # 256 random bits
    result = await run("api-key", "--stdin", stdin=b"my-own-key\n")
    (entry,) = tomllib.loads(result.stdout)["auth"]["api_keys"]
    assert entry["sha256"] == hashlib.sha256(b"my-own-key").hexdigest()
    assert "my-own-key" not in result.stdout
