"""The connection flags of every ``dh-drive`` command, and the :class:`Connection` they make.

Each flag falls back to its ``DHGW_*`` variable (:mod:`dhgateway_client.connection`), so a
shell can point every command at a TLS gateway once. The API key comes from ``--api-key-file``
(a file only its owner may read), ``$DHGW_API_KEY``, or ``--api-key``; the last shows in ``ps``
and the shell's history, so it is the fallback for tries on a laptop.
"""

from __future__ import annotations

import argparse
import stat
from pathlib import Path

from dhgateway_client.connection import Connection


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--addr``, ``--tls``, ``--ca``, ``--cert``, ``--key``, ``--server-name``,
    ``--api-key`` and ``--api-key-file`` to ``parser``; read them with :func:`connection_of`."""
    group = parser.add_argument_group("the gateway (each flag, else its DHGW_* variable)")
    group.add_argument(
        "--addr", help="host:port or unix:/path ($DHGW_ADDRESS, else 127.0.0.1:50051)"
    )
    group.add_argument(
        "--tls", action="store_true", default=None, help="TLS, verified by the system's roots"
    )
    group.add_argument("--ca", help="PEM roots that verify the gateway (implies --tls)")
    group.add_argument("--cert", help="client certificate (PEM) for mutual TLS (needs --key)")
    group.add_argument("--key", help="the client certificate's private key (PEM)")
    group.add_argument("--server-name", help="the name on the gateway's certificate")
    keys = group.add_mutually_exclusive_group()
    keys.add_argument("--api-key-file", help="read the API key from this file (mode 600)")
    keys.add_argument("--api-key", help="the API key itself ($DHGW_API_KEY; shows in ps)")


def connection_of(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Connection:
    """The connection the flags (else the environment) describe; a bad flag or file is a usage
    error (``parser.error``: exit status 2), before anything is sent."""
    api_key = args.api_key
    if args.api_key_file is not None:
        api_key = read_api_key(args.api_key_file, parser)
    try:
        connection = Connection.from_env(
            address=args.addr,
            api_key=api_key,
            tls=args.tls,
            ca_file=args.ca,
            cert_file=args.cert,
            key_file=args.key,
            server_name=args.server_name,
        )
        connection.credentials()  # reads the TLS files now: a missing one is a usage error
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    return connection


def read_api_key(path: str, parser: argparse.ArgumentParser) -> str:
    """The API key in ``path`` (its whitespace stripped). A missing or empty file, or one that
    other users may read, is a usage error: a key others can read is a leaked key."""
    file = Path(path)
    try:
        mode = file.stat().st_mode
        key = file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        parser.error(f"--api-key-file {path}: {exc.strerror or exc}")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        parser.error(f"--api-key-file {path} may be read by other users: chmod 600 {path}")
    if not key:
        parser.error(f"--api-key-file {path} is empty")
    return key
