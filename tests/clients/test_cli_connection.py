"""Every ``dh-drive`` reaches a TLS gateway that wants an API key (issue 21 item 4): ``--tls``,
``--ca``, ``--cert``/``--key`` (mutual TLS), the key from ``--api-key-file`` or
``$DHGW_API_KEY``; a missing or others-readable key file is a usage error (exit 2) before
anything is sent. The same flags, the same outcomes, in each language."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from gateway.config import AuthConfig, ServerConfig, TlsConfig
from gateway.testing import Harness
from scripts.clients import client_command, language_names
from tests.clients.conftest import CLIP, Run, run_dh_drive
from tests.security.conftest import Pki, api_key, gateway, make_pki

KEY = "dhgw_cli-connection-key"


@pytest.fixture(params=language_names())
def client(request: pytest.FixtureRequest) -> list[str]:
    return client_command(request.param)


@pytest.fixture
def certs(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


@pytest_asyncio.fixture
async def mtls(certs: Pki) -> AsyncIterator[Harness]:
    """A gateway on TLS that asks for a client certificate of its CA, and an API key."""
    tls = TlsConfig(
        cert_file=str(certs.server_cert),
        key_file=str(certs.server_key),
        client_ca_file=str(certs.ca),
    )
    auth = AuthConfig(api_keys=(api_key("cli", KEY),))
    async with gateway(server=ServerConfig(listen="127.0.0.1:0", tls=tls), auth=auth) as h:
        yield h


def key_file(tmp_path: Path, mode: int = 0o600, key: str = KEY) -> Path:
    path = tmp_path / "api-key"
    path.write_text(key + "\n")
    path.chmod(mode)
    return path


async def dh_drive(client: list[str], *args: str, env: dict[str, str] | None = None) -> Run:
    """Run ``dh-drive <args> --json`` (no --addr added: the test gives it); bounded in time."""
    return await run_dh_drive([*client, *args, "--json"], env or {})


def tls_flags(h: Harness, certs: Pki) -> list[str]:
    return ["--addr", h.address, "--ca", str(certs.ca), "--cert", str(certs.client_cert),
            "--key", str(certs.client_key)]  # fmt: skip


@pytest.mark.asyncio
async def test_mutual_tls_and_a_key_file_drive_the_avatar(
    client: list[str], mtls: Harness, certs: Pki, tmp_path: Path
) -> None:
    run = await dh_drive(
        client, *tls_flags(mtls, certs), "--api-key-file", str(key_file(tmp_path)),
        "--task", "cli-mtls", "--file", str(CLIP),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert [line["event"] for line in run.lines][-1] == "completed", run.lines
    assert KEY not in run.stderr and all(KEY not in str(line) for line in run.lines)
    run = await dh_drive(client, "get-task", *tls_flags(mtls, certs), "--task", "cli-mtls",
                         env={"DHGW_API_KEY": KEY})  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.events("task")[0]["task_id"] == "cli-mtls"


@pytest.mark.asyncio
async def test_the_key_from_the_environment_and_a_wrong_key(
    client: list[str], mtls: Harness, certs: Pki
) -> None:
    flags = [*tls_flags(mtls, certs), "--task", "cli-env", "--file", str(CLIP)]
    run = await dh_drive(client, *flags, env={"DHGW_API_KEY": KEY})
    assert run.returncode == 0, run.stderr
    run = await dh_drive(client, *flags, env={"DHGW_API_KEY": "dhgw_not-the-key"})
    assert run.returncode == 1, run.stderr
    assert (run.error["code"], run.error["reason"]) == ("UNAUTHENTICATED", "UNAUTHENTICATED")


@pytest.mark.asyncio
async def test_without_the_client_certificate_the_gateway_refuses(
    client: list[str], mtls: Harness, certs: Pki
) -> None:
    run = await dh_drive(
        client, "--addr", mtls.address, "--ca", str(certs.ca), "--task", "cli-nocert",
        "--file", str(CLIP), env={"DHGW_API_KEY": KEY},
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert run.error["code"] == "UNAVAILABLE", run.error
    assert mtls.sim.drives == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("mode", "needle"), [(0o644, "chmod 600"), (None, "no such file"), (0o600, "is empty")]
)
async def test_a_bad_key_file_is_a_usage_error(
    client: list[str], tmp_path: Path, mode: int | None, needle: str
) -> None:
    path = (
        tmp_path / "missing"
        if mode is None
        else key_file(tmp_path, mode, "" if needle == "is empty" else KEY)
    )
    run = await dh_drive(client, "--addr", "127.0.0.1:9", "--task", "t", "--file", str(CLIP),
                         "--api-key-file", str(path))  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert needle in run.stderr.lower() and str(path) in run.stderr, run.stderr
    assert KEY not in run.stderr
