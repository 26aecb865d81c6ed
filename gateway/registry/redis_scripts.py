"""The Lua scripts of the Redis registry (:mod:`gateway.registry.redis`, whose docstring
tells the keys and events). Each runs atomically on the server: every change of ownership
happens in one of them."""

from __future__ import annotations

__all__ = ["PREEMPT", "REFRESH", "RELEASE", "TAKE"]

# KEYS: holder, queue. ARGV: token, value, ttl_ms, head_only ("1": only the queue's head may
# take; the caller is a waiter, still there), the waiting keys' prefix, their ttl_ms.
# Returns {1} when taken, else {0, holder value or "", queue length}.
# A queued token whose waiting key lapsed belongs to a waiter that is gone (its replica died):
# it is dropped from the head, or it would block the task for good. (A waiter that stalls
# longer than its key lives is dropped too, and waits out its timeout, as one superseded.)
TAKE = """
if ARGV[4] == '1' then redis.call('SET', ARGV[5] .. ARGV[1], '1', 'PX', ARGV[6]) end
local holder = redis.call('GET', KEYS[1])
if not holder then
  local head = redis.call('LINDEX', KEYS[2], 0)
  while head and redis.call('EXISTS', ARGV[5] .. head) == 0 do
    redis.call('LPOP', KEYS[2])
    head = redis.call('LINDEX', KEYS[2], 0)
  end
  if (ARGV[4] == '1' and head == ARGV[1]) or (ARGV[4] == '0' and not head) then
    if head == ARGV[1] then
      redis.call('LPOP', KEYS[2])
      redis.call('DEL', ARGV[5] .. ARGV[1])
    end
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
    return {1}
  end
end
return {0, holder or '', redis.call('LLEN', KEYS[2])}
"""

# KEYS: holder, channel, played. ARGV: token, what the avatar played ("" for none), its ttl_ms.
# Deletes the lease only if it is still ours; first keeps what the avatar played of a stopped
# drive, so the StopDrive that sees the task free reads it (on whichever replica).
RELEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and string.sub(holder, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. '|' then
  if ARGV[2] ~= '' then redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3]) end
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', KEYS[2], 'released')
  return 1
end
return 0
"""

# KEYS: holder. ARGV: token, value, ttl_ms. Extends (and rewrites) the lease if still ours.
REFRESH = """
local holder = redis.call('GET', KEYS[1])
if holder and string.sub(holder, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. '|' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""

# KEYS: holder, queue, preempting, channel, this waiter's waiting key. ARGV: token, its ttl_ms.
# Supersedes older waiting preemptors, puts this one at the head, asks the holder to end.
PREEMPT = """
for _, older in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  redis.call('LREM', KEYS[2], 0, older)
  redis.call('PUBLISH', KEYS[4], 'superseded ' .. older)
end
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[5], '1', 'PX', ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
local holder = redis.call('GET', KEYS[1])
if holder then
  redis.call('PUBLISH', KEYS[4], 'preempt ' .. string.match(holder, '^([^|]*)'))
end
return 1
"""
