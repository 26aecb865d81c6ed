"""``GetDigitalHumanStreamTaskStatus``: how the vendor sees one stream task (zego-api.md §11).

One signed call through :meth:`UpstreamClient.call`, so it waits its turn at the same request
limiter as the drives and follows the same retry rules; what it answers is read here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config import Credentials
from gateway.errors import UpstreamUnreachable
from gateway.upstream.api import UpstreamClient
from gateway.upstream.envelope import text_field

__all__ = ["GET_TASK_STATUS", "VendorTask", "get_task_status"]

GET_TASK_STATUS = "GetDigitalHumanStreamTaskStatus"


@dataclass(frozen=True, slots=True)
class VendorTask:
    """The vendor's answer for one task.

    Attributes:
        status: ``Data.Status``: 1 initializing, 2 init failed, 3 streaming, 4 stopping.
        room_id, stream_id: the task's RTC room and stream ("" when absent).
        create_time: ``Data.CreateTime``, Unix seconds (None when absent).
        fail_reason: ``Data.FailReason`` (meaningful for Status 2 only).
    """

    status: int
    room_id: str = ""
    stream_id: str = ""
    create_time: int | None = None
    fail_reason: str = ""


def read_task(data: Mapping[str, Any], request_id: str) -> VendorTask:
    """The :class:`VendorTask` in a Code 0 answer's data.

    Raises:
        UpstreamUnreachable: no Status 1..5 in it (not retryable: the same call gets the same).
    """
    status = data.get("Status")
    if isinstance(status, bool) or not isinstance(status, int) or not 1 <= status <= 5:
        raise UpstreamUnreachable(
            f"{GET_TASK_STATUS} answered Code 0 without a Status 1..5",
            retryable=False,
            upstream_request_id=request_id,
        )
    created = data.get("CreateTime")
    create_time = created if isinstance(created, int) and not isinstance(created, bool) else None
    return VendorTask(
        status=status,
        room_id=text_field(data, "RoomId"),
        stream_id=text_field(data, "StreamId"),
        create_time=create_time,
        fail_reason=text_field(data, "FailReason"),
    )


async def get_task_status(
    client: UpstreamClient, task_id: str, credentials: Credentials
) -> VendorTask:
    """Ask the vendor how ``task_id`` is (one request, through the limiter).

    Raises:
        UpstreamApiError: a non-zero ``Code`` (400000005: the vendor knows no such task, which
            is also its answer for a task that has ended).
        UpstreamUnreachable: transport, timeout or 5xx beyond the budget; a malformed answer.
    """
    result = await client.call(GET_TASK_STATUS, {"TaskId": task_id}, credentials)
    return read_task(result.data, result.request_id)
