"""Keep the server's status when a write races the end of the stream (grpc/grpc#36066).

When the gateway ends a Drive stream (TASK_BUSY, CONFIG_REQUIRED...) while the client is still
writing, grpc.aio's ``_write`` fails and unconditionally replaces the status the server already
sent with ``INTERNAL: Internal error from Core``. The fix proposed upstream (grpc/grpc#43486)
waits for the status Core is about to deliver instead; :func:`keep_server_status` applies the
same logic to one call. It relies on grpc.aio internals, so it checks for them and leaves the
call untouched when they are not there (the upstream behaviour, nothing worse).
"""

from __future__ import annotations

import asyncio
from typing import Any

from grpc._cython import cygrpc  # type: ignore[attr-defined]

#: How long to wait for Core's status after a failed write before giving up as grpc does.
STATUS_WAIT_S = 2.0
_NEEDED = ("_cython_call", "_metadata_sent", "_request_serializer", "_done_writing_flag")


def keep_server_status(call: Any) -> None:
    """Make ``call`` report the server's status when one of its writes fails."""
    if not all(hasattr(call, name) for name in _NEEDED):
        return
    from grpc import _common

    async def _write(request: Any) -> None:
        if call.done():
            raise asyncio.InvalidStateError("RPC already finished")
        if call._done_writing_flag:
            raise asyncio.InvalidStateError("RPC is half closed after calling done_writing")
        if not call._metadata_sent.is_set():
            await call._metadata_sent.wait()
            if call.done():
                await call._raise_for_status()
        serialized = _common.serialize(request, call._request_serializer)
        try:
            await call._cython_call.send_serialized_message(serialized)
        except cygrpc.InternalError as err:
            try:
                # Core delivers the server's status right after the failed write.
                await asyncio.wait_for(asyncio.shield(call._cython_call.status()), STATUS_WAIT_S)
            except TimeoutError:
                call._cython_call.set_internal_error(str(err))
            await call._raise_for_status()
        except asyncio.CancelledError:
            if not call.cancelled():
                call.cancel()
            raise

    call._write = _write
