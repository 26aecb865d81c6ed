"""The exclusivity registry shared by gateway replicas, on Redis.

Theory of operation
-------------------
For each task key (AppId:task id) Redis holds:

* ``dhgw:holder:<key>``: ``<token>|<drive_id>`` of the drive that holds the task, with a TTL
  (the lease). The holder's replica refreshes it every ``ttl/3`` and writes the DriveId once
  known, so a REJECT on any replica can name the holder. A replica that dies stops refreshing:
  its leases expire and the task frees itself.
* ``dhgw:queue:<key>``: the waiters' tokens in order. QUEUE appends; PREEMPT prepends (it goes
  ahead of every queued drive) and is remembered in ``dhgw:preempting:<key>`` so that a newer
  PREEMPT can supersede it.
* ``dhgw:waiting:<token>``: a waiter's sign of life, with a short TTL that its every look at
  the task renews. A token whose sign lapsed (its replica died while it waited) is dropped
  from the queue's head instead of blocking the task for good.
* channel ``dhgw:events:<key>``: ``released``; ``preempt <holder token>`` and ``stop <holder
  token>`` (the holder's replica ends that drive, PREEMPTED or STOPPED_BY_REQUEST);
  ``superseded <waiter token>`` (a newer PREEMPT won).

Every change of ownership happens in one Lua script (atomic on the server): the task goes to a
waiter only when nobody holds it and that waiter is at the head of the queue. Each registry
instance runs ONE pattern subscription that dispatches events to its local holders and waiters;
waiters also poll at ``poll_s`` so a lost message, or a holder whose replica died, only delays.

When Redis does not answer, nothing may risk two drives on one task:

* ``acquire``, ``stop`` and ``update`` fail with SharedStateUnavailable (UNAVAILABLE: retry);
* a held drive whose lease could not be renewed ends (SHARED_STATE_UNAVAILABLE, its Stop sent)
  before the lease could lapse and let another replica take the task;
* ``release`` only logs (the drive is over; its lease lapses by itself);
* the event listener subscribes again once Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from gateway.drive.spec import ConflictPolicy
from gateway.errors import DriveConflict, DriveEnded, Reason, SharedStateUnavailable, draining
from gateway.redis_calls import cancellable
from gateway.registry.base import Holder, Lease, QueuedCallback, preempted, stopped
from gateway.registry.redis_scripts import PREEMPT, REFRESH, RELEASE, TAKE

log = logging.getLogger("gateway.registry")

PREFIX = "dhgw"
WAITING = f"{PREFIX}:waiting:"

#: A Redis that does not answer within this long, twice (one quick retry rides out a dropped
#: connection), counts as down: a set-up fails UNAVAILABLE within about 2 s instead of
#: hanging (redis-py's default is 10 retries), and a lease (10 s) gets its renewal tries in
#: before it could lapse.
REDIS_TIMEOUT_S = 1.0
_RETRY = Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=1)


def shared_client(url: str, *, timeout_s: float = REDIS_TIMEOUT_S) -> aioredis.Redis:
    """The client for the Redis that replicas share (registry, request rate), with the
    timeouts above; whoever calls it closes it."""
    return aioredis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=_RETRY
    )


@contextlib.contextmanager
def _answering(doing: str) -> Iterator[None]:
    """Redis's failures (connection, timeout) as the gateway's error, for the client."""
    try:
        yield
    except RedisError as exc:
        raise SharedStateUnavailable(doing) from exc


async def _end(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait until they are done. The request is repeated (every 50 ms, for
    at most 5 s): redis-py can swallow one (:mod:`gateway.redis_calls`), and a task left
    pending would be destroyed with the loop, its connection unclosed."""
    for _ in range(100):
        pending = [task for task in tasks if not task.done()]
        if not pending:
            break
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.05)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a lease lost or Redis gone was logged already


def _text(value: bytes | str) -> str:
    """A Redis reply as text (the client returns bytes unless told to decode)."""
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(eq=False)
class _Waiter:
    token: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    superseded: bool = False

    async def nap(self, seconds: float) -> bool:
        """Wait for the task's next event, at most ``seconds``; whether one came."""
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.wake.wait()
        return self.wake.is_set()


@dataclass(eq=False)
class _Held:
    token: str
    holder: Holder
    refresher: asyncio.Task[None] | None = None


class RedisRegistry:
    """:class:`~gateway.registry.base.TaskRegistry` shared through Redis.

    Args:
        client: a ``redis.asyncio.Redis``; whoever made it closes it (after :meth:`close`).
        lease_ttl_s: how long a lease outlives its replica.
        poll_s: how often a waiter looks again without being told.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        lease_ttl_s: float = 10.0,
        poll_s: float = 0.5,
    ) -> None:
        self._redis = client
        self._ttl_ms = int(lease_ttl_s * 1000)
        self._poll_s = poll_s
        # A waiter renews its sign of life at least every poll; a few missed polls mean gone.
        self._waiting_ms = int(max(4 * poll_s, 2.0) * 1000)
        self._take = client.register_script(TAKE)
        self._release = client.register_script(RELEASE)
        self._refresh = client.register_script(REFRESH)
        self._preempt = client.register_script(PREEMPT)
        self._held: dict[str, _Held] = {}  # key -> our lease
        #: Every lease refresher still running, held or not (close() must end them all).
        self._refreshers: set[asyncio.Task[None]] = set()
        self._closed = False
        self._waiters: dict[str, set[_Waiter]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._pubsub: Any = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Subscribe to the task events; call before the first acquire."""
        if self._listener is not None:
            return
        self._pubsub = self._redis.pubsub()
        with _answering("subscribing to the task events"):
            await cancellable(self._pubsub.psubscribe(f"{PREFIX}:events:*"))
        self._listener = asyncio.create_task(self._listen(), name="registry events")

    async def close(self) -> None:
        """Stop listening and refreshing (leases then expire by themselves). Returns once no
        task of the registry is left: the caller may close the Redis client and the loop.
        A wait still in progress then gets no lease (DRAINING): nothing would refresh it."""
        self._closed = True
        tasks = list(self._refreshers)
        if self._listener is not None:
            tasks.append(self._listener)
            self._listener = None
        await _end(tasks)
        if self._pubsub is not None:
            await self._pubsub.aclose()

    # The TaskRegistry protocol.

    def holder(self, key: str) -> Holder | None:
        held = self._held.get(key)
        return held.holder if held else None

    async def acquire(
        self,
        key: str,
        holder: Holder,
        *,
        policy: ConflictPolicy,
        timeout_s: float,
        on_queued: QueuedCallback | None = None,
    ) -> Lease:
        await self.start()
        with _answering("taking the task"):
            return await self._acquire(key, holder, policy, timeout_s, on_queued)

    async def _acquire(
        self,
        key: str,
        holder: Holder,
        policy: ConflictPolicy,
        timeout_s: float,
        on_queued: QueuedCallback | None,
    ) -> Lease:
        token = uuid.uuid4().hex
        keys = self._keys(key)
        taken, current, queued = await self._try_take(keys, token, holder, head_only=False)
        if taken:
            return self._hold(key, token, holder)
        if policy is ConflictPolicy.REJECT:
            raise DriveConflict(key.partition(":")[2], current.partition("|")[2])
        waiter = _Waiter(token)
        with self._listening(key, waiter):
            try:
                async with asyncio.timeout(timeout_s):
                    await self._join(keys, token, policy)
                    if on_queued is not None and policy is ConflictPolicy.QUEUE:
                        await on_queued(queued + bool(current))
                    while True:
                        if waiter.superseded:
                            raise preempted()
                        taken, current, _ = await self._try_take(
                            keys, token, holder, head_only=True
                        )
                        if taken:
                            return self._hold(key, token, holder)
                        told = await waiter.nap(self._poll_s)
                        if policy is ConflictPolicy.PREEMPT and current and not told:
                            # Asked again at every silent poll: a message lost with a
                            # subscriber's connection (Redis restarted) must not leave the
                            # holder playing.
                            message = f"preempt {current.partition('|')[0]}"
                            await cancellable(self._redis.publish(keys["channel"], message))
            except TimeoutError:
                raise DriveEnded(
                    Reason.QUEUE_TIMEOUT, f"task still busy after waiting {timeout_s:g} s"
                ) from None
            finally:
                if self._held.get(key) is None or self._held[key].token != token:
                    await self._forget_waiter(keys, token)

    async def stop(self, key: str, timeout_s: float) -> str | None:
        await self.start()
        with _answering("stopping the task's drive"):
            return await self._stop(key, timeout_s)

    async def _stop(self, key: str, timeout_s: float) -> str | None:
        keys = self._keys(key)
        current = await cancellable(self._redis.get(keys["holder"]))
        if current is None:
            return None
        token, _, drive_id = _text(current).partition("|")
        watcher = _Waiter("")  # woken by the task's events, ``released`` among them
        with self._listening(key, watcher), contextlib.suppress(TimeoutError):
            # On timeout the drive outlived the wait: it keeps the task (see the protocol).
            async with asyncio.timeout(timeout_s):
                while True:
                    held = self._held.get(key)
                    if held is not None and held.token == token:
                        held.holder.end(stopped())
                    else:
                        # Asked again at every look: ending is idempotent, and a message lost
                        # with a subscriber's connection must not leave the drive playing.
                        await cancellable(self._redis.publish(keys["channel"], f"stop {token}"))
                    await watcher.nap(self._poll_s)
                    current = await cancellable(self._redis.get(keys["holder"]))
                    if current is None or _text(current).partition("|")[0] != token:
                        break
                    drive_id = _text(current).partition("|")[2]
        return drive_id

    async def release(self, lease: Lease) -> None:
        held = self._held.get(lease.key)
        if held is None or held.holder is not lease.holder:
            return
        del self._held[lease.key]
        if held.refresher is not None:
            held.refresher.cancel()
        keys = self._keys(lease.key)
        try:
            await cancellable(
                self._release(keys=[keys["holder"], keys["channel"]], args=[held.token])
            )
        except RedisError as exc:
            # The drive is over either way: its lease lapses by itself, which frees the task.
            log.warning(
                "could not release the lease of %s (%s): it lapses within %.0f s",
                lease.key,
                type(exc).__name__,
                self._ttl_ms / 1000,
            )

    # Internals.

    @contextlib.contextmanager
    def _listening(self, key: str, waiter: _Waiter) -> Iterator[None]:
        """Within the block, ``key``'s events wake ``waiter``."""
        self._waiters.setdefault(key, set()).add(waiter)
        try:
            yield
        finally:
            self._waiters[key].discard(waiter)
            if not self._waiters[key]:
                del self._waiters[key]

    async def _join(self, keys: dict[str, str], token: str, policy: ConflictPolicy) -> None:
        """Put ``token`` in line with its sign of life: QUEUE at the back; PREEMPT at the head,
        superseding waiting preemptors and asking the holder to end."""
        waiting = f"{WAITING}{token}"
        if policy is ConflictPolicy.PREEMPT:
            await cancellable(
                self._preempt(
                    keys=[
                        keys["holder"],
                        keys["queue"],
                        keys["preempting"],
                        keys["channel"],
                        waiting,
                    ],
                    args=[token, self._waiting_ms],
                )
            )
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(waiting, "1", px=self._waiting_ms)
            pipe.rpush(keys["queue"], token)
            await cancellable(pipe.execute())

    @staticmethod
    def _keys(key: str) -> dict[str, str]:
        return {
            "holder": f"{PREFIX}:holder:{key}",
            "queue": f"{PREFIX}:queue:{key}",
            "preempting": f"{PREFIX}:preempting:{key}",
            "channel": f"{PREFIX}:events:{key}",
        }

    async def _try_take(
        self, keys: dict[str, str], token: str, holder: Holder, *, head_only: bool
    ) -> tuple[bool, str, int]:
        args: list[str | int] = [token, f"{token}|{holder.drive_id}", self._ttl_ms]
        args += ["1" if head_only else "0", WAITING, self._waiting_ms]
        answer = await cancellable(self._take(keys=[keys["holder"], keys["queue"]], args=args))
        if int(answer[0]) == 1:
            return True, "", 0
        current = _text(answer[1])
        return False, current, int(answer[2])

    def _hold(self, key: str, token: str, holder: Holder) -> Lease:
        if self._closed:
            # Taken in Redis, but unrefreshed after close(): it lapses within the lease's TTL.
            raise draining()
        held = _Held(token, holder)
        self._held[key] = held
        held.refresher = refresher = asyncio.create_task(
            self._keep_alive(key, held), name=f"lease {key}"
        )
        self._refreshers.add(refresher)
        refresher.add_done_callback(self._refreshers.discard)
        return Lease(key, holder)

    async def update(self, lease: Lease) -> None:
        held = self._held.get(lease.key)
        if held is not None and held.holder is lease.holder:
            with _answering("naming the task's drive"):
                await self._renew(lease.key, held)

    async def _renew(self, key: str, held: _Held) -> bool:
        """Extend the lease and rewrite the DriveId in it; False when it was lost."""
        value = f"{held.token}|{held.holder.drive_id}"
        holder_key = self._keys(key)["holder"]
        ok = await cancellable(
            self._refresh(keys=[holder_key], args=[held.token, value, self._ttl_ms])
        )
        return bool(int(ok))

    async def _keep_alive(self, key: str, held: _Held) -> None:
        """Refresh the lease until released; a lost lease ends the drive.

        When Redis does not answer, the drive ends before its lease could lapse unrenewed:
        once it lapsed, another replica could take the task while this drive still plays.
        """
        loop = asyncio.get_running_loop()
        ttl_s = self._ttl_ms / 1000
        renewed_at = loop.time()
        while True:
            await asyncio.sleep(ttl_s / 3)
            try:
                kept = await self._renew(key, held)
            except RedisError as exc:
                if loop.time() + ttl_s / 3 < renewed_at + ttl_s:
                    log.warning(
                        "lease of %s not renewed (%s): trying again", key, type(exc).__name__
                    )
                    continue
                log.warning(
                    "lease of %s about to lapse (%s): ending its drive", key, type(exc).__name__
                )
                held.holder.end(SharedStateUnavailable("keeping the task's lease"))
                return
            if not kept:
                log.warning("lease of %s lost: ending its drive", key)
                held.holder.end(
                    DriveEnded(Reason.PREEMPTED, "this drive lost its hold on the task")
                )
                return
            renewed_at = loop.time()

    async def _forget_waiter(self, keys: dict[str, str], token: str) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.lrem(keys["queue"], 0, token)
                pipe.srem(keys["preempting"], token)
                pipe.delete(f"{WAITING}{token}")
                await cancellable(pipe.execute())
        except RedisError as exc:
            # Not raised over why the wait ended: the token is dropped once its sign lapses.
            log.warning("could not leave the queue (%s): dropped later", type(exc).__name__)

    async def _listen(self) -> None:
        """Dispatch the task events, listening again (re-subscribed) after a Redis failure;
        meanwhile the waiters' polling and the leases' refresh carry on without events."""
        while True:
            try:
                await self._dispatch_events()
            except RedisError as exc:
                log.warning("task events lost (%s): listening again", type(exc).__name__)
                await asyncio.sleep(self._poll_s)

    async def _dispatch_events(self) -> None:
        assert self._pubsub is not None
        async for message in self._pubsub.listen():
            if message.get("type") != "pmessage":
                continue
            channel = message["channel"].decode()
            key = channel.removeprefix(f"{PREFIX}:events:")
            verb, _, token = message["data"].decode().partition(" ")
            if verb in ("preempt", "stop"):
                held = self._held.get(key)
                if held is not None and held.token == token:
                    held.holder.end(stopped() if verb == "stop" else preempted())
                continue
            for waiter in self._waiters.get(key, ()):
                if verb == "superseded" and waiter.token == token:
                    waiter.superseded = True
                waiter.wake.set()
