"""Metrics, health checks and logs: how an operator sees the gateway.

* :mod:`~gateway.observability.observer`: the lifecycle events the drive shell reports
  (:class:`Observer`, :class:`NullObserver`, :class:`DriveEnd`).
* :mod:`~gateway.observability.metrics`: :class:`GatewayMetrics`, the Prometheus metrics of one
  app in a registry of its own; it is the real :class:`Observer`.
* :mod:`~gateway.observability.rpc_metrics`: the ``grpc_server_*`` families;
  :mod:`~gateway.observability.interceptor` feeds them from ``grpc.aio`` (RPCs by method and
  status code, their duration, messages each way: :func:`interceptors_for`).
* :mod:`~gateway.observability.http`: ``/metrics``, ``/healthz``, ``/readyz``.
* :mod:`~gateway.observability.logging`: :func:`configure_logging`, structured and redacted.
"""

from __future__ import annotations

from typing import Any

import grpc

from gateway.observability.interceptor import RpcMetricsInterceptor
from gateway.observability.logging import Redactor, configure_logging, make_formatter
from gateway.observability.metrics import GatewayMetrics

__all__ = [
    "GatewayMetrics",
    "Redactor",
    "RpcMetricsInterceptor",
    "configure_logging",
    "interceptors_for",
    "make_formatter",
]


def interceptors_for(
    metrics: GatewayMetrics | None,
) -> list[grpc.aio.ServerInterceptor[Any, Any]]:
    """The server interceptors that count RPCs in ``metrics`` (an app's ``metrics``):
    ``grpc.aio.server(interceptors=...)``. Empty when metrics are off (None)."""
    if metrics is None:
        return []
    return [RpcMetricsInterceptor(metrics)]
