"""The simulated HTTP API: ``https://<host>/?Action=...`` (zego-api.md §1-§7, §11, §14).

Every request is answered with HTTP 200 and the vendor's envelope
``{"Code", "Message", "RequestId", "Data"?}``: the vendor documents no HTTP status for API
errors and its samples assume 200 (§4, §17). Only a fault answers another status.

Checks run in this order; the first failure answers:

1. Fault switches: ``api_delay_s``, then ``http_status`` (a proxy failing before the app).
2. The common query parameters (§2) and the signature (§3), in table order.
3. The rate limit per AppId (§5).
4. A forced ``Code`` (``Fault.force_code``).
5. The Action (§14b 100000007) and its body (§7, §11; 400000001 and 400000005).
6. DriveByText's own parameters (:mod:`.text`; 400000001, 400000004).
7. The task's state (:mod:`.tasks`): 400000005 once it ended (400000007 to a second Stop),
   400000006 to DriveByWsStream and DriveByText while it initializes.

``InterruptDriveTask`` (§11) answers Code 0 for every live task, and its avatar goes silent
at the request's arrival (:mod:`.playout`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .records import ApiCall
from .state import SimState
from .tasks import TaskEnd, TaskStatus
from .text import parse_text_drive

__all__ = ["ApiHandler", "Codes"]

log = logging.getLogger("gateway.simulator")


class Codes:
    """The return codes the simulator answers (zego-api.md §14a, §14b)."""

    OK = 0
    TIMESTAMP_EMPTY = 100000002
    TIMESTAMP_FORMAT = 100000003
    SIGNATURE_EXPIRED = 100000004
    SIGNATURE_INVALID = 100000005
    ACTION_EMPTY = 100000006
    ACTION_UNSUPPORTED = 100000007
    NONCE_EMPTY = 100000008
    SIGNATURE_EMPTY = 100000009
    APP_ID_FORMAT = 100000001
    APP_ID_UNKNOWN = 100000010
    BODY_READ = 100000012
    SIGNATURE_VERSION_EMPTY = 100000013
    SIGNATURE_VERSION_UNSUPPORTED = 100000014
    INVALID_PARAMS = 400000001
    TIMBRE_NOT_FOUND = 400000004
    TASK_NOT_FOUND = 400000005
    STREAM_NOT_STARTED = 400000006
    TASK_ALREADY_STOPPED = 400000007
    RATE_LIMITED = 400010009


_DECIMAL = re.compile(r"[0-9]+")
_SIGNED_DECIMAL = re.compile(r"-?[0-9]+")
_UINT32_MAX = 2**32 - 1


@dataclass(slots=True)
class _Answer:
    code: int
    message: str
    data: dict[str, Any] | None = None
    drive_id: str | None = None


def signature(app_id: int, nonce: str, server_secret: str, timestamp: int) -> str:
    """The vendor's request signature: md5(AppId + Nonce + ServerSecret + Timestamp), hex (§3)."""
    text = f"{app_id}{nonce}{server_secret}{timestamp}"
    return hashlib.md5(text.encode()).hexdigest()


def parse_app_id(raw: str | None) -> int | None:
    """An AppId query value as an Uint32 (§2), or ``None`` when malformed."""
    if raw is None or not _DECIMAL.fullmatch(raw):
        return None
    value = int(raw)
    return value if value <= _UINT32_MAX else None


class ApiHandler:
    """The API root (``/``): route ``handle``. Records every call in ``state.api_calls``."""

    ACTIONS = (
        "DriveByWsStream",
        "DriveByText",
        "StopDigitalHumanStreamTask",
        "GetDigitalHumanStreamTaskStatus",
        "InterruptDriveTask",
    )

    def __init__(self, state: SimState) -> None:
        self._state = state

    async def handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        query = request.query
        action = query.get("Action") or None
        app_id = parse_app_id(query.get("AppId"))
        body, body_error = await self._read_body(request)
        task_id = body.get("TaskId") if isinstance(body.get("TaskId"), str) else None

        def record(answer: _Answer | None, request_id: str | None, status: int = 200) -> None:
            self._state.api_calls.append(
                ApiCall(
                    time=arrived,
                    action=action,
                    app_id=app_id,
                    task_id=task_id,
                    code=None if answer is None else answer.code,
                    request_id=request_id,
                    drive_id=None if answer is None else answer.drive_id,
                    http_status=status,
                    message="" if answer is None else answer.message,
                    method=request.method,
                )
            )
            self._state.notify()

        fault = self._state.faults.take_api(task_id, action)
        if fault is not None and fault.api_delay_s > 0:
            await asyncio.sleep(fault.api_delay_s)
        if fault is not None and fault.http_status is not None:
            record(None, None, fault.http_status)
            log.info("api %s task=%s: fault HTTP %d", action, task_id, fault.http_status)
            return web.Response(status=fault.http_status, text="simulated upstream failure\n")

        answer = self._check_common(query)
        if answer is None and app_id is not None and not self._state.admit(app_id, arrived):
            answer = _Answer(Codes.RATE_LIMITED, "API rate limit exceeded, retry later")
        if answer is None and fault is not None and fault.force_code is not None:
            answer = _Answer(fault.force_code, fault.force_message)
        if answer is None:
            answer = self._dispatch(action, body, body_error, arrived)

        request_id = str(uuid.uuid4())
        record(answer, request_id)
        log.info("api %s task=%s -> Code %d", action, task_id, answer.code)
        envelope: dict[str, Any] = {
            "Code": answer.code,
            "Message": answer.message,
            "RequestId": request_id,
        }
        if answer.data is not None:
            envelope["Data"] = answer.data
        return web.json_response(envelope)

    async def _read_body(self, request: web.Request) -> tuple[dict[str, Any], str | None]:
        """The business parameters: the JSON body of a POST, the query of a GET (§1)."""
        if request.method != "POST":
            return dict(request.query), None
        try:
            raw = await request.read()
        except (web.HTTPException, ConnectionError, asyncio.IncompleteReadError):
            return {}, "the HTTP body could not be read"
        if not raw.strip():
            return {}, None
        try:
            body = json.loads(raw)
        except ValueError:
            return {}, "the body is not JSON"
        if not isinstance(body, dict):
            return {}, "the body is not a JSON object"
        return body, None

    def _check_common(self, query: Mapping[str, str]) -> _Answer | None:
        """Validate the common parameters and the signature (§2, §3); ``None`` when valid."""
        config = self._state.config
        if not query.get("Action"):
            return _Answer(Codes.ACTION_EMPTY, "Action is empty")
        app_id = parse_app_id(query.get("AppId"))
        if app_id is None:
            return _Answer(Codes.APP_ID_FORMAT, "AppId is not an Uint32")
        if app_id != config.app_id:
            return _Answer(Codes.APP_ID_UNKNOWN, "failed to get ServerSecret, check the AppId")
        nonce = query.get("SignatureNonce")
        if not nonce:
            return _Answer(Codes.NONCE_EMPTY, "SignatureNonce is empty")
        sent_signature = query.get("Signature")
        if not sent_signature:
            return _Answer(Codes.SIGNATURE_EMPTY, "Signature is empty")
        version = query.get("SignatureVersion")
        if not version:
            return _Answer(Codes.SIGNATURE_VERSION_EMPTY, "SignatureVersion is empty")
        if version != "2.0":
            return _Answer(Codes.SIGNATURE_VERSION_UNSUPPORTED, "SignatureVersion must be 2.0")
        raw_timestamp = query.get("Timestamp")
        if not raw_timestamp:
            return _Answer(Codes.TIMESTAMP_EMPTY, "Timestamp is empty")
        if not _SIGNED_DECIMAL.fullmatch(raw_timestamp):
            return _Answer(Codes.TIMESTAMP_FORMAT, "Timestamp must be Unix seconds")
        timestamp = int(raw_timestamp)
        if abs(time.time() - timestamp) > config.timestamp_tolerance_s:
            return _Answer(Codes.SIGNATURE_EXPIRED, "signature expired, check the clock")
        expected = signature(app_id, nonce, config.server_secret, timestamp)
        # Exact comparison: the vendor specifies lowercase hex (§3); an uppercase digest is a
        # client bug this simulator should surface rather than forgive.
        if not hmac.compare_digest(expected.encode(), sent_signature.encode()):
            return _Answer(Codes.SIGNATURE_INVALID, "signature invalid")
        return None

    def _dispatch(
        self, action: str | None, body: dict[str, Any], body_error: str | None, now: float
    ) -> _Answer:
        if action not in self.ACTIONS:
            return _Answer(Codes.ACTION_UNSUPPORTED, f"unsupported Action {action!r}")
        if body_error is not None:
            return _Answer(Codes.INVALID_PARAMS, body_error)
        task_id = body.get("TaskId")
        if not isinstance(task_id, str) or not task_id:
            return _Answer(Codes.INVALID_PARAMS, "TaskId is required, a non-empty string")
        text = (
            parse_text_drive(body, self._state.config.timbres) if action == "DriveByText" else None
        )
        if isinstance(text, tuple):
            return _Answer(*text)
        state = self._state
        task = state.tasks.see(task_id, now)
        if action == "StopDigitalHumanStreamTask" and task is not None and not task.alive:
            return _Answer(Codes.TASK_ALREADY_STOPPED, "the stream task is already stopped")
        if task is None or not task.alive:
            return _Answer(Codes.TASK_NOT_FOUND, "task not found")
        if action == "StopDigitalHumanStreamTask":
            state.tasks.end(task_id, TaskEnd.STOPPED, now)
            return _Answer(Codes.OK, "success")
        if action == "InterruptDriveTask":
            # Whatever the task's avatar does, it is silent now (Code 0 when it was idle too).
            state.interrupt_task(task_id, time.monotonic())  # when handled (after any delay)
            return _Answer(Codes.OK, "success")
        if action == "GetDigitalHumanStreamTaskStatus":
            data: dict[str, Any] = {
                "RoomId": task.room_id,
                "StreamId": task.stream_id,
                "Status": int(task.status),  # 1 initializing or 3 streaming (§11)
                "CreateTime": task.create_time,
            }
            return _Answer(Codes.OK, "success", data)
        if task.status is not TaskStatus.STREAMING:
            return _Answer(
                Codes.STREAM_NOT_STARTED, "video stream not started, wait until it starts"
            )
        if text is not None:
            spoken = state.new_text_drive(task_id, text, now)
            return _Answer(Codes.OK, "success", {"DriveId": spoken.drive_id}, spoken.drive_id)
        record, token = state.new_drive(task_id, now)
        data = {"DriveId": record.drive_id, "WssAddress": state.ws_address(token)}
        return _Answer(Codes.OK, "success", data, record.drive_id)
