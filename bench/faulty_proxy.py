"""A TCP proxy on loopback that can partition its clients from their server, or delay them (the
small toxiproxy).

Put it between one replica and Redis; then, at any time:

* :meth:`FaultyProxy.freeze`: stop forwarding, keep every socket open (new ones are accepted
  and held too). What was sent meanwhile is delivered once the proxy flows again, as TCP
  would after a partition heals: a command sent before the freeze may run long after it.
* :meth:`FaultyProxy.drop`: close every connection, and each new one at once, until healed.
* :meth:`FaultyProxy.delay`: deliver each chunk ``seconds`` after it was read, in order.
* :meth:`FaultyProxy.heal`: forward at once again (held and delayed data goes on its way);
  :meth:`FaultyProxy.reset` also closes every connection, for a fresh start.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

#: The most chunks one direction of one connection forwards (a bound on its loops, far above
#: what a test sends).
MAX_CHUNKS = 1_000_000
CHUNK_BYTES = 65536


@dataclass(eq=False)
class _Link:
    """One proxied connection: the client's socket and the server's."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.client, self.server):
            transport = writer.transport
            if not transport.is_closing():
                transport.abort()
        for task in self.tasks:
            task.cancel()


class FaultyProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``server_port``, with faults on request.

    Use as ``async with FaultyProxy(server_port) as proxy`` (``proxy.port`` is the address to
    give the client).
    """

    def __init__(self, server_port: int) -> None:
        self._server_port = server_port
        self._listener: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._dropping = False
        self._delay_s = 0.0
        self.port = 0
        #: Connections accepted so far (each a TCP connection its clients opened).
        self.accepted = 0

    async def __aenter__(self) -> FaultyProxy:
        self._listener = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._listener.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reset()
        if self._listener is not None:
            self._listener.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listener.wait_closed(), 5)

    # Faults.

    def freeze(self) -> None:
        self._flowing.clear()

    def drop(self) -> None:
        self._dropping = True
        for link in list(self._links):
            link.abort()

    def delay(self, seconds: float) -> None:
        self._delay_s = seconds
        self._flowing.set()

    def heal(self) -> None:
        self._dropping = False
        self._delay_s = 0.0
        self._flowing.set()

    def reset(self) -> None:
        self.heal()
        for link in list(self._links):
            link.abort()

    # Forwarding.

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self._dropping:
            writer.transport.abort()
            return
        try:
            async with asyncio.timeout(5):
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._server_port)
        except OSError:
            writer.transport.abort()
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._direction(reader, up_writer, link)),
            asyncio.create_task(self._direction(up_reader, writer, link)),
        ]

    async def _direction(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        """Read chunks as they come; a second task writes each once it is due and the proxy
        flows (a frozen or delayed proxy still reads, as the kernel's buffers would)."""
        loop = asyncio.get_running_loop()
        due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._send(due, writer))
        link.tasks.append(sender)
        try:
            for _ in range(MAX_CHUNKS):
                data = await reader.read(CHUNK_BYTES)
                if not data:
                    break
                due.put_nowait((loop.time() + self._delay_s, data))
        except OSError:
            pass
        finally:
            # The link ends with either side (what was read and not yet due is lost, as with
            # a connection that broke).
            self._links.discard(link)
            link.abort()

    async def _send(
        self, due: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            for _ in range(MAX_CHUNKS):
                at, data = await due.get()
                await asyncio.sleep(max(0.0, at - loop.time()))
                await self._flowing.wait()
                if writer.transport.is_closing():
                    return
                writer.write(data)
                await writer.drain()
