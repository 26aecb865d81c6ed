"""Run the simulator as a process: ``python -m gateway.simulator`` or ``dh-gateway simulator``.

When it is ready it prints its HTTP address, alone on one line, on stdout; everything else
goes to stderr. SIGINT or SIGTERM stops it cleanly (exit status 0).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence

from .app import Simulator
from .config import SimulatorConfig
from .tls import require as require_tls

__all__ = ["build_parser", "run_standalone"]

log = logging.getLogger("gateway.simulator")

SECRET_ENV = "DH_SIMULATOR_SERVER_SECRET"
CALLBACK_SECRET_ENV = "DH_SIMULATOR_CALLBACK_SECRET"


def build_parser(prog: str = "python -m gateway.simulator") -> argparse.ArgumentParser:
    """The command line of the standalone simulator."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Run a simulator of the vendor's digital-human cloud."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: a free one)")
    parser.add_argument("--app-id", type=int, required=True, help="the AppId to accept")
    parser.add_argument(
        "--server-secret",
        default=os.environ.get(SECRET_ENV),
        help=f"the ServerSecret that signs requests (default: ${SECRET_ENV})",
    )
    parser.add_argument("--tls", action="store_true", help="serve https/wss (throwaway CA)")
    parser.add_argument("--ca-file", help="with --tls: write the CA certificate (PEM) to this path")
    parser.add_argument("--tasks", help="comma-separated TaskIds that exist (default: any)")
    parser.add_argument(
        "--requests-per-second", type=int, default=10, help="API rate limit per AppId; 0: off"
    )
    parser.add_argument("--underrun-tolerance-ms", type=float, default=20.0)
    parser.add_argument(
        "--advertised-port", type=int, help="the port in the WssAddress it hands out (a proxy's)"
    )
    parser.add_argument(
        "--keepalive-timeout-s",
        type=float,
        default=75.0,
        help="close idle HTTP keep-alive connections after this long (75)",
    )
    parser.add_argument(
        "--no-keep-audio", action="store_true", help="record frame times and sizes only"
    )
    _add_callback_arguments(parser)
    parser.add_argument("--log-level", default="INFO", help="stderr log level (INFO)")
    parser.add_argument(
        "--event-loop", choices=("uvloop", "asyncio"), default="uvloop", help="(uvloop)"
    )
    return parser


def _add_callback_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server callbacks and task lives (zego-api.md §6, §12)")
    group.add_argument("--callback-url", help="POST the signed callbacks here (default: none)")
    group.add_argument(
        "--callback-secret",
        default=os.environ.get(CALLBACK_SECRET_ENV),
        help=f"the CallbackSecret that signs them (default: ${CALLBACK_SECRET_ENV})",
    )
    group.add_argument(
        "--callback-timestamp-unit", choices=("ms", "s"), default="ms", help="Timestamp (ms)"
    )
    group.add_argument(
        "--callback-retry-scale", type=float, default=1.0, help="x the 2..32 s retries (1)"
    )
    group.add_argument("--callback-ca-file", help="CA bundle for an https callback URL")
    group.add_argument(
        "--render-latency-ms", type=float, default=0.0, help="audio in to speaking (0)"
    )
    group.add_argument("--task-init-s", type=float, default=0.0, help="Status 1 for this long")
    group.add_argument("--task-max-idle-s", type=float, help="MaxIdleTime (default: off)")
    group.add_argument("--task-ttl-s", type=float, help="TTL (default: off)")


def _config(args: argparse.Namespace) -> SimulatorConfig:
    tasks = None
    if args.tasks is not None:
        tasks = frozenset(t.strip() for t in args.tasks.split(",") if t.strip())
    return SimulatorConfig(
        app_id=args.app_id,
        server_secret=args.server_secret,
        host=args.host,
        port=args.port,
        tasks=tasks,
        requests_per_second=args.requests_per_second or None,
        underrun_tolerance_ms=args.underrun_tolerance_ms,
        tls=args.tls,
        keep_audio=not args.no_keep_audio,
        callback_url=args.callback_url,
        callback_secret=args.callback_secret if args.callback_url else None,
        callback_timestamp_unit=args.callback_timestamp_unit,
        callback_retry_scale=args.callback_retry_scale,
        callback_cafile=args.callback_ca_file,
        render_latency_ms=args.render_latency_ms,
        task_init_s=args.task_init_s,
        task_max_idle_s=args.task_max_idle_s,
        task_ttl_s=args.task_ttl_s,
        advertised_port=args.advertised_port,
        keepalive_timeout_s=args.keepalive_timeout_s,
    )


async def _serve(config: SimulatorConfig, ca_file: str | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Simulator(config) as sim:
            if ca_file is not None and sim.ca_pem is not None:
                with open(ca_file, "wb") as f:  # noqa: ASYNC230 - a few hundred bytes, once
                    f.write(sim.ca_pem)
            # Everything made at start-up lives forever: move it out of the collector's sight,
            # or each full collection walks it all and stalls the event loop for tens of ms.
            gc.collect()
            gc.freeze()
            # Short young collections (as in ``dh-gateway serve``): each pauses every simulated
            # avatar at once, so it must stay well under the 20 ms underrun tolerance; 50 000
            # young objects took 15-37 ms on the bench VM, 5 000 take a few.
            gc.set_threshold(5_000, 50, 50)
            print(sim.http_url, flush=True)
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run_standalone(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run until SIGINT/SIGTERM; returns the exit status (0; 2 for a bad command line).

    ``argv`` are the arguments after the command (``sys.argv[1:]`` when ``None``); ``prog``
    names the command in usage messages (e.g. ``"dh-gateway simulator"``). Call it from the
    main thread, outside any running event loop (it runs its own).
    """
    parser = build_parser() if prog is None else build_parser(prog)
    args = parser.parse_args(argv)
    if not args.server_secret:
        parser.error(f"--server-secret (or ${SECRET_ENV}) is required")
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = _config(args)
        if config.tls:
            require_tls()
    except (ValueError, ModuleNotFoundError) as exc:
        parser.error(str(exc))
    # As gateway.loops.run_loop does (asyncio where uvloop is not installed); the simulator
    # imports nothing from the gateway.
    if args.event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("event loop: uvloop is not installed here, running on asyncio's")
        else:
            uvloop.run(_serve(config, args.ca_file))
            return 0
    asyncio.run(_serve(config, args.ca_file))
    return 0
