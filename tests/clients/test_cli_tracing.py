"""Every ``dh-drive`` joins the trace it is given in ``$TRACEPARENT`` (issue 21 item 1:
OpenTelemetry's convention for handing a trace context to a process): the gateway's ``drive``
span is a child of that span, as a real OTLP receiver gets it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from gateway.testing import Harness, running_gateway
from scripts.clients import client_command, language_names
from tests.clients.conftest import CLIP, run_client
from tests.observability.test_tracing import TraceReceiver, receiver

__all__ = ["receiver"]  # the fixture, used by name below

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture(params=language_names())
def client(request: pytest.FixtureRequest) -> list[str]:
    return client_command(request.param)


@pytest_asyncio.fixture
async def traced(receiver: TraceReceiver) -> AsyncIterator[Harness]:
    """A gateway exporting its spans to ``receiver`` (its OTEL_* set by that fixture)."""
    async with running_gateway() as h:
        yield h


@pytest.mark.asyncio
async def test_dh_drive_joins_the_trace_in_its_environment(
    client: list[str], traced: Harness, receiver: TraceReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEPARENT", f"00-{TRACE_ID}-{PARENT_ID}-01")
    monkeypatch.setenv("TRACESTATE", "vendor=agent-7")
    task = f"trace-{os.getpid()}-{client[0].rsplit('/', 1)[-1]}"
    run = await run_client(client, traced, "--task", task, "--file", str(CLIP))
    assert run.returncode == 0, run.stderr
    span = await receiver.drive_span(task)
    assert span.trace_id.hex() == TRACE_ID and span.parent_span_id.hex() == PARENT_ID, span
    assert span.trace_state == "vendor=agent-7", span
