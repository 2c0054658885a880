"""The Redis store's server-side scripts: each runs atomically, in one round trip.

Keys of a session (`k` = quoted app:user:session, see redis.py): `s:k` a hash (created_at,
updated_at, last_seq, event_count), `e:k` the list of event blobs (the seq of item i is
last_seq - len + 1 + i), `st:k` the session-scope state hash. `idx:app:user` is a sorted set
of the user's sessions by updated_at, `exp` one of every session (for `purge_expired`).
"""

from __future__ import annotations

from typing import Final

# Shared by CREATE and APPEND: write a scope's changes. `i` is the next ARGV index.
_STATE = """
local i = 0
local function apply(key, nset, ndel)
  for _ = 1, nset do redis.call('HSET', key, ARGV[i], ARGV[i + 1]); i = i + 2 end
  for _ = 1, ndel do redis.call('HDEL', key, ARGV[i]); i = i + 1 end
end
local function touch(ttl)
  if ttl ~= '' then
    for k = 1, 3 do redis.call('PEXPIRE', KEYS[k], ttl) end
  end
end
"""

# KEYS: meta, events, state, idx, exp, app, user
# ARGV: now, cutoff|'', limit|'', ttl_ms|'', n, idx member, exp member,
#       sset, sdel, aset, adel, uset, udel, then n blobs, then the state pairs and keys.
APPEND: Final = (
    _STATE
    + """
local upd = redis.call('HGET', KEYS[1], 'updated_at')
if not upd then return false end
if ARGV[2] ~= '' and tonumber(upd) < tonumber(ARGV[2]) then return false end
local n = tonumber(ARGV[5])
local base = tonumber(redis.call('HGET', KEYS[1], 'last_seq'))
i = 14
for _ = 1, n do redis.call('RPUSH', KEYS[2], ARGV[i]); i = i + 1 end
if ARGV[3] ~= '' then redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1) end
redis.call('HSET', KEYS[1], 'last_seq', base + n, 'updated_at', ARGV[1],
           'event_count', redis.call('LLEN', KEYS[2]))
apply(KEYS[3], tonumber(ARGV[8]), tonumber(ARGV[9]))
apply(KEYS[6], tonumber(ARGV[10]), tonumber(ARGV[11]))
apply(KEYS[7], tonumber(ARGV[12]), tonumber(ARGV[13]))
redis.call('ZADD', KEYS[4], ARGV[1], ARGV[6])
redis.call('ZADD', KEYS[5], ARGV[1], ARGV[7])
touch(ARGV[4])
return base
"""
)

# KEYS: as APPEND. ARGV: now, cutoff|'', ttl_ms|'', idx member, exp member,
#       sset, aset, adel, uset, udel, then the pairs and keys.
# Returns false when the session exists (and is alive), else {app hash, user hash}.
CREATE: Final = (
    _STATE
    + """
local upd = redis.call('HGET', KEYS[1], 'updated_at')
if upd and (ARGV[2] == '' or tonumber(upd) >= tonumber(ARGV[2])) then return false end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'created_at', ARGV[1], 'updated_at', ARGV[1],
           'last_seq', 0, 'event_count', 0)
i = 11
apply(KEYS[3], tonumber(ARGV[6]), 0)
apply(KEYS[6], tonumber(ARGV[7]), tonumber(ARGV[8]))
apply(KEYS[7], tonumber(ARGV[9]), tonumber(ARGV[10]))
redis.call('ZADD', KEYS[4], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[5], ARGV[1], ARGV[5])
touch(ARGV[3])
return {redis.call('HGETALL', KEYS[6]), redis.call('HGETALL', KEYS[7])}
"""
)

# KEYS: exp. ARGV: cutoff, key prefix. Deletes every session updated before the cutoff.
PURGE: Final = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
for _, k in ipairs(gone) do
  local head, tail = string.match(k, '^(.*):([^:]*)$')
  redis.call('DEL', ARGV[2] .. 's:' .. k, ARGV[2] .. 'e:' .. k, ARGV[2] .. 'st:' .. k)
  redis.call('ZREM', ARGV[2] .. 'idx:' .. head, tail)
  redis.call('ZREM', KEYS[1], k)
end
return #gone
"""

# KEYS: the version key. ARGV: the version to record. Never goes down.
SET_VERSION: Final = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return v
"""

# APPEND fenced by a session lease (ports/leases.py). KEYS: as APPEND, then the lease's token
# counter (`lease-token:<name>`, _redis_leases.py). ARGV: as APPEND, then the lease's token.
# Returns {'lease_lost', newer token} when another holder took the lease: nothing written.
APPEND_FENCED: Final = APPEND.replace(
    _STATE,
    _STATE
    + """
local fence = tonumber(redis.call('GET', KEYS[8]) or '0')
if fence > tonumber(ARGV[#ARGV]) then return {'lease_lost', fence} end
""",
    1,
)
