"""The Lua scripts of the Redis registry: every update that touches several keys, atomically.

Each script gets the key prefix as ``ARGV[1]`` and builds the keys it needs from it (the layout
is drawn in :mod:`wsgate.registry.redis`). Redis runs a script without interleaving any other
command, so that, as channels_redis does for its groups, no reader sees half an update and
concurrent removers of one connection find it exactly once.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ADD",
    "CLAIM",
    "COUNT_ALL",
    "FORGET",
    "HEARTBEAT",
    "JOIN",
    "LEAVE",
    "LIST",
    "MEMBERS",
    "NODES",
    "PUBLISH_TO_OWNER",
    "REMOVE",
    "STALE",
    "TOUCH",
]

# Removes a connection and everything that points at it; returns {hash, groups} or nil.
_DROP: Final = """
local prefix = ARGV[1]
local function drop(id)
  local key = prefix .. 'conn:' .. id
  local fields = redis.call('HGETALL', key)
  local groups = redis.call('SMEMBERS', key .. ':groups')
  redis.call('DEL', key, key .. ':groups')
  if #fields == 0 then return false end
  local record = {}
  for i = 1, #fields, 2 do record[fields[i]] = fields[i + 1] end
  for _, group in ipairs(groups) do
    redis.call('HDEL', prefix .. 'group:' .. record.stage .. ':' .. group, id)
  end
  redis.call('SREM', prefix .. 'node:' .. record.node .. ':conns', id)
  redis.call('ZREM', prefix .. 'stage:' .. record.stage .. ':conns', id)
  if record.principal then
    redis.call('SREM', prefix .. 'principal:' .. record.stage .. ':' .. record.principal, id)
  end
  return {fields, groups}
end
"""

REMOVE: Final = _DROP + "return drop(ARGV[2])\n"

# ARGV: prefix, id, number of groups, the groups, then the hash as field, value pairs.
ADD: Final = (
    _DROP
    + """
local id, count = ARGV[2], tonumber(ARGV[3])
drop(id)
local key = prefix .. 'conn:' .. id
redis.call('HSET', key, unpack(ARGV, 4 + count))
local stage = redis.call('HGET', key, 'stage')
local node = redis.call('HGET', key, 'node')
local principal = redis.call('HGET', key, 'principal')
for i = 4, 3 + count do
  redis.call('SADD', key .. ':groups', ARGV[i])
  redis.call('HSET', prefix .. 'group:' .. stage .. ':' .. ARGV[i], id, node)
end
redis.call('SADD', prefix .. 'node:' .. node .. ':conns', id)
local connected_at = redis.call('HGET', key, 'connectedAt')
redis.call('ZADD', prefix .. 'stage:' .. stage .. ':conns', connected_at, id)
if principal then
  redis.call('SADD', prefix .. 'principal:' .. stage .. ':' .. principal, id)
end
redis.call('SADD', prefix .. 'nodes', node)
return 1
"""
)

# ARGV: prefix, then id, lastActiveAt pairs; a gone connection is never written again.
TOUCH: Final = """
local prefix = ARGV[1]
for i = 2, #ARGV, 2 do
  local key = prefix .. 'conn:' .. ARGV[i]
  if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, 'lastActiveAt', ARGV[i + 1]) end
end
return 0
"""

JOIN: Final = """
local prefix, stage, group = ARGV[1], ARGV[2], ARGV[3]
local joined = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local key = prefix .. 'conn:' .. id
  local found = redis.call('HMGET', key, 'stage', 'node')
  if found[1] == stage then
    redis.call('SADD', key .. ':groups', group)
    redis.call('HSET', prefix .. 'group:' .. stage .. ':' .. group, id, found[2])
    joined[#joined + 1] = id
  end
end
return joined
"""

LEAVE: Final = """
local prefix, stage, group = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV do
  local id = ARGV[i]
  local key = prefix .. 'conn:' .. id
  redis.call('HDEL', prefix .. 'group:' .. stage .. ':' .. group, id)
  if redis.call('HGET', key, 'stage') == stage then redis.call('SREM', key .. ':groups', group) end
end
return 0
"""

# A group is a hash of member id -> node, kept by ADD, JOIN, LEAVE and drop(): its members and
# their nodes come back in one read, with no lookup per member.
MEMBERS: Final = """
return redis.call('HGETALL', ARGV[1] .. 'group:' .. ARGV[2] .. ':' .. ARGV[3])
"""

COUNT_ALL: Final = """
local prefix, total = ARGV[1], 0
for _, node in ipairs(redis.call('SMEMBERS', prefix .. 'nodes')) do
  total = total + redis.call('SCARD', prefix .. 'node:' .. node .. ':conns')
end
return total
"""

NODES: Final = """
local prefix, out = ARGV[1], {}
for _, node in ipairs(redis.call('SMEMBERS', prefix .. 'nodes')) do
  local base = prefix .. 'node:' .. node
  local alive = redis.call('EXISTS', base .. ':alive')
  out[#out + 1] = {node, alive, redis.call('SCARD', base .. ':conns')}
end
return out
"""

# ARGV: prefix, node, ttl (ms), incarnation. Returns {1 when the node had been claimed since,
# the heartbeat this one replaced (false when none), its time left in ms}.
HEARTBEAT: Final = """
local base = ARGV[1] .. 'node:' .. ARGV[2]
local dead = redis.call('DEL', base .. ':dead')
local alive = base .. ':alive'
local previous = redis.call('GET', alive)
local left = redis.call('PTTL', alive)
redis.call('SET', alive, ARGV[4], 'PX', ARGV[3])
redis.call('SADD', ARGV[1] .. 'nodes', ARGV[2])
return {dead, previous, left}
"""

# ARGV: prefix, node, '1' to keep the incarnation given next or '0' to keep the one whose
# heartbeat is current (if any), that incarnation. Returns the ids held by any other.
STALE: Final = """
local prefix, node = ARGV[1], ARGV[2]
local base = prefix .. 'node:' .. node
local keep = ARGV[4]
if ARGV[3] == '0' then keep = redis.call('GET', base .. ':alive') end
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', base .. ':conns')) do
  local found = redis.call('HMGET', prefix .. 'conn:' .. id, 'node', 'incarnation')
  if found[1] == node and (found[2] or '') ~= keep then out[#out + 1] = id end
end
return out
"""

# ARGV: prefix, node, claimer, claim ttl (ms), dead mark ttl (ms).
CLAIM: Final = """
local base, claimer = ARGV[1] .. 'node:' .. ARGV[2], ARGV[3]
if redis.call('EXISTS', base .. ':alive') == 1 then return 0 end
local holder = redis.call('GET', base .. ':claim')
if holder and holder ~= claimer then return 0 end
redis.call('SET', base .. ':claim', claimer, 'PX', ARGV[4])
redis.call('SET', base .. ':dead', claimer, 'PX', ARGV[5])
return 1
"""

FORGET: Final = """
local prefix, node = ARGV[1], ARGV[2]
local base = prefix .. 'node:' .. node
local came_back = redis.call('EXISTS', base .. ':claim') == 1
  and redis.call('EXISTS', base .. ':dead') == 0
redis.call('DEL', base .. ':claim')
if came_back then return 0 end
redis.call('DEL', base .. ':alive')
for _, id in ipairs(redis.call('SMEMBERS', base .. ':conns')) do
  if redis.call('HGET', prefix .. 'conn:' .. id, 'node') ~= node then
    redis.call('SREM', base .. ':conns', id)
  end
end
if redis.call('SCARD', base .. ':conns') == 0 then redis.call('SREM', prefix .. 'nodes', node) end
return 1
"""

# ARGV: prefix, stage, min score, id after which to start at that score ('' for none),
# max score, limit, budget, has group, group, has principal, principal.
# Returns {next score, next id, {id, hash, groups}...}; next id '' on the last page.
LIST: Final = """
local prefix, stage, min, after, max = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local limit, budget = tonumber(ARGV[6]), tonumber(ARGV[7])
local group_key, principal_key
if ARGV[8] == '1' then group_key = prefix .. 'group:' .. stage .. ':' .. ARGV[9] end
if ARGV[10] == '1' then principal_key = prefix .. 'principal:' .. stage .. ':' .. ARGV[11] end
local stage_key = prefix .. 'stage:' .. stage .. ':conns'
local from = tonumber(min)
-- Byte order, as the sorted set orders equal scores (Lua's < follows the locale).
local function at_or_before(a, b)
  if a == b then return true end
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local out = {'', ''}
local found, scanned, offset = 0, 0, 0
local last_score, last_id = '', ''
while true do
  local batch = redis.call('ZRANGEBYSCORE', stage_key, min, max, 'WITHSCORES', 'LIMIT', offset, 256)
  if #batch == 0 then return out end
  offset = offset + #batch / 2
  for i = 1, #batch, 2 do
    local id, score = batch[i], batch[i + 1]
    if after == '' or tonumber(score) ~= from or not at_or_before(id, after) then
      if (not group_key or redis.call('HEXISTS', group_key, id) == 1)
          and (not principal_key or redis.call('SISMEMBER', principal_key, id) == 1) then
        if found == limit then
          out[1], out[2] = last_score, last_id
          return out
        end
        local key = prefix .. 'conn:' .. id
        out[#out + 1] = {id, redis.call('HGETALL', key), redis.call('SMEMBERS', key .. ':groups')}
        found = found + 1
        last_score, last_id = score, id
      end
      scanned = scanned + 1
      if scanned >= budget then
        out[1], out[2] = score, id
        return out
      end
    end
  end
end
"""

# The owner lookup and the publish of a forwarded call in one round trip. ARGV: prefix,
# connection id, message. Returns false when no node holds the connection, else
# {node, how many listened}.
PUBLISH_TO_OWNER: Final = """
local node = redis.call('HGET', ARGV[1] .. 'conn:' .. ARGV[2], 'node')
if not node then return false end
return {node, redis.call('PUBLISH', ARGV[1] .. 'bus:' .. node, ARGV[3])}
"""
