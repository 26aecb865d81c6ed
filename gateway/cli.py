"""``dh-gateway``: serve | config | health | usage | api-key | simulator | demo.

* ``dh-gateway serve``: the gateway, configured from flags > ``DHGW_*`` variables > a TOML file.
* ``dh-gateway config``: the effective configuration, validated, secrets masked.
* ``dh-gateway health``: one ``grpc.health.v1`` check; exit 0 when SERVING (for HEALTHCHECK).
* ``dh-gateway usage``: drives, audio and speaking seconds and errors per API key and profile,
  from running gateways' ``/metrics``.
* ``dh-gateway api-key``: a new API key and the SHA-256 the configuration stores.
* ``dh-gateway simulator``: the built-in simulator of the vendor's cloud, standalone.
* ``dh-gateway demo``: simulator + gateway on free loopback ports, a real client drive, and the
  simulator's verdict.

Configuration problems are printed one per line on stderr, and the exit status is 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from gateway.config import ConfigProblems, GatewayConfig, load_config
from gateway.config.settings import PROFILE_FLAGS, SETTINGS
from gateway.errors import ConfigError, SharedStateUnavailable

if TYPE_CHECKING:
    import grpc


log = logging.getLogger("gateway")

_SECTION_TITLES = {
    "": "profiles",
    "server": "listener",
    "server.tls": "TLS",
    "limits": "limits",
    "pacing": "pacing",
    "upstream": "the vendor",
    "observability": "observability",
}


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of every setting (``--listen`` for ``DHGW_LISTEN`` and so on)."""
    parser.add_argument("--config", metavar="FILE", help="a TOML configuration file (DHGW_CONFIG)")
    groups: dict[str, argparse._ArgumentGroup] = {}
    for section, title in _SECTION_TITLES.items():
        groups[section] = parser.add_argument_group(title)
    groups[""].add_argument("--zego-app-id", help="the default profile's AppId (DHGW_ZEGO_APP_ID)")
    groups[""].add_argument(
        "--zego-server-secret-file",
        metavar="FILE",
        help="a file holding its ServerSecret (DHGW_ZEGO_SERVER_SECRET_FILE)",
    )
    for setting in SETTINGS:
        if not setting.flag:
            continue
        default = setting.default
        if isinstance(default, bool):
            default = "on" if default else "off"
        shown = f"; default {default}" if default not in (None, "") else ""
        help_text = f"{setting.help} ({setting.variable}{shown})"
        group = groups[setting.section]
        if setting.switch:
            group.add_argument(setting.option, action="store_const", const="on", help=help_text)
        else:
            metavar = "on|off" if setting.kind == "bool" else setting.kind.upper()
            if setting.key.endswith("_file"):
                metavar = "FILE"
            group.add_argument(setting.option, metavar=metavar, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    """The ``dh-gateway`` argument parser."""
    parser = argparse.ArgumentParser(prog="dh-gateway", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--log-level",
        help="DEBUG, INFO, WARNING, ERROR (DHGW_LOG_LEVEL; default INFO, WARNING for the demo)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_config_flags(sub.add_parser("serve", help="run the gateway"))
    config = sub.add_parser("config", help="print the effective configuration, secrets masked")
    config.add_argument("--format", choices=["toml", "json"], default="toml")
    _add_config_flags(config)
    health = sub.add_parser("health", help="check a gateway's health: exit 0 when SERVING")
    health.add_argument(
        "--address",
        help="host:port or unix:/path (default: DHGW_HEALTH_LISTEN, else DHGW_LISTEN, "
        "else 127.0.0.1:50051)",
    )
    health.add_argument("--service", default="", help='the service to check ("" = the server)')
    health.add_argument("--timeout", type=float, default=5.0, metavar="S", help="default 5")
    health.add_argument("--tls", action="store_true", help="use TLS (with the system's CAs)")
    health.add_argument("--ca-file", help="PEM CA of the gateway's certificate (implies --tls)")
    health.add_argument("--cert-file", help="PEM client certificate (mutual TLS)")
    health.add_argument("--key-file", help="PEM key of the client certificate")
    health.add_argument("--server-name", help="the name to verify in the gateway's certificate")
    usage = sub.add_parser(
        "usage", help="print running gateways' usage per API key and profile (from /metrics)"
    )
    usage.add_argument(
        "urls",
        nargs="*",
        metavar="URL",
        help="a gateway's metrics endpoint, host:port or a URL; several are added up "
        "(default: DHGW_METRICS_LISTEN, else 127.0.0.1:9464)",
    )
    usage.add_argument("--timeout", type=float, default=5.0, metavar="S", help="default 5")
    api_key = sub.add_parser("api-key", help="make an API key and print its SHA-256")
    api_key.add_argument("--name", default="my-client", help="the key's name in the config")
    api_key.add_argument(
        "--stdin", action="store_true", help="hash the key read from stdin instead of a new one"
    )
    sub.add_parser("simulator", help="run the simulator of the vendor's cloud", add_help=False)
    demo = sub.add_parser("demo", help="simulator + gateway + a real drive, then the verdict")
    demo.add_argument("--audio", help="a WAV file to speak (default: the bundled clip)")
    return parser


def config_from_args(args: argparse.Namespace) -> GatewayConfig:
    """The configuration from the parsed flags, the environment and ``--config``.

    Raises:
        ConfigProblems: every problem found.
    """
    flags: dict[str, Any] = {s.dest: getattr(args, s.dest, None) for s in SETTINGS if s.flag}
    flags.update({name: getattr(args, name, None) for name in PROFILE_FLAGS})
    flags["log_level"] = args.log_level
    return load_config(config_file=args.config, **flags)


async def serve(config: GatewayConfig) -> int:
    """Run the gateway until SIGTERM/SIGINT, then drain; a second signal skips the wait."""
    from gateway.observability import interceptors_for
    from gateway.service.app import GatewayApp
    from gateway.service.server import drain, start_server

    stop, now = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if not stop.is_set():
            log.warning("%s: draining for up to %g s", sig.name, config.server.drain_timeout_s)
            stop.set()
        elif not now.is_set():
            log.warning("%s again: stopping the remaining drives now", sig.name)
            now.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    async with GatewayApp(config) as app:
        running = await start_server(app, interceptors=interceptors_for(app.metrics))
        if running.health_address:
            log.info("health checks on %s", running.health_address)
        if app.metrics_address:
            log.info("metrics on http://%s/metrics", app.metrics_address)
        # Everything made at start-up lives forever: move it out of the collector's sight, or
        # each full collection walks it all and stalls every drive's audio for tens of ms.
        gc.collect()
        gc.freeze()
        # A young collection walks every young object and pauses every drive meanwhile; the
        # audio itself dies young (reference counting frees it), but each drive set-up leaves
        # hundreds of objects behind. With 50 000 young objects a collection took 15-37 ms on
        # the 2-core bench VM, more than the avatar's 20 ms jitter tolerance, so every stream
        # stuttered at once; with 5 000 it takes under 7 ms, and total GC time fell too.
        gc.set_threshold(5_000, 50, 50)
        print(f"dh-gateway listening on {running.address}", flush=True)
        await stop.wait()
        await drain(app, running, config.server.drain_timeout_s, now=now)
    log.info("drained; bye")
    return 0


def print_config(config: GatewayConfig, fmt: str) -> int:
    """``dh-gateway config``: the effective configuration on stdout."""
    from gateway.config.dump import to_json, to_toml

    sys.stdout.write(to_json(config) if fmt == "json" else to_toml(config))
    return 0


def _health_target(address: str | None, environ: dict[str, str]) -> str:
    target = (
        address
        or environ.get("DHGW_HEALTH_LISTEN")
        or environ.get("DHGW_LISTEN")
        or "127.0.0.1:50051"
    )
    if target.startswith(("unix:", "unix-abstract:")):
        return target
    return _reachable(target)


def _reachable(listen: str) -> str:
    """The host:port to reach a listener on ``listen`` from this machine (a wildcard host is
    the loopback)."""
    host, _, port = listen.rpartition(":")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host in ("[::]", "::"):
        host = "[::1]"
    return f"{host}:{port}"


def check_health(args: argparse.Namespace) -> int:
    """``dh-gateway health``: exit 0 when SERVING, 1 otherwise (also when unreachable)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    target = _health_target(args.address, dict(os.environ))
    options: list[tuple[str, Any]] = []
    if args.server_name:
        options.append(("grpc.ssl_target_name_override", args.server_name))
    if args.tls or args.ca_file or args.cert_file:
        try:
            read = [Path(f).read_bytes() if f else None for f in (args.ca_file, args.key_file)]
            chain = Path(args.cert_file).read_bytes() if args.cert_file else None
        except OSError as exc:
            print(f"dh-gateway health: {exc}", file=sys.stderr)
            return 1
        credentials = grpc.ssl_channel_credentials(read[0], read[1], chain)
        channel = grpc.secure_channel(target, credentials, options)
    else:
        channel = grpc.insecure_channel(target, options)
    with channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        except grpc.RpcError as exc:
            call = cast("grpc.Call", exc)  # what grpc raises is both
            print(f"{target}: {call.code().name}: {call.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    print(status)
    return 0 if answer.status == health_pb2.HealthCheckResponse.SERVING else 1


def show_usage(args: argparse.Namespace) -> int:
    """``dh-gateway usage``: the table of each tenant's totals; 1 when a URL does not answer."""
    from gateway.observability.usage_view import (
        ScrapeFailed,
        metrics_url,
        render,
        scrape,
        usage_of,
    )

    targets = args.urls or [_reachable(os.environ.get("DHGW_METRICS_LISTEN") or "127.0.0.1:9464")]
    try:
        texts = [scrape(metrics_url(target), args.timeout) for target in targets]
        rows = usage_of(texts)
    except ScrapeFailed as exc:
        print(f"dh-gateway usage: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # the parser's word for text that is not an exposition
        print(f"dh-gateway usage: not Prometheus metrics: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render(rows))
    return 0


def make_api_key(args: argparse.Namespace) -> int:
    """``dh-gateway api-key``: a key for the client, the TOML entry for the gateway."""
    from gateway.service.auth import key_digest

    key = sys.stdin.readline().strip() if args.stdin else "dhgw_" + secrets.token_urlsafe(32)
    if not key:
        print("dh-gateway api-key: no key on stdin", file=sys.stderr)
        return 2
    if not args.stdin:
        print(f"# the key (give it to the client; it is not stored anywhere):\n# {key}\n")
    print(
        f'[[auth.api_keys]]\nname = "{args.name}"\nsha256 = "{key_digest(key)}"\n'
        'profiles = ["*"]\ntasks = ["*"]'
    )
    return 0


def _report(error: ConfigError) -> int:
    problems = error.problems if isinstance(error, ConfigProblems) else (error.message,)
    for problem in problems:
        print(f"dh-gateway: configuration error: {problem}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dh-gateway`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv[:1] == ["simulator"]:
        # The simulator has its own flags (--port, --app-id, ...): hand it the rest as is.
        from gateway.simulator.standalone import run_standalone

        return run_standalone(argv[1:])
    args = parser.parse_args(argv)
    try:
        if args.command in ("serve", "config"):
            config = config_from_args(args)
            if args.command == "config":
                return print_config(config, args.format)
            from gateway.observability import configure_logging

            configure_logging(config)
            from gateway.loops import run_loop
            from gateway.malloc import limit_malloc_arenas

            limit_malloc_arenas()  # before grpc's threads start

            return run_loop(serve(config), config.server.event_loop)
        logging.basicConfig(
            level=(args.log_level or ("WARNING" if args.command == "demo" else "INFO")).upper(),
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
        if args.command == "health":
            return check_health(args)
        if args.command == "usage":
            return show_usage(args)
        if args.command == "api-key":
            return make_api_key(args)
        if args.command == "demo":
            from gateway.demo import run_demo

            return asyncio.run(run_demo(args.audio))
    except ConfigError as exc:
        return _report(exc)
    except SharedStateUnavailable as exc:
        # At start-up: a replica that cannot reach the shared Redis must not serve alone.
        print(f"dh-gateway: cannot start: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
