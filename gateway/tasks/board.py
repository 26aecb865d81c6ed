"""The drives of every replica, shared through Redis (``server.redis_url``): any replica answers
ListDrives for the whole fleet.

Why: a client's ListDrives reaches one replica, while the drives run on all of them. Each
replica publishes what ListDrives says of its live drives; whichever replica is asked reads
what the others published.

Keys:

* ``dhgw:drives:<replica>``: the replica's live drives, a JSON array of one object per
  :class:`ListedDrive` (one string, not a hash of them: a reader parses one string per replica,
  which is what keeps a read of thousands of drives short), rewritten whole every
  ``refresh_s`` and soon after each change of its drives, with the TTL of a lease
  (``server.lease_ttl_s``): a replica that dies stops rewriting it, so its drives drop out
  within that TTL, as its leases lapse. A replica that closes deletes it at once.
* ``dhgw:drivereplicas``: the set of replicas that have such a key; a reader drops the ones
  whose key lapsed.

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
from typing import TYPE_CHECKING, Any

from gateway import redis_extra
from gateway.drive.machine import DriveState
from gateway.redis_calls import cancellable
from gateway.registry.redis_client import end_tasks, text
from gateway.tasks.model import ActiveDrive

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["DriveBoard", "ListedDrive"]

log = logging.getLogger("gateway.tasks")

PREFIX = "dhgw"
_HASH = f"{PREFIX}:drives:"
_REPLICAS = f"{PREFIX}:drivereplicas"
#: The shortest time between two writes: a burst of starts and ends is one write.
MIN_GAP_S = 0.05
# KEYS: the replica's key, the replicas' set. ARGV: TTL (ms), the replica, its drives' JSON
# ("" for none). Replaces the replica's drives with these.
_WRITE = """
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return 1
"""

# KEYS: the replicas' set. ARGV: the keys' prefix. Returns every replica's drives as
# {replica, JSON, ...} in one snapshot; a replica whose key lapsed leaves the set.
_READ = """
local out = {}
for _, replica in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local drives = redis.call('GET', ARGV[1] .. replica)
  if drives then
    out[#out + 1] = replica
    out[#out + 1] = drives
  else
    redis.call('SREM', KEYS[1], replica)
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
        except (redis_extra.RedisError, TimeoutError, OSError) as exc:
            log.debug("drives not taken off the board: %s", type(exc).__name__)

    async def read(self) -> list[ListedDrive]:
        """Every replica's published drives (this one's as last written).

        Raises:
            RedisError, TimeoutError, OSError: Redis did not answer in time.
        """
        async with asyncio.timeout(self._timeout_s):
            raw = await cancellable(self._read(keys=[_REPLICAS], args=[_HASH]))
        listed: list[ListedDrive] = []
        for replica, drives in zip(raw[::2], raw[1::2], strict=True):
            listed += _decoded(text(replica), drives)
        return listed

    async def _publish(self) -> None:
        while True:  # until closed; each round is bounded by the refresh and the timeout
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._refresh_s):
                    await self._changed.wait()
            self._changed.clear()
            try:
                await self._write_drives(list(self._drives()))
            except (redis_extra.RedisError, TimeoutError, OSError) as exc:
                log.debug("drives not published: %s", type(exc).__name__)
            await asyncio.sleep(MIN_GAP_S)

    async def _write_drives(self, drives: list[ListedDrive]) -> None:
        encoded = json.dumps([_record(d) for d in drives], separators=(",", ":")) if drives else ""
        args: list[str | int] = [self._ttl_ms, self.replica, encoded]
        async with asyncio.timeout(self._timeout_s):
            await cancellable(self._write(keys=[_HASH + self.replica, _REPLICAS], args=args))


def _record(listed: ListedDrive) -> dict[str, Any]:
    drive = listed.drive
    return {
        "key": listed.key,
        "task": listed.task_id,
        "id": drive.drive_id,
        "state": drive.state.name,
        "profile": drive.profile,
        "labels": dict(drive.labels),
        "started": drive.started_at,
        "sent": drive.sent_ms,
        "billed": drive.billed_ms,
    }


def _decoded(replica: str, raw: bytes | str) -> list[ListedDrive]:
    """The drives ``replica`` published as ``raw``; a record this version cannot read is left
    out (a newer replica's, or a broken one)."""
    try:
        records = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(records, list):
        return []
    return [d for r in records if isinstance(r, dict) and (d := _drive(replica, r)) is not None]


def _drive(replica: str, record: dict[str, Any]) -> ListedDrive | None:
    state = DriveState.__members__.get(str(record.get("state")))
    task_id, key = record.get("task"), record.get("key")
    if state is None or not isinstance(task_id, str) or not isinstance(key, str):
        return None
    started, sent, billed = record.get("started"), record.get("sent"), record.get("billed")
    drive = ActiveDrive(
        drive_id=str(record.get("id", "")),
        state=state,
        profile=str(record.get("profile", "")),
        labels=_labels(record.get("labels")),
        started_at=float(started) if isinstance(started, int | float) else None,
        sent_ms=sent if isinstance(sent, int) else 0,
        replica=replica,
        billed_ms=billed if isinstance(billed, int) else 0,  # 0 from an older replica
    )
    return ListedDrive(task_id, key, drive)


def _labels(value: Any) -> Mapping[str, str]:
    if not isinstance(value, dict):
        return {}
    if all(isinstance(v, str) for v in value.values()):
        return value  # JSON's keys are strings already: the common case, not copied
    return {str(k): str(v) for k, v in value.items()}
