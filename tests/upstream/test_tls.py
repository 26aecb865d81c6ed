"""TLS against the simulator's https/wss: the WebSocket unverified by default (the vendor's
docs require it), verified with the simulator's CA when configured."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from gateway.config import Credentials, UpstreamConfig
from gateway.errors import UpstreamUnreachable
from gateway.simulator import Simulator
from gateway.upstream import DriveSession, UpstreamClient, tls as upstream_tls
from tests.upstream.conftest import TASK, driving, pcm, short_config, sim_config


@pytest_asyncio.fixture
async def tls_sim() -> AsyncIterator[Simulator]:
    async with Simulator(sim_config(tls=True)) as simulator:
        yield simulator


@pytest_asyncio.fixture
async def tls_client(tls_sim: Simulator) -> AsyncIterator[UpstreamClient]:
    # The HTTP API is always verified: trust the simulator's CA for it.
    assert tls_sim.http_url.startswith("https://")
    config = short_config(tls_sim.http_url, ca_file=tls_sim.ca_pem_path)
    async with UpstreamClient(config) as client:
        yield client


async def drive_once(
    sim: Simulator, client: UpstreamClient, credentials: Credentials, config: UpstreamConfig
) -> None:
    grant = await client.drive_by_ws_stream(TASK, credentials)
    assert grant.wss_address.startswith("wss://")
    async with driving(await DriveSession.open(grant, sample_rate=16000, config=config)) as session:
        await session.send_audio(pcm(3200))
    record = await sim.wait_closed(session.drive_id)
    assert record.audio == pcm(3200) and record.clean_close and record.stopped_at is not None


@pytest.mark.asyncio
async def test_wss_without_verification_by_default(
    tls_sim: Simulator,
    tls_client: UpstreamClient,
    credentials: Credentials,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(upstream_tls, "_announced", set())
    caplog.set_level(logging.WARNING, logger="gateway.upstream")
    config = short_config(tls_sim.http_url)  # tls_verify=False, no ca_file
    await drive_once(tls_sim, tls_client, credentials, config)
    await drive_once(tls_sim, tls_client, credentials, config)
    warnings = [r for r in caplog.records if "verification" in r.getMessage()]
    assert len(warnings) == 1  # once per process
    assert warnings[0].levelno == logging.WARNING and "OFF" in warnings[0].getMessage()


@pytest.mark.asyncio
async def test_wss_verified_with_the_simulators_ca(
    tls_sim: Simulator, tls_client: UpstreamClient, credentials: Credentials
) -> None:
    config = short_config(tls_sim.http_url, tls_verify=True, ca_file=tls_sim.ca_pem_path)
    await drive_once(tls_sim, tls_client, credentials, config)


@pytest.mark.asyncio
async def test_wss_verification_fails_without_the_ca(
    tls_sim: Simulator, tls_client: UpstreamClient, credentials: Credentials
) -> None:
    config = short_config(tls_sim.http_url, tls_verify=True)  # the system store only
    grant = await tls_client.drive_by_ws_stream(TASK, credentials)
    with pytest.raises(UpstreamUnreachable, match="TLS") as caught:
        await DriveSession.open(grant, sample_rate=16000, config=config)
    assert not caught.value.retryable


@pytest.mark.asyncio
async def test_the_api_is_verified_even_when_the_websocket_is_not(
    tls_sim: Simulator, credentials: Credentials
) -> None:
    async with UpstreamClient(short_config(tls_sim.http_url)) as client:
        with pytest.raises(UpstreamUnreachable) as caught:
            await client.drive_by_ws_stream(TASK, credentials)
    assert not caught.value.retryable  # a certificate failure is configuration
    assert caught.value.metadata["attempts"] == "1"
