"""The task room's answers as protobuf: ``TaskInfo`` (GetTask, WatchTask) and ``DriveInfo``
(also ListDrives')."""

from __future__ import annotations

from dhgateway.v1 import gateway_pb2 as pb

from gateway.service.convert import STATE_TO_PB
from gateway.tasks.model import ActiveDrive, TaskView

__all__ = ["drive_info", "task_info"]


def _set_time(field: object, seconds: float | None) -> None:
    if seconds is not None:
        field.FromNanoseconds(int(seconds * 1e9))  # type: ignore[attr-defined]


def drive_info(task_id: str, drive: ActiveDrive) -> pb.DriveInfo:
    """``drive`` of task ``task_id`` as ListDrives and TaskInfo say it."""
    info = pb.DriveInfo(
        task_id=task_id,
        drive_id=drive.drive_id,
        state=STATE_TO_PB[drive.state],
        sent_ms=drive.sent_ms,
        labels=dict(drive.labels),
        profile=drive.profile,
        replica=drive.replica,
        billed_ms=drive.billed_ms,
    )
    _set_time(info.started_time, drive.started_at)
    return info


def task_info(view: TaskView) -> pb.TaskInfo:
    """What GetTask answers (and WatchTask sends) for ``view``."""
    facts, vendor = view.facts, view.facts.vendor
    info = pb.TaskInfo(
        task_id=view.task_id,
        profile=view.profile,
        room_id=facts.room_id,
        stream_id=facts.stream_id,
        speaking=bool(view.speaking_drive_id),
        speaking_drive_id=view.speaking_drive_id,
        queued_drives=view.queued,
    )
    if vendor is not None:
        info.status = int(vendor.status)  # type: ignore[assignment]  # the same numbers
        info.status_source = int(vendor.source)  # type: ignore[assignment]
        info.fail_reason = vendor.fail_reason
        _set_time(info.status_time, vendor.at)
    _set_time(info.create_time, None if facts.create_time is None else float(facts.create_time))
    _set_time(info.last_driven_time, facts.last_driven_at)
    _set_time(info.idle_deadline, view.idle_deadline)
    if view.active is not None:
        info.active_drive.CopyFrom(drive_info(view.task_id, view.active))
    return info
