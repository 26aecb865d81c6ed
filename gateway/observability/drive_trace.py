"""The hooks through which a drive describes itself to a tracer, and the no-op default.

The drive shell (``gateway/service/drive_shell.py``, ``drive.py``, ``text_drive.py``) calls a
:class:`DriveTrace` at each of its steps: the wait for the task, each vendor API call and the
rate-limit waits inside it, the WebSocket connect, Start, Stop, the avatar speaking; events for
an underrun, an Interrupt, an end from outside; the outcome. Never per audio chunk: underruns
come with the Progress reports (at most a few a second), counted by the core anyway.

Tracing is off unless the standard ``OTEL_*`` environment asks for it
(:mod:`~gateway.observability.tracer_setup`): then :mod:`~gateway.observability.tracing`
implements these hooks with the OpenTelemetry SDK. Off, :data:`NULL_TRACER` hands every drive
:data:`NULL_TRACE`, whose methods do nothing, and nothing of opentelemetry is imported.

This module also carries the trace and span ids of the drive a log record belongs to
(:func:`bind_log_ids`, :func:`log_ids`): :mod:`gateway.observability.logging` adds them to
every line logged in the drive's tasks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Protocol, Self

from gateway.drive.spec import DriveSpec
from gateway.drive.speech import PlaybackEvent
from gateway.observability.observer import DriveEnd, Tenant

__all__ = [
    "DRIVE_BY_TEXT",
    "DRIVE_BY_WS_STREAM",
    "INTERRUPT_DRIVE_TASK",
    "NULL_TRACE",
    "NULL_TRACER",
    "QUEUED",
    "RATE_LIMIT_WAIT",
    "START",
    "STOP",
    "WS_CONNECT",
    "Attribute",
    "DriveTrace",
    "DriveTracer",
    "EndsOnExit",
    "Step",
    "bind_log_ids",
    "log_ids",
]

Attribute = str | int | float | bool
"""What a span attribute may hold here (OpenTelemetry's scalar types)."""

# The child spans of a drive (the vendor's API calls keep the vendor's action names).
QUEUED = "queued"
RATE_LIMIT_WAIT = "rate_limit_wait"
DRIVE_BY_WS_STREAM = "DriveByWsStream"
DRIVE_BY_TEXT = "DriveByText"
INTERRUPT_DRIVE_TASK = "InterruptDriveTask"
WS_CONNECT = "ws_connect"
START = "start"
STOP = "stop"


class Step(Protocol):
    """One step of a drive in progress (a child span): ended once, by :meth:`end` or by
    leaving it as a context manager (an exception leaving it is the step's failure)."""

    def set(self, **attributes: Attribute) -> None:
        """Add attributes to the step."""

    def interval(self, name: str, began: float, ended: float, **attributes: Attribute) -> None:
        """Record a finished child of the step, from ``began`` to ``ended`` on the drive's
        clock (``DriveServices.clock``)."""

    def end(self, error: BaseException | None = None) -> None:
        """The step is over; ``error``: why it failed. Later calls do nothing."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class DriveTrace(Step, Protocol):
    """One drive's span (a :class:`Step` itself: :meth:`interval` and :meth:`set` apply to the
    drive), ended by :meth:`finish`. The calls must not block and must not raise."""

    @property
    def trace_id(self) -> str:
        """The trace's id, 32 hex digits ("" when the drive is not traced)."""

    @property
    def span_id(self) -> str:
        """The drive span's id, 16 hex digits ("" when the drive is not traced)."""

    def step(self, name: str, **attributes: Attribute) -> Step:
        """A child step of the drive, begun now."""

    def event(self, name: str, **attributes: Attribute) -> None:
        """Something happened to the drive now (an Interrupt, an end from outside)."""

    def playback(self, event: PlaybackEvent) -> None:
        """The drive reported a playback event: PlaybackStarted begins the ``speaking`` step,
        PlaybackFinished ends it."""

    def progress(self, underruns: int) -> None:
        """A Progress report said the avatar ran dry ``underruns`` times so far."""

    def finish(self, end: DriveEnd | None) -> None:
        """The drive is over (clean-up done) and ended as ``end`` says (None: its end could
        not be told); ends whatever step is still open. Later calls do nothing."""


class DriveTracer(Protocol):
    """Hands each drive its :class:`DriveTrace`; one per app."""

    def drive(
        self, spec: DriveSpec, *, kind: str, tenant: Tenant, clock: Callable[[], float]
    ) -> DriveTrace:
        """The trace of ``tenant``'s drive of ``kind`` (``audio``, ``text``) beginning now, in
        the current trace context (the Drive call's, as the server's interceptor set it);
        ``clock`` is the drive's (:meth:`Step.interval`'s times)."""

    def interceptors(self) -> list[Any]:
        """The ``grpc.aio`` server interceptors that read each call's trace context."""

    async def close(self) -> None:
        """Export what is pending and stop (bounded by the exporter's timeouts)."""


class EndsOnExit:
    """A :class:`Step`'s context manager: leaving it ends the step (an exception: failed)."""

    def end(self, error: BaseException | None = None) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end(exc)


class _NullTrace(EndsOnExit):
    """The trace of a drive nobody traces: every hook does nothing."""

    trace_id = ""
    span_id = ""

    def set(self, **attributes: Attribute) -> None:
        pass

    def interval(self, name: str, began: float, ended: float, **attributes: Attribute) -> None:
        pass

    def end(self, error: BaseException | None = None) -> None:
        pass

    def step(self, name: str, **attributes: Attribute) -> Step:
        return self

    def event(self, name: str, **attributes: Attribute) -> None:
        pass

    def playback(self, event: PlaybackEvent) -> None:
        pass

    def progress(self, underruns: int) -> None:
        pass

    def finish(self, end: DriveEnd | None) -> None:
        pass


class _NullTracer:
    """Tracing off: one shared no-op trace for every drive, no interceptor."""

    def drive(
        self, spec: DriveSpec, *, kind: str, tenant: Tenant, clock: Callable[[], float]
    ) -> DriveTrace:
        return NULL_TRACE

    def interceptors(self) -> list[Any]:
        return []

    async def close(self) -> None:
        pass


NULL_TRACE: DriveTrace = _NullTrace()
NULL_TRACER: DriveTracer = _NullTracer()

#: The trace and span ids of the drive whose task this is (None: none, or not traced).
_LOG_IDS: ContextVar[tuple[str, str] | None] = ContextVar("dhgw_drive_log_ids", default=None)


def log_ids() -> tuple[str, str] | None:
    """The (trace id, span id) of the traced drive the current task works for, else None."""
    return _LOG_IDS.get()


@contextlib.contextmanager
def bind_log_ids(trace: DriveTrace) -> Iterator[None]:
    """Within it, the current task and the tasks it creates log ``trace``'s ids (nothing for an
    untraced drive)."""
    if not trace.trace_id:
        yield
        return
    token = _LOG_IDS.set((trace.trace_id, trace.span_id))
    try:
        yield
    finally:
        _LOG_IDS.reset(token)
