"""``python -m bench.time_to_speak``: how soon the avatar speaks after a turn's config, with and
without the API warm-up (:mod:`gateway.upstream.warmup`), side by side in one run.

The standalone simulator serves https/wss behind a TCP proxy that delays each direction by
half of ``--rtt-ms`` (:class:`~bench.faulty_proxy.FaultyProxy`), so that every handshake costs
what it would across a network, and closes HTTP connections idle for ``--keepalive-s`` as a
vendor's front end does. Two ``dh-gateway serve`` processes run in front of it, the same but
for ``upstream.api_warm_interval_s``: 0 (off, the baseline) and ``--warm-interval-s``. The
turns alternate between them, one at a time, ``--gap-s`` apart (longer than the keep-alive:
an agent's turns are further apart than any front end's idle timeout), each ``AUDIO_MS`` of
speech that a fast TTS has ready at once.

Per turn: the gateway's ``setup_ms`` (Started), ``time_to_first_frame_ms`` and
``time_to_speaking_ms`` (Completed), and the simulator's own record: from the client's config
to the avatar speaking (``speaking_at``, one host and one monotonic clock). p50/p99 each, and
the warm run's as a ratio to the baseline's. Bounded: each turn within :data:`TURN_BOUND_S`.
Writes ``bench/results/time-to-speak.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import grpc
from dhgateway_client import DriveError, DriveGatewayClient

from bench.__main__ import machine
from bench.faulty_proxy import FaultyProxy
from bench.lanes import command_line, write_results
from bench.playback_skew_report import percentiles
from bench.run import ROOT, gateway_via, simulator
from bench.soak import free_port

RUNS = ("baseline", "warm")
AUDIO_MS = 300
CHUNK_MS = 20
BYTES_PER_MS = 32  # 16 kHz mono s16le
TURN_BOUND_S = 20.0
FIGURES = ("setup_ms", "time_to_first_frame_ms", "time_to_speaking_ms", "sim_time_to_speaking_ms")


@dataclass
class Turn:
    run: str
    outcome: str = ""
    drive_id: str = ""
    began_at: float = 0.0  # time.monotonic() as the config went out: the simulator's clock
    setup_ms: int | None = None
    time_to_first_frame_ms: int | None = None
    time_to_speaking_ms: int | None = None
    sim_time_to_speaking_ms: float | None = None
    detail: str = ""  # the error's message, when it failed


async def _speech() -> AsyncIterator[bytes]:
    for _ in range(AUDIO_MS // CHUNK_MS):
        yield bytes(BYTES_PER_MS * CHUNK_MS)


async def one_turn(client: DriveGatewayClient, run: str, task_id: str) -> Turn:
    turn = Turn(run, began_at=time.monotonic())
    drive = client.drive(task_id, _speech())
    try:
        async with asyncio.timeout(TURN_BOUND_S):
            async for event in drive:
                which = event.WhichOneof("event")
                if which == "started":
                    turn.setup_ms = event.started.setup_ms
                elif which == "completed":
                    turn.time_to_first_frame_ms = event.completed.time_to_first_frame_ms
                    turn.time_to_speaking_ms = event.completed.time_to_speaking_ms
        turn.outcome = "OK"
    except DriveError as error:
        turn.outcome = f"{error.code.name}/{error.reason}"
        turn.detail = str(error)[:300]
    except TimeoutError:
        turn.outcome = "TIMEOUT"
    turn.drive_id = drive.drive_id or ""
    return turn


async def take_turns(addresses: dict[str, str], turns: int, gap_s: float) -> list[Turn]:
    """``turns`` turns on each gateway, alternating which goes first, one at a time."""
    results: list[Turn] = []
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            run: DriveGatewayClient(
                await stack.enter_async_context(grpc.aio.insecure_channel(address))
            )
            for run, address in addresses.items()
        }
        for i in range(turns):
            order = RUNS if i % 2 == 0 else RUNS[::-1]
            for run in order:
                results.append(await one_turn(clients[run], run, f"speak-{run}"))
            await asyncio.sleep(gap_s)
    return results


@contextlib.contextmanager
def delaying_proxy(server_port: int, rtt_ms: float) -> Iterator[int]:
    """A :class:`FaultyProxy` to ``server_port`` delaying each way by half of ``rtt_ms``, on a
    loop of its own thread (the gateways are processes: nothing else runs there); its port."""
    ready: threading.Event = threading.Event()
    port: list[int] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async with FaultyProxy(server_port) as proxy:
            proxy.delay(rtt_ms / 2000)
            port.append(proxy.port)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        if not ready.wait(10):
            raise RuntimeError("the proxy did not start")
        yield port[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def add_simulator_figures(turns: list[Turn], sim_url: str, tls: ssl.SSLContext) -> None:
    """Each turn's time to speaking by the simulator's record of its playout."""
    with urlopen(f"{sim_url.rstrip('/')}/_sim/state", timeout=30, context=tls) as answer:
        playouts = {p["drive_id"]: p for p in json.loads(answer.read())["playouts"]}
    for turn in turns:
        speaking_at = playouts.get(turn.drive_id, {}).get("speaking_at")
        if speaking_at is not None:
            turn.sim_time_to_speaking_ms = round((speaking_at - turn.began_at) * 1000, 2)


def summarise(turns: list[Turn]) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    for run in RUNS:
        mine = [t for t in turns if t.run == run]
        ok = [t for t in mine if t.outcome == "OK"]
        runs[run] = {
            "turns": len(mine),
            "outcomes": {o: sum(t.outcome == o for t in mine) for o in {t.outcome for t in mine}},
            **{
                name: percentiles([v for t in ok if (v := getattr(t, name)) is not None])
                for name in FIGURES
            },
        }
    base = runs["baseline"]
    for run in RUNS:
        runs[run]["ratio_to_baseline"] = {
            name: {
                q: round(runs[run][name][q] / base[name][q], 3)
                if runs[run][name][q] is not None and base[name][q]
                else None
                for q in ("p50", "p99")
            }
            for name in FIGURES
        }
    return runs


def markdown(document: dict[str, Any]) -> str:
    lines = [
        "# Time to speak",
        "",
        f"`{document['command']}` on {document['machine']}, {document['started']}.",
        f"RTT {document['rtt_ms']} ms through the proxy, https/wss; the simulator closes idle "
        f"connections after {document['keepalive_s']} s; turns {document['gap_s']} s apart, "
        f"{document['turns']} per run; the warm run warms after "
        f"{document['warm_interval_s']} s idle.",
        "",
        "| run | outcomes | " + " | ".join(f"{n} p50 / p99" for n in FIGURES) + " |",
        "|---|---|" + "---|" * len(FIGURES),
    ]
    for run, figures in document["runs"].items():
        cells = []
        for name in FIGURES:
            stats, ratio = figures[name], figures["ratio_to_baseline"][name]
            cell = "-" if stats["p50"] is None else f"{stats['p50']:.1f} / {stats['p99']:.1f}"
            if ratio["p50"] is not None:
                cell += f" ({ratio['p50']:.2f}x / {ratio['p99']:.2f}x)"
            cells.append(cell)
        lines.append(f"| {run} | {figures['outcomes']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.time_to_speak", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--turns", type=int, default=20, help="per run (20)")
    parser.add_argument("--rtt-ms", type=float, default=20.0, help="round trip to the vendor (20)")
    parser.add_argument("--keepalive-s", type=float, default=1.0, help="the front end's (1)")
    parser.add_argument("--gap-s", type=float, default=1.5, help="between turns (1.5)")
    parser.add_argument("--warm-interval-s", type=float, default=0.4, help="the warm run's (0.4)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="output folder")
    args = parser.parse_args(argv)
    if args.turns < 1 or min(args.rtt_ms, args.keepalive_s, args.gap_s) < 0:
        parser.error("--turns must be >= 1; --rtt-ms, --keepalive-s, --gap-s >= 0")
    if not 0 < args.warm_interval_s < args.keepalive_s:
        parser.error("--warm-interval-s must be above 0 and below --keepalive-s")
    began = time.time()
    secret = secrets.token_hex(16)
    sim_port = free_port()
    with contextlib.ExitStack() as stack:
        proxy_port = stack.enter_context(delaying_proxy(sim_port, args.rtt_ms))
        ca_file = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "ca.pem"
        sim_args = ["--tls", "--ca-file", str(ca_file), "--port", str(sim_port)]
        sim_args += ["--advertised-port", str(proxy_port)]
        sim_args += ["--keepalive-timeout-s", str(args.keepalive_s)]
        _, sim_url = stack.enter_context(simulator(secret, *sim_args))
        api_url = f"https://127.0.0.1:{proxy_port}/"
        ca = str(ca_file)  # verified, as the vendor's API always is
        addresses = {}
        for run, interval in zip(RUNS, (0.0, args.warm_interval_s), strict=True):
            env = {"DHGW_UPSTREAM_API_WARM_INTERVAL_S": str(interval), "DHGW_ZEGO_CA_FILE": ca}
            _, addresses[run] = stack.enter_context(gateway_via((), secret, api_url, env))
        turns = asyncio.run(take_turns(addresses, args.turns, args.gap_s))
        add_simulator_figures(turns, sim_url, ssl.create_default_context(cafile=ca_file))
    document = {
        "command": command_line("bench.time_to_speak", argv),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(began)),
        **{k: getattr(args, k) for k in ("rtt_ms", "keepalive_s", "gap_s", "warm_interval_s")},
        "turns": args.turns,
        "runs": summarise(turns),
        "turn_records": [asdict(t) for t in turns],
    }
    write_results(Path(args.out), "time-to-speak", document, markdown(document))
    return 1 if any(t.outcome != "OK" for t in turns) else 0


if __name__ == "__main__":
    sys.exit(main())
