"""The task facts replicas share through Redis (``server.redis_url``).

Why: GetTask may reach any replica, while the drive that makes the avatar speak runs on one;
and the vendor's status, asked by one replica, spares the others a request. Each replica
writes what it learns and reads what the others wrote.

Keys (``<key>`` is the task's registry key, ``<AppId>:<TaskId>``):

* ``dhgw:taskinfo:<key>``: a hash of the task's facts (:class:`~gateway.tasks.model.TaskFacts`
  but the speaking drive), merged in Redis by the book's rules (an ended status is final; a
  callback older than the last one is dropped; the latest ``last driven`` time wins); kept a
  day after its last write (the vendor's longest task life).
* ``dhgw:taskdrive:<key>``: a hash of the drive that holds the task
  (:class:`~gateway.tasks.model.ActiveDrive`), written by its replica at each change and
  deleted at its end (only by the drive that wrote it: its token); kept at most the longest
  drive, so that a replica that died does not show its drive for ever.
* ``dhgw:taskqueue:<key>``: a hash of how many drives each replica has waiting for the task.

Every call is bounded by ``timeout_s`` and raises ``RedisError`` or ``TimeoutError``; the room
decides what a failure means (its own facts stand alone).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.drive.machine import DriveState
from gateway.redis_calls import cancellable
from gateway.registry.redis_client import text
from gateway.tasks.model import ActiveDrive, StatusSource, TaskFacts, TaskStatus, VendorStatus

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["PREFIX", "SharedView", "TaskStore"]

PREFIX = "dhgw"
#: How long a task's facts outlive their last write (the vendor's longest task life).
FACTS_TTL_S = 86_400.0

# KEYS: the facts hash. ARGV: TTL (ms), status ("" none), source, at, fail reason, event ms,
# room, stream, create time, seen ("1"), last driven ("" none).
_MERGE = """
local k = KEYS[1]
if ARGV[2] ~= '' then
  local cur = tonumber(redis.call('HGET', k, 'st') or '0')
  local take = cur ~= 2 and cur ~= 5
  if take and ARGV[3] == '2' and redis.call('HGET', k, 'src') == '2' then
    take = tonumber(ARGV[6]) >= tonumber(redis.call('HGET', k, 'ev') or '0')
  end
  if take then
    redis.call('HSET', k, 'st', ARGV[2], 'src', ARGV[3], 'at', ARGV[4], 'fr', ARGV[5],
               'ev', ARGV[6])
  end
end
if ARGV[7] ~= '' then redis.call('HSET', k, 'room', ARGV[7]) end
if ARGV[8] ~= '' then redis.call('HSET', k, 'stream', ARGV[8]) end
if ARGV[9] ~= '' then redis.call('HSET', k, 'ct', ARGV[9]) end
if ARGV[10] == '1' then redis.call('HSET', k, 'seen', '1') end
if ARGV[11] ~= '' then
  if tonumber(ARGV[11]) > tonumber(redis.call('HGET', k, 'ld') or '0') then
    redis.call('HSET', k, 'ld', ARGV[11])
  end
end
redis.call('PEXPIRE', k, ARGV[1])
"""

# KEYS: the drive hash. ARGV: TTL (ms), token, claim ("1": the drive's first write), then
# field, value pairs. A drive's later write never replaces another drive's record.
_PUT_DRIVE = """
local tok = redis.call('HGET', KEYS[1], 'tok')
if tok and tok ~= ARGV[2] and ARGV[3] ~= '1' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'tok', ARGV[2], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""

# KEYS: the drive hash. ARGV: token.
_DROP_DRIVE = """
if redis.call('HGET', KEYS[1], 'tok') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class SharedView:
    """What Redis holds of one task: its facts, the drive holding it (and the replica that
    runs it), and each replica's count of waiting drives."""

    def __init__(
        self,
        facts: TaskFacts,
        active: ActiveDrive | None,
        active_replica: str,
        queued: Mapping[str, int],
    ) -> None:
        self.facts = facts
        self.active = active
        self.active_replica = active_replica
        self.queued = queued


class TaskStore:
    """Reads and writes the shared task facts; see the module docstring.

    Args:
        client: the Redis the replicas share; whoever made it closes it.
        replica: this replica's id (its queue count and drives are kept under it).
        drive_ttl_s: the longest a drive lives (its record's TTL).
        timeout_s: the bound of every call.
    """

    def __init__(
        self, client: aioredis.Redis, *, replica: str, drive_ttl_s: float, timeout_s: float
    ) -> None:
        self._redis = client
        self.replica = replica
        self._drive_ms = max(1, round(drive_ttl_s * 1000))
        self._facts_ms = round(FACTS_TTL_S * 1000)
        self._timeout_s = timeout_s
        self._merge = client.register_script(_MERGE)
        self._put_drive = client.register_script(_PUT_DRIVE)
        self._drop_drive = client.register_script(_DROP_DRIVE)

    async def write_facts(self, key: str, facts: TaskFacts) -> None:
        """Merge ``facts`` (but the speaking drive) into the shared ones."""
        vendor = facts.vendor
        args: list[str | int] = [self._facts_ms]
        if vendor is None:
            args += ["", "", "", "", ""]
        else:
            args += [int(vendor.status), int(vendor.source), repr(vendor.at)]
            args += [vendor.fail_reason, vendor.event_ms]
        create = "" if facts.create_time is None else str(facts.create_time)
        args += [facts.room_id, facts.stream_id, create, "1" if facts.seen else ""]
        args.append("" if facts.last_driven_at is None else repr(facts.last_driven_at))
        async with asyncio.timeout(self._timeout_s):
            await cancellable(self._merge(keys=[_facts_key(key)], args=args))

    async def put_drive(self, key: str, token: str, drive: ActiveDrive, *, claim: bool) -> None:
        """Publish the drive holding ``key`` (``claim``: its first write, which replaces
        whatever another drive left)."""
        fields: list[str | int] = [
            "rep", self.replica, "id", drive.drive_id, "state", drive.state.name,
            "prof", drive.profile, "labels", json.dumps(dict(drive.labels)),
            "started", "" if drive.started_at is None else repr(drive.started_at),
            "sent", drive.sent_ms, "spk", "1" if drive.speaking else "",
            "billed", drive.billed_ms,
        ]  # fmt: skip
        args: list[str | int] = [self._drive_ms, token, "1" if claim else "", *fields]
        async with asyncio.timeout(self._timeout_s):
            await cancellable(self._put_drive(keys=[_drive_key(key)], args=args))

    async def drop_drive(self, key: str, token: str) -> None:
        """The drive ``token`` ended: its record goes (unless another drive's replaced it)."""
        async with asyncio.timeout(self._timeout_s):
            await cancellable(self._drop_drive(keys=[_drive_key(key)], args=[token]))

    async def put_queued(self, key: str, count: int) -> None:
        """This replica has ``count`` drives waiting for ``key``."""
        queue = _queue_key(key)
        async with asyncio.timeout(self._timeout_s), self._redis.pipeline() as pipe:
            if count > 0:
                pipe.hset(queue, self.replica, count)
                pipe.pexpire(queue, self._drive_ms)
            else:
                pipe.hdel(queue, self.replica)
            await cancellable(pipe.execute())

    async def read(self, key: str) -> SharedView:
        """What Redis holds of task ``key``."""
        async with asyncio.timeout(self._timeout_s), self._redis.pipeline() as pipe:
            pipe.hgetall(_facts_key(key))
            pipe.hgetall(_drive_key(key))
            pipe.hgetall(_queue_key(key))
            raw_facts, raw_drive, raw_queue = await cancellable(pipe.execute())
        facts = _read_facts(_decoded(raw_facts))
        drive = _decoded(raw_drive)
        active = _read_drive(drive)
        queued = {k: int(v) for k, v in _decoded(raw_queue).items() if v.isdigit()}
        return SharedView(facts, active, drive.get("rep", ""), queued)


def _facts_key(key: str) -> str:
    return f"{PREFIX}:taskinfo:{key}"


def _drive_key(key: str) -> str:
    return f"{PREFIX}:taskdrive:{key}"


def _queue_key(key: str) -> str:
    return f"{PREFIX}:taskqueue:{key}"


def _decoded(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {text(k): text(v) for k, v in raw.items()}


def _float(value: str | None) -> float | None:
    try:
        return None if not value else float(value)
    except ValueError:
        return None


def _read_facts(fields: Mapping[str, str]) -> TaskFacts:
    vendor = None
    status, source, at = fields.get("st", ""), fields.get("src", ""), _float(fields.get("at"))
    if status.isdigit() and source.isdigit() and at is not None and int(status) <= 5:
        event = fields.get("ev", "0")
        vendor = VendorStatus(
            TaskStatus(int(status)),
            StatusSource(min(int(source), 3)),
            at,
            fields.get("fr", ""),
            int(event) if event.isdigit() else 0,
        )
    created = fields.get("ct", "")
    return TaskFacts(
        vendor=vendor,
        room_id=fields.get("room", ""),
        stream_id=fields.get("stream", ""),
        create_time=int(created) if created.isdigit() else None,
        seen=fields.get("seen") == "1",
        last_driven_at=_float(fields.get("ld")),
    )


def _read_drive(fields: Mapping[str, str]) -> ActiveDrive | None:
    state = DriveState.__members__.get(fields.get("state", ""))
    if state is None:
        return None
    try:
        labels = json.loads(fields.get("labels", "{}"))
    except ValueError:
        labels = {}
    if not isinstance(labels, dict):
        labels = {}
    sent, billed = fields.get("sent", "0"), fields.get("billed", "0")
    return ActiveDrive(
        drive_id=fields.get("id", ""),
        state=state,
        profile=fields.get("prof", ""),
        labels={str(k): str(v) for k, v in labels.items()},
        started_at=_float(fields.get("started")),
        sent_ms=int(sent) if sent.isdigit() else 0,
        speaking=fields.get("spk") == "1",
        replica=fields.get("rep", ""),
        billed_ms=int(billed) if billed.isdigit() else 0,
    )
