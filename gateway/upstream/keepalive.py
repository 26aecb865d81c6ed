"""Keepalive for every drive's WebSocket from one timer, not a task per connection.

Theory of operation
-------------------
The vendor documents no heartbeat (zego-api.md, "gaps"), yet a connection that goes silent
mid-drive must surface as an error within about two seconds, so every drive's WebSocket is
pinged every second. websockets' own keepalive does it with a task per connection that sleeps,
pings, then waits for the pong under a timeout: a task, its frames and three wake-ups per
connection per interval, on a path where each drive's memory counts (``bench``: the task was a
good part of the 1.5 KiB per drive its removal saved).

:class:`KeepAlive` watches every connection of one event loop that shares an interval and a
timeout, spread over :data:`SLOTS` slots. Every ``interval / SLOTS`` one timer callback pings
each connection of the next slot that is not already waiting for a pong; ``timeout`` later
another declares dead each connection of that slot that has received nothing since its ping.
Proof of life is *any* bytes from the peer after the ping, seen through the asyncio protocol
callback ``data_received``: a peer that answers must answer a ping with a pong (RFC 6455
§5.5.2), and a peer that sends anything else is alive too. So detection happens between
``timeout`` and ``interval + timeout`` after the last sign of life, as with websockets.

A connection whose writes are paused by flow control is not pinged (the ping would queue behind
the audio): a send that stays blocked is the session's own stall bound's to judge.

The pings are written with websockets' sans-I/O protocol on the connection's transport
(``connection.py``), so they cost no task, no future and no timer of their own.
"""

from __future__ import annotations

import asyncio
import struct
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from gateway.upstream.connection import WatchedConnection

__all__ = ["KeepAlive"]

#: Ping payloads: a counter, unique per connection while a ping is pending.
_PAYLOAD = struct.Struct("!I")
#: A timer may fire this much early (uvloop counts in milliseconds): still judge the ping.
_EARLY_S = 0.005
#: Connections are spread over this many slots, pinged in turn, one slot per
#: ``interval / SLOTS``: pinging all at once made the pongs (and the peer's work) arrive
#: together, a stall of milliseconds every interval (300 drives of 100 ms chunks: underruns).
SLOTS = 20


@dataclass(slots=True)
class _Watch:
    on_dead: Callable[[str], None]
    ping_sent_at: float | None = None  # the unanswered ping's time, if one is pending


class KeepAlive:
    """Pings the watched connections every ``interval_s``; reports those silent for
    ``timeout_s`` after a ping.

    Use :meth:`for_loop` (one instance per running loop and settings), then :meth:`watch` each
    connection once open and :meth:`unwatch` it when closed. The timer runs only while something
    is watched.
    """

    _instances: ClassVar[
        weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[float, float], KeepAlive]]
    ] = weakref.WeakKeyDictionary()

    def __init__(self, loop: asyncio.AbstractEventLoop, interval_s: float, timeout_s: float):
        self._loop = loop
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._slots: list[dict[WatchedConnection, _Watch]] = [{} for _ in range(SLOTS)]
        self._turn = 0  # the slot the next tick pings
        self._tick_handle: asyncio.TimerHandle | None = None
        self._counter = 0

    @classmethod
    def for_loop(cls, interval_s: float, timeout_s: float) -> KeepAlive:
        """The running loop's keepalive for these settings (created on first use)."""
        loop = asyncio.get_running_loop()
        by_settings = cls._instances.setdefault(loop, {})
        key = (interval_s, timeout_s)
        if (keepalive := by_settings.get(key)) is None:
            keepalive = by_settings[key] = cls(loop, interval_s, timeout_s)
        return keepalive

    def watch(self, connection: WatchedConnection, on_dead: Callable[[str], None]) -> None:
        """Ping ``connection`` from now on; ``on_dead(detail)`` is called (once) if it goes
        silent. The caller must then abort the connection and :meth:`unwatch` it."""
        slot = min(range(SLOTS), key=lambda i: len(self._slots[i]))
        self._slots[slot][connection] = _Watch(on_dead)
        if self._tick_handle is None:
            self._tick_handle = self._loop.call_later(self.interval_s / SLOTS, self._tick)

    def unwatch(self, connection: WatchedConnection) -> None:
        """Stop watching ``connection`` (safe to repeat)."""
        for slot in self._slots:
            if slot.pop(connection, None) is not None:
                break
        self._stop_when_idle()

    def __len__(self) -> int:
        return sum(len(slot) for slot in self._slots)

    @property
    def running(self) -> bool:
        """Whether the ticks are scheduled (only while something is watched)."""
        return self._tick_handle is not None

    def _stop_when_idle(self) -> None:
        if self._tick_handle is not None and not any(self._slots):
            self._tick_handle.cancel()
            self._tick_handle = None

    def _tick(self) -> None:
        now = self._loop.time()
        self._tick_handle = self._loop.call_at(now + self.interval_s / SLOTS, self._tick)
        turn = self._turn
        self._turn = (turn + 1) % SLOTS
        pinged = False
        for connection, watch in self._slots[turn].items():
            if watch.ping_sent_at is not None and connection.last_received_at < watch.ping_sent_at:
                continue  # still waiting: the check judges it
            watch.ping_sent_at = None
            self._counter = (self._counter + 1) & 0xFFFFFFFF
            if not connection.ping_now(_PAYLOAD.pack(self._counter)):
                continue
            watch.ping_sent_at = now
            pinged = True
        if pinged:
            self._loop.call_at(now + self.timeout_s, self._check, turn)

    def _check(self, turn: int) -> None:
        # Judge each ping by its own age: the callback may run a little late, or early.
        now = self._loop.time() + _EARLY_S
        slot = self._slots[turn]
        dead = [
            (connection, watch)
            for connection, watch in slot.items()
            if watch.ping_sent_at is not None
            and connection.last_received_at < watch.ping_sent_at
            and now - watch.ping_sent_at >= self.timeout_s
        ]
        for connection, watch in dead:
            del slot[connection]
            watch.on_dead(f"no answer to a keepalive ping within {self.timeout_s:g} s")
        self._stop_when_idle()
