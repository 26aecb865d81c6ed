"""No secret in any log record: the ServerSecret, a request's Signature, the WebSocket Token.

Everything is captured at DEBUG, the libraries included (websockets' handshake lines quote the
request line, aiohttp's errors may quote a URL): a full drive, a refused call, retried calls.
"""

from __future__ import annotations

import logging
import re

import pytest

from gateway.config import Credentials, UpstreamConfig
from gateway.errors import UpstreamApiError, UpstreamUnreachable
from gateway.simulator import Fault, Simulator
from gateway.upstream import DriveSession, UpstreamClient
from tests.upstream.conftest import APP_ID, SECRET, TASK, driving, lost, pcm

MD5_HEX = re.compile(r"[0-9a-f]{32}")


@pytest.mark.asyncio
async def test_no_secret_reaches_a_log_record(
    sim: Simulator,
    client: UpstreamClient,
    credentials: Credentials,
    config: UpstreamConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens: list[str] = []

    # A full drive, with websockets' debug logging on.
    grant = await client.drive_by_ws_stream(TASK, credentials)
    tokens.append(grant.wss_address.split("Token=", 1)[1])
    async with driving(await DriveSession.open(grant, sample_rate=16000, config=config)) as session:
        await session.send_audio(pcm(3200))
    await sim.wait_closed(session.drive_id)

    # A refused handshake (the address is in the error), a dropped drive.
    sim.set_fault(Fault(refuse_handshake=True, times=1), task_id=TASK)
    grant = await client.drive_by_ws_stream(TASK, credentials)
    tokens.append(grant.wss_address.split("Token=", 1)[1])
    with pytest.raises(UpstreamUnreachable) as refused:
        await DriveSession.open(grant, sample_rate=16000, config=config)
    logging.getLogger("gateway.test").error("drive failed", exc_info=refused.value)
    sim.set_fault(Fault(drop_after_bytes=640, times=1), task_id=TASK)
    grant = await client.drive_by_ws_stream(TASK, credentials)
    tokens.append(grant.wss_address.split("Token=", 1)[1])
    session = await DriveSession.open(grant, sample_rate=16000, config=config)
    try:
        await session.send_audio(pcm(640))
        gone = await lost(session, 5)
    finally:
        await session.close()
    logging.getLogger("gateway.test").error("drive lost", exc_info=gone)

    # A refused call (wrong secret) and a call retried through 5xx and a timeout.
    wrong = Credentials(app_id=APP_ID, server_secret="w" * 32)
    with pytest.raises(UpstreamApiError) as failed:
        await client.drive_by_ws_stream(TASK, wrong)
    logging.getLogger("gateway.test").error("call failed", exc_info=failed.value)
    sim.set_fault(Fault(http_status=503, times=1), task_id=TASK)
    await client.drive_by_ws_stream(TASK, credentials)
    sim.set_fault(Fault(api_delay_s=1.0, times=1), task_id=TASK)
    await client.drive_by_ws_stream(TASK, credentials)

    assert any(r.name.startswith("gateway.upstream.wire") for r in caplog.records)
    assert any("attempt" in r.getMessage() for r in caplog.records)
    texts = [caplog.text, *(r.getMessage() for r in caplog.records)]
    for text in texts:
        for secret in (SECRET, "w" * 32, *tokens):
            assert secret not in text
        assert not MD5_HEX.search(text), MD5_HEX.search(text)
