"""Run the benchmark ladder: simulator, gateway and load generator as separate processes.

For each scenario and each rung (number of concurrent real-time streams) the same load runs
twice, each time on fresh processes: through the gateway (``dh-gateway serve``), and straight to
the simulator over WebSocket as a client following the vendor's sample would (the baseline).
A sampler reads every process's CPU and RSS from /proc twice a second, so a rung bound by the
load generator or the simulator is marked as such instead of being blamed on the gateway.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from bench.metrics import CpuSample, StepResult, summarise

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOADGEN_DIR = ROOT / "bench" / "loadgen"
LOADGEN = LOADGEN_DIR / "bin" / "dh-load"
APP_ID = 1234567890
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Scenario:
    """One kind of load."""

    name: str
    chunk_ms: int
    rate: int
    channels: int
    encoding: str
    #: What the direct path sends for the same audio (the vendor takes 16/24 kHz s16 only).
    direct_rate: int
    out_bytes_per_ms: float


SCENARIOS = {
    "20ms": Scenario("20ms", 20, 16000, 1, "LINEAR16", 16000, 32.0),
    "100ms": Scenario("100ms", 100, 16000, 1, "LINEAR16", 16000, 32.0),
    "48k-stereo-float": Scenario("48k-stereo-float", 20, 48000, 2, "FLOAT32", 24000, 48.0),
}


def build_loadgen() -> Path:
    """Build the Go load generator (idempotent)."""
    subprocess.run(
        ["go", "build", "-o", str(LOADGEN), "."], cwd=LOADGEN_DIR, check=True, timeout=600
    )
    return LOADGEN


def read_proc(pid: int) -> tuple[float, int]:
    """Cumulative CPU seconds and current RSS (KiB) of ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    rss = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    return cpu, int(rss.group(1)) if rss else 0


class Sampler(threading.Thread):
    """Samples CPU and RSS of named processes until stopped."""

    def __init__(self, pids: Mapping[str, int], every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pids = dict(pids)
        self.every_s = every_s
        self.samples: dict[str, list[CpuSample]] = {name: [] for name in pids}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            now = time.monotonic()
            for name, pid in self.pids.items():
                try:
                    cpu, rss = read_proc(pid)
                except (FileNotFoundError, ProcessLookupError):
                    continue
                self.samples[name].append(CpuSample(now, cpu, rss))
            self._halt.wait(self.every_s)

    def stop(self) -> dict[str, list[CpuSample]]:
        self._halt.set()
        self.join(5)
        return self.samples


def _wait_line(process: subprocess.Popen[str], pattern: str, timeout_s: float = 30) -> str:
    """The first stdout line matching ``pattern``'s group 1 (bounded in time)."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        match = re.search(pattern, line)
        if match:
            return match.group(1)
    raise RuntimeError(f"process {process.args!r} did not print {pattern!r}")


@contextmanager
def simulator(secret: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A standalone simulator with no rate limit and no audio kept (only frame records)."""
    args = [sys.executable, "-m", "gateway.simulator", "--port", "0", "--app-id", str(APP_ID)]
    args += ["--server-secret", secret, "--requests-per-second", "0", "--no-keep-audio"]
    args += ["--log-level", "WARNING"]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as process:
        try:
            yield process, _wait_line(process, r"(https?://\S+)")
        finally:
            process.terminate()
            process.wait(30)


@contextmanager
def gateway(secret: str, api_url: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A ``dh-gateway serve`` process in front of the simulator."""
    env = dict(
        os.environ,
        DHGW_ZEGO_APP_ID=str(APP_ID),
        DHGW_ZEGO_SERVER_SECRET=secret,
        DHGW_ZEGO_API_URL=api_url,
        DHGW_LISTEN="127.0.0.1:0",
        DHGW_METRICS_LISTEN="",
        DHGW_MAX_DRIVES="5000",
        DHGW_UPSTREAM_REQUESTS_PER_SECOND="1000",
    )
    args = [str(BIN / "dh-gateway"), "--log-level", "WARNING", "serve"]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env) as process:
        try:
            yield process, _wait_line(process, r"listening on (\S+)")
        finally:
            process.terminate()
            process.wait(30)


def run_step(scenario: Scenario, streams: int, *, mode: str, seconds: float) -> StepResult:
    """One rung for one path, on fresh processes."""
    secret = secrets.token_hex(16)
    ramp_s = min(5.0, max(1.0, streams / 200))
    load_args = [
        "--streams", str(streams), "--seconds", str(seconds + ramp_s),
        "--chunk-ms", str(scenario.chunk_ms), "--ramp-s", str(ramp_s),
        "--timeout-s", str(int(seconds + ramp_s + 60)),
    ]  # fmt: skip
    with ExitStack() as stack:
        sim, sim_url = stack.enter_context(simulator(secret))
        pids = {"simulator": sim.pid}
        if mode == "gateway":
            gw, address = stack.enter_context(gateway(secret, sim_url))
            pids["gateway"] = gw.pid
            load_args += ["--mode", "gateway", "--addr", address, "--rate", str(scenario.rate)]
            load_args += ["--channels", str(scenario.channels), "--encoding", scenario.encoding]
        else:
            load_args += ["--mode", "direct", "--api", sim_url, "--app-id", str(APP_ID)]
            load_args += ["--secret", secret, "--rate", str(scenario.direct_rate)]
            load_args += ["--channels", "1", "--encoding", "LINEAR16"]
        baseline_rss = read_proc(pids["gateway"])[1] if "gateway" in pids else 0
        out = stack.enter_context(_temp_json())
        load = subprocess.Popen([str(LOADGEN), *load_args, "--out", str(out)])
        sampler = Sampler({**pids, "loadgen": load.pid})
        sampler.start()
        load.wait(timeout=seconds + ramp_s + 120)
        samples = sampler.stop()
        with urlopen(f"{sim_url}_sim/state", timeout=60) as answer:
            sim_state = json.load(answer)
        report = json.loads(out.read_text())
    return summarise(
        scenario=scenario.name,
        mode=mode,
        load=report,
        sim_state=sim_state,
        samples=samples,
        chunk_ms=scenario.chunk_ms,
        out_bytes_per_ms=scenario.out_bytes_per_ms,
        baseline_rss_kib=baseline_rss,
    )


@contextmanager
def _temp_json() -> Iterator[Path]:
    path = ROOT / "bench" / "results" / "tmp" / f"load-{secrets.token_hex(4)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _pct(value: float) -> int | None:
    return None if math.isnan(value) else round(value)


def run_ladder(
    scenarios: list[Scenario], ladder: Mapping[str, list[int]], *, seconds: float
) -> list[dict[str, Any]]:
    """Every rung of every scenario, gateway then direct; printed as it goes."""
    results = []
    for scenario in scenarios:
        for streams in ladder[scenario.name]:
            for mode in ("gateway", "direct"):
                step = run_step(scenario, streams, mode=mode, seconds=seconds)
                print(
                    f"{scenario.name:>16} {mode:>7} {streams:5d} streams: "
                    f"underruns {step.underruns} ({step.streams_with_underruns} streams), "
                    f"p99 {step.latency_p99_ms:.1f} ms, setup p99 {step.setup_p99_ms:.1f} ms, "
                    f"cpu {json.dumps({k: _pct(v) for k, v in step.cpu_pct.items()})}"
                    + (f" bound by {step.bound_by}" if step.bound_by else ""),
                    flush=True,
                )
                results.append(step.as_dict())
    return results
