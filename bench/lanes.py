"""What the benches share: drives at a fixed concurrency over one channel, within a bound (their
load's shape), and how they write their results."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from dhgateway_client import DriveGatewayClient

T = TypeVar("T")


async def in_lanes(
    address: str,
    count: int,
    concurrency: int,
    bound_s: float,
    one: Callable[[DriveGatewayClient, int], Awaitable[T]],
) -> list[T]:
    """Run ``one(client, i)`` for i in ``range(count)``, ``concurrency`` at a time; those not
    done within ``bound_s`` are cancelled and left out of the results."""
    results: list[T] = []
    pending = iter(range(count))

    async def lane(client: DriveGatewayClient) -> None:
        for i in pending:  # the lanes share one iterator: each drive is taken once
            results.append(await one(client, i))

    async with grpc.aio.insecure_channel(address) as channel:
        client = DriveGatewayClient(channel)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(bound_s), asyncio.TaskGroup() as group:
                for _ in range(concurrency):
                    group.create_task(lane(client))
    return results


def command_line(module: str, argv: list[str] | None) -> str:
    """How a bench was run, for its results: ``python -m <module>`` and its arguments."""
    return " ".join([f"python -m {module}", *(argv if argv is not None else sys.argv[1:])])


def write_results(out: Path, name: str, document: dict[str, Any], table: str) -> None:
    """Write ``<out>/<name>.json`` (the figures) and ``.md`` (``table``); print the table."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(document, indent=1) + "\n")
    (out / f"{name}.md").write_text(table)
    print(table)
    print(f"wrote {out / name}.json, .md")
