"""OpenTelemetry traces of the drives: the :class:`~.drive_trace.DriveTrace` hooks on the SDK.

Imported only when the ``OTEL_*`` environment asks for traces
(:func:`~.drive_trace.tracer_from_environ`; the ``tracing`` extra installs the SDK). The SDK
configures itself from that environment as it documents: the OTLP exporter's
``OTEL_EXPORTER_OTLP_*`` (endpoint, headers, TLS, timeout, compression), the batch processor's
``OTEL_BSP_*``, the sampler's ``OTEL_TRACES_SAMPLER[_ARG]``, the resource's
``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` (``service.name`` defaults to
``dh-gateway``) and the propagators' ``OTEL_PROPAGATORS`` (W3C ``traceparent`` /
``tracestate`` and ``baggage`` by default). ``OTEL_TRACES_EXPORTER`` takes ``otlp`` (over gRPC,
or ``http/protobuf`` as ``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`` says when that exporter is
installed) and ``console``.

The provider is the app's own, not the global one: an application embedding the gateway (or a
test running a client beside it) keeps its own. The server's interceptor reads each Drive call's
trace context from its metadata; a malformed ``traceparent`` is no context at all (the drive
starts a new trace), never an error. Each drive is one SERVER span ``drive`` with its steps as
children; attributes name the task, the DriveId, the profile, the conflict policy and the
outcome, never a secret, a label or a text (they come from clients, free-form).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import context as otel_context, propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.trace import SpanKind, Status, StatusCode

from gateway.drive.spec import DriveSpec
from gateway.drive.speech import Heard, PlaybackEvent
from gateway.errors import GatewayError
from gateway.observability.drive_trace import (
    DRIVE_BY_TEXT,
    DRIVE_BY_WS_STREAM,
    INTERRUPT_DRIVE_TASK,
    WS_CONNECT,
    Attribute,
    DriveTrace,
    EndsOnExit,
    Step,
)
from gateway.observability.observer import DriveEnd, Tenant

__all__ = ["DRIVE_METHOD", "OtelTracer", "TraceContextInterceptor"]

log = logging.getLogger("gateway.observability")

#: The one RPC whose trace context is read: the drive's.
DRIVE_METHOD = "/dhgateway.v1.DriveGateway/Drive"
#: The gRPC status codes that are the server's fault (OpenTelemetry's RPC conventions): the
#: drive span's status is an error for these only.
_SERVER_FAULTS = frozenset(
    {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}
)
#: The steps that are calls to the vendor (CLIENT spans).
_CLIENT_STEPS = frozenset({DRIVE_BY_WS_STREAM, DRIVE_BY_TEXT, INTERRUPT_DRIVE_TASK, WS_CONNECT})

Handler = grpc.RpcMethodHandler

if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # not subscriptable at run time
    _ServerInterceptor = grpc.aio.ServerInterceptor


def _exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    """The span exporters ``OTEL_TRACES_EXPORTER`` names (``otlp`` when only an endpoint is
    set); an unknown or uninstalled one is logged and skipped."""
    names = [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",")]
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()
    exporters: list[SpanExporter] = []
    for name in names:
        if name in ("", "none"):
            continue
        if name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name == "otlp" and protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "otlp" and protocol == "http/protobuf":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter as HttpSpanExporter,
                )
            except ImportError:
                log.error("OTLP over http/protobuf needs opentelemetry-exporter-otlp-proto-http")
                continue
            exporters.append(HttpSpanExporter())
        else:
            log.error(
                "OTEL_TRACES_EXPORTER %r (protocol %r) is not supported: skipped", name, protocol
            )
    return exporters


def _resource() -> Resource:
    """The SDK's resource from the environment, named ``dh-gateway`` unless it names itself."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "dh-gateway"}))
    return resource


class OtelTracer:
    """The app's :class:`~.drive_trace.DriveTracer` on an SDK ``TracerProvider`` of its own.

    Args:
        provider: where the spans go (its processors export them); shut down by :meth:`close`.
        default_profile: the profile of a drive that names none.
    """

    def __init__(self, provider: TracerProvider, *, default_profile: str) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("dh-gateway")
        self._default_profile = default_profile

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, default_profile: str) -> OtelTracer:
        """A tracer exporting through a batch processor per exporter ``environ`` names (the SDK
        reads the rest of its ``OTEL_*`` settings from the process's environment)."""
        provider = TracerProvider(resource=_resource())
        for exporter in _exporters(environ):
            provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider, default_profile=default_profile)

    def drive(
        self, spec: DriveSpec, *, kind: str, tenant: Tenant, clock: Callable[[], float]
    ) -> DriveTrace:
        attributes: dict[str, Attribute] = {
            "rpc.system": "grpc",
            "rpc.service": "dhgateway.v1.DriveGateway",
            "rpc.method": "Drive",
            "dhgw.task_id": spec.task_id,
            "dhgw.profile": tenant.profile or spec.profile or self._default_profile,
            "dhgw.policy": spec.on_conflict.value,
            "dhgw.kind": kind,
        }
        if tenant.principal:
            attributes["dhgw.principal"] = tenant.principal  # an API key's name, never the key
        span = self._tracer.start_span("drive", kind=SpanKind.SERVER, attributes=attributes)
        return _DriveTrace(self._tracer, span, clock)

    def interceptors(self) -> list[Any]:
        return [TraceContextInterceptor()]

    async def close(self) -> None:
        # Flushes the batch processors: a blocking export, bounded by the exporter's timeout.
        await asyncio.to_thread(self.provider.shutdown)


def _fail(span: trace.Span, error: BaseException) -> None:
    """Mark ``span`` as ended by ``error``: its reason, never its message (it may quote what a
    client or the vendor sent)."""
    if isinstance(error, asyncio.CancelledError):
        span.set_attribute("dhgw.cancelled", True)
        return
    kind = type(error).__name__
    span.set_attribute("error.type", kind)
    if isinstance(error, GatewayError):
        span.set_attribute("dhgw.reason", error.reason.value)
    span.set_status(
        Status(StatusCode.ERROR, error.reason.value if isinstance(error, GatewayError) else kind)
    )


class _Step(EndsOnExit):
    """A child span of a drive (:class:`~.drive_trace.Step`)."""

    def __init__(self, owner: _DriveTrace, span: trace.Span) -> None:
        self._owner = owner
        self.span = span
        self._ended = False

    def set(self, **attributes: Attribute) -> None:
        self.span.set_attributes({f"dhgw.{k}": v for k, v in attributes.items()})

    def interval(self, name: str, began: float, ended: float, **attributes: Attribute) -> None:
        self._owner.record(self.span, name, began, ended, attributes)

    def end(self, error: BaseException | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        if error is not None:
            _fail(self.span, error)
        self.span.end()
        self._owner.open_steps.discard(self)


class _DriveTrace(_Step):
    """One drive's SERVER span and its steps (:class:`~.drive_trace.DriveTrace`)."""

    def __init__(self, tracer: trace.Tracer, span: trace.Span, clock: Callable[[], float]) -> None:
        self.open_steps: set[_Step] = set()
        super().__init__(self, span)
        self._tracer = tracer
        self._context = trace.set_span_in_context(span)
        self._clock = clock
        self._speaking: _Step | None = None
        self._underruns = 0
        ids = span.get_span_context()
        self._trace_id = trace.format_trace_id(ids.trace_id) if ids.is_valid else ""
        self._span_id = trace.format_span_id(ids.span_id) if ids.is_valid else ""

    @property
    def trace_id(self) -> str:
        return self._trace_id

    @property
    def span_id(self) -> str:
        return self._span_id

    def _epoch_ns(self, at: float) -> int:
        """``at`` on the drive's clock as the SDK's time (ns since the epoch)."""
        return time.time_ns() - round((self._clock() - at) * 1e9)

    def record(
        self,
        parent: trace.Span,
        name: str,
        began: float,
        ended: float,
        attributes: Mapping[str, Attribute],
    ) -> None:
        """A finished child of ``parent`` from ``began`` to ``ended`` (the drive's clock)."""
        span = self._tracer.start_span(
            name,
            context=trace.set_span_in_context(parent),
            attributes={f"dhgw.{k}": v for k, v in attributes.items()},
            start_time=self._epoch_ns(began),
        )
        span.end(end_time=self._epoch_ns(ended))

    def step(self, name: str, **attributes: Attribute) -> Step:
        return self._child(name, attributes)

    def _child(self, name: str, attributes: Mapping[str, Attribute]) -> _Step:
        span = self._tracer.start_span(
            name,
            context=self._context,
            kind=SpanKind.CLIENT if name in _CLIENT_STEPS else SpanKind.INTERNAL,
            attributes={f"dhgw.{k}": v for k, v in attributes.items()},
        )
        step = _Step(self, span)
        self.open_steps.add(step)
        return step

    def event(self, name: str, **attributes: Attribute) -> None:
        self.span.add_event(name, {f"dhgw.{k}": v for k, v in attributes.items()})

    def playback(self, event: PlaybackEvent) -> None:
        if event.kind is Heard.STARTED and self._speaking is None:
            self._speaking = self._child("speaking", {"source": event.source.value})
        elif event.kind is Heard.FINISHED and self._speaking is not None:
            self._speaking.set(
                played_ms=event.played_ms,
                interrupted=event.interrupted,
                finished_by=event.source.value,
            )
            self._speaking.end()

    def progress(self, underruns: int) -> None:
        if underruns > self._underruns:
            self.event("underrun", underruns=underruns, new=underruns - self._underruns)
            self._underruns = underruns

    def finish(self, end: DriveEnd | None) -> None:
        if self._ended:
            return
        for step in list(self.open_steps):
            step.end()  # e.g. a drive cut while the avatar spoke
        span = self.span
        if end is None:
            span.set_attribute("dhgw.outcome", "UNKNOWN")
        else:
            self.progress(end.underruns)
            span.set_attributes(
                {
                    "dhgw.outcome": end.status,
                    "dhgw.reason": end.reason,
                    "rpc.grpc.status_code": grpc.StatusCode[end.status].value[0],
                    "dhgw.sent_ms": round(end.sent_s * 1000),
                    "dhgw.underruns": end.underruns,
                }
            )
            if end.status in _SERVER_FAULTS:
                span.set_status(Status(StatusCode.ERROR, end.reason))
        self._ended = True
        span.end()


def _carrier(metadata: Any) -> dict[str, str]:
    """The text headers of a call's metadata that a propagator may read (``-bin`` ones and
    repeated keys: the first text value)."""
    fields = propagate.get_global_textmap().fields
    carrier: dict[str, str] = {}
    for key, value in metadata or ():
        if key in fields and isinstance(value, str):
            carrier.setdefault(key, value)
    return carrier


class TraceContextInterceptor(_ServerInterceptor):
    """Runs each Drive call in the trace context its metadata carries (none: a new trace; a
    malformed ``traceparent``: a new trace too). Other methods pass untouched."""

    def __init__(self) -> None:
        self._wrapped: tuple[Handler[Any, Any], Handler[Any, Any]] | None = None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler[Any, Any]:
        handler: Handler[Any, Any] | None = await continuation(handler_call_details)
        if handler is None or handler_call_details.method != DRIVE_METHOD:
            return handler  # type: ignore[return-value]  # grpc.aio accepts None here
        if self._wrapped is not None and self._wrapped[0] is handler:
            return self._wrapped[1]
        if handler.stream_stream is None or not inspect.iscoroutinefunction(handler.stream_stream):
            return handler  # not the Drive servicer's shape: nothing to wrap
        behaviour: Callable[..., Awaitable[Any]] = handler.stream_stream

        async def call(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            parent = propagate.extract(_carrier(context.invocation_metadata()))
            token = otel_context.attach(parent)
            try:
                return await behaviour(requests, context)
            finally:
                otel_context.detach(token)

        wrapped = grpc.stream_stream_rpc_method_handler(
            call,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped = (handler, wrapped)
        return wrapped
