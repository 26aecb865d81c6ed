"""The inspection endpoints under ``/_sim/``, for tests and tools outside the process.

``GET /_sim/state``
    Every API call, drive, overlap, refused handshake, armed fault, task, playout, callback
    and open connection, as JSON (the PCM itself is left out; tokens and signatures are
    never included).
``GET /_sim/drives/{drive_id}/audio``
    A drive's accepted PCM, byte for byte (``application/octet-stream``).
``POST /_sim/faults``
    ``{"fault": {<Fault fields>}, "task_id": "t1" | null}`` arms a fault;
    ``{"clear": true}`` disarms all; ``{"clear": true, "task_id": "t1" | null}`` one scope.
    Answers the armed faults.
``POST /_sim/callbacks``
    ``{"url": "http://127.0.0.1:P/..." | null, "secret": "...", "<callback_* setting>": v}``
    points the callbacks elsewhere (``Simulator.set_callbacks``). Answers the URL's origin.
``POST /_sim/tasks/{task_id}/end``
    End a live task now, as MaxIdleTime or TTL would (Status 5); 404 if it is not live.
``POST /_sim/reset``
    Forget everything (see ``Simulator.reset``).
``GET /_sim/ca.pem``
    The CA certificate in TLS mode (404 otherwise).

These paths are not part of the vendor's API: they are not rate-limited or recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .faults import Fault
from .state import SimState
from .tasks import TaskEnd

__all__ = ["add_control_routes"]


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def add_control_routes(
    app: web.Application,
    state: SimState,
    ca_pem: bytes | None,
    set_callbacks: Callable[..., None],
) -> None:
    """Register the ``/_sim/`` endpoints on ``app``; ``set_callbacks`` is the simulator's."""

    async def get_state(request: web.Request) -> web.Response:
        return web.json_response(state.snapshot())

    async def get_audio(request: web.Request) -> web.Response:
        record = state.drives.get(request.match_info["drive_id"])
        if record is None:
            return web.json_response({"error": "unknown drive"}, status=404)
        return web.Response(body=record.audio, content_type="application/octet-stream")

    async def post_faults(request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except ValueError:
            return _bad_request("the body is not JSON")
        if not isinstance(body, dict):
            return _bad_request("the body must be a JSON object")
        task_id = body.get("task_id")
        if task_id is not None and not isinstance(task_id, str):
            return _bad_request("task_id must be a string or null")
        if body.get("clear") is True:
            if "task_id" in body:
                state.faults.discard(task_id)
            else:
                state.faults.clear()
        elif "fault" in body:
            try:
                fault = Fault.from_json(body["fault"])
            except ValueError as exc:
                return _bad_request(str(exc))
            state.faults.set(fault, task_id)
        else:
            return _bad_request('expected {"fault": {...}} or {"clear": true}')
        return web.json_response(state.faults.snapshot())

    async def post_callbacks(request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except ValueError:
            return _bad_request("the body is not JSON")
        if not isinstance(body, dict) or "url" not in body:
            return _bad_request('expected {"url": ..., "secret": ...}')
        fields = {k: v for k, v in body.items() if k not in ("url", "secret")}
        try:
            set_callbacks(body["url"], body.get("secret"), **fields)
        except (ValueError, TypeError) as exc:
            return _bad_request(str(exc))
        return web.json_response({"callback_origin": state.config.callback_origin})

    async def post_end_task(request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        if not state.tasks.end(task_id, TaskEnd.ENDED_BY_TEST, time.monotonic()):
            return web.json_response({"error": "no such live task"}, status=404)
        return web.json_response({"ok": True})

    async def post_reset(request: web.Request) -> web.Response:
        state.reset()
        return web.json_response({"ok": True})

    async def get_ca(request: web.Request) -> web.Response:
        if ca_pem is None:
            return web.json_response({"error": "TLS is off"}, status=404)
        return web.Response(body=ca_pem, content_type="application/x-pem-file")

    app.router.add_get("/_sim/state", get_state, allow_head=False)
    app.router.add_get("/_sim/drives/{drive_id}/audio", get_audio, allow_head=False)
    app.router.add_post("/_sim/faults", post_faults)
    app.router.add_post("/_sim/callbacks", post_callbacks)
    app.router.add_post("/_sim/tasks/{task_id}/end", post_end_task)
    app.router.add_post("/_sim/reset", post_reset)
    app.router.add_get("/_sim/ca.pem", get_ca, allow_head=False)
