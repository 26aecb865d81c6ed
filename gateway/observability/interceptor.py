"""RPC metrics for a ``grpc.aio`` server: our own interceptor.

It feeds :class:`~gateway.observability.rpc_metrics.RpcMetrics`: calls started, handled (by
status code) and their duration, and messages each way. Messages are counted in the method's
request deserializer and response serializer, which grpc.aio calls once per message whether
the servicer iterates its requests or reads ``context.read()`` (the Drive servicer does): one
plain function call and an integer bump per chunk, no task, no lock.

The usual Prometheus interceptor packages target the synchronous server. grpc.aio hands an
interceptor the method's handler, not the call, so the only way to see how an RPC ended is to
wrap the handler's behaviour: run it, then read the status the servicer left on its context.
``context.abort()`` raises ``AbortError`` after setting the code; ``context.set_code()`` leaves
it for a normal return; an escaping exception becomes UNKNOWN; a cancelled handler (the client
went away, or the server stopped) is CANCELLED.

grpc.aio picks how to drive a behaviour by its kind (a coroutine function writes through the
context, an async generator function yields responses), so each wrapper has the same kind as
the behaviour it wraps.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

from gateway.observability.metrics import GatewayMetrics
from gateway.observability.rpc_metrics import RECEIVED, SENT, MessageCounts, MethodMetrics

__all__ = ["RpcMetricsInterceptor"]

Behaviour = Callable[..., Any]
Codec = Callable[[Any], Any]
Handler = grpc.RpcMethodHandler  # generic in the stubs only: subscripted in annotations below

if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # not subscriptable at run time
    _ServerInterceptor = grpc.aio.ServerInterceptor


class RpcMetricsInterceptor(_ServerInterceptor):
    """Counts RPCs started, handled (by status code), their duration and their messages into
    ``metrics.rpc``.

    Install it with ``grpc.aio.server(interceptors=[...])``. Unknown methods are not counted:
    their names come from clients, and a label per name would let them grow the registry.
    """

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._rpc = metrics.rpc
        # Per served method: the handler grpc gave and ours for it, built once, not per call.
        self._wrapped: dict[str, tuple[Handler[Any, Any], Handler[Any, Any]]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler[Any, Any]:
        # None for a method nobody serves (the stubs do not say so): grpc answers UNIMPLEMENTED.
        handler: Handler[Any, Any] | None = await continuation(handler_call_details)
        if handler is None:
            return handler  # type: ignore[return-value]  # grpc.aio accepts None here
        cached = self._wrapped.get(handler_call_details.method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap_handler(handler_call_details.method, handler)
        self._wrapped[handler_call_details.method] = (handler, wrapped)
        return wrapped

    def _wrap_handler(self, path: str, handler: Handler[Any, Any]) -> Handler[Any, Any]:
        service, _, method = path.strip("/").rpartition("/")
        if handler.request_streaming and handler.response_streaming:
            kind, behaviour, factory = (
                "bidi_stream",
                handler.stream_stream,
                grpc.stream_stream_rpc_method_handler,
            )
        elif handler.request_streaming:
            kind, behaviour, factory = (
                "client_stream",
                handler.stream_unary,
                grpc.stream_unary_rpc_method_handler,
            )
        elif handler.response_streaming:
            kind, behaviour, factory = (
                "server_stream",
                handler.unary_stream,
                grpc.unary_stream_rpc_method_handler,
            )
        else:
            kind, behaviour, factory = (
                "unary",
                handler.unary_unary,
                grpc.unary_unary_rpc_method_handler,
            )
        if behaviour is None:
            return handler
        series = self._rpc.method((kind, service, method))
        return factory(
            _wrap(behaviour, series),
            request_deserializer=_counting(handler.request_deserializer, series.messages, RECEIVED),
            response_serializer=_counting(handler.response_serializer, series.messages, SENT),
        )


def _counting(codec: Codec | None, counts: MessageCounts, way: int) -> Codec:
    """``codec`` (the identity for None: raw bytes) bumping ``counts[way]`` per message."""
    if codec is None:

        def raw(message: bytes) -> bytes:
            counts[way] += 1
            return message

        return raw

    def coded(message: Any) -> Any:
        counts[way] += 1
        return codec(message)

    return coded


def _wrap(behaviour: Behaviour, series: MethodMetrics) -> Behaviour:
    """``behaviour``, of the same kind, counting its start, its end and its duration."""
    started = series.started
    clock = time.perf_counter

    def done(
        context: grpc.aio.ServicerContext[Any, Any], error: BaseException | None, began: float
    ) -> None:
        series.finished(_code_name(context, error), clock() - began)

    if inspect.isasyncgenfunction(behaviour):

        async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            began = clock()
            started.inc()
            try:
                async for response in behaviour(request, context):
                    yield response
            except BaseException as exc:
                done(context, exc, began)
                raise
            done(context, None, began)

        return stream

    if inspect.iscoroutinefunction(behaviour):

        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            began = clock()
            started.inc()
            try:
                response = await behaviour(request, context)
            except BaseException as exc:
                done(context, exc, began)
                raise
            done(context, None, began)
            return response

        return call

    # A synchronous behaviour (grpc.aio runs it in its thread pool): count around it.
    def sync_call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        began = clock()
        started.inc()
        try:
            response = behaviour(request, context)
        except BaseException as exc:
            done(context, exc, began)
            raise
        done(context, None, began)
        return response

    return sync_call


def _code_name(context: grpc.aio.ServicerContext[Any, Any], error: BaseException | None) -> str:
    """The status code the client gets, as its name (``OK``, ``NOT_FOUND``, ...)."""
    # None until set or aborted. The context grpc.aio gives a plain-function behaviour cannot
    # tell its code: such a call counts by how the function ended.
    read = getattr(context, "code", None)
    code: grpc.StatusCode | None = read() if read is not None else None
    if code is not None:
        return code.name
    if error is None:
        return grpc.StatusCode.OK.name
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return grpc.StatusCode.CANCELLED.name
    # grpc.aio answers an escaping exception with UNKNOWN ("Unexpected <class ...>").
    return grpc.StatusCode.UNKNOWN.name
