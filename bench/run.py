"""Run the benchmark ladder: simulator, gateway and load generator as separate processes.

For each scenario and each rung (number of concurrent real-time streams) the same load runs
on fresh processes each time: through the gateway (``dh-gateway serve``); through the bare
prototype of the pipeline (:mod:`bench.prototype`: grpc.aio in, websockets out, nothing else),
on the scenarios it can carry; and straight to the simulator over WebSocket as a client
following the vendor's sample would. The last two are the baselines the gateway is held to.
A sampler reads every process's CPU and RSS from /proc twice a second, so a rung bound by the
load generator or the simulator is marked as such instead of being blamed on the gateway.

A scenario may run the gateway as several processes on one port (``DHGW_REUSE_PORT``) sharing
a throwaway Redis on a Unix socket as their task registry; each is sampled on its own
(``gateway/0``, ``gateway/1``, ...) and the gateway's figures are their sum.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import IO, Any
from urllib.request import urlopen

from bench.metrics import CpuSample, StepResult, part_name, summarise
from gateway.config import ServerConfig

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOADGEN_DIR = ROOT / "bench" / "loadgen"
LOADGEN = LOADGEN_DIR / "bin" / "dh-load"
APP_ID = 1234567890
TICKS = os.sysconf("SC_CLK_TCK")
#: How fast new streams arrive while a rung ramps up. The vendor allows 10 drive set-ups per
#: second per AppId, so a real gateway sees a few tens per second at most; a faster ramp
#: measures a burst of set-ups (each costs a few ms of CPU) rather than the steady load.
SETUPS_PER_S = 50
#: The paths a rung runs on, in order (see :func:`run_step`).
MODES = ("gateway", "prototype", "direct")
#: The prototype's event loop: the gateway's default (``DHGW_EVENT_LOOP``), so that only the
#: pipelines differ.
PROTOTYPE_EVENT_LOOP = ServerConfig().event_loop


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
    #: Gateway processes sharing the listen address (SO_REUSEPORT) and one Redis.
    processes: int = 1
    #: Streams per gRPC connection of the load generator (its default is 100). The kernel
    #: hands each new connection to one process, so several processes need many connections
    #: to get even shares: at 5 per connection, 200 streams make 40 connections.
    streams_per_conn: int = 100
    #: Each gateway process's ``DHGW_ADMIT_MAX_CPU`` (None: the default). Processes x threshold
    #: must stay within the cores the gateway really has (docs/performance.md, "Scaling past one
    #: core"): here two cores, shared with the simulator and the load generator (about half a
    #: core at these rungs), so two processes at the default 0.7 would be promised 1.4.
    admit_max_cpu: float | None = None

    @property
    def prototype_fits(self) -> bool:
        """Whether :mod:`bench.prototype` can carry this load: it converts nothing (LINEAR16
        mono 16 kHz in, as is) and runs as one process."""
        as_is = self.encoding == "LINEAR16" and self.rate == 16000 and self.channels == 1
        return as_is and self.processes == 1

    @property
    def label(self) -> str:
        """The name in results and reports: ``20ms``, or ``20ms-2proc`` for two processes."""
        return self.name if self.processes == 1 else f"{self.name}-{self.processes}proc"


def _scenarios(*scenarios: Scenario) -> dict[str, Scenario]:
    return {scenario.label: scenario for scenario in scenarios}


_20MS = Scenario("20ms", 20, 16000, 1, "LINEAR16", 16000, 32.0)
SCENARIOS = _scenarios(
    _20MS,
    Scenario("100ms", 100, 16000, 1, "LINEAR16", 16000, 32.0),
    Scenario("48k-stereo-float", 20, 48000, 2, "FLOAT32", 24000, 48.0),
    replace(_20MS, processes=2, streams_per_conn=5, admit_max_cpu=0.5),
)


def conns_for(streams: int, streams_per_conn: int) -> int:
    """The load generator's gRPC connections for ``streams`` (at least one)."""
    return max(1, math.ceil(streams / streams_per_conn))


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
    """The first stdout line matching ``pattern``'s group 1, within ``timeout_s``.

    A thread reads the output to its end (a process that prints nothing more cannot hold the
    wait past the timeout, and one that goes on logging never fills its pipe and blocks).
    """
    stdout = process.stdout
    assert stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stdout:
            lines.put(line)
        lines.put(None)  # EOF: the process closed its output or exited

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        match = re.search(pattern, line)
        if match:
            return match.group(1)
    raise RuntimeError(f"process {process.args!r} did not print {pattern!r}")


@contextmanager
def _server(
    args: Sequence[str], pattern: str, **popen: Any
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A server process and the address it printed (``pattern``'s group 1); terminated on
    exit."""
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True, **popen) as process:
        try:
            yield process, _wait_line(process, pattern)
        finally:
            process.terminate()
            process.wait(30)


@contextmanager
def simulator(secret: str, *extra: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A standalone simulator with no rate limit and no audio kept (only frame records);
    ``extra``: more of its flags (``--render-latency-ms``, ``--callback-url``...)."""
    args = [sys.executable, "-m", "gateway.simulator", "--port", "0", "--app-id", str(APP_ID)]
    args += ["--server-secret", secret, "--requests-per-second", "0", "--no-keep-audio"]
    args += ["--log-level", "WARNING", *extra]
    with _server(args, r"(https?://\S+)") as started:
        yield started


@contextmanager
def gateway(secret: str, api_url: str, **env: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A ``dh-gateway serve`` process in front of the simulator (``env``: more ``DHGW_*``).

    As shipped: metrics served (on a free port) and counted, admission by load on; only the
    limits that would cap the ladder itself (drives, the vendor's API rate) are raised.
    """
    with gateway_via((), secret, api_url, env) as started:
        yield started


@contextmanager
def gateway_via(
    command: Sequence[str],
    secret: str,
    api_url: str,
    env: Mapping[str, str],
    stderr: IO[str] | None = None,
    log_level: str = "WARNING",
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """:func:`gateway`, its command line run through ``command`` (none: the ``dh-gateway``
    script; the soak's ``python -m bench.gateway_probe --tasks-file F``, from the checkout's
    root), its log to ``stderr`` (None: the caller's) from ``log_level`` up."""
    environ = dict(
        os.environ,
        DHGW_ZEGO_APP_ID=str(APP_ID),
        DHGW_ZEGO_SERVER_SECRET=secret,
        DHGW_ZEGO_API_URL=api_url,
        DHGW_LISTEN="127.0.0.1:0",
        DHGW_METRICS_LISTEN="127.0.0.1:0",
        DHGW_MAX_DRIVES="5000",
        DHGW_UPSTREAM_REQUESTS_PER_SECOND="1000",
    )
    environ.update(env)
    args = [*(command or [str(BIN / "dh-gateway")]), "--log-level", log_level, "serve"]
    popen: dict[str, Any] = {"cwd": ROOT} if command else {}
    with _server(args, r"listening on (\S+)", env=environ, stderr=stderr, **popen) as started:
        yield started


@contextmanager
def prototype(
    secret: str, api_url: str, event_loop: str = PROTOTYPE_EVENT_LOOP
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The bare prototype (:mod:`bench.prototype`) in front of the simulator; its address."""
    args = [sys.executable, "-m", "bench.prototype", "--listen", "127.0.0.1:0", "--api", api_url]
    args += ["--app-id", str(APP_ID), "--server-secret", secret, "--event-loop", event_loop]
    # From the checkout's root, where ``bench`` is importable (it is not installed).
    with _server(args, r"listening on (\S+)", cwd=ROOT) as started:
        yield started


@contextmanager
def redis() -> Iterator[str]:
    """A throwaway ``redis-server`` on a Unix socket (no TCP port, nothing saved); its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (scripts/system-deps.sh installs it)")
    with TemporaryDirectory(prefix="dhgw-bench-") as folder:
        path = Path(folder) / "redis.sock"
        args = [binary, "--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700"]
        args += ["--save", "", "--appendonly", "no"]
        with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as process:
            try:
                _wait_line(process, r"(?i)(ready to accept connections)")
                yield f"unix://{path}"
            finally:
                process.terminate()
                process.wait(30)


@contextmanager
def _reserved_port() -> Iterator[int]:
    """A loopback port held while the gateways bind it (SO_REUSEPORT, never listening)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@contextmanager
def gateways(
    secret: str, api_url: str, processes: int, admit_max_cpu: float | None = None
) -> Iterator[tuple[list[subprocess.Popen[str]], str]]:
    """``processes`` gateways on one address; several share it and a Redis task registry.
    Each admits up to ``admit_max_cpu`` of a core (None: the default); a value already in the
    environment wins (:mod:`bench.compare` turns admission off that way)."""
    admit: dict[str, str] = {}
    if admit_max_cpu is not None and "DHGW_ADMIT_MAX_CPU" not in os.environ:
        admit["DHGW_ADMIT_MAX_CPU"] = f"{admit_max_cpu:g}"
    with ExitStack() as stack:
        if processes == 1:
            process, address = stack.enter_context(gateway(secret, api_url, **admit))
            yield [process], address
            return
        redis_url = stack.enter_context(redis())
        started = []
        with _reserved_port() as port:
            address = f"127.0.0.1:{port}"
            env = {"DHGW_LISTEN": address, "DHGW_REUSE_PORT": "on", "DHGW_REDIS_URL": redis_url}
            env.update(admit)
            for _ in range(processes):
                process, bound = stack.enter_context(gateway(secret, api_url, **env))
                assert bound == address, (bound, address)
                started.append(process)
        yield started, address


def gateway_pids(processes: Sequence[subprocess.Popen[str]]) -> dict[str, int]:
    """The sampler's names of the gateway processes: ``gateway``, or ``gateway/0``, ..."""
    if len(processes) == 1:
        return {"gateway": processes[0].pid}
    return {part_name("gateway", i): process.pid for i, process in enumerate(processes)}


def run_step(
    scenario: Scenario,
    streams: int,
    *,
    mode: str,
    seconds: float,
    processes: int | None = None,
    streams_per_conn: int | None = None,
) -> StepResult:
    """One rung for one path (``mode``, one of :data:`MODES`), on fresh processes.

    ``processes`` gateway processes share the listen address and the load generator opens a
    connection per ``streams_per_conn`` streams (None: the scenario's); the result is labelled
    by the processes (``20ms-2proc``) and records the connections. The ``prototype`` path runs
    the load generator in its gateway mode against :mod:`bench.prototype`, sampled as
    ``prototype``.

    Raises:
        ValueError: an unknown ``mode``, or ``prototype`` on a scenario it cannot carry
            (:attr:`Scenario.prototype_fits`); nothing has been started.
    """
    if processes is not None:
        scenario = replace(scenario, processes=processes)
    if streams_per_conn is not None:
        scenario = replace(scenario, streams_per_conn=streams_per_conn)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
    if mode == "prototype" and not scenario.prototype_fits:
        raise ValueError(f"the prototype cannot carry {scenario.label} (LINEAR16 mono 16 kHz only)")
    secret = secrets.token_hex(16)
    ramp_s = max(1.0, streams / SETUPS_PER_S)
    load_args = [
        "--streams", str(streams), "--seconds", str(seconds + ramp_s),
        "--chunk-ms", str(scenario.chunk_ms), "--ramp-s", str(ramp_s),
        "--timeout-s", str(int(seconds + ramp_s + 60)),
    ]  # fmt: skip
    with ExitStack() as stack:
        sim, sim_url = stack.enter_context(simulator(secret))
        pids = {"simulator": sim.pid}
        # The processes in front of the simulator: the gateway's, or the prototype.
        hop_pids: dict[str, int] = {}
        address = ""
        if mode == "gateway":
            started, address = stack.enter_context(
                gateways(secret, sim_url, scenario.processes, scenario.admit_max_cpu)
            )
            hop_pids = gateway_pids(started)
        elif mode == "prototype":
            proto, address = stack.enter_context(prototype(secret, sim_url))
            hop_pids = {"prototype": proto.pid}
        if hop_pids:
            pids.update(hop_pids)
            load_args += ["--mode", "gateway", "--addr", address, "--rate", str(scenario.rate)]
            load_args += ["--conns", str(conns_for(streams, scenario.streams_per_conn))]
            load_args += ["--channels", str(scenario.channels), "--encoding", scenario.encoding]
        else:
            load_args += ["--mode", "direct", "--api", sim_url, "--app-id", str(APP_ID)]
            load_args += ["--secret", secret, "--rate", str(scenario.direct_rate)]
            load_args += ["--channels", "1", "--encoding", "LINEAR16"]
        baseline_rss = sum(read_proc(pid)[1] for pid in hop_pids.values())
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
        scenario=scenario.label,
        mode=mode,
        load=report,
        sim_state=sim_state,
        samples=samples,
        chunk_ms=scenario.chunk_ms,
        out_bytes_per_ms=scenario.out_bytes_per_ms,
        baseline_rss_kib=baseline_rss,
        processes=len(hop_pids),
        cores=len(os.sched_getaffinity(0)),
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


def modes_for(scenario: Scenario, *, with_prototype: bool = True) -> tuple[str, ...]:
    """The paths a rung of ``scenario`` runs on, in order: gateway, the prototype (on the
    scenarios it can carry, and only ``with_prototype``), direct."""
    proto = with_prototype and scenario.prototype_fits
    return tuple(mode for mode in MODES if mode != "prototype" or proto)


def run_ladder(
    scenarios: list[Scenario],
    ladder: Mapping[str, list[int]],
    *,
    seconds: float,
    with_prototype: bool = True,
) -> list[dict[str, Any]]:
    """Every rung of every scenario on every path of :func:`modes_for` (gateway, prototype,
    direct); printed as it goes."""
    results = []
    for scenario in scenarios:
        for streams in ladder[scenario.label]:
            for mode in modes_for(scenario, with_prototype=with_prototype):
                step = run_step(scenario, streams, mode=mode, seconds=seconds)
                print(
                    f"{scenario.label:>16} {mode:>9} {streams:5d} streams: "
                    f"underruns {step.underruns} ({step.streams_with_underruns} streams), "
                    f"p99 {step.latency_p99_ms:.1f} ms, setup p99 {step.setup_p99_ms:.1f} ms, "
                    f"cpu {json.dumps({k: _pct(v) for k, v in step.cpu_pct.items()})}"
                    + (f" bound by {step.bound_by}" if step.bound_by else ""),
                    flush=True,
                )
                results.append(step.as_dict())
    return results
