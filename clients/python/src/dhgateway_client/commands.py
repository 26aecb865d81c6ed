"""``dh-drive stop | get-task | watch-task``: the gateway's other calls, as ``dh-drive`` lines.

* ``dh-drive stop --task T [--stop-mode finish|interrupt]`` prints ``{"event": "stopped",
  "drive_id": ..., "played_ms": ..., "interrupted": ...}`` (StopDrive's answer);
* ``dh-drive get-task --task T [--refresh]`` prints ``{"event": "task", <TaskInfo fields>}``;
* ``dh-drive watch-task --task T`` prints such a line now and at each change, until the task
  ended (exit 0) or the command is interrupted.

Fields by their proto names, int64 as strings, enums by name, as for the drive's events; a
failed call prints the ``error`` line and exits 1. Each takes ``--addr``, ``--profile``,
``--api-key`` and ``--json`` as the drive command does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from dhgateway_client.aio import DriveGatewayClient
from dhgateway_client.cli_connection import add_connection_flags, connection_of
from dhgateway_client.config import StopModeName
from dhgateway_client.connection import Connection
from dhgateway_client.errors import DriveError
from dhgateway_client.output import message_json, show, show_error

Command = Callable[[DriveGatewayClient, argparse.Namespace], Coroutine[Any, Any, None]]


def _parser(name: str, summary: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"dh-drive {name}", description=summary)
    parser.add_argument("--task", required=True, help="the vendor's stream task id")
    parser.add_argument("--profile", default="", help="the credentials profile")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    add_connection_flags(parser)
    return parser


def stop_parser() -> argparse.ArgumentParser:
    """The flags of ``dh-drive stop``."""
    parser = _parser("stop", "End the task's active drive (StopDrive).")
    parser.add_argument("--stop-mode", choices=("finish", "interrupt"), default="finish")
    return parser


def get_task_parser() -> argparse.ArgumentParser:
    """The flags of ``dh-drive get-task``."""
    parser = _parser("get-task", "How the task is (GetTask).")
    parser.add_argument("--refresh", action="store_true", help="ask the vendor now")
    return parser


def watch_task_parser() -> argparse.ArgumentParser:
    """The flags of ``dh-drive watch-task``."""
    return _parser("watch-task", "The task now and at each change (WatchTask).")


async def _stop(client: DriveGatewayClient, args: argparse.Namespace) -> None:
    mode: StopModeName = "INTERRUPT" if args.stop_mode == "interrupt" else "FINISH"
    result = await client.stop(args.task, mode=mode, profile=args.profile)
    line = {
        "event": "stopped",
        "drive_id": result.drive_id,
        "played_ms": str(result.played_ms),  # int64 as a string, as the proto's JSON form
        "interrupted": result.interrupted,
    }
    show(line, args.json)


async def _get_task(client: DriveGatewayClient, args: argparse.Namespace) -> None:
    info = await client.get_task(args.task, profile=args.profile, refresh=args.refresh)
    show({"event": "task", **message_json(info)}, args.json)


async def _watch_task(client: DriveGatewayClient, args: argparse.Namespace) -> None:
    async for info in client.watch_task(args.task, profile=args.profile):
        show({"event": "task", **message_json(info)}, args.json)


async def _call(command: Command, args: argparse.Namespace, connection: Connection) -> int:
    async with connection.channel() as channel:
        try:
            await command(connection.client(channel), args)
        except DriveError as error:
            show_error(error, args.json)
            return 1
    return 0


def _runner(parser: Callable[[], argparse.ArgumentParser], command: Command) -> Callable[..., int]:
    def run(argv: Sequence[str]) -> int:
        flags = parser()
        args = flags.parse_args(argv)
        connection = connection_of(args, flags)
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(_call(command, args, connection))
        return 130

    return run


#: ``dh-drive <name> ...``: each runs with the arguments after its name, returns the exit status.
COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "stop": _runner(stop_parser, _stop),
    "get-task": _runner(get_task_parser, _get_task),
    "watch-task": _runner(watch_task_parser, _watch_task),
}
