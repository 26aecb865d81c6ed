"""Requests that do not decode end their call INVALID_ARGUMENT / MALFORMED_REQUEST.

grpc.aio decodes each request with its method handler's ``request_deserializer``. Left alone,
a frame that is not the method's message raises protobuf's ``DecodeError``: from
``context.read()`` inside a streaming handler (the Drive servicer saw an unexpected exception:
INTERNAL with no ErrorInfo and a traceback, and mid-drive a reader that died without waking
the drive), or before a unary handler runs (grpc answers UNKNOWN and logs a traceback).

:func:`add_servicer` registers the generated handlers of ``dhgateway.v1.DriveGateway`` (the
generated module's own table, through :func:`add_DriveGatewayServicer_to_server`) with the
decoding made the gateway's:

- a request-streaming method keeps grpc's decoding, by a deserializer that raises
  :class:`~gateway.errors.InvalidDrive` (MALFORMED_REQUEST) instead: the Drive servicer meets
  it where it reads, as any other GatewayError (before the drive: the status; mid-drive: the
  drive's reader fails the drive, which sends its Stop);
- a unary method gets the raw bytes and decodes them in the handler, which ends the call with
  the status itself.

Either way one WARNING line (no traceback) says which method got how many bytes that did not
decode, and why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
from dhgateway.v1 import gateway_pb2_grpc as pb_grpc

from gateway.errors import GatewayError, InvalidDrive, Reason
from gateway.service.status import to_grpc_status

log = logging.getLogger("gateway.service")

Handler = grpc.RpcMethodHandler  # generic in the stubs only
Decode = Callable[[bytes], Any]


def malformed(method: str, size: int, error: Exception) -> InvalidDrive:
    """Why a ``size``-byte message of ``method`` is refused (``error``: the decoder's)."""
    return InvalidDrive(
        Reason.MALFORMED_REQUEST,
        f"a {size}-byte request to {method} does not decode: {error}",
    )


def _decode(method: str, decode: Decode, raw: bytes) -> Any:
    """``decode(raw)``; a failure is logged once and raised as MALFORMED_REQUEST."""
    try:
        return decode(raw)
    except Exception as exc:  # DecodeError mostly; any failure to decode is the frame's
        refused = malformed(method, len(raw), exc)
        log.warning(
            "malformed request: %s",
            refused.message,
            extra={"method": method, "bytes": len(raw), "reason": refused.reason.value},
        )
        raise refused from None


def _strict(method: str, decode: Decode) -> Decode:
    """A deserializer that raises MALFORMED_REQUEST (a GatewayError) for what it cannot decode."""

    def deserialize(raw: bytes) -> Any:
        return _decode(method, decode, raw)

    return deserialize


def _decoding_unary(method: str, decode: Decode, behaviour: Callable[..., Any]) -> Any:
    """A unary behaviour that takes raw bytes, decodes them and calls ``behaviour``."""

    async def call(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            request = _decode(method, decode, raw)
        except GatewayError as exc:
            status = to_grpc_status(exc)
            await context.abort(status.code, status.details, status.trailing_metadata)
        return await behaviour(request, context)

    return call


def decoding(method: str, handler: Handler[Any, Any]) -> Handler[Any, Any]:
    """``handler`` with the gateway's decoding (see the module's docstring)."""
    decode = handler.request_deserializer
    if decode is None:
        return handler  # the method takes raw bytes already
    strict = {
        "request_deserializer": _strict(method, decode),
        "response_serializer": handler.response_serializer,
    }
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(handler.stream_stream, **strict)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(handler.stream_unary, **strict)
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _decoding_unary(method, decode, handler.unary_unary),
            request_deserializer=None,
            response_serializer=handler.response_serializer,
        )
    return handler  # unary-stream: no such method in the contract; left as grpc's


class _Registering:
    """What the generated ``add_*_to_server`` calls, rewriting its handlers on the way."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server
        self.registered = False

    def add_generic_rpc_handlers(
        self, handlers: Sequence[grpc.GenericRpcHandler[Any, Any]]
    ) -> None:
        # The same table comes again in add_registered_method_handlers: the generic handler
        # is built there from the rewritten one (the generated one would decode grpc's way).
        pass

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, Handler[Any, Any]]
    ) -> None:
        ours = {name: decoding(f"/{service}/{name}", handler) for name, handler in handlers.items()}
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, ours),)
        )
        self._server.add_registered_method_handlers(service, ours)  # type: ignore[attr-defined]
        self.registered = True


def add_servicer(servicer: pb_grpc.DriveGatewayServicer, server: grpc.aio.Server) -> None:
    """Serve ``servicer`` on ``server`` with the gateway's decoding of requests."""
    registering = _Registering(server)
    pb_grpc.add_DriveGatewayServicer_to_server(servicer, registering)  # type: ignore[arg-type]
    if not registering.registered:  # generated by another grpcio-tools: rewrite this module
        raise RuntimeError("the generated code registered no method handlers")
