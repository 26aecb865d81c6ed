"""``/metrics`` after real drives: each counter and histogram holds what the drives did."""

from __future__ import annotations

import asyncio
import math
import wave

import grpc
import pytest
from dhgateway.v1 import gateway_pb2 as pb, gateway_pb2_grpc as pb_grpc
from dhgateway_client import DriveError, DriveOptions
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gateway.config import ObservabilityConfig
from gateway.demo import bundled_clip
from gateway.errors import ConfigError
from gateway.observability import GatewayMetrics, interceptors_for
from gateway.observability.http import MetricsServer
from gateway.service.app import GatewayApp
from gateway.simulator import Fault
from gateway.testing import running_gateway
from gateway.upstream import Attempt
from gateway.web import split_listen
from tests.observability.conftest import (
    Observed,
    Samples,
    http_get,
    observed_gateway,
    value,
)
from tests.service.conftest import chunks, pcm, realtime, stream_error

SERVICE = "dhgateway.v1.DriveGateway"


def rpcs(samples: Samples, method: str, code: str, *, kind: str = "bidi_stream") -> float:
    return value(
        samples,
        "grpc_server_handled_total",
        grpc_type=kind,
        grpc_service=SERVICE,
        grpc_method=method,
        grpc_code=code,
    )


async def failed_drive(o: Observed, task: str, audio: object) -> DriveError:
    return await stream_error(o.harness.client.drive(task, audio))  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_a_demo_drive_is_counted_exactly() -> None:
    clip = bundled_clip()
    with wave.open(str(clip), "rb") as w:
        clip_s = w.getnframes() / w.getframerate()
    raw = clip.read_bytes()
    async with observed_gateway() as o:
        options = DriveOptions(encoding="WAV", labels={"source": "demo"})
        events = [e async for e in o.harness.client.drive("demo", chunks(raw, 640), options)]
        started, completed = events[0].started, events[-1].completed
        assert events[-1].WhichOneof("event") == "completed"
        s = await o.scrape()

    assert value(s, "dhgw_drives_finished_total", status="OK", reason="COMPLETED") == 1
    assert sum(v for (name, _), v in s.items() if name == "dhgw_drives_finished_total") == 1
    assert value(s, "dhgw_audio_sent_seconds_total") == pytest.approx(clip_s, abs=0.001)
    assert value(s, "dhgw_audio_received_seconds_total") == pytest.approx(clip_s, abs=0.001)
    assert value(s, "dhgw_ws_frames_sent_total") == completed.frames_sent > 0
    assert value(s, "dhgw_underruns_total") == completed.underruns
    assert value(s, "dhgw_drive_setup_seconds_count") == 1
    assert value(s, "dhgw_drive_setup_seconds_sum") == pytest.approx(
        started.setup_ms / 1000, abs=0.001
    )
    assert value(s, "dhgw_drive_stop_lag_seconds_count") == 1
    assert value(s, "dhgw_drive_stop_lag_seconds_sum") == pytest.approx(
        completed.stop_lag_ms / 1000, abs=0.001
    )
    api = {"action": "DriveByWsStream"}
    assert value(s, "dhgw_upstream_api_seconds_count", **api) == 1
    assert value(s, "dhgw_upstream_api_responses_total", **api, code="0") == 1
    assert value(s, "dhgw_upstream_ws_connects_total", outcome="ok") == 1
    assert value(s, "dhgw_upstream_ws_connects_total", outcome="failed") == 0
    assert value(s, "dhgw_upstream_ws_drops_total") == 0
    assert value(s, "dhgw_drives_active") == 0
    assert value(s, "dhgw_drives_queued") == 0
    assert value(s, "dhgw_load_cpu_ratio") > 0  # the sampler saw the drive's work
    assert value(s, "dhgw_event_loop_lag_seconds") >= 0
    assert math.isnan(value(s, "dhgw_admission_capacity_drives"))  # one drive: no estimate
    started_rpcs = {"grpc_type": "bidi_stream", "grpc_service": SERVICE, "grpc_method": "Drive"}
    assert value(s, "grpc_server_started_total", **started_rpcs) == 1
    assert rpcs(s, "Drive", "OK") == 1


@pytest.mark.asyncio
async def test_failures_are_counted_by_status_and_reason() -> None:
    async with observed_gateway() as o:
        sim, app = o.harness.sim, o.app
        sim.set_fault(Fault(drop_after_bytes=16000), task_id="t-drop")
        await failed_drive(o, "t-drop", realtime(chunks(pcm(3000), 3200), 100))
        sim.set_fault(Fault(force_code=400000005), task_id="t-gone")
        await failed_drive(o, "t-gone", [pcm(100)])
        sim.set_fault(Fault(refuse_handshake=True), task_id="t-refused")
        await failed_drive(o, "t-refused", [pcm(100)])
        with pytest.raises(DriveError):
            await o.harness.client.stop_drive("nobody")
        app.start_draining()
        await failed_drive(o, "t-late", [pcm(100)])
        s = await o.scrape()

    finished = "dhgw_drives_finished_total"
    assert value(s, finished, status="UNAVAILABLE", reason="UPSTREAM_DISCONNECTED") == 1
    assert value(s, finished, status="NOT_FOUND", reason="UPSTREAM_TASK_NOT_FOUND") == 1
    assert value(s, finished, status="UNAVAILABLE", reason="UPSTREAM_UNREACHABLE") == 1
    assert value(s, finished, status="OK", reason="COMPLETED") == 0
    assert value(s, "dhgw_drives_refused_total", reason="DRAINING") == 1
    assert value(s, "dhgw_upstream_ws_drops_total") == 1
    assert value(s, "dhgw_upstream_ws_connects_total", outcome="ok") == 1
    assert value(s, "dhgw_upstream_ws_connects_total", outcome="failed") == 1
    api = {"action": "DriveByWsStream"}
    assert value(s, "dhgw_upstream_api_responses_total", **api, code="400000005") == 1
    assert value(s, "dhgw_upstream_api_responses_total", **api, code="0") == 2
    # Only a completed drive has a stop lag (the avatar waiting for Stop after the audio).
    assert value(s, "dhgw_drive_stop_lag_seconds_count") == 0
    assert value(s, "dhgw_drive_setup_seconds_count") == 1
    assert value(s, "dhgw_audio_sent_seconds_total") >= 0.5
    assert rpcs(s, "Drive", "UNAVAILABLE") == 3  # dropped, refused handshake, draining
    assert rpcs(s, "Drive", "NOT_FOUND") == 1
    assert rpcs(s, "StopDrive", "NOT_FOUND", kind="unary") == 1


@pytest.mark.asyncio
async def test_limiter_waits_are_counted() -> None:
    # One request per second and two drives at once: one API call waits for the other's window.
    async with observed_gateway(upstream={"requests_per_second": 1.0}) as o:

        async def speak(task: str) -> None:
            async for _ in o.harness.client.drive(task, [pcm(100)]):
                pass

        await asyncio.gather(speak("t-1"), speak("t-2"))
        s = await o.scrape()
    assert value(s, "dhgw_upstream_limiter_waits_total") == 1
    assert value(s, "dhgw_upstream_limiter_wait_seconds_total") > 0


@pytest.mark.asyncio
async def test_the_interceptor_counts_every_kind_of_rpc() -> None:
    async with observed_gateway() as o:
        channel = o.harness.channel
        await o.harness.client.capabilities()
        health = health_pb2_grpc.HealthStub(channel)
        await health.Check(health_pb2.HealthCheckRequest(service=""))
        with pytest.raises(grpc.aio.AioRpcError):
            await health.Check(health_pb2.HealthCheckRequest(service="nope"))
        # Reflection's handler is an async generator: the other kind of streaming behaviour.
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        replies = [r async for r in reflect.ServerReflectionInfo(iter([request]))]
        assert replies
        # A raw Drive that breaks the contract: the servicer aborts INVALID_ARGUMENT.
        stub = pb_grpc.DriveGatewayStub(channel)
        with pytest.raises(grpc.aio.AioRpcError):
            async for _ in stub.Drive(iter([pb.DriveRequest(audio=b"\0\0")])):
                pass
        # An unknown method is not counted: its name comes from the client.
        unknown = channel.unary_unary("/no.Such/Method", None, None)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await unknown(b"")
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
        s = await o.scrape()

    assert rpcs(s, "GetCapabilities", "OK", kind="unary") == 1
    assert rpcs(s, "Drive", "INVALID_ARGUMENT") == 1
    check = {"grpc_type": "unary", "grpc_service": "grpc.health.v1.Health", "grpc_method": "Check"}
    assert value(s, "grpc_server_handled_total", **check, grpc_code="OK") == 1
    assert value(s, "grpc_server_handled_total", **check, grpc_code="NOT_FOUND") == 1
    reflection = {
        "grpc_type": "bidi_stream",
        "grpc_service": "grpc.reflection.v1alpha.ServerReflection",
        "grpc_method": "ServerReflectionInfo",
    }
    assert value(s, "grpc_server_handled_total", **reflection, grpc_code="OK") == 1
    assert not any("no.Such" in str(labels) for (_, labels) in s)


@pytest.mark.asyncio
async def test_healthz_and_readyz() -> None:
    async with observed_gateway() as o:
        base = o.metrics_url
        assert await http_get(f"{base}/healthz") == (200, "ok\n")
        assert (await http_get(f"{base}/readyz"))[0] == 200
        o.app.start_draining()
        assert (await http_get(f"{base}/readyz"))[0] == 503
        assert (await http_get(f"{base}/healthz"))[0] == 200
        status, text = await http_get(f"{base}/metrics")
        assert status == 200 and "dhgw_drives_active" in text


@pytest.mark.asyncio
async def test_metrics_off_serves_nothing_and_installs_no_interceptor() -> None:
    async with running_gateway() as h:  # for_test(): metrics_listen = ""
        assert h.app.metrics is None and h.app.metrics_address == ""
        assert interceptors_for(h.app.metrics) == []
        async for _ in h.client.drive("t-off", [pcm(100)]):
            pass


@pytest.mark.asyncio
async def test_two_apps_in_one_process_have_their_own_registries() -> None:
    async with running_gateway(
        observability=ObservabilityConfig(metrics_listen="127.0.0.1:0")
    ) as h:
        other = GatewayApp(h.config)
        async with other:
            assert h.app.metrics is not None and other.metrics is not None
            assert h.app.metrics.registry is not other.metrics.registry
            assert h.app.metrics_address != other.metrics_address
            async for _ in h.client.drive("t-one", [pcm(100)]):
                pass
            mine = await http_get(f"http://{h.app.metrics_address}/metrics")
            theirs = await http_get(f"http://{other.metrics_address}/metrics")
    assert 'dhgw_drives_finished_total{reason="COMPLETED",status="OK"} 1.0' in mine[1]
    assert 'reason="COMPLETED"' not in theirs[1]


def test_the_load_gauges_read_admission_at_scrape_time() -> None:
    load: tuple[float, float, int | None] = (0.42, 0.003, 160)
    metrics = GatewayMetrics(load=lambda: load)
    got = metrics.registry.get_sample_value
    assert got("dhgw_load_cpu_ratio") == 0.42
    assert got("dhgw_event_loop_lag_seconds") == 0.003
    assert got("dhgw_admission_capacity_drives") == 160
    load = (0.1, 0.0, None)
    value = got("dhgw_admission_capacity_drives")
    assert value is not None and math.isnan(value)


def test_upstream_attempts_are_labelled_by_code_status_or_transport() -> None:
    metrics = GatewayMetrics()
    for attempt in (
        Attempt("DriveByWsStream", 1, "retry", 0.0, 0.2, http_status=503, retry_in_s=0.1),
        Attempt("DriveByWsStream", 2, "retry", 0.0, 1.0, error="timed out", retry_in_s=0.1),
        Attempt("DriveByWsStream", 3, "ok", 0.0, 0.05, code=0, http_status=200),
    ):
        metrics.upstream_attempt(attempt)
    got = metrics.registry.get_sample_value
    for code in ("http_503", "transport", "0"):
        labels = {"action": "DriveByWsStream", "code": code}
        assert got("dhgw_upstream_api_responses_total", labels) == 1
    assert got("dhgw_upstream_api_seconds_count", {"action": "DriveByWsStream"}) == 3


@pytest.mark.asyncio
async def test_the_endpoint_refuses_a_bad_or_busy_address() -> None:
    with pytest.raises(ConfigError):
        split_listen("9464")
    assert split_listen("[::1]:0") == ("::1", 0)
    first = MetricsServer(GatewayMetrics().registry, lambda: True)
    address = await first.start("127.0.0.1:0")
    try:
        with pytest.raises(RuntimeError):
            await first.start("127.0.0.1:0")
        with pytest.raises(ConfigError, match="cannot be bound"):
            await MetricsServer(GatewayMetrics().registry, lambda: True).start(address)
    finally:
        await first.stop()
        await first.stop()
