"""``python -m bench.tracing_cost``: what OpenTelemetry tracing costs the gateway, per chunk and
per drive, measured in one run.

Each round starts one simulator and two ``dh-gateway serve`` processes side by side in front of
it (:mod:`bench.run`; as shipped, the same but for the ``OTEL_*`` environment): ``on`` exports
its traces over OTLP/gRPC to a receiver in this process (``OTEL_TRACES_EXPORTER=otlp``, the
SDK's batch processor as it ships: 5 s schedule delay, 512 spans a batch), ``off`` runs with
``OTEL_SDK_DISABLED=true`` (so that an environment asking for traces cannot turn it on). Two
load generators (:mod:`bench.loadgen`) drive both at once with the same load: ``--streams``
real-time streams of ``--seconds`` of 16 kHz mono audio in 20 ms chunks each.

Per gateway and round: its CPU per chunk in the steady window (every stream started, none
ended: the per-chunk path; :func:`bench.metrics.summarise`), and its CPU over the whole round
(set-ups, ends and, ``--settle-s`` after the load, the last export) per drive. The ratios
on/off are per round; the summary gives their medians over ``--rounds``. The receiver counts
the spans it got, so a round where tracing did not work is seen. Last, what a drive's spans
cost alone (:func:`span_cost`: below what a round can resolve). Writes
``bench/results/tracing-cost.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import grpc
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2 as otlp,
    trace_service_pb2_grpc as otlp_grpc,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from bench.__main__ import machine
from bench.lanes import command_line, write_results
from bench.metrics import CpuSample, cpu_between, summarise
from bench.run import (
    LOADGEN,
    ROOT,
    SETUPS_PER_S,
    Sampler,
    _temp_json,
    build_loadgen,
    gateway_via,
    simulator,
)
from gateway.drive.spec import DriveSpec
from gateway.drive.speech import Heard, PlaybackEvent, Source
from gateway.observability.observer import DriveEnd, Tenant
from gateway.observability.tracing import OtelTracer

CHUNK_MS = 20
BYTES_PER_MS = 32.0  # 16 kHz mono s16le: what the gateway sends for it
SIDES = ("off", "on")


class Receiver(otlp_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace collector that counts the spans it is sent (``drive`` ones apart)."""

    def __init__(self) -> None:
        self.spans = 0
        self.drives = 0
        self._lock = threading.Lock()

    def Export(self, request: otlp.ExportTraceServiceRequest, context: Any) -> Any:
        spans = [s for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]
        with self._lock:
            self.spans += len(spans)
            self.drives += sum(s.name == "drive" for s in spans)
        return otlp.ExportTraceServiceResponse()


@contextmanager
def receiving() -> Iterator[tuple[Receiver, str]]:
    """A :class:`Receiver` on a loopback port (its own threads); the OTLP endpoint."""
    receiver = Receiver()
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    otlp_grpc.add_TraceServiceServicer_to_server(receiver, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield receiver, f"http://127.0.0.1:{port}"
    finally:
        server.stop(None)


#: Admission by load off on both sides: each must carry the whole load, not refuse its share
#: when the other (or another process on the machine) is busy.
NO_ADMISSION = {"DHGW_ADMIT_MAX_CPU": "0", "DHGW_ADMIT_MAX_LOOP_LAG_MS": "0"}


def environments(endpoint: str) -> dict[str, dict[str, str]]:
    """Each side's ``OTEL_*`` environment (and admission off)."""
    return {
        "off": {**NO_ADMISSION, "OTEL_SDK_DISABLED": "true"},
        "on": {
            **NO_ADMISSION,
            "OTEL_SDK_DISABLED": "false",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        },
    }


def load_args(address: str, prefix: str, streams: int, seconds: float) -> list[str]:
    ramp_s = max(1.0, streams / SETUPS_PER_S)
    return [
        "--mode", "gateway", "--addr", address, "--streams", str(streams),
        "--seconds", str(seconds + ramp_s), "--chunk-ms", str(CHUNK_MS),
        "--ramp-s", str(ramp_s), "--task-prefix", prefix,
        "--timeout-s", str(int(seconds + ramp_s + 60)),
    ]  # fmt: skip


def whole_round_cpu_s(series: Sequence[CpuSample]) -> float:
    """CPU seconds from the first sample to the last."""
    return series[-1].cpu_s - series[0].cpu_s if len(series) > 1 else float("nan")


def one_round(
    streams: int, seconds: float, settle_s: float, order: Sequence[str] = SIDES
) -> dict[str, Any]:
    """Both gateways at the same load at once (their load generators started in ``order``);
    each side's figures and the receiver's counts."""
    secret = secrets.token_hex(16)
    with ExitStack() as stack:
        receiver, endpoint = stack.enter_context(receiving())
        sim, sim_url = stack.enter_context(simulator(secret))
        pids = {"simulator": sim.pid}
        addresses = {}
        for side, env in environments(endpoint).items():
            process, addresses[side] = stack.enter_context(gateway_via((), secret, sim_url, env))
            pids[f"gateway-{side}"] = process.pid
        outs = {side: stack.enter_context(_temp_json()) for side in SIDES}
        loads = {
            side: subprocess.Popen(
                [
                    str(LOADGEN),
                    *load_args(addresses[side], f"{side}-", streams, seconds),
                    "--out",
                    str(outs[side]),
                ]
            )
            for side in order
        }
        sampler = Sampler({**pids, **{f"loadgen-{s}": p.pid for s, p in loads.items()}})
        sampler.start()
        for load in loads.values():
            load.wait(timeout=seconds + 180)
        time.sleep(settle_s)  # the batch processor's last export (5 s schedule) is the round's
        samples = sampler.stop()
        with urlopen(f"{sim_url}_sim/state", timeout=60) as answer:
            sim_state = json.load(answer)
        reports = {side: json.loads(outs[side].read_text()) for side in SIDES}
    result: dict[str, Any] = {"spans_received": receiver.spans, "drives_traced": receiver.drives}
    cores = len(os.sched_getaffinity(0))
    for side in SIDES:
        step = summarise(
            scenario="20ms",
            mode="gateway",
            load=reports[side],
            sim_state=sim_state,
            samples={
                "gateway": samples[f"gateway-{side}"],
                "simulator": samples["simulator"],
                "loadgen": samples[f"loadgen-{side}"],
            },
            chunk_ms=CHUNK_MS,
            out_bytes_per_ms=BYTES_PER_MS,
            baseline_rss_kib=0,
            cores=cores,
        )
        drives = sum(1 for s in reports[side]["streams"] if s.get("drive_id"))
        total_s = whole_round_cpu_s(samples[f"gateway-{side}"])
        result[side] = {
            "us_per_chunk": step.gateway_us_per_chunk,
            "steady_cpu_pct": step.cpu_pct["gateway"],
            "window_s": step.window_s,
            "errors": step.errors,
            "refused": step.refused,
            "underruns": step.underruns,
            "setup_p50_ms": step.setup_p50_ms,
            "setup_p99_ms": step.setup_p99_ms,
            "drives": drives,
            "round_cpu_s": total_s,
            "round_ms_per_drive": 1000 * total_s / drives if drives else float("nan"),
        }
    # What tracing added per drive: the spans' making and export (streaming costs both alike).
    result["extra_ms_per_drive"] = (
        result["on"]["round_ms_per_drive"] - result["off"]["round_ms_per_drive"]
    )
    everything = list(samples.values())
    start, end = everything[0][0].at, everything[0][-1].at
    used = sum(cpu_between(series, start, end)[0] for series in everything)
    result["machine_cpu_pct"] = 100 * used / (end - start) / cores
    for key in ("us_per_chunk", "round_ms_per_drive", "setup_p50_ms"):
        result[f"{key}_ratio"] = result["on"][key] / result["off"][key]
    return result


class _Kept(SpanExporter):
    """Keeps what it is given (a no-op export)."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def span_cost(drives: int = 2000, repeats: int = 5) -> dict[str, float]:
    """What one completed audio drive's spans cost alone, best of ``repeats`` x ``drives``: the
    hooks' calls as the shell makes them (µs, a no-op exporter), and encoding the spans for
    OTLP (µs per drive)."""
    kept = _Kept()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    tracer = OtelTracer(provider, default_profile="default")
    spec, tenant = DriveSpec(task_id="bench-0"), Tenant("key", "default")
    end = DriveEnd(
        status="OK", reason="COMPLETED", received_s=20, sent_s=20, frames_sent=1000,
        underruns=0, stop_lag_s=0.003,
    )  # fmt: skip

    def one() -> None:
        trace = tracer.drive(spec, kind="audio", tenant=tenant, clock=time.monotonic)
        with trace.step("queued"):
            pass
        with trace.step("DriveByWsStream") as call:
            call.set(attempts=1, request_id="r-1")
        trace.set(drive_id="d-1")
        with trace.step("ws_connect"):
            pass
        with trace.step("start"):
            pass
        trace.playback(PlaybackEvent(Heard.STARTED, Source.ESTIMATED))
        for _ in range(40):  # 20 s of Progress reports
            trace.progress(0)
        with trace.step("stop"):
            pass
        trace.playback(PlaybackEvent(Heard.FINISHED, Source.ESTIMATED, played_ms=20000))
        trace.finish(end)

    make = encode = float("inf")
    for _ in range(repeats):
        kept.spans.clear()
        began = time.perf_counter()
        for _ in range(drives):
            one()
        make = min(make, (time.perf_counter() - began) / drives)
        began = time.perf_counter()
        encode_spans(kept.spans).SerializeToString()
        encode = min(encode, (time.perf_counter() - began) / drives)
    spans = len(kept.spans) / drives
    provider.shutdown()
    return {"spans_per_drive": spans, "make_us": 1e6 * make, "encode_us": 1e6 * encode}


def summary(rounds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The medians over the rounds."""

    def median(pick: Any) -> float:
        return float(statistics.median(pick(r) for r in rounds))

    out: dict[str, Any] = {}
    for side in SIDES:
        out[side] = {
            key: median(lambda r, k=key, s=side: r[s][k])
            for key in ("us_per_chunk", "round_ms_per_drive", "setup_p50_ms", "setup_p99_ms")
        }
    for key in (
        "us_per_chunk_ratio",
        "round_ms_per_drive_ratio",
        "setup_p50_ms_ratio",
        "extra_ms_per_drive",
    ):
        out[key] = median(lambda r, k=key: r[k])
    return out


def markdown(document: Mapping[str, Any]) -> str:
    rows = [
        "| round | µs/chunk off | µs/chunk on | on/off | ms/drive off | ms/drive on "
        "| on - off (ms/drive) | set-up p50 off/on (ms) | spans / drive spans | machine CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(document["rounds"], 1):
        off, on = r["off"], r["on"]
        rows.append(
            f"| {i} | {off['us_per_chunk']:.1f} | {on['us_per_chunk']:.1f} "
            f"| {r['us_per_chunk_ratio']:.3f} | {off['round_ms_per_drive']:.1f} "
            f"| {on['round_ms_per_drive']:.1f} | {r['extra_ms_per_drive']:+.1f} "
            f"| {off['setup_p50_ms']:.1f} / {on['setup_p50_ms']:.1f} "
            f"| {r['spans_received']} / {r['drives_traced']} | {r['machine_cpu_pct']:.0f} % |"
        )
    s = document["summary"]
    rows.append(
        f"| **median** | {s['off']['us_per_chunk']:.1f} | {s['on']['us_per_chunk']:.1f} "
        f"| **{s['us_per_chunk_ratio']:.3f}** | {s['off']['round_ms_per_drive']:.1f} "
        f"| {s['on']['round_ms_per_drive']:.1f} | **{s['extra_ms_per_drive']:+.1f}** "
        f"| {s['off']['setup_p50_ms']:.1f} / {s['on']['setup_p50_ms']:.1f} | | |"
    )
    cost = document["span_cost"]
    rows.append(
        f"\nAlone (`span_cost`, best of 5 x 2000 drives): a drive's {cost['spans_per_drive']:g} "
        f"spans take {cost['make_us']:.0f} µs to make (a no-op exporter) and "
        f"{cost['encode_us']:.0f} µs to encode for OTLP."
    )
    head = (
        f"# Tracing's cost: two gateways side by side, tracing off and on\n\n"
        f"`{document['command']}` on {document['machine']}: per round, {document['streams']} "
        f"real-time streams of {document['seconds']:g} s (20 ms chunks) on each gateway at "
        f"once. µs/chunk: gateway CPU in the steady window per chunk (the per-chunk path); "
        f"ms/drive: its CPU over the whole round (set-ups, streaming, ends, the last export) "
        f"per drive, and what tracing added to it.\n\n"
    )
    return head + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing_cost", description=__doc__)
    parser.add_argument("--streams", type=int, default=50, help="streams on each gateway")
    parser.add_argument("--seconds", type=float, default=20, help="steady seconds per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle-s", type=float, default=6.0, help="sampled after the load")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="output folder")
    args = parser.parse_args(argv)
    build_loadgen()
    rounds = []
    for i in range(args.rounds):
        # Which load generator starts first alternates (they start a few ms apart).
        result = one_round(args.streams, args.seconds, args.settle_s, SIDES[:: 1 - 2 * (i % 2)])
        print(
            f"round {i + 1}: µs/chunk off {result['off']['us_per_chunk']:.1f}, "
            f"on {result['on']['us_per_chunk']:.1f} (x{result['us_per_chunk_ratio']:.3f}); "
            f"{result['spans_received']} spans received",
            flush=True,
        )
        rounds.append(result)
    document = {
        "command": command_line("bench.tracing_cost", argv),
        "machine": machine(),
        "streams": args.streams,
        "seconds": args.seconds,
        "rounds": rounds,
        "summary": summary(rounds),
        "span_cost": span_cost(),
    }
    write_results(Path(args.out), "tracing-cost", document, markdown(document))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
