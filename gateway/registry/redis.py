"""The exclusivity registry shared by gateway replicas, on Redis.

Theory of operation
-------------------
For each task key (AppId:task id) Redis holds:

* ``dhgw:holder:<key>``: ``<token>|<drive_id>`` of the drive that holds the task, with a TTL
  (the lease). The holder's replica renews it (:class:`~gateway.registry.lease.LeaseKeeper`)
  and writes the DriveId once known, so a REJECT on any replica can name the holder. A replica
  that dies stops renewing: its leases expire and the task frees itself.
* ``dhgw:queue:<key>``: the waiters' tokens in order. QUEUE appends; PREEMPT prepends (it goes
  ahead of every queued drive) and is remembered in ``dhgw:preempting:<key>`` so that a newer
  PREEMPT can supersede it.
* ``dhgw:waiting:<token>``: a waiter's sign of life, with a short TTL that its every look at
  the task renews. A token whose sign lapsed (its replica died while it waited) is dropped
  from the queue's head instead of blocking the task for good.
* ``dhgw:played:<token>``: what the avatar played of a drive a StopDrive ended, written with its
  release (a few seconds' TTL) for the StopDrive waiting on any replica.
* channel ``dhgw:events:<key>``: ``released``; ``preempt <holder token>`` and ``stop <holder
  token>`` (the holder's replica ends that drive, PREEMPTED or STOPPED_BY_REQUEST), a StopDrive
  INTERRUPT sending ``interrupt <holder token>`` first (a replica that knows no such verb
  ignores it and takes the ``stop``: it lets the avatar finish instead);
  ``superseded <waiter token>`` (a newer PREEMPT won).

Every change of ownership happens in one Lua script (atomic on the server): the task goes to a
waiter only when nobody holds it and that waiter is at the head of the queue. Each registry
instance runs ONE pattern subscription that dispatches events to its local holders and waiters;
waiters also poll at ``poll_s`` so a lost message, or a holder whose replica died, only delays.

When Redis does not answer, nothing may risk two drives on one task:

* ``acquire``, ``stop`` and ``update`` fail with SharedStateUnavailable (UNAVAILABLE: retry);
* a held drive whose lease could not be renewed ends (SHARED_STATE_UNAVAILABLE, its Stop sent)
  before the lease could lapse and let another replica take the task: a timer set from the
  last renewal that got through, which no Redis call can delay (:mod:`gateway.registry.lease`;
  the argument and its numbers: ``docs/exclusivity.md``);
* ``release`` only logs (the drive is over; its lease lapses by itself);
* the event listener subscribes again once Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.drive.spec import ConflictPolicy
from gateway.errors import DriveConflict, DriveEnded, Reason, SharedStateUnavailable, draining
from gateway.redis_calls import cancellable
from gateway.registry.base import (
    Holder,
    Lease,
    Played,
    QueuedCallback,
    Stopped,
    preempted,
    stopped,
)
from gateway.registry.lease import LeaseKeeper
from gateway.registry.redis_client import answering, end_tasks, text
from gateway.registry.redis_scripts import PREEMPT, REFRESH, RELEASE, TAKE
from gateway.registry.timing import LeaseTiming

log = logging.getLogger("gateway.registry")

PREFIX = "dhgw"
WAITING = f"{PREFIX}:waiting:"
PLAYED = f"{PREFIX}:played:"
_PLAYED_TTL_MS = 10_000  # a StopDrive reads it as soon as it sees the task free


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
    keeper: LeaseKeeper


class RedisRegistry:
    """:class:`~gateway.registry.base.TaskRegistry` shared through Redis.

    Args:
        client: a ``redis.asyncio.Redis``; whoever made it closes it (after :meth:`close`).
        timing: the leases' TTL (how long a lease outlives its replica), renewal interval and
            bounds, and how long a holder takes to end (:class:`LeaseTiming`).
        poll_s: how often a waiter looks again without being told.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        timing: LeaseTiming | None = None,
        poll_s: float = 0.5,
    ) -> None:
        self._redis = client
        self._timing = timing or LeaseTiming()
        self._ttl_ms = round(self._timing.ttl_s * 1000)
        self._poll_s = poll_s
        # A waiter renews its sign of life at least every poll; a few missed polls mean gone.
        self._waiting_ms = int(max(4 * poll_s, 2.0) * 1000)
        self._take = client.register_script(TAKE)
        self._release = client.register_script(RELEASE)
        self._refresh = client.register_script(REFRESH)
        self._preempt = client.register_script(PREEMPT)
        self._held: dict[str, _Held] = {}  # key -> our lease
        #: Every lease renewal task still running, held or not (close() must end them all).
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
        with answering("subscribing to the task events"):
            await cancellable(self._pubsub.psubscribe(f"{PREFIX}:events:*"))
        self._listener = asyncio.create_task(self._listen(), name="registry events")

    async def close(self) -> None:
        """Stop listening and renewing (leases then expire by themselves). Returns once no
        task of the registry is left: the caller may close the Redis client and the loop.
        A wait still in progress then gets no lease (DRAINING): nothing would renew it; a drive
        still holding one is ended at its lease's deadline, as in an outage."""
        self._closed = True
        tasks = list(self._refreshers)
        if self._listener is not None:
            tasks.append(self._listener)
            self._listener = None
        await end_tasks(tasks)
        if self._pubsub is not None:
            await self._pubsub.aclose()

    # The TaskRegistry protocol.

    def holder(self, key: str) -> Holder | None:
        held = self._held.get(key)
        return held.keeper.holder if held else None

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
        with answering("taking the task"):
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
        taken_at, current, queued = await self._try_take(keys, token, holder, head_only=False)
        if taken_at is not None:
            return self._hold(key, token, holder, taken_at)
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
                        taken_at, current, _ = await self._try_take(
                            keys, token, holder, head_only=True
                        )
                        if taken_at is not None:
                            return self._hold(key, token, holder, taken_at)
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

    async def stop(self, key: str, timeout_s: float, *, interrupt: bool = False) -> Stopped | None:
        await self.start()
        with answering("stopping the task's drive"):
            return await self._stop(key, timeout_s, interrupt)

    async def _stop(self, key: str, timeout_s: float, interrupt: bool) -> Stopped | None:
        keys = self._keys(key)
        current = await cancellable(self._redis.get(keys["holder"]))
        if current is None:
            return None
        token, _, drive_id = text(current).partition("|")
        verbs = ("interrupt", "stop") if interrupt else ("stop",)
        released = False
        watcher = _Waiter("")  # woken by the task's events, ``released`` among them
        with self._listening(key, watcher), contextlib.suppress(TimeoutError):
            # On timeout the drive outlived the wait: it keeps the task (see the protocol).
            async with asyncio.timeout(timeout_s):
                while True:
                    held = self._held.get(key)
                    if held is not None and held.token == token:
                        held.keeper.holder.end(stopped(interrupt=interrupt))
                    else:
                        # Asked again at every look: ending is idempotent, and a message lost
                        # with a subscriber's connection must not leave the drive playing.
                        for verb in verbs:
                            message = f"{verb} {token}"
                            await cancellable(self._redis.publish(keys["channel"], message))
                    await watcher.nap(self._poll_s)
                    current = await cancellable(self._redis.get(keys["holder"]))
                    if released := current is None or text(current).partition("|")[0] != token:
                        break
                    drive_id = text(current).partition("|")[2]
        played = await cancellable(self._redis.get(f"{PLAYED}{token}")) if released else None
        ms, _, cut = text(played).partition(" ") if played else ("", "", "")
        return Stopped(drive_id, Played(int(ms), cut == "1") if ms.isdigit() else None)

    async def release(self, lease: Lease, played: Played | None = None) -> None:
        held = self._held.get(lease.key)
        if held is None or held.keeper.holder is not lease.holder:
            return
        del self._held[lease.key]
        keeper = held.keeper
        keeper.stop()
        keys = self._keys(lease.key)
        loop = asyncio.get_running_loop()
        # A release landing after the lease could lapse has nothing left to free.
        give_up_at = min(keeper.lapses_at, loop.time() + self._timing.attempt_s)
        try:
            async with asyncio.timeout_at(give_up_at):
                said = f"{played.played_ms} {int(played.interrupted)}" if played else ""
                names = [keys["holder"], keys["channel"], f"{PLAYED}{held.token}"]
                args: list[str | int] = [held.token, said, _PLAYED_TTL_MS]
                await cancellable(self._release(keys=names, args=args))
        except (RedisError, TimeoutError) as exc:
            # The drive is over either way: its lease lapses by itself, which frees the task.
            log.warning(
                "could not release the lease of %s (%s): it lapses within %.3g s",
                lease.key,
                type(exc).__name__,
                max(0.0, keeper.renewed_at + self._timing.ttl_s - loop.time()),
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
    ) -> tuple[float | None, str, int]:
        """Take the task if free (and, with ``head_only``, this waiter's turn). Returns when
        the call that took it was sent (the lease lives ``ttl`` from then), or None, with the
        holder's value and the queue's length."""
        args: list[str | int] = [token, f"{token}|{holder.drive_id}", self._ttl_ms]
        args += ["1" if head_only else "0", WAITING, self._waiting_ms]
        sent_at = asyncio.get_running_loop().time()
        answer = await cancellable(self._take(keys=[keys["holder"], keys["queue"]], args=args))
        if int(answer[0]) == 1:
            return sent_at, "", 0
        current = text(answer[1])
        return None, current, int(answer[2])

    def _hold(self, key: str, token: str, holder: Holder, taken_at: float) -> Lease:
        if self._closed:
            # Taken in Redis, but unrenewed after close(): it lapses within the lease's TTL.
            raise draining()
        if asyncio.get_running_loop().time() >= taken_at + self._timing.hold_s:
            # Redis answered so late that the drive would have to end already: it is not
            # started (the lease lapses within its TTL).
            raise SharedStateUnavailable("taking the task (the answer came too late to hold it)")
        renew = functools.partial(self._renew, key, token, holder)
        keeper = LeaseKeeper(key, holder, renew, self._timing, taken_at=taken_at)
        self._held[key] = _Held(token, keeper)
        renewing = keeper.start()
        self._refreshers.add(renewing)
        renewing.add_done_callback(self._refreshers.discard)
        return Lease(key, holder)

    async def update(self, lease: Lease) -> None:
        held = self._held.get(lease.key)
        if held is not None and held.keeper.holder is lease.holder:
            with answering("naming the task's drive"):
                await held.keeper.renew()

    async def _renew(self, key: str, token: str, holder: Holder) -> bool:
        """Extend the lease and rewrite the DriveId in it; False when it was lost."""
        value = f"{token}|{holder.drive_id}"
        holder_key = self._keys(key)["holder"]
        ok = await cancellable(self._refresh(keys=[holder_key], args=[token, value, self._ttl_ms]))
        return bool(int(ok))

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
            if verb in ("preempt", "stop", "interrupt"):
                held = self._held.get(key)
                if held is not None and held.token == token:
                    ending = preempted() if verb == "preempt" else stopped(interrupt=verb != "stop")
                    held.keeper.holder.end(ending)
                continue
            for waiter in self._waiters.get(key, ()):
                if verb == "superseded" and waiter.token == token:
                    waiter.superseded = True
                waiter.wake.set()
