"""The drives of every replica, shared through Redis (``server.redis_url``): any replica answers
ListDrives for the whole fleet.

Why: a client's ListDrives reaches one replica, while the drives run on all of them. Each
replica publishes what ListDrives says of its live drives; whichever replica is asked reads
what the others published.

Keys:

* ``dhgw:drives:<replica>``: a hash of the replica's live drives (field: the drive's listing
  key; value: JSON of :class:`ListedDrive`), rewritten whole every ``refresh_s`` and soon after
  each change of its drives, with the TTL of a lease (``server.lease_ttl_s``): a replica that
  dies stops rewriting it, so its drives drop out within that TTL, as its leases lapse. A
  replica that closes deletes it at once.
* ``dhgw:drivereplicas``: the set of replicas that have such a hash; a reader drops the ones
  whose hash lapsed.

Every call is bounded by ``timeout_s``; a write that fails is logged and retried at the next
round (its TTL gives that more than one chance), a read that fails raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.drive.machine import DriveState
from gateway.redis_calls import cancellable
from gateway.registry.redis_client import end_tasks, text
from gateway.tasks.model import ActiveDrive

__all__ = ["DriveBoard", "ListedDrive"]

log = logging.getLogger("gateway.tasks")

PREFIX = "dhgw"
_HASH = f"{PREFIX}:drives:"
_REPLICAS = f"{PREFIX}:drivereplicas"
#: The shortest time between two writes: a burst of starts and ends is one write.
MIN_GAP_S = 0.05
# KEYS: the replica's hash, the replicas' set. ARGV: TTL (ms), the replica, then field, value
# pairs. Replaces the replica's drives with these (in HSETs of 500 pairs: Lua's ``unpack``
# has a stack limit).
_WRITE = """
redis.call('DEL', KEYS[1])
if #ARGV < 3 then
  redis.call('SREM', KEYS[2], ARGV[2])
  return 0
end
for i = 3, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return 1
"""

# KEYS: the replicas' set. ARGV: the hashes' prefix. Returns every replica's drives as
# {replica, {field, value, ...}, ...} in one snapshot; a replica whose hash lapsed leaves the
# set.
_READ = """
local out = {}
for _, replica in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local drives = redis.call('HGETALL', ARGV[1] .. replica)
  if #drives == 0 then
    redis.call('SREM', KEYS[1], replica)
  else
    out[#out + 1] = replica
    out[#out + 1] = drives
  end
end
return out
"""


@dataclass(frozen=True, slots=True)
class ListedDrive:
    """One live drive as ListDrives says it.

    Attributes:
        task_id: the vendor's task id.
        key: unique in the fleet and the same for the drive's whole life (its replica's id
            and a number): with ``task_id``, where the drive stands in the list.
        drive: what it is doing and which replica runs it (``speaking`` is not published:
            always False when read from the board).
    """

    task_id: str
    key: str
    drive: ActiveDrive

    @property
    def order(self) -> tuple[str, str]:
        """Where the drive stands in ListDrives' order."""
        return self.task_id, self.key


class DriveBoard:
    """Publishes this replica's drives and reads every replica's; see the module docstring.

    The caller must :meth:`start` it in a running loop, call :meth:`changed` when its drives
    change, and :meth:`close` it before closing the client.

    Args:
        client: the Redis the replicas share; whoever made it closes it.
        replica: this replica's id.
        drives: this replica's live drives now.
        ttl_s: how long the published drives outlive the last write (the lease's TTL).
        refresh_s: how often they are written when nothing changed (the lease's renewal).
        timeout_s: the bound of every call.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        replica: str,
        drives: Callable[[], Iterable[ListedDrive]],
        ttl_s: float,
        refresh_s: float,
        timeout_s: float,
    ) -> None:
        self._redis = client
        self.replica = replica
        self._drives = drives
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._refresh_s = refresh_s
        self._timeout_s = timeout_s
        self._write = client.register_script(_WRITE)
        self._read = client.register_script(_READ)
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start publishing (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._publish(), name="drive board")

    def changed(self) -> None:
        """This replica's drives changed: publish them soon."""
        self._changed.set()

    async def close(self) -> None:
        """Stop publishing and take this replica's drives off the board (within the timeout;
        on failure they lapse with their TTL)."""
        if self._task is not None:
            await end_tasks([self._task])
            self._task = None
        try:
            await self._write_drives([])
        except (RedisError, TimeoutError, OSError) as exc:
            log.debug("drives not taken off the board: %s", type(exc).__name__)

    async def read(self) -> list[ListedDrive]:
        """Every replica's published drives (this one's as last written).

        Raises:
            RedisError, TimeoutError, OSError: Redis did not answer in time.
        """
        async with asyncio.timeout(self._timeout_s):
            raw = await cancellable(self._read(keys=[_REPLICAS], args=[_HASH]))
        listed: list[ListedDrive] = []
        for replica, fields in zip(raw[::2], raw[1::2], strict=True):
            name = text(replica)
            pairs = zip(fields[::2], fields[1::2], strict=True)
            listed += [d for k, v in pairs if (d := _decode(name, text(k), text(v))) is not None]
        return listed

    async def _publish(self) -> None:
        while True:  # until closed; each round is bounded by the refresh and the timeout
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._refresh_s):
                    await self._changed.wait()
            self._changed.clear()
            try:
                await self._write_drives(list(self._drives()))
            except (RedisError, TimeoutError, OSError) as exc:
                log.debug("drives not published: %s", type(exc).__name__)
            await asyncio.sleep(MIN_GAP_S)

    async def _write_drives(self, drives: list[ListedDrive]) -> None:
        args: list[str | int] = [self._ttl_ms, self.replica]
        for listed in drives:
            args += [listed.key, _encode(listed)]
        async with asyncio.timeout(self._timeout_s):
            await cancellable(self._write(keys=[_HASH + self.replica, _REPLICAS], args=args))


def _encode(listed: ListedDrive) -> str:
    drive = listed.drive
    record = {
        "task": listed.task_id,
        "id": drive.drive_id,
        "state": drive.state.name,
        "profile": drive.profile,
        "labels": dict(drive.labels),
        "started": drive.started_at,
        "sent": drive.sent_ms,
    }
    return json.dumps(record, separators=(",", ":"))


def _decode(replica: str, key: str, value: str) -> ListedDrive | None:
    """The drive published as ``value``; None for a record this version cannot read."""
    try:
        record = json.loads(value)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    state = DriveState.__members__.get(str(record.get("state")))
    task_id = record.get("task")
    if state is None or not isinstance(task_id, str):
        return None
    started = record.get("started")
    sent = record.get("sent")
    drive = ActiveDrive(
        drive_id=str(record.get("id", "")),
        state=state,
        profile=str(record.get("profile", "")),
        labels=_labels(record.get("labels")),
        started_at=float(started) if isinstance(started, int | float) else None,
        sent_ms=sent if isinstance(sent, int) else 0,
        replica=replica,
    )
    return ListedDrive(task_id, key, drive)


def _labels(value: Any) -> Mapping[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}
