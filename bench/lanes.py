"""Drives at a fixed concurrency over one channel, within a bound: the benches' load shape."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

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
