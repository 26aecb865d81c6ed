"""The caller's OpenTelemetry trace context as a call's metadata, when there is one.

An optional integration: the client depends on no OpenTelemetry package. When the application
uses the OpenTelemetry API (``opentelemetry-api``) and a span is current where it calls
:func:`~dhgateway_client.drive` (or :meth:`~dhgateway_client.DriveGatewayClient.drive`), the
Drive call carries that context as the application's propagators write it (W3C
``traceparent`` / ``tracestate`` and ``baggage`` by default), and the gateway's span of the
drive becomes a child of that span. Nothing is imported when the application has not imported
OpenTelemetry itself: no span can be current then.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["trace_metadata", "with_trace_context"]


def trace_metadata() -> list[tuple[str, str]]:
    """The current span's context as metadata pairs; none when no span is current (or
    OpenTelemetry is not in use)."""
    if "opentelemetry.trace" not in sys.modules:
        return []
    from opentelemetry import propagate, trace

    if not trace.get_current_span().get_span_context().is_valid:
        return []
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return list(carrier.items())


def with_trace_context(
    metadata: Sequence[tuple[str, str]] | None,
) -> Sequence[tuple[str, str]] | None:
    """``metadata`` and the current trace context (:func:`trace_metadata`); a key the caller
    set itself (its own ``traceparent``, say) is left as the caller set it."""
    extra = trace_metadata()
    if not extra:
        return metadata
    given = list(metadata or ())
    keys = {key.lower() for key, _ in given}
    return given + [(key, value) for key, value in extra if key not in keys]
