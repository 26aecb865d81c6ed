"""Whether the ``OTEL_*`` environment asks for traces, and the app's tracer accordingly.

Kept apart from :mod:`~gateway.observability.tracing` (the SDK's side, imported only when
traces are asked for) and from :mod:`~gateway.observability.drive_trace` (the hooks, which the
SDK's side implements): the decision must be made without importing opentelemetry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from gateway.observability.drive_trace import NULL_TRACER, DriveTracer

__all__ = ["tracer_from_environ", "tracing_requested"]

log = logging.getLogger("gateway.observability")

_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracing_requested(environ: Mapping[str, str]) -> bool:
    """Whether the ``OTEL_*`` environment asks for traces: ``OTEL_TRACES_EXPORTER`` names an
    exporter (not ``none``), or an OTLP endpoint is set; never with ``OTEL_SDK_DISABLED=true``.
    (The SDK's own default exporter, ``otlp``, is not taken as a request: off unless asked.)"""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return any(name.strip() not in ("", "none") for name in exporters.split(","))
    return any(environ.get(name, "").strip() for name in _ENDPOINTS)


def tracer_from_environ(environ: Mapping[str, str], *, default_profile: str) -> DriveTracer:
    """The app's tracer: :data:`NULL_TRACER` unless :func:`tracing_requested`; else the
    OpenTelemetry one, configured by the SDK from the process's ``OTEL_*`` environment. Asked
    for without the ``tracing`` extra installed, it logs why and traces nothing.

    Args:
        environ: the environment to decide by (the process's: the SDK reads that one).
        default_profile: the profile a drive that names none drives with (a span attribute).
    """
    if not tracing_requested(environ):
        return NULL_TRACER
    try:
        from gateway.observability.tracing import OtelTracer
    except ImportError as exc:
        log.error(
            "OTEL_* asks for traces but OpenTelemetry is not installed "
            "(pip install 'dh-gateway[tracing]'): tracing off (%s)",
            exc,
        )
        return NULL_TRACER
    return OtelTracer.from_environ(environ, default_profile=default_profile)
