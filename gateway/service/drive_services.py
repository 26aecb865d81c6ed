"""What every drive of one gateway shares: one frozen, typed bundle, built once by the app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.config import Credentials, LimitsConfig, UpstreamConfig
from gateway.drive.settings import PacingSettings
from gateway.errors import GatewayError
from gateway.observability.drive_trace import NULL_TRACER, DriveTracer
from gateway.observability.observer import Observer
from gateway.registry.base import TaskRegistry
from gateway.upstream import UpstreamClient

ExplainEnd = Callable[[str, str, Credentials, GatewayError], Awaitable[GatewayError]]
"""Awaited with a drive's task key, task id, credentials and the error that ended it: what
that error means for the task (TASK_ENDED when the task ended), bounded in time."""


async def as_is(
    key: str, task_id: str, credentials: Credentials, error: GatewayError
) -> GatewayError:
    """An :data:`ExplainEnd` that knows nothing of tasks."""
    return error


def loop_time() -> float:
    """The running event loop's clock: the one ``asyncio.timeout_at`` counts in."""
    return asyncio.get_running_loop().time()


@dataclass(frozen=True, kw_only=True)
class DriveServices:
    """What every drive of one gateway shares, built once by the app and handed to each drive.

    Attributes:
        registry: one task, one drive (in-process or through Redis).
        upstream: the vendor's HTTP API, behind its request limiter.
        connection: the vendor WebSocket's timeouts and TLS.
        observer: where drives report their lifecycle (the metrics, or a no-op).
        limits: the drive's bounds, and how long it waits for a busy task.
        pacing: how audio is paced toward the avatar.
        clock: a monotonic clock in seconds; must be the event loop's (timeouts count in it).
        vendor_grace_s: how long a playback estimate waits for the vendor's callback (0: the
            gateway receives none).
        explain_end: what a drive's error means for its task (the task room's).
        tracer: where drives trace their steps (OpenTelemetry, or a no-op).
    """

    registry: TaskRegistry
    upstream: UpstreamClient
    connection: UpstreamConfig
    observer: Observer
    limits: LimitsConfig
    pacing: PacingSettings
    clock: Callable[[], float] = loop_time
    vendor_grace_s: float = 0.0
    explain_end: ExplainEnd = as_is
    tracer: DriveTracer = NULL_TRACER
