"""OpenTelemetry end to end: the gateway exports its drives' spans over OTLP/gRPC to a receiver
built here on the OTLP protos (loopback), configured by the standard ``OTEL_*`` environment
only; the client's span (the Python client, under an SDK span of the test's own provider) is
the drive span's parent. A malformed ``traceparent`` starts a new trace; tracing off imports
nothing of opentelemetry."""

from __future__ import annotations

import asyncio
import io
import itertools
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
import pytest_asyncio
from dhgateway_client import DriveGatewayClient, DriveOptions
from dhgateway_client.trace_context import with_trace_context
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2 as otlp,
    trace_service_pb2_grpc as otlp_grpc,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import TracerProvider

from gateway.config import ObservabilityConfig
from gateway.observability import configure_logging
from gateway.observability.tracer_setup import tracing_requested
from gateway.testing import running_gateway
from tests.observability.conftest import observed_gateway
from tests.observability.test_logging import json_lines, restore_logging
from tests.service.conftest import chunks, pcm, realtime
from tests.service.test_interrupt import held_open, rest, until
from tests.service.test_text_drive import _gateway, _simulator, say

__all__ = ["restore_logging"]  # the fixture, used by name below

#: The steps every audio drive that completes has, as children of its ``drive`` span.
AUDIO_STEPS = {"queued", "DriveByWsStream", "ws_connect", "start", "stop", "speaking"}


class TraceReceiver(otlp_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace collector that keeps every span it is sent, and each one's
    ``service.name``."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.services: set[str] = set()
        self._arrived = asyncio.Event()

    async def Export(  # the proto's name
        self, request: otlp.ExportTraceServiceRequest, context: Any
    ) -> otlp.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            self.services.update(
                kv.value.string_value
                for kv in resource_spans.resource.attributes
                if kv.key == "service.name"
            )
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend(scope_spans.spans)
        self._arrived.set()
        return otlp.ExportTraceServiceResponse()

    async def wait_for(self, done: Callable[[list[Span]], bool], timeout_s: float = 15) -> None:
        """Wait until ``done(spans)``: the batch processor exports every 50 ms here."""
        async with asyncio.timeout(timeout_s):
            while not done(self.spans):
                self._arrived.clear()
                await self._arrived.wait()

    async def drive_span(self, task_id: str) -> Span:
        """The ``drive`` span of ``task_id``'s drive (the first), once it arrived."""
        await self.wait_for(lambda spans: any(_is_drive(s, task_id) for s in spans))
        return next(s for s in self.spans if _is_drive(s, task_id))

    def children(self, parent: Span) -> list[Span]:
        return [s for s in self.spans if s.parent_span_id == parent.span_id]


def _is_drive(span: Span, task_id: str) -> bool:
    return span.name == "drive" and attrs(span).get("dhgw.task_id") == task_id


def _value(kv: KeyValue) -> Any:
    kind = kv.value.WhichOneof("value")
    return getattr(kv.value, kind) if kind else None


def attrs(item: Span | Span.Event) -> dict[str, Any]:
    return {kv.key: _value(kv) for kv in item.attributes}


def ms(span: Span) -> float:
    return (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6


def tree(receiver: TraceReceiver, root: Span, depth: int = 0, origin: int = 0) -> list[str]:
    """``root`` and its descendants, one indented line each: name, start (ms after the root's),
    duration, events."""
    origin = origin or root.start_time_unix_nano
    at = (root.start_time_unix_nano - origin) / 1e6
    events = ", ".join(e.name for e in root.events)
    line = f"{'  ' * depth}{root.name:<22}+{at:7.1f} ms {ms(root):8.1f} ms"
    lines = [line + (f"  events: {events}" if events else "")]
    for child in sorted(receiver.children(root), key=lambda s: s.start_time_unix_nano):
        lines += tree(receiver, child, depth + 1, origin)
    return lines


@pytest_asyncio.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TraceReceiver]:
    """A receiver on loopback, and the ``OTEL_*`` environment that sends the gateway's spans
    there (set before the gateway starts: the app reads it)."""
    found = TraceReceiver()
    server = grpc.aio.server()
    otlp_grpc.add_TraceServiceServicer_to_server(found, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    for name in (
        "OTEL_SDK_DISABLED",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_TRACES_SAMPLER",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_PROPAGATORS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    try:
        yield found
    finally:
        await server.stop(None)


@pytest.fixture
def agent() -> trace.Tracer:
    """The test's own tracer, standing for the application around the client (its spans are
    not exported: only their ids matter)."""
    return TracerProvider().get_tracer("test-agent")


def log_lines(out: io.StringIO, task_id: str) -> list[dict[str, object]]:
    return [line for line in json_lines(out.getvalue()) if line.get("task_id") == task_id]


@pytest.mark.asyncio
@pytest.mark.usefixtures("restore_logging")
async def test_a_drive_is_a_child_of_the_clients_span(
    receiver: TraceReceiver, agent: trace.Tracer
) -> None:
    out = io.StringIO()
    configure_logging(ObservabilityConfig(log_format="json", log_level="INFO"), stream=out)
    secret_label = "label-value-7d1e"
    async with running_gateway() as h:
        with agent.start_as_current_span("agent turn") as turn:
            options = DriveOptions(labels={"customer": secret_label})
            audio = realtime(chunks(pcm(1000), 640), 20)
            events = [e async for e in h.client.drive("t-trace", audio, options)]
        assert events[-1].WhichOneof("event") == "completed"
        drive = await receiver.drive_span("t-trace")
    parent = turn.get_span_context()
    assert drive.trace_id == parent.trace_id.to_bytes(16, "big")
    assert drive.parent_span_id == parent.span_id.to_bytes(8, "big")
    assert drive.kind == Span.SPAN_KIND_SERVER
    assert receiver.services == {"dh-gateway"}
    found = attrs(drive)
    assert found["dhgw.drive_id"] == events[-1].drive_id
    assert (found["dhgw.kind"], found["dhgw.policy"]) == ("audio", "REJECT")
    assert (found["dhgw.outcome"], found["dhgw.reason"]) == ("OK", "COMPLETED")
    assert found["dhgw.profile"] == h.config.default_profile
    server_secret = h.config.profiles[h.config.default_profile].server_secret
    for span in receiver.spans:  # no label value, no secret, anywhere
        assert not [v for v in attrs(span).values() if str(v) in (secret_label, server_secret)]

    children = {s.name: s for s in receiver.children(drive)}
    assert AUDIO_STEPS <= set(children), sorted(children)
    for name in ("DriveByWsStream", "ws_connect"):
        assert children[name].kind == Span.SPAN_KIND_CLIENT
    order = ["queued", "DriveByWsStream", "ws_connect", "start", "stop"]
    for earlier, later in itertools.pairwise(order):
        assert children[earlier].end_time_unix_nano <= children[later].start_time_unix_nano
    speaking = children["speaking"]
    assert children["start"].end_time_unix_nano <= speaking.start_time_unix_nano
    assert speaking.end_time_unix_nano <= drive.end_time_unix_nano
    assert attrs(speaking)["dhgw.interrupted"] is False
    assert 900 <= ms(speaking) <= 2000  # a second of audio, played out
    print("\n" + "\n".join(tree(receiver, drive)))

    lines = log_lines(out, "t-trace")
    assert {"drive started", "drive completed"} <= {str(line["event"]) for line in lines}
    hex_id = f"{parent.trace_id:032x}"
    assert {(line["trace_id"], line["span_id"]) for line in lines} == {
        (hex_id, drive.span_id.hex())
    }


@pytest.mark.asyncio
async def test_an_interrupt_and_a_preemption_are_events_of_the_drive(
    receiver: TraceReceiver, agent: trace.Tracer
) -> None:
    async with running_gateway() as h:
        with agent.start_as_current_span("barge-in"):
            talking = h.client.drive("t-int", held_open(chunks(pcm(3000), 3200)))
            got: list[Any] = []
            await until(talking, "playback_started", got)
            await talking.interrupt()
            assert await rest(talking, got) is None
        held = h.client.drive("t-pre", held_open(chunks(pcm(3000), 3200)))
        await until(held, "started", [])
        newer = h.client.drive("t-pre", [pcm(200)], DriveOptions(on_conflict="PREEMPT"))
        assert [e.WhichOneof("event") async for e in newer][-1] == "completed"
        error = await rest(held, [])
        assert error is not None and error.reason == "PREEMPTED"
        interrupted = await receiver.drive_span("t-int")
        preempted = await receiver.drive_span("t-pre")

    assert [e.name for e in interrupted.events] == ["interrupt"]
    assert attrs(interrupted.events[0]) == {"dhgw.source": "client"}
    children = {s.name: s for s in receiver.children(interrupted)}
    assert {"InterruptDriveTask", "speaking"} <= set(children)
    assert attrs(children["speaking"])["dhgw.interrupted"] is True
    assert (
        children["InterruptDriveTask"].end_time_unix_nano <= children["stop"].start_time_unix_nano
    )
    assert attrs(interrupted)["dhgw.outcome"] == "OK"

    assert [(e.name, attrs(e)) for e in preempted.events] == [
        ("preempted", {"dhgw.reason": "PREEMPTED"})
    ]
    assert (attrs(preempted)["dhgw.outcome"], attrs(preempted)["dhgw.reason"]) == (
        "ABORTED",
        "PREEMPTED",
    )
    assert preempted.status.code == preempted.status.STATUS_CODE_UNSET  # the client's doing
    assert "InterruptDriveTask" in {s.name for s in receiver.children(preempted)}
    print("\n" + "\n".join(tree(receiver, interrupted) + tree(receiver, preempted)))


@pytest.mark.asyncio
async def test_the_waits_for_the_task_and_for_the_rate_limit_are_spans(
    receiver: TraceReceiver,
) -> None:
    # One vendor request a second: the second set-up waits for the limiter.
    async with observed_gateway(upstream={"requests_per_second": 1.0}) as o:
        client = o.harness.client
        first = client.drive("t-busy", realtime(chunks(pcm(800), 640), 20))
        await until(first, "started", [])
        queued = client.drive("t-busy", [pcm(200)], DriveOptions(on_conflict="QUEUE"))
        other = client.drive("t-other", [pcm(200)])
        results = await asyncio.gather(rest(first, []), rest(queued, []), rest(other, []))
        assert list(results) == [None, None, None]
        waiting = await receiver.drive_span("t-busy")
        limited = await receiver.drive_span("t-other")
        await receiver.wait_for(lambda spans: sum(_is_drive(s, "t-busy") for s in spans) == 2)
    second = next(s for s in receiver.spans if _is_drive(s, "t-busy") and s != waiting)
    [queued_step] = [s for s in receiver.children(second) if s.name == "queued"]
    assert attrs(queued_step) == {"dhgw.ahead": 1}  # the holder
    assert ms(queued_step) >= 300  # the first drive's remaining audio, at least
    calls = [s for s in receiver.children(limited) if s.name == "DriveByWsStream"]
    waits = [w for c in calls for w in receiver.children(c) if w.name == "rate_limit_wait"]
    assert waits and ms(waits[0]) > 100


@pytest.mark.asyncio
async def test_a_text_drive_traces_its_vendor_call_and_speech(receiver: TraceReceiver) -> None:
    words = "a text that must not be traced"
    async with _simulator() as sim, _gateway(sim, callbacks=True) as h:
        spoken = [e async for e in h.client.drive("t-text", (), say(words))]
        assert spoken[-1].WhichOneof("event") == "completed"
        cut = h.client.drive("t-text-cut", (), say("b" * 200))
        await until(cut, "playback_started", [])
        await cut.interrupt()
        assert await rest(cut, []) is None
        drive = await receiver.drive_span("t-text")
        interrupted = await receiver.drive_span("t-text-cut")
    assert (attrs(drive)["dhgw.kind"], attrs(drive)["dhgw.outcome"]) == ("text", "OK")
    children = {s.name: s for s in receiver.children(drive)}
    assert set(children) == {"queued", "DriveByText", "speaking"}, sorted(children)
    assert children["DriveByText"].kind == Span.SPAN_KIND_CLIENT
    assert attrs(children["DriveByText"])["dhgw.attempts"] == 1
    assert attrs(children["speaking"])["dhgw.finished_by"] == "vendor"
    assert not [v for s in receiver.spans for v in attrs(s).values() if words in str(v)]
    assert [e.name for e in interrupted.events] == ["interrupt"]
    assert "InterruptDriveTask" in {s.name for s in receiver.children(interrupted)}
    print("\n" + "\n".join(tree(receiver, drive) + tree(receiver, interrupted)))


MALFORMED = (
    "not-a-traceparent",
    "00-" + "0" * 32 + "-" + "0" * 16 + "-01",  # all-zero ids are invalid
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # no flags
    "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-" + "a" * 31 + "-00f067aa0ba902b7-01",
)


@pytest.mark.asyncio
async def test_a_malformed_traceparent_starts_a_new_trace(receiver: TraceReceiver) -> None:
    async with running_gateway() as h:
        for i, value in enumerate(MALFORMED):
            client = DriveGatewayClient(
                h.channel, metadata=[("traceparent", value), ("tracestate", "=x,,bad key=1")]
            )
            events = [e async for e in client.drive(f"t-bad-{i}", [pcm(100)])]
            assert events[-1].WhichOneof("event") == "completed", value
        drives = [await receiver.drive_span(f"t-bad-{i}") for i in range(len(MALFORMED))]
    for span in drives:
        assert span.parent_span_id == b""
        assert span.trace_id != bytes(16)
    assert len({span.trace_id for span in drives}) == len(MALFORMED)  # each a trace of its own


def test_the_client_adds_the_current_span_and_leaves_the_callers_own(
    agent: trace.Tracer,
) -> None:
    key = [("authorization", "Bearer k")]
    assert with_trace_context(key) == key  # no span current: nothing added
    with agent.start_as_current_span("turn") as turn:
        ids = turn.get_span_context()
        added = dict(with_trace_context(key) or ())
        own = with_trace_context([("traceparent", "00-mine-01")])
    assert added["authorization"] == "Bearer k"
    assert added["traceparent"].startswith(f"00-{ids.trace_id:032x}-{ids.span_id:016x}-")
    assert own == [("traceparent", "00-mine-01")]


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console,none"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_off_unless_the_environment_asks(environ: dict[str, str], wanted: bool) -> None:
    assert tracing_requested(environ) is wanted


OFF = """
import sys
import redis.asyncio  # redis-py imports opentelemetry's metrics itself when it is installed
def otel():
    return {m for m in sys.modules if m.split(".")[0] == "opentelemetry"}
before = otel()
from gateway.config import GatewayConfig
from gateway.service.app import GatewayApp
from gateway.service.server import start_server
from gateway.service.servicer import DriveGatewayServicer
import gateway.cli
app = GatewayApp(GatewayConfig.for_test(app_id=1, server_secret="s" * 32, api_url="http://x/"))
assert app.tracer.interceptors() == []
assert "gateway.observability.tracing" not in sys.modules
print(sorted(otel() - before))
"""


def test_tracing_off_imports_nothing_of_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    done = subprocess.run(
        [sys.executable, "-c", OFF], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
