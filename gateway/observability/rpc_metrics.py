"""The gRPC server's metrics, named as go-grpc-prometheus (and py-grpc-prometheus) name them.

=============================================  =========  ==================================
name                                           type       labels
=============================================  =========  ==================================
``grpc_server_started_total``                  counter    grpc_type, grpc_service, grpc_method
``grpc_server_handled_total``                  counter    ... and grpc_code
``grpc_server_handling_seconds``               histogram  ... and grpc_code
``grpc_server_msg_received_total``             counter    grpc_type, grpc_service, grpc_method
``grpc_server_msg_sent_total``                 counter    grpc_type, grpc_service, grpc_method
=============================================  =========  ==================================

The handling histogram carries ``grpc_code`` as well, which go-grpc-prometheus leaves out: a
Drive refused in a millisecond and one that streamed for a minute are different questions, and
a query that sums the code away reads what the convention's histogram holds.

The message counters are not prometheus_client's: a ``Counter.inc`` takes a lock, and the Drive
stream carries fifty audio chunks a second per drive. Each method keeps two plain integers
(:data:`MessageCounts`), bumped by the interceptor's (de)serializer wrappers in the event
loop's thread where grpc.aio (de)serializes, and read at scrape time by a collector.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, Metric

__all__ = [
    "HANDLING_BUCKETS_S",
    "RECEIVED",
    "RPC_LABELS",
    "SENT",
    "MessageCounts",
    "MethodMetrics",
    "RpcMetrics",
]

RPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")
Labels = tuple[str, str, str]

#: From a millisecond (a unary call) to ten minutes (a long Drive stream).
HANDLING_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0, 600.0,
)  # fmt: skip


MessageCounts = list[int]
"""Messages one method received (``[RECEIVED]``) and sent (``[SENT]``); only the event loop's
thread may bump them."""
RECEIVED, SENT = 0, 1


class _MessageCollector:
    """``grpc_server_msg_{received,sent}_total`` from each method's :data:`MessageCounts`."""

    def __init__(self) -> None:
        self._counts: dict[Labels, MessageCounts] = {}

    def counts(self, labels: Labels) -> MessageCounts:
        return self._counts.setdefault(labels, [0, 0])

    def describe(self) -> list[Metric]:
        return list(self._families({}))

    def collect(self) -> list[Metric]:
        return list(self._families(dict(self._counts)))  # a copy: a new method may come in

    @staticmethod
    def _families(counts: dict[Labels, MessageCounts]) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "grpc_server_msg_received",
            "Messages received on the server, by method (one for a unary request).",
            labels=RPC_LABELS,
        )
        sent = CounterMetricFamily(
            "grpc_server_msg_sent",
            "Messages sent by the server, by method (one for a unary response).",
            labels=RPC_LABELS,
        )
        for labels, count in counts.items():
            received.add_metric(labels, count[RECEIVED])
            sent.add_metric(labels, count[SENT])
        yield received
        yield sent


class MethodMetrics:
    """One served method's series: what the interceptor touches for each call of it."""

    def __init__(self, rpc: RpcMetrics, labels: Labels) -> None:
        self._rpc = rpc
        self._labels = labels
        self.started = rpc.started.labels(*labels)
        self.messages = rpc.messages.counts(labels)
        self._ended: dict[str, tuple[Counter, Histogram]] = {}

    def finished(self, code: str, seconds: float) -> None:
        """Count one call of the method that ended with ``code`` after ``seconds``."""
        children = self._ended.get(code)
        if children is None:
            labels = (*self._labels, code)
            children = self._rpc.handled.labels(*labels), self._rpc.handling.labels(*labels)
            self._ended[code] = children
        children[0].inc()
        children[1].observe(seconds)


class RpcMetrics:
    """The ``grpc_server_*`` families, registered in ``registry``.

    Label only methods the server defines (see :class:`RpcMetricsInterceptor`): each new
    (type, service, method) grows the registry for good.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.started = Counter(
            "grpc_server_started", "RPCs started on the server.", RPC_LABELS, registry=registry
        )
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, by status code (aborts included).",
            [*RPC_LABELS, "grpc_code"],
            registry=registry,
        )
        self.handling = Histogram(
            "grpc_server_handling_seconds",
            "From the call's start to its status, by status code (a Drive: the whole stream).",
            [*RPC_LABELS, "grpc_code"],
            buckets=HANDLING_BUCKETS_S,
            registry=registry,
        )
        self.messages = _MessageCollector()
        registry.register(self.messages)
        self._methods: dict[Labels, MethodMetrics] = {}

    def method(self, labels: Labels) -> MethodMetrics:
        """The series of the method ``labels`` names (type, service, method)."""
        found = self._methods.get(labels)
        if found is None:
            found = self._methods[labels] = MethodMetrics(self, labels)
        return found
