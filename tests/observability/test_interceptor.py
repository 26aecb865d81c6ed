"""The RPC interceptor on every kind of handler, over a real loopback server.

A small bytes-in, bytes-out service with one method per RPC kind and behaviour style
(coroutine, async generator, plain function), each of which can succeed, abort, raise or hang
on request; the interceptor must report the status code the client actually got.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
import pytest_asyncio

from gateway.observability import GatewayMetrics, RpcMetricsInterceptor

SERVICE = "test.Echo"
Context = grpc.aio.ServicerContext[Any, Any]


async def _act(request: bytes, context: Context) -> bytes:
    if request == b"abort":
        await context.abort(grpc.StatusCode.NOT_FOUND, "asked to abort")
    if request == b"boom":
        raise ValueError("asked to fail")
    if request == b"hang":
        await asyncio.Event().wait()
    if request == b"set":
        context.set_code(grpc.StatusCode.ALREADY_EXISTS)
    return request


async def unary(request: bytes, context: Context) -> bytes:
    return await _act(request, context)


async def server_stream(request: bytes, context: Context) -> AsyncIterator[bytes]:
    yield b"first"
    yield await _act(request, context)


async def client_stream(requests: AsyncIterator[bytes], context: Context) -> bytes:
    received = [request async for request in requests]
    return await _act(received[-1], context)


async def bidi_writer(requests: AsyncIterator[bytes], context: Context) -> None:
    async for request in requests:
        await context.write(await _act(request, context))


def sync_unary(request: bytes, context: grpc.ServicerContext) -> bytes:
    if request == b"boom":
        raise ValueError("asked to fail")
    return request


def sync_stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    yield request


@pytest_asyncio.fixture
async def served() -> AsyncIterator[tuple[grpc.aio.Channel, GatewayMetrics]]:
    metrics = GatewayMetrics()
    server = grpc.aio.server(interceptors=[RpcMetricsInterceptor(metrics)])
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi_writer),
        "SyncUnary": grpc.unary_unary_rpc_method_handler(sync_unary),
        "SyncStream": grpc.unary_stream_rpc_method_handler(sync_stream),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel, metrics
    finally:
        await server.stop(None)


def handled(metrics: GatewayMetrics, kind: str, method: str, code: str) -> float:
    labels = {"grpc_type": kind, "grpc_service": SERVICE, "grpc_method": method, "grpc_code": code}
    return metrics.registry.get_sample_value("grpc_server_handled_total", labels) or 0.0


async def code_of(call: Any) -> grpc.StatusCode:
    """The status code a call ended with (reading all its responses)."""
    try:
        if hasattr(call, "__aiter__"):
            async for _ in call:
                pass
        else:
            await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


@pytest.mark.asyncio
async def test_each_kind_reports_the_code_the_client_got(
    served: tuple[grpc.aio.Channel, GatewayMetrics],
) -> None:
    channel, metrics = served
    kinds = {
        "Unary": ("unary", channel.unary_unary),
        "ServerStream": ("server_stream", channel.unary_stream),
        "ClientStream": ("client_stream", channel.stream_unary),
        "Bidi": ("bidi_stream", channel.stream_stream),
    }
    expected = {
        b"ok": grpc.StatusCode.OK,
        b"abort": grpc.StatusCode.NOT_FOUND,
        b"boom": grpc.StatusCode.UNKNOWN,
        b"set": grpc.StatusCode.ALREADY_EXISTS,
    }
    for method, (kind, multicallable) in kinds.items():
        stub: Any = multicallable(f"/{SERVICE}/{method}", None, None)
        for request, code in expected.items():
            arg: Any = request if kind in ("unary", "server_stream") else iter([request])
            assert await code_of(stub(arg)) == code, (method, request)
            assert handled(metrics, kind, method, code.name) == 1, (method, request)


@pytest.mark.asyncio
async def test_plain_function_handlers_are_counted(
    served: tuple[grpc.aio.Channel, GatewayMetrics],
) -> None:
    channel, metrics = served
    sync_unary_stub = channel.unary_unary(f"/{SERVICE}/SyncUnary", None, None)
    assert await code_of(sync_unary_stub(b"ok")) == grpc.StatusCode.OK
    assert await code_of(sync_unary_stub(b"boom")) == grpc.StatusCode.UNKNOWN
    stream_stub = channel.unary_stream(f"/{SERVICE}/SyncStream", None, None)
    assert await code_of(stream_stub(b"ok")) == grpc.StatusCode.OK
    assert handled(metrics, "unary", "SyncUnary", "OK") == 1
    assert handled(metrics, "unary", "SyncUnary", "UNKNOWN") == 1
    assert handled(metrics, "server_stream", "SyncStream", "OK") == 1


@pytest.mark.asyncio
async def test_a_call_the_client_cancels_is_counted_cancelled(
    served: tuple[grpc.aio.Channel, GatewayMetrics],
) -> None:
    channel, metrics = served
    stub = channel.unary_stream(f"/{SERVICE}/ServerStream", None, None)
    call = stub(b"hang")
    assert await anext(aiter(call)) == b"first"
    started = metrics.registry.get_sample_value(
        "grpc_server_started_total",
        {"grpc_type": "server_stream", "grpc_service": SERVICE, "grpc_method": "ServerStream"},
    )
    assert started == 1
    call.cancel()
    for _ in range(500):  # the server learns of the cancellation asynchronously
        if handled(metrics, "server_stream", "ServerStream", "CANCELLED") == 1:
            break
        await asyncio.sleep(0.01)
    assert handled(metrics, "server_stream", "ServerStream", "CANCELLED") == 1


def sample(metrics: GatewayMetrics, name: str, method: str, kind: str, **more: str) -> float:
    labels = {"grpc_type": kind, "grpc_service": SERVICE, "grpc_method": method, **more}
    return metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.mark.asyncio
async def test_messages_each_way_are_counted_per_method(
    served: tuple[grpc.aio.Channel, GatewayMetrics],
) -> None:
    channel, metrics = served
    bidi: Any = channel.stream_stream(f"/{SERVICE}/Bidi", None, None)
    assert [r async for r in bidi(iter([b"a", b"b", b"c"]))] == [b"a", b"b", b"c"]
    assert await code_of(bidi(iter([b"x", b"abort"]))) == grpc.StatusCode.NOT_FOUND
    unary: Any = channel.unary_unary(f"/{SERVICE}/Unary", None, None)
    assert await unary(b"ok") == b"ok"
    assert await code_of(unary(b"abort")) == grpc.StatusCode.NOT_FOUND

    def messages(method: str, kind: str) -> tuple[float, float]:
        received = sample(metrics, "grpc_server_msg_received_total", method, kind)
        return received, sample(metrics, "grpc_server_msg_sent_total", method, kind)

    assert messages("Bidi", "bidi_stream") == (5, 4)  # the aborted call answered its "x"
    assert messages("Unary", "unary") == (2, 1)  # an abort sends no response message


@pytest.mark.asyncio
async def test_each_call_is_timed_by_its_code(
    served: tuple[grpc.aio.Channel, GatewayMetrics],
) -> None:
    channel, metrics = served
    stub: Any = channel.unary_stream(f"/{SERVICE}/ServerStream", None, None)
    assert await code_of(stub(b"ok")) == grpc.StatusCode.OK
    assert await code_of(stub(b"abort")) == grpc.StatusCode.NOT_FOUND
    for code in ("OK", "NOT_FOUND"):
        name = "grpc_server_handling_seconds"
        count = sample(metrics, f"{name}_count", "ServerStream", "server_stream", grpc_code=code)
        total = sample(metrics, f"{name}_sum", "ServerStream", "server_stream", grpc_code=code)
        assert count == 1, code
        assert 0 < total < 5, code


@pytest.mark.asyncio
async def test_a_method_nobody_serves_leaves_no_series(
    served: tuple[grpc.aio.Channel, GatewayMetrics],
) -> None:
    channel, metrics = served
    stub: Any = channel.unary_unary(f"/{SERVICE}/Chosen-By-The-Client", None, None)
    assert await code_of(stub(b"ok")) == grpc.StatusCode.UNIMPLEMENTED
    grpc_series = [
        s
        for family in metrics.registry.collect()
        if family.name.startswith("grpc_server_")
        for s in family.samples
    ]
    assert grpc_series == []  # no served method was called, and the unknown one is not counted
