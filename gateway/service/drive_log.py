"""What a drive says about itself: its log lines' fields, its end, and its error metadata.

One log line per lifecycle step (``drive queued``, ``drive started``, then ``drive completed``
or ``drive failed``) on the ``gateway.drive`` logger, each with the drive's task, DriveId and
labels; the same end to the observer (the metrics).
"""

from __future__ import annotations

import logging
from typing import Protocol

from gateway.drive.core import DriveCore
from gateway.drive.machine import DriveState
from gateway.drive.spec import DriveSpec
from gateway.errors import GatewayError, UpstreamDisconnected, UpstreamError
from gateway.observability.observer import DriveEnd, Observer, Tenant
from gateway.service.status import outcome_of

log = logging.getLogger("gateway.drive")


def log_fields(spec: DriveSpec, drive_id: str, **extra: object) -> dict[str, object]:
    """The fields of every log line of a drive, and ``extra``."""
    return {"task_id": spec.task_id, "drive_id": drive_id, "labels": dict(spec.labels), **extra}


class Accounted(Protocol):
    """What a drive's core tells of its progress (an audio drive's, a text drive's)."""

    @property
    def state(self) -> DriveState: ...
    @property
    def sent_ms(self) -> float: ...
    @property
    def started_at(self) -> float | None: ...
    @property
    def setup_ms(self) -> int | None: ...
    def played_ms(self, now: float) -> int: ...


def error_metadata(spec: DriveSpec, drive_id: str, core: Accounted, now: float) -> dict[str, str]:
    """What a failed drive's ErrorInfo carries: its task and DriveId, how much it sent and how
    much the avatar played ("" before they mean anything)."""
    return {
        "task_id": spec.task_id,
        "drive_id": drive_id,
        "sent_ms": str(round(core.sent_ms)) if core.state is not DriveState.IDLE else "",
        "played_ms": str(core.played_ms(now)) if core.started_at is not None else "",
    }


def log_end(
    spec: DriveSpec,
    drive_id: str,
    core: DriveCore,
    observer: Observer,
    error: BaseException | None,
    tenant: Tenant | None = None,
) -> DriveEnd:
    """The drive is over (clean-up done): one log line, one observer call (its usage counted
    for ``tenant``); returns the end reported."""
    status, reason = outcome_of(error)
    end = DriveEnd.of(
        core,
        status=status,
        reason=reason,
        stop_sent_at=core.stop_sent_at if error is None else None,
        dropped=isinstance(error, UpstreamDisconnected),
        tenant=tenant,
    )
    return report_end(spec, drive_id, core, end, observer, error)


def report_end(
    spec: DriveSpec,
    drive_id: str,
    core: Accounted,
    end: DriveEnd,
    observer: Observer,
    error: BaseException | None,
) -> DriveEnd:
    """Report a drive's ``end`` (clean-up done): one log line, one observer call; returns
    ``end``."""
    reason = end.reason
    observer.drive_finished(end)
    fields = log_fields(spec, drive_id, **end.log_fields())
    if core.setup_ms is not None:
        fields["setup_ms"] = core.setup_ms
    if error is None:
        log.info("drive completed", extra=fields)
        return end
    # The vendor's failures and our bugs are worth a look; the rest is the client's doing.
    serious = isinstance(error, UpstreamError) or reason == "INTERNAL"
    message = error.message if isinstance(error, GatewayError) else type(error).__name__
    log.log(
        logging.WARNING if serious else logging.INFO,
        "drive failed",
        extra={**fields, "reason": reason, "error": message},
    )
    return end
