"""The vendor's callbacks across replicas: each is applied where its drive or task lives.

Why: ZEGO sends every callback to one URL; behind a load balancer it reaches any replica, but a
drive's Status 2 or 4 means something only to the replica that runs the drive, and only within
its grace window (``server.callback_grace_ms``). With Redis (``server.redis_url``) the replica
that received a callback places it in one Lua script and answers at once.

Theory of operation
-------------------
Redis holds, beside the registry's keys:

* ``dhgw:drive:<DriveId>``: the id of the relay (one per replica) running the drive, written
  when the drive learns its DriveId (:mod:`gateway.service.callback_naming`), for at most the
  longest a drive lives; ``-`` once it ended, for the verifier's window (a late callback is
  answered 200 and dropped, so that the vendor does not retry it in vain), then gone: 404.
* ``dhgw:task:<AppId>:<TaskId>``: a replica drove the task within a day (the vendor's longest
  task life: MaxIdleTime or TTL may end it that late); it tells a task callback that some
  replica knows from one for a task nobody drove.
* ``dhgw:nonce:<AppId>:<Nonce>``: a callback placed already (a digest of what it says), kept
  twice the verifier's window (a Timestamp may be a window ahead): the vendor's retry landing
  on another replica is a DUPLICATE (200, not applied again); another body under the same Nonce
  is REPLAYED (401).
* channels ``dhgw:callbacks:<relay id>`` (the drive callbacks for that replica) and
  ``dhgw:callbacks`` (task callbacks, for every replica's local apply).

The script claims the Nonce, finds the drive's replica and publishes to it, atomically. A
publish no subscriber heard (that replica is cut off from Redis, or gone) gives the Nonce back
and is answered 503: the vendor's retry, 2 s later at first, may find it listening again. Each
relay listens to its two channels, pings its subscription, and after losing Redis subscribes
again and rewrites its live drives' keys (a restarted Redis has lost them).

When Redis does not answer (every call is bounded by ``timeout_s``):

* a callback for a drive of this replica's is applied here all the same (200). Its retry on
  another replica might then be applied a second time, which changes nothing: a drive keeps the
  vendor's first word;
* a drive callback this replica cannot place is answered 503 at once (the vendor retries);
* a task callback is applied here and answered 503, so that the vendor's retry reaches the
  other replicas once Redis is back; applying a task's status twice must change nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from gateway import redis_extra
from gateway.callbacks.receiver import Placed
from gateway.callbacks.verify import Callback, DriveStatus, TaskStatus
from gateway.redis_calls import cancellable
from gateway.registry.base import task_key
from gateway.registry.redis_client import end_tasks, text

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["BROADCAST", "CallbackRelay", "RelayObserver"]

log = logging.getLogger("gateway.callbacks")

PREFIX = "dhgw"
#: Task callbacks, for every replica; a replica's own channel is this plus ``:<relay id>``.
BROADCAST = f"{PREFIX}:callbacks"
#: How long a replica that drove a task is taken to know it (the vendor's longest task life).
TASK_KNOWN_S = 86_400.0
_ENDED = "-"

# KEYS: the nonce, the drive's (or task's) key. ARGV: digest, nonce TTL (ms), mode, channel,
# message, this relay's id. Modes: "claim" (a drive of this replica's), "drive", "task".
_PLACE = """
local seen = redis.call('GET', KEYS[1])
if seen then
  if seen == ARGV[1] then return 'duplicate' end
  return 'replayed'
end
local mode = ARGV[3]
local holder = false
if mode == 'drive' then
  holder = redis.call('GET', KEYS[2])
  if not holder then return 'unknown' end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if mode == 'claim' then return 'here' end
if mode == 'task' then
  redis.call('PUBLISH', ARGV[4], ARGV[5])
  if redis.call('EXISTS', KEYS[2]) == 1 then return 'known' end
  return 'unknown'
end
if holder == '-' then return 'ended' end
if holder == ARGV[6] then return 'here' end
if redis.call('PUBLISH', ARGV[4] .. ':' .. holder, ARGV[5]) == 0 then
  redis.call('DEL', KEYS[1])
  return 'unplaced'
end
return 'relayed'
"""

#: The outcomes, as the receiver's answers (a task's "known" is decided after the script).
_PLACED = {
    "here": Placed.APPLIED,
    "relayed": Placed.APPLIED,
    "ended": Placed.APPLIED,
    "duplicate": Placed.DUPLICATE,
    "replayed": Placed.REPLAYED,
    "unknown": Placed.UNKNOWN,
    "unplaced": Placed.UNPLACED,
    "unshared": Placed.APPLIED,  # a drive of this replica's, applied without Redis
}


class RelayObserver(Protocol):
    """Where the relay reports (the metrics)."""

    def callback_relayed(self, event_type: int, outcome: str) -> None:
        """A callback this replica received was placed: ``outcome`` is the script's answer
        (here, relayed, ended, duplicate, replayed, unknown, unplaced) or ``unshared`` (a
        drive of this replica's applied without Redis)."""

    def callback_relay_applied(self, event_type: int) -> None:
        """A callback another replica received was applied here."""

    def callback_relay_listening(self, listening: bool) -> None:
        """The relay's subscription began (again) or was lost."""


class _Unobserved:
    def callback_relayed(self, event_type: int, outcome: str) -> None:
        pass

    def callback_relay_applied(self, event_type: int) -> None:
        pass

    def callback_relay_listening(self, listening: bool) -> None:
        pass


class CallbackRelay:
    """Places each accepted callback on its replica through Redis. See the module docstring.

    The caller must :meth:`start` it (in a running loop) and :meth:`close` it before closing the
    client; each live drive must be named (``NamingRegistry`` does it) and
    :meth:`drive_ended` told when it ended.

    Args:
        client: the Redis the replicas share (with bounded timeouts); whoever made it closes it.
        apply: this replica's own apply (the drive with that DriveId takes the vendor's word);
            False when it knows nothing of the drive or task. Called on the event loop, it must
            not block.
        knows: whether a DriveId is of a drive live here, or ended here a moment ago.
        window_s: the verifier's window: how long a Nonce and an ended drive are kept.
        drive_ttl_s: the longest a drive can live after it learned its DriveId.
        timeout_s: the bound of every Redis call.
        observer: where the outcomes are counted.
        ping_s: how often a quiet subscription is pinged; silent for 3 of these, it is lost.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        apply: Callable[[Callback], bool],
        knows: Callable[[str], bool],
        *,
        window_s: float,
        drive_ttl_s: float,
        timeout_s: float,
        observer: RelayObserver | None = None,
        ping_s: float = 1.0,
    ) -> None:
        self.relay_id = uuid.uuid4().hex[:16]
        self._redis = client
        self._apply = apply
        self._knows = knows
        self._nonce_ms = round(2 * window_s * 1000)
        self._ended_ms = round(window_s * 1000)
        self._drive_ms = round(drive_ttl_s * 1000)
        self._task_ms = round(TASK_KNOWN_S * 1000)
        self._timeout_s = timeout_s
        self._observer: RelayObserver = observer or _Unobserved()
        self._ping_s = ping_s
        self._place = client.register_script(_PLACE)
        self._named: dict[str, str] = {}  # DriveId -> task key, of this replica's live drives
        self._writes: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    @property
    def listening(self) -> bool:
        """Whether the relay's subscription is up (callbacks from other replicas arrive)."""
        return self._listening.is_set()

    async def wait_listening(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until the subscription is up; whether it is."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._listening.wait()
        except TimeoutError:
            return False
        return True

    def start(self) -> None:
        """Start listening in the background; a Redis that does not answer yet is tried
        again until it does (the callbacks of this replica's drives apply meanwhile)."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="callback relay")

    async def close(self) -> None:
        """Stop listening; the keys still being written get their timeout's worth."""
        if self._writes:
            await asyncio.wait(self._writes, timeout=self._timeout_s)
        tasks = list(self._writes)
        if self._listener is not None:
            tasks.append(self._listener)
            self._listener = None
        await end_tasks(tasks)

    # Placing a callback this replica received.

    async def place(self, callback: Callback) -> Placed:
        """Apply ``callback`` here or deliver it to its replica(s); what became of it."""
        if isinstance(callback, DriveStatus):
            return await self._place_drive(callback)
        return await self._place_task(callback)

    async def _place_drive(self, callback: DriveStatus) -> Placed:
        here = self._knows(callback.drive_id)
        mode = "claim" if here else "drive"
        try:
            answer = await self._script(callback, mode, f"{PREFIX}:drive:{callback.drive_id}")
        except (redis_extra.RedisError, TimeoutError) as exc:
            log.warning("callback relay: Redis did not answer (%s)", type(exc).__name__)
            if not here:
                return self._counted(callback, "unplaced")
            self._apply(callback)
            return self._counted(callback, "unshared")
        if answer == "here":
            self._apply(callback)
        return self._counted(callback, answer)

    async def _place_task(self, callback: TaskStatus) -> Placed:
        key = f"{PREFIX}:task:{task_key(callback.app_id, callback.task_id)}"
        try:
            answer = await self._script(callback, "task", key)
        except (redis_extra.RedisError, TimeoutError) as exc:
            log.warning("callback relay: Redis did not answer (%s)", type(exc).__name__)
            self._apply(callback)
            return self._counted(callback, "unplaced")
        if answer not in ("known", "unknown"):
            return self._counted(callback, answer)
        if self._apply(callback) or answer == "known":
            return self._counted(callback, "relayed")
        await self._give_back(callback)
        return self._counted(callback, "unknown")

    async def _script(self, callback: Callback, mode: str, key: str) -> str:
        message = _encode(callback)
        digest = hashlib.sha256(message.encode()).hexdigest()
        args: list[str | int] = [digest, self._nonce_ms, mode, BROADCAST]
        args += [f"{self.relay_id} {message}", self.relay_id]
        async with asyncio.timeout(self._timeout_s):
            answer = await cancellable(self._place(keys=[_nonce_key(callback), key], args=args))
        return text(answer)

    async def _give_back(self, callback: Callback) -> None:
        """Drop the Nonce of a callback answered 404, so that its retry is placed afresh."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await cancellable(self._redis.delete(_nonce_key(callback)))
        except (redis_extra.RedisError, TimeoutError):
            pass  # its retry is then a duplicate: answered 200, which the vendor takes as done

    def _counted(self, callback: Callback, outcome: str) -> Placed:
        self._observer.callback_relayed(_event_type(callback), outcome)
        return _PLACED[outcome]

    # This replica's drives.

    async def drive_named(self, key: str, drive_id: str) -> None:
        """The drive holding task ``key`` learned its ``drive_id``: callbacks for it that reach
        another replica come here from now on. Bounded by the timeout; never raises (without
        its key, its callbacks that reach another replica are answered 404)."""
        if not drive_id:
            return
        self._named[drive_id] = key
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._write_live([drive_id])
        except (redis_extra.RedisError, TimeoutError) as exc:
            log.warning("callback relay: could not name a drive (%s)", type(exc).__name__)

    def drive_ended(self, drive_id: str) -> None:
        """A drive of this replica's ended: its late callbacks are answered 200 and dropped,
        for the verifier's window. Written in the background, bounded."""
        key = self._named.pop(drive_id, None)
        if key is None:
            return
        task = asyncio.get_running_loop().create_task(self._write_ended(drive_id, key))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write_live(self, drive_ids: Iterable[str]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for drive_id in drive_ids:
                pipe.set(f"{PREFIX}:drive:{drive_id}", self.relay_id, px=self._drive_ms)
                pipe.set(f"{PREFIX}:task:{self._named[drive_id]}", "1", px=self._task_ms)
            await cancellable(pipe.execute())

    async def _write_ended(self, drive_id: str, key: str) -> None:
        try:
            async with asyncio.timeout(self._timeout_s), self._redis.pipeline() as pipe:
                pipe.set(f"{PREFIX}:drive:{drive_id}", _ENDED, px=self._ended_ms)
                pipe.set(f"{PREFIX}:task:{key}", "1", px=self._task_ms)
                await cancellable(pipe.execute())
        except (redis_extra.RedisError, TimeoutError) as exc:
            # Its key then still names this replica, which answers from its own memory.
            log.warning("callback relay: could not mark a drive ended (%s)", type(exc).__name__)

    # Listening for the callbacks other replicas received.

    async def _listen(self) -> None:
        """Subscribe and dispatch, again after each loss of Redis (every wait bounded)."""
        while True:  # until close()
            pubsub = self._redis.pubsub()
            try:
                async with asyncio.timeout(self._timeout_s):
                    await cancellable(pubsub.subscribe(f"{BROADCAST}:{self.relay_id}", BROADCAST))
                await self._dispatch(pubsub)
            except (redis_extra.RedisError, OSError, TimeoutError) as exc:
                if self.listening:
                    log.warning(
                        "callback relay lost Redis (%s): subscribing again", type(exc).__name__
                    )
            finally:
                if self.listening:
                    self._listening.clear()
                    self._observer.callback_relay_listening(False)
                await _closed(pubsub)
            await asyncio.sleep(self._ping_s)

    async def _dispatch(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        confirmed = 0
        while True:  # until Redis fails or stays silent; each wait is bounded by ping_s
            message = await cancellable(pubsub.get_message(timeout=self._ping_s))
            now = loop.time()
            if message is None:
                if now - heard > 3 * self._ping_s:
                    raise TimeoutError("the subscription went silent")
                await cancellable(pubsub.ping())
                continue
            heard = now
            kind = message["type"]
            if kind == "message":
                self._deliver(text(message["data"]))
            elif kind == "subscribe" and (confirmed := confirmed + 1) == 2:
                await self._subscribed()

    async def _subscribed(self) -> None:
        if self._named:
            try:
                async with asyncio.timeout(self._timeout_s):
                    await self._write_live(list(self._named))
            except (redis_extra.RedisError, TimeoutError) as exc:
                log.warning("callback relay: could not rename drives (%s)", type(exc).__name__)
        self._listening.set()
        self._observer.callback_relay_listening(True)
        log.info("callback relay listening", extra={"relay_id": self.relay_id})

    def _deliver(self, data: str) -> None:
        origin, _, message = data.partition(" ")
        if origin == self.relay_id:
            return  # a task callback this replica received: applied already
        try:
            callback = _decode(message)
        except (ValueError, KeyError, TypeError):
            log.warning("callback relay: a message it cannot read was dropped")
            return
        try:
            self._apply(callback)
        except Exception:  # one callback must not stop the relay
            log.exception("applying a relayed callback failed")
            return
        self._observer.callback_relay_applied(_event_type(callback))


def _nonce_key(callback: Callback) -> str:
    return f"{PREFIX}:nonce:{callback.app_id}:{callback.nonce}"


def _event_type(callback: Callback) -> int:
    return 4 if isinstance(callback, DriveStatus) else 3


def _encode(callback: Callback) -> str:
    fields = {"EventType": _event_type(callback), **dataclasses.asdict(callback)}
    return json.dumps(fields, separators=(",", ":"), sort_keys=True)


def _decode(message: str) -> Callback:
    fields = json.loads(message)
    if fields.pop("EventType") == 4:
        return DriveStatus(**fields)
    return TaskStatus(**fields)


async def _closed(pubsub: Any) -> None:
    """Close a subscription, whatever state its connection is in."""
    try:
        await pubsub.aclose()
    except (redis_extra.RedisError, OSError):
        pass  # its connection is gone already
