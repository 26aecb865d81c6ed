"""``dh-gateway``: serve | simulator | demo.

* ``dh-gateway serve``: the gateway, configured from flags and ``DHGW_*`` variables.
* ``dh-gateway simulator``: the built-in simulator of the vendor's cloud, standalone.
* ``dh-gateway demo``: simulator + gateway on free loopback ports, a real client drive, and the
  simulator's verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from gateway.config import load_config
from gateway.errors import ConfigError

log = logging.getLogger("gateway")


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--listen", help="host:port to listen on (DHGW_LISTEN)")
    serve.add_argument("--zego-app-id", help="the vendor AppId (DHGW_ZEGO_APP_ID)")
    serve.add_argument("--zego-api-url", help="the vendor API URL (DHGW_ZEGO_API_URL)")
    serve.add_argument(
        "--zego-server-secret-file",
        help="a file holding the ServerSecret (DHGW_ZEGO_SERVER_SECRET_FILE)",
    )
    serve.add_argument("--pacing", choices=["on", "off"], help="pace audio (DHGW_PACING)")
    serve.add_argument("--pacing-lead-ms", type=int, help="pacing lead (DHGW_PACING_LEAD_MS)")
    serve.add_argument("--max-drives", type=int, help="concurrent drive limit (DHGW_MAX_DRIVES)")
    serve.add_argument("--idle-timeout-s", type=float, help="DHGW_IDLE_TIMEOUT_S")
    serve.add_argument("--max-drive-s", type=float, help="DHGW_MAX_DRIVE_S")
    serve.add_argument("--drain-timeout-s", type=float, default=30.0, help="graceful drain time")


def build_parser() -> argparse.ArgumentParser:
    """The ``dh-gateway`` argument parser."""
    parser = argparse.ArgumentParser(prog="dh-gateway", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--log-level", help="DEBUG, INFO, WARNING, ERROR (default: INFO; WARNING for the demo)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    sub.add_parser("simulator", help="run the simulator of the vendor's cloud", add_help=False)
    demo = sub.add_parser("demo", help="simulator + gateway + a real drive, then the verdict")
    demo.add_argument("--audio", help="a WAV file to speak (default: the bundled clip)")
    return parser


async def serve(args: argparse.Namespace) -> int:
    """Run the gateway until SIGTERM/SIGINT, then drain; returns the exit status."""
    from gateway.service.app import GatewayApp
    from gateway.service.server import drain, start_server

    config = load_config(
        listen=args.listen,
        zego_app_id=args.zego_app_id,
        zego_api_url=args.zego_api_url,
        zego_server_secret_file=args.zego_server_secret_file,
        pacing=args.pacing,
        pacing_lead_ms=args.pacing_lead_ms,
        max_drives=args.max_drives,
        idle_timeout_s=args.idle_timeout_s,
        max_drive_s=args.max_drive_s,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with GatewayApp(config) as app:
        running = await start_server(app)
        print(f"dh-gateway listening on {running.address}", flush=True)
        await stop.wait()
        log.info("signal received: draining")
        await drain(app, running, args.drain_timeout_s)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dh-gateway`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv[:1] == ["simulator"]:
        # The simulator has its own flags (--port, --app-id, ...): hand it the rest as is.
        from gateway.simulator.standalone import run_standalone

        return run_standalone(argv[1:])
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=(args.log_level or ("WARNING" if args.command == "demo" else "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        if args.command == "serve":
            return asyncio.run(serve(args))
        if args.command == "demo":
            from gateway.demo import run_demo

            return asyncio.run(run_demo(args.audio))
    except ConfigError as exc:
        print(f"dh-gateway: configuration error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
