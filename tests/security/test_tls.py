"""TLS and mutual TLS on the listener, Unix sockets, and the health-only plaintext listener."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc
from dhgateway_client import DriveGatewayClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.config import AuthConfig, ServerConfig, TlsConfig
from gateway.errors import ConfigError
from gateway.service.server import server_credentials
from tests.security.conftest import KEY_A, Pki, api_key, bearer, gateway
from tests.service.conftest import pcm

SERVING = health_pb2.HealthCheckResponse.SERVING


def tls_server(pki: Pki, *, mutual: bool = False, **fields: object) -> ServerConfig:
    tls = TlsConfig(
        cert_file=str(pki.server_cert),
        key_file=str(pki.server_key),
        client_ca_file=str(pki.ca) if mutual else None,
    )
    return ServerConfig(listen="127.0.0.1:0", tls=tls, **fields)  # type: ignore[arg-type]


async def capabilities(
    address: str, credentials: grpc.ChannelCredentials | None, **call: object
) -> pb.Capabilities:
    """One GetCapabilities on a fresh channel (plaintext when ``credentials`` is None)."""
    channel = (
        grpc.aio.insecure_channel(address)
        if credentials is None
        else grpc.aio.secure_channel(address, credentials)
    )
    async with channel:
        stub = pb_grpc.DriveGatewayStub(channel)
        return await stub.GetCapabilities(pb.GetCapabilitiesRequest(), timeout=5, **call)  # type: ignore[arg-type]


async def refused(address: str, credentials: grpc.ChannelCredentials | None) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await capabilities(address, credentials)
    return caught.value.code()


@pytest.mark.asyncio
async def test_tls_serves_tls_only(pki: Pki) -> None:
    async with gateway(server=tls_server(pki)) as h:
        caps = await capabilities(h.address, pki.channel_credentials())
        assert caps.max_chunk_bytes > 0
        assert await refused(h.address, None) == grpc.StatusCode.UNAVAILABLE
        # A client that does not trust the gateway's CA refuses it.
        stranger = grpc.ssl_channel_credentials(pki.stranger_cert.read_bytes())
        assert await refused(h.address, stranger) == grpc.StatusCode.UNAVAILABLE


@pytest.mark.asyncio
async def test_mutual_tls_requires_a_client_certificate_from_the_ca(pki: Pki) -> None:
    async with gateway(server=tls_server(pki, mutual=True)) as h:
        await capabilities(h.address, pki.channel_credentials(client=True))
        assert await refused(h.address, pki.channel_credentials()) == grpc.StatusCode.UNAVAILABLE
        stranger = grpc.ssl_channel_credentials(
            pki.ca.read_bytes(), pki.stranger_key.read_bytes(), pki.stranger_cert.read_bytes()
        )
        assert await refused(h.address, stranger) == grpc.StatusCode.UNAVAILABLE


@pytest.mark.asyncio
async def test_tls_and_api_keys_together_with_call_credentials(pki: Pki) -> None:
    auth = AuthConfig(api_keys=(api_key("a", KEY_A),))
    async with gateway(server=tls_server(pki, mutual=True), auth=auth) as h:
        tls = pki.channel_credentials(client=True)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await capabilities(h.address, tls)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # grpc's own access-token credentials send exactly "authorization: Bearer <key>".
        token = grpc.access_token_call_credentials(KEY_A)
        await capabilities(h.address, grpc.composite_channel_credentials(tls, token))
        await capabilities(h.address, tls, metadata=bearer(KEY_A))


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    # A short path: a Unix socket's path is limited to about 100 bytes.
    path = Path(tempfile.mkdtemp(prefix="dhgw-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.asyncio
async def test_unix_socket_for_sidecars(socket_dir: Path) -> None:
    listen = f"unix:{socket_dir / 'gw.sock'}"
    async with gateway(server=ServerConfig(listen=listen)) as h:
        assert h.address == listen
        async with grpc.aio.insecure_channel(listen) as channel:
            client = DriveGatewayClient(channel)
            events = [e.WhichOneof("event") async for e in client.drive("t", [pcm(100)])]
            assert events[-1] == "completed"


@pytest.mark.asyncio
async def test_health_listener_answers_plaintext_probes_of_a_mutual_tls_gateway(
    pki: Pki,
) -> None:
    server = tls_server(pki, mutual=True, health_listen="127.0.0.1:0")
    async with gateway(server=server) as h:
        assert h.server.health_address.startswith("127.0.0.1:")
        async with grpc.aio.insecure_channel(h.server.health_address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert answer.status == SERVING
            # Only health there: the gateway's API is not on the plaintext port.
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await pb_grpc.DriveGatewayStub(channel).GetCapabilities(
                    pb.GetCapabilitiesRequest(), timeout=5
                )
            assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
            await h.server.health.enter_graceful_shutdown()
            answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (("garbage", "server_key", None), "are not a PEM certificate chain and its private key"),
        (
            ("server_cert", "client_key", None),
            "are not a PEM certificate chain and its private key",
        ),
        (("server_cert", "server_key", "garbage"), "holds no PEM CA certificate"),
    ],
    ids=["bad-certificate", "mismatched-key", "bad-ca"],
)
def test_bad_tls_material_is_named_not_reported_as_a_busy_port(
    pki: Pki, tmp_path: Path, files: tuple[str, str, str | None], expected: str
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    paths = {**{name: str(getattr(pki, name)) for name in vars(pki)}, "garbage": str(garbage)}
    cert, key, ca = files
    tls = TlsConfig(cert_file=paths[cert], key_file=paths[key], client_ca_file=ca and paths[ca])
    with pytest.raises(ConfigError, match=expected) as caught:
        server_credentials(ServerConfig(tls=tls))
    assert "cannot listen" not in str(caught.value)
