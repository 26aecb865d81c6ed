"""Shared parts of the security tests: test certificates, API keys, drives held open."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from dhgateway_client import DriveGatewayClient

from gateway.config import ApiKey, GatewayConfig
from gateway.service.app import GatewayApp
from gateway.service.auth import key_digest
from gateway.service.server import start_server
from gateway.simulator import Simulator, SimulatorConfig
from gateway.testing import TEST_APP_ID, Harness
from tests.service.conftest import pcm

KEY_A = "dhgw_key-of-a"
KEY_B = "dhgw_key-of-b"


def api_key(name: str, key: str, **fields: object) -> ApiKey:
    """An ApiKey entry for ``key`` (stored as its SHA-256)."""
    return ApiKey(name=name, sha256=key_digest(key), **fields)  # type: ignore[arg-type]


def bearer(key: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {key}")]


@dataclass
class Pki:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate, as files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # a client certificate from another CA
    stranger_key: Path

    def channel_credentials(self, *, client: bool = False) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            self.ca.read_bytes(),
            self.client_key.read_bytes() if client else None,
            self.client_cert.read_bytes() if client else None,
        )


def make_pki(root: Path) -> Pki:
    """Fresh test certificates (trustme) written under ``root``."""
    ca, stranger_ca = trustme.CA(), trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert("client.example")
    stranger = stranger_ca.issue_cert("stranger.example")
    paths = {}
    for name, blob in {
        "ca": ca.cert_pem,
        "server_cert": server.cert_chain_pems[0],
        "server_key": server.private_key_pem,
        "client_cert": client.cert_chain_pems[0],
        "client_key": client.private_key_pem,
        "stranger_cert": stranger.cert_chain_pems[0],
        "stranger_key": stranger.private_key_pem,
    }.items():
        path = root / f"{name}.pem"
        blob.write_to_path(str(path))
        paths[name] = path
    return Pki(**paths)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def held_audio(release: asyncio.Event) -> AsyncIterator[bytes]:
    """200 ms of audio, then nothing until ``release`` (at most 30 s): a drive held open."""
    yield pcm(200)
    async with asyncio.timeout(30):
        await release.wait()


async def started(stream: AsyncIterator[object]) -> str:
    """Wait for the Started event of a drive; its DriveId."""
    event = await anext(stream)
    assert event.WhichOneof("event") == "started", event  # type: ignore[attr-defined]
    return str(event.drive_id)  # type: ignore[attr-defined]


SECRET = "0123456789abcdef" * 2


@asynccontextmanager
async def gateway(**config_changes: Any) -> AsyncIterator[Harness]:
    """The simulator (secret :data:`SECRET`) and a gateway with ``config_changes``.

    Like :func:`gateway.testing.running_gateway`, with a known secret so that tests can build
    credential profiles of their own; ``h.channel`` is plaintext and carries no key.
    """
    sim_config = SimulatorConfig(app_id=TEST_APP_ID, server_secret=SECRET, host="127.0.0.1", port=0)
    async with Simulator(sim_config) as sim:
        config = GatewayConfig.for_test(
            app_id=TEST_APP_ID, server_secret=SECRET, api_url=sim.http_url, **config_changes
        )
        async with GatewayApp(config) as app:
            server = await start_server(app)
            try:
                async with grpc.aio.insecure_channel(server.address) as channel:
                    yield Harness(sim, app, server, channel, DriveGatewayClient(channel))
            finally:
                await server.stop(grace_s=None)
