"""Fault switches: make the simulated cloud misbehave on purpose.

A :class:`Fault` is a frozen bundle of switches. :class:`FaultBook` holds at most one fault per
scope: one per TaskId plus one global. The HTTP API side, the WebSocket side and the callback
side are looked up (and counted) apart: on each side, a task's fault shadows the global one
while it has a live switch on that side, and the global one applies otherwise. So
``Fault(force_code=..., times=2)`` is spent by two API calls and never by a connection.

``times`` counts applications on each side: the API switches apply to the next ``times``
matching API calls, the WebSocket switches to the next ``times`` connections (handshake
attempts), the callback switches to the next ``times`` matching callbacks. ``None`` means
forever, until cleared.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["Fault", "FaultBook"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """A set of fault switches. Leave a switch at its default to keep that behaviour normal.

    HTTP API switches (applied to each matching API call, in this order):

    Args:
        api_delay_s: sleep this long before answering.
        http_status: answer this HTTP status (4xx/5xx) with a plain-text body and no envelope,
            as a failing front proxy would. Checked before any validation.
        force_code: answer this non-zero ``Code`` in a normal envelope, after the common
            parameters were validated and the call was admitted by the rate limiter.
        force_message: the ``Message`` sent with ``force_code``.
        action: limit the API switches to this ``Action`` (``None``: every Action).

    WebSocket switches (applied to each connection of a matching drive):

    Args:
        refuse_handshake: refuse the upgrade with HTTP ``refuse_status`` (the token is spent).
        refuse_status: the HTTP status of a refused handshake.
        drop_after_bytes: abort the TCP connection (RST, no close frame) once this many bytes
            of audio were received; the frame that reaches the count is recorded.
        read_delay_s: sleep this long after each received frame before reading the next one;
            TCP backpressure builds up once the library's read buffer is full.
        silent_after_bytes: once this many bytes of audio were received, stop reading the
            socket (pings go unanswered, TCP backpressure builds up), as a dead peer would.
        silent_for_s: how long the silence lasts before reading resumes; ``None``: until the
            client goes away or the simulator stops.
        send_text_after_start: send this text frame to the client right after a valid Start
            (the vendor documents no server message; a client must survive one, §8).

    Callback switches (applied to each matching callback of zego-api.md §12, as it is made):

    Args:
        callback_drop: never send it (its record says ``dropped``).
        callback_delay_s: send it this much later, without holding the callbacks behind it.
        callback_duplicate: send it twice: the same body again right after the first try.
        callback_reorder: hold it back until the next callback was sent (at most
            ``callback_reorder_max_s``), then send it.
        callback_bad_signature: sign it with a wrong secret (every try of it).
        callback_timestamp_skew_s: shift its ``Timestamp`` by this much (stale or future).
        callback_event_type: limit the callback switches to this ``EventType`` (3 or 4).
        callback_status: limit the callback switches to this ``Detail.Status``.

    Scope:

    Args:
        times: how many API calls and how many connections (counted apart) the fault applies
            to; ``None``: forever.
    """

    api_delay_s: float = 0.0
    http_status: int | None = None
    force_code: int | None = None
    force_message: str = "simulated fault"
    action: str | None = None
    refuse_handshake: bool = False
    refuse_status: int = 503
    drop_after_bytes: int | None = None
    read_delay_s: float = 0.0
    silent_after_bytes: int | None = None
    silent_for_s: float | None = None
    send_text_after_start: str | None = None
    callback_drop: bool = False
    callback_delay_s: float = 0.0
    callback_duplicate: bool = False
    callback_reorder: bool = False
    callback_reorder_max_s: float = 1.0
    callback_bad_signature: bool = False
    callback_timestamp_skew_s: float = 0.0
    callback_event_type: int | None = None
    callback_status: int | None = None
    times: int | None = None

    def __post_init__(self) -> None:
        if self.api_delay_s < 0 or self.read_delay_s < 0 or self.callback_delay_s < 0:
            raise ValueError("delays must be >= 0")
        if self.http_status is not None and not 400 <= self.http_status <= 599:
            raise ValueError(f"http_status must be a 4xx or 5xx status, got {self.http_status}")
        if not 400 <= self.refuse_status <= 599:
            raise ValueError(f"refuse_status must be a 4xx or 5xx status, got {self.refuse_status}")
        if self.force_code == 0:
            raise ValueError("force_code must be non-zero (0 is success)")
        for name in ("drop_after_bytes", "silent_after_bytes"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.silent_for_s is not None and self.silent_for_s < 0:
            raise ValueError("silent_for_s must be >= 0")
        if self.callback_reorder_max_s <= 0:
            raise ValueError("callback_reorder_max_s must be > 0")
        if self.callback_event_type not in (None, 3, 4):
            raise ValueError("callback_event_type must be 3, 4 or None")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None")

    @property
    def affects_api(self) -> bool:
        """Whether any HTTP API switch is on."""
        return self.api_delay_s > 0 or self.http_status is not None or self.force_code is not None

    @property
    def affects_ws(self) -> bool:
        """Whether any WebSocket switch is on."""
        return (
            self.refuse_handshake
            or self.drop_after_bytes is not None
            or self.read_delay_s > 0
            or self.silent_after_bytes is not None
            or self.send_text_after_start is not None
        )

    @property
    def affects_callbacks(self) -> bool:
        """Whether any callback switch is on."""
        return (
            self.callback_drop
            or self.callback_delay_s > 0
            or self.callback_duplicate
            or self.callback_reorder
            or self.callback_bad_signature
            or self.callback_timestamp_skew_s != 0
        )

    def matches_callback(self, event_type: int, status: int) -> bool:
        """Whether the callback filters let this callback through to the switches."""
        if self.callback_event_type is not None and self.callback_event_type != event_type:
            return False
        return self.callback_status is None or self.callback_status == status

    def to_json(self) -> dict[str, Any]:
        """The switches as a JSON object (the body of ``POST /_sim/faults``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Fault:
        """Build a fault from a JSON object; raises ValueError on unknown or bad fields."""
        if not isinstance(data, dict):
            raise ValueError("a fault must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(map(str, unknown))}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc


@dataclass(slots=True)
class _Armed:
    fault: Fault
    api_left: int | None
    ws_left: int | None
    callbacks_left: int | None


class FaultBook:
    """The faults in force, per TaskId and global; counts their uses. Not thread-safe."""

    def __init__(self) -> None:
        self._armed: dict[str | None, _Armed] = {}

    def set(self, fault: Fault, task_id: str | None = None) -> None:
        """Arm ``fault`` for ``task_id`` (``None``: every task), replacing that scope's fault."""
        self._armed[task_id] = _Armed(fault, fault.times, fault.times, fault.times)

    def clear(self) -> None:
        """Disarm every fault."""
        self._armed.clear()

    def discard(self, task_id: str | None = None) -> None:
        """Disarm the fault of one scope (``None``: the global one), if any."""
        self._armed.pop(task_id, None)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """The armed faults as JSON: scope (TaskId or ``"*"``) -> fault plus remaining uses."""
        return {
            ("*" if scope is None else scope): {
                "fault": armed.fault.to_json(),
                "api_left": armed.api_left,
                "ws_left": armed.ws_left,
                "callbacks_left": armed.callbacks_left,
            }
            for scope, armed in self._armed.items()
        }

    def take_api(self, task_id: str | None, action: str | None) -> Fault | None:
        """The fault for one API call, spending one use; ``None`` when nothing applies."""
        for scope in self._scopes(task_id):
            armed = self._armed.get(scope)
            if armed is None or not armed.fault.affects_api or armed.api_left == 0:
                continue
            if armed.fault.action is not None and armed.fault.action != action:
                continue
            if armed.api_left is not None:
                armed.api_left -= 1
            return armed.fault
        return None

    def take_ws(self, task_id: str) -> Fault | None:
        """The fault for one WebSocket connection, spending one use; ``None`` when none applies."""
        for scope in self._scopes(task_id):
            armed = self._armed.get(scope)
            if armed is None or not armed.fault.affects_ws or armed.ws_left == 0:
                continue
            if armed.ws_left is not None:
                armed.ws_left -= 1
            return armed.fault
        return None

    def take_callback(self, task_id: str, event_type: int, status: int) -> Fault | None:
        """The fault for one callback, spending one use; ``None`` when none applies."""
        for scope in self._scopes(task_id):
            armed = self._armed.get(scope)
            if armed is None or not armed.fault.affects_callbacks or armed.callbacks_left == 0:
                continue
            if not armed.fault.matches_callback(event_type, status):
                continue
            if armed.callbacks_left is not None:
                armed.callbacks_left -= 1
            return armed.fault
        return None

    @staticmethod
    def _scopes(task_id: str | None) -> tuple[str | None, ...]:
        # The task's own fault first: it shadows the global one for that task.
        return (None,) if task_id is None else (task_id, None)
