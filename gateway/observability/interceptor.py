"""RPC metrics for a ``grpc.aio`` server: our own interceptor.

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
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

from gateway.observability.metrics import GatewayMetrics

__all__ = ["RpcMetricsInterceptor"]

Behaviour = Callable[..., Any]
Handler = grpc.RpcMethodHandler  # generic in the stubs only: subscripted in annotations below

if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # not subscriptable at run time
    _ServerInterceptor = grpc.aio.ServerInterceptor


class RpcMetricsInterceptor(_ServerInterceptor):
    """Counts RPCs started and handled (by status code) into ``metrics``.

    Install it with ``grpc.aio.server(interceptors=[...])``. Unknown methods are not counted:
    their names come from clients, and a label per name would let them grow the registry.
    """

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler[Any, Any]:
        # None for a method nobody serves (the stubs do not say so): grpc answers UNIMPLEMENTED.
        handler: Handler[Any, Any] | None = await continuation(handler_call_details)
        if handler is None:
            return handler  # type: ignore[return-value]  # grpc.aio accepts None here
        service, _, method = handler_call_details.method.strip("/").rpartition("/")
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
        labels = (kind, service, method)
        wrapped = self._wrap(behaviour, labels)
        return factory(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap(self, behaviour: Behaviour, labels: tuple[str, str, str]) -> Behaviour:
        started = self._metrics.rpcs_started.labels(*labels)
        handled = self._metrics.rpcs_handled

        def done(context: grpc.aio.ServicerContext[Any, Any], error: BaseException | None) -> None:
            handled.labels(*labels, _code_name(context, error)).inc()

        if inspect.isasyncgenfunction(behaviour):

            async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                started.inc()
                try:
                    async for response in behaviour(request, context):
                        yield response
                except BaseException as exc:
                    done(context, exc)
                    raise
                done(context, None)

            return stream

        if inspect.iscoroutinefunction(behaviour):

            async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                started.inc()
                try:
                    response = await behaviour(request, context)
                except BaseException as exc:
                    done(context, exc)
                    raise
                done(context, None)
                return response

            return call

        # A synchronous behaviour (grpc.aio runs it in its thread pool): count around it.
        def sync_call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started.inc()
            try:
                response = behaviour(request, context)
            except BaseException as exc:
                done(context, exc)
                raise
            done(context, None)
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
