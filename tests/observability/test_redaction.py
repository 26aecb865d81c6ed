"""No ServerSecret, Signature or WebSocket token in any log line, at any level, from any logger.

Everything logs at DEBUG (the gateway, the simulator, websockets, aiohttp, grpc, asyncio)
through the formatter ``dh-gateway serve`` installs, while drives succeed and fail in the ways
that put credentials in messages: a good drive, a wrong ServerSecret (the vendor refuses the
signature), a refused WebSocket handshake and a connection dropped mid-drive. The API goes
through a recording proxy, so the test knows every Signature and token that crossed the wire.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import secrets
from collections.abc import Iterator

import pytest
from dhgateway_client import DriveError, DriveOptions

from gateway.config import Credentials, GatewayConfig, ObservabilityConfig
from gateway.observability import configure_logging
from gateway.simulator import Fault
from gateway.testing import TEST_APP_ID
from tests.observability.conftest import observed_gateway
from tests.service.conftest import chunks, pcm, realtime

LIBRARIES = ("gateway", "websockets", "aiohttp", "grpc", "asyncio")


@pytest.fixture
def debug_everywhere() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in LIBRARIES}
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest.mark.asyncio
@pytest.mark.usefixtures("debug_everywhere")
async def test_no_secret_signature_or_token_in_any_log_line() -> None:
    secret, wrong = secrets.token_hex(16), secrets.token_hex(16)
    # The configuration `serve` would load: two profiles, JSON logs at DEBUG.
    config = GatewayConfig.for_test(
        app_id=TEST_APP_ID, server_secret=secret, api_url="http://127.0.0.1:1/"
    )
    config = dataclasses.replace(
        config,
        profiles={
            **config.profiles,
            "wrong": Credentials(app_id=TEST_APP_ID, server_secret=wrong),
        },
        observability=ObservabilityConfig(log_format="json", log_level="DEBUG"),
    )
    out = io.StringIO()
    configure_logging(config, stream=out)

    async with observed_gateway(
        proxy=True, server_secret=secret, extra_profiles={"wrong": wrong}
    ) as o:
        client, sim = o.harness.client, o.harness.sim
        events = [e async for e in client.drive("t-good", realtime(chunks(pcm(600), 3200), 100))]
        assert events[-1].WhichOneof("event") == "completed"
        failures = {}
        with pytest.raises(DriveError) as caught:
            async for _ in client.drive("t-wrong", [pcm(100)], DriveOptions(profile="wrong")):
                pass
        failures["wrong secret"] = caught.value.reason
        sim.set_fault(Fault(refuse_handshake=True), task_id="t-refused")
        with pytest.raises(DriveError) as caught:
            async for _ in client.drive("t-refused", [pcm(100)]):
                pass
        failures["refused"] = caught.value.reason
        sim.set_fault(Fault(drop_after_bytes=16000), task_id="t-drop")
        with pytest.raises(DriveError) as caught:
            async for _ in client.drive("t-drop", realtime(chunks(pcm(3000), 3200), 100)):
                pass
        failures["dropped"] = caught.value.reason
        assert o.proxy is not None
        signatures, tokens = list(o.proxy.signatures), list(o.proxy.tokens)

    assert failures == {
        "wrong secret": "UPSTREAM_AUTH",
        "refused": "UPSTREAM_UNREACHABLE",
        "dropped": "UPSTREAM_DISCONNECTED",
    }
    assert len(signatures) >= 4 and len(tokens) == 3
    text = out.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is ours, as JSON
    # Not vacuous: the DEBUG wire log of the handshakes and the API attempts are there.
    loggers = {line["logger"] for line in lines}
    assert {"gateway.drive", "gateway.upstream", "gateway.upstream.wire"} <= loggers
    assert any(line["level"] == "debug" for line in lines)
    assert "Token=***" in text
    for value in (secret, wrong, *signatures, *tokens):
        assert value not in text, f"{value[:6]}... leaked into the logs"
