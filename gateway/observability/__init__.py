"""Metrics, health checks and logs: how an operator sees the gateway.

* :mod:`~gateway.observability.observer`: the lifecycle events the drive shell reports
  (:class:`Observer`, :class:`NullObserver`, :class:`DriveEnd`).
* :mod:`~gateway.observability.metrics`: :class:`GatewayMetrics`, the Prometheus metrics of one
  app in a registry of its own; it is the real :class:`Observer`.
* :mod:`~gateway.observability.interceptor`: RPC counts by method and status code, for
  ``grpc.aio`` (:func:`interceptors_for`).
* :mod:`~gateway.observability.http`: ``/metrics``, ``/healthz``, ``/readyz``.
* :mod:`~gateway.observability.logging`: :func:`configure_logging`, structured and redacted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc

from gateway.observability.interceptor import RpcMetricsInterceptor
from gateway.observability.logging import Redactor, configure_logging, make_formatter
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.observer import DriveEnd, NullObserver, Observer

if TYPE_CHECKING:
    from gateway.service.app import GatewayApp

__all__ = [
    "DriveEnd",
    "GatewayMetrics",
    "NullObserver",
    "Observer",
    "Redactor",
    "RpcMetricsInterceptor",
    "configure_logging",
    "interceptors_for",
    "make_formatter",
]


def interceptors_for(app: GatewayApp) -> list[grpc.aio.ServerInterceptor[Any, Any]]:
    """The server interceptors of ``app``: ``grpc.aio.server(interceptors=...)``.

    Empty when metrics are off (``metrics_listen = ""``).
    """
    if app.metrics is None:
        return []
    return [RpcMetricsInterceptor(app.metrics)]
