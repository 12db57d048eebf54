"""The queue's Lua scripts: each change and the event announcing it run as one atomic step.

Every script returns a table whose first element is a status word (``ok`` or an error code the
Python side maps to a domain error); scripts never raise for expected conditions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis

from shared.queue.records import LUA_CHECKS, LUA_TYPE_GUARD, run_script

# Helpers prepended to every script.
#  - cjson encodes an empty Lua table as ``{}``; the list fields of an item must stay lists.
#    The pattern cannot match inside a JSON string, where every quote is escaped.
#  - Redis TIME is the one clock shared by every process and replica.
#  - LUA_CHECKS (shared.queue.records): what a readable item / now-playing record is.
_PRELUDE = (
    LUA_CHECKS
    + r"""
local function fix(s)
  s = string.gsub(s, '"jams":{}', '"jams":[]')
  s = string.gsub(s, '"comments":{}', '"comments":[]')
  return s
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function now_s_text()
  local t = redis.call('TIME')
  return t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
end
local function emit(stream, maxlen, etype, data)
  return redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'type', etype, 'data', data)
end
local function wake(key, token)
  redis.call('LPUSH', key, token)
  redis.call('LTRIM', key, 0, 9)
end
-- A now-playing record written by the player, or nil when absent or damaged (reads as idle).
local function load_np(key)
  local state, np = read_np(key)
  if state ~= 'ok' then return nil end
  return np
end
-- The status for an action on song `id` when it is not the (readable) playing song.
local function np_missing(key, id)
  local state, np = read_np(key)
  if state == 'damaged' and np and type(np.item) == 'table' and np.item.id == id then
    return {'damaged'}
  end
  return {'not_found'}
end
-- The NowPlaying view (DESIGN 4.3) of a decoded andre:now_playing record.
local function np_view(np, now)
  local view = {}
  for k, v in pairs(np.item) do view[k] = v end
  local pos = tonumber(np.pos_ms) or 0
  if not np.paused then pos = pos + (now - (tonumber(np.anchor_ms) or now)) end
  local dur = tonumber(np.item.duration_ms) or 0
  if pos > dur then pos = dur end
  if pos < 0 then pos = 0 end
  view.pos_ms = math.floor(pos)
  view.paused = np.paused and true or false
  view.started_at = np.started_at or 0
  view.server_time = now / 1000
  return fix(cjson.encode(view))
end
local function toggle_jam(item, user)
  local jams = item.jams
  if type(jams) ~= 'table' then jams = {} end
  for i, u in ipairs(jams) do
    if u == user then
      table.remove(jams, i)
      item.jams = jams
      return false
    end
  end
  table.insert(jams, user)
  item.jams = jams
  return true
end
-- Free airhorn credit for the queuer once an item collects enough jams from other people.
-- Announces the queuer's new count (event `credits`) so their open pages update live.
local function award(item, marker, threshold, credit_prefix, max_credits, stream, maxlen)
  local owner = string.lower(tostring(item.user or ''))
  if owner == '' then return end
  local n = 0
  for _, u in ipairs(item.jams or {}) do
    if u ~= owner then n = n + 1 end
  end
  if n < threshold then return end
  if not redis.call('SET', marker, '1', 'NX', 'EX', 86400) then return end
  local credits = credit_prefix .. owner
  -- A damaged counter counts as none: this runs after the item was written, so never raise.
  local have = tonumber(redis.call('GET', credits) or '0')
  local now_have = 1
  if not have then
    redis.call('SET', credits, '1')
  elseif have < max_credits then
    now_have = redis.call('INCR', credits)
  else
    return
  end
  emit(stream, maxlen, 'credits', cjson.encode({user = owner, free = now_have}))
end
"""
)

# KEYS: queue, owners, seq, events, wake, preview, now_playing
# ARGV: item body JSON without id/added_at, owner (lower), max_len, events_max_len, item prefix,
#       Bender filter key ('' for none), filter TTL seconds, track URI, '1' to refuse duplicates
# Round-robin ("rounds"): n = 1 + the adder's items already queued; the new item goes just before
# the first item that is its owner's (n+1)-th, else at the end.
# Duplicates (issue 14): a person's add of the playing song is refused ('playing'); of a queued
# song it names that item ('duplicate', id) so the caller can vote or jam it instead.
ADD = (
    _PRELUDE
    + r"""
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
if ARGV[9] == '1' then
  local np = load_np(KEYS[7])
  if np and np.item.uri == ARGV[8] then return {'playing'} end
  -- Records are written by cjson or Python's compact JSON: the uri field reads exactly so.
  local needle = '"uri":"' .. ARGV[8] .. '"'
  local i = 1
  while i <= #ids do
    local j = math.min(i + 499, #ids)
    local names = {}
    for k = i, j do names[#names + 1] = ARGV[5] .. ids[k] end
    local vals = redis.call('MGET', unpack(names))
    for k = 1, #vals do
      if vals[k] and string.find(vals[k], needle, 1, true) then
        return {'duplicate', ids[i + k - 1]}
      end
    end
    i = j + 1
  end
end
local len = #ids
if len >= tonumber(ARGV[3]) then return {'full'} end
local owner = ARGV[2]
local owners = {}
local i = 1
while i <= #ids do
  local j = math.min(i + 499, #ids)
  local part = redis.call('HMGET', KEYS[2], unpack(ids, i, j))
  for k = 1, #part do owners[i + k - 1] = part[k] or '' end
  i = j + 1
end
local n = 1
for k = 1, #ids do
  if owners[k] == owner then n = n + 1 end
end
local counts = {}
local pivot = nil
for k = 1, #ids do
  local o = owners[k]
  local c = (counts[o] or 0) + 1
  counts[o] = c
  if c == n + 1 then
    pivot = ids[k]
    break
  end
end
-- The first write: a damaged counter refuses the add with nothing changed (restarting it
-- would hand out ids that may still be in use).
local seq = redis.pcall('INCR', KEYS[3])
if type(seq) ~= 'number' then return {'seq_damaged'} end
local id = tostring(seq)
local json = '{"id":"' .. id .. '","added_at":' .. now_s_text() .. ',' .. string.sub(ARGV[1], 2)
redis.call('SET', ARGV[5] .. id, json)
redis.call('HSET', KEYS[2], id, owner)
if pivot then
  redis.call('LINSERT', KEYS[1], 'BEFORE', pivot, id)
else
  redis.call('RPUSH', KEYS[1], id)
end
if ARGV[6] ~= '' then
  redis.call('SET', ARGV[6], '1', 'EX', ARGV[7])
  -- A person just queued the track Bender was suggesting: the suggestion is stale, drop it
  -- (the player's Bender makes the next one when it sees the preview gone).
  local preview = redis.call('GET', KEYS[6])
  if preview then
    local ok, p = pcall(cjson.decode, preview)
    if (not ok) or type(p) ~= 'table' or p['uri'] == ARGV[8] then redis.call('DEL', KEYS[6]) end
  end
end
emit(KEYS[4], ARGV[4], 'queue_update', '')
wake(KEYS[5], 'add')
return {'ok', json}
"""
)

# KEYS: queue, owners, events
# ARGV: id, voter (lower), up ('1' or '0'), events_max_len, item prefix
# One vote per user per song; a counted vote swaps the song with its neighbour (one slot).
VOTE = (
    _PRELUDE
    + r"""
local id = ARGV[1]
local pos = redis.call('LPOS', KEYS[1], id)
if not pos then return {'not_found'} end
local ikey = ARGV[5] .. id
local raw = redis.call('GET', ikey)
if not raw then return {'not_found'} end
-- Decoded and checked before the first write: a damaged record must not keep the voter.
local item = load_item(raw, id)
if not item then return {'damaged'} end
local up = ARGV[3] == '1'
if up and redis.call('HGET', KEYS[2], id) == ARGV[2] then return {'own_upvote'} end
if redis.call('SADD', ikey .. ':votes', ARGV[2]) == 0 then return {'already_voted'} end
local delta = -1
if up then delta = 1 end
item.votes = (tonumber(item.votes) or 0) + delta
redis.call('SET', ikey, fix(cjson.encode(item)))
local other = pos + 1
if up then other = pos - 1 end
if other >= 0 and other < redis.call('LLEN', KEYS[1]) then
  local oid = redis.call('LINDEX', KEYS[1], other)
  redis.call('LSET', KEYS[1], other, id)
  redis.call('LSET', KEYS[1], pos, oid)
  pos = other
end
emit(KEYS[3], ARGV[4], 'queue_update', '')
return {'ok', tostring(pos), tostring(item.votes)}
"""
)

# KEYS: queue, now_playing, events
# ARGV: id, user (lower), events_max_len, item prefix, free-jam threshold, credit key prefix,
#       max credits
JAM = (
    _PRELUDE
    + r"""
local id = ARGV[1]
local user = ARGV[2]
local threshold = tonumber(ARGV[5])
local max_credits = tonumber(ARGV[7])
local ikey = ARGV[4] .. id
if redis.call('LPOS', KEYS[1], id) then
  local raw = redis.call('GET', ikey)
  if not raw then return {'not_found'} end
  local item = load_item(raw, id)
  if not item then return {'damaged'} end
  local on = toggle_jam(item, user)
  redis.call('SET', ikey, fix(cjson.encode(item)))
  if on then award(item, ikey .. ':horn', threshold, ARGV[6], max_credits, KEYS[3], ARGV[3]) end
  emit(KEYS[3], ARGV[3], 'queue_update', '')
  return {'ok', on and '1' or '0'}
end
local np = load_np(KEYS[2])
if not np or np.item.id ~= id then return np_missing(KEYS[2], id) end
local on = toggle_jam(np.item, user)
redis.call('SET', KEYS[2], fix(cjson.encode(np)), 'KEEPTTL')
if on then award(np.item, ikey .. ':horn', threshold, ARGV[6], max_credits, KEYS[3], ARGV[3]) end
emit(KEYS[3], ARGV[3], 'now_playing', np_view(np, now_ms()))
return {'ok', on and '1' or '0'}
"""
)

# KEYS: queue, now_playing, events
# ARGV: id, author, text, events_max_len, item prefix, max comments per item
COMMENT = (
    _PRELUDE
    + r"""
local id = ARGV[1]
local ikey = ARGV[5] .. id
local max_comments = tonumber(ARGV[6])
local function append(item)
  local comments = item.comments
  if type(comments) ~= 'table' then comments = {} end
  if #comments >= max_comments then return false end
  local t = redis.call('TIME')
  table.insert(comments, {user = ARGV[2], text = ARGV[3],
    time = tonumber(t[1]) + tonumber(t[2]) / 1000000})
  item.comments = comments
  return true
end
if redis.call('LPOS', KEYS[1], id) then
  local raw = redis.call('GET', ikey)
  if not raw then return {'not_found'} end
  local item = load_item(raw, id)
  if not item then return {'damaged'} end
  if not append(item) then return {'too_many'} end
  redis.call('SET', ikey, fix(cjson.encode(item)))
  emit(KEYS[3], ARGV[4], 'queue_update', '')
  return {'ok'}
end
local np = load_np(KEYS[2])
if not np or np.item.id ~= id then return np_missing(KEYS[2], id) end
if not append(np.item) then return {'too_many'} end
redis.call('SET', KEYS[2], fix(cjson.encode(np)), 'KEEPTTL')
emit(KEYS[3], ARGV[4], 'now_playing', np_view(np, now_ms()))
return {'ok'}
"""
)

# KEYS: queue, owners, events   ARGV: id, events_max_len, item prefix
REMOVE = (
    _PRELUDE
    + r"""
local id = ARGV[1]
if redis.call('LREM', KEYS[1], 0, id) == 0 then return {'not_found'} end
local ikey = ARGV[3] .. id
redis.call('DEL', ikey, ikey .. ':votes')
redis.call('HDEL', KEYS[2], id)
emit(KEYS[3], ARGV[2], 'queue_update', '')
return {'ok'}
"""
)

# KEYS: queue, owners, events   ARGV: events_max_len, item prefix
CLEAR = (
    _PRELUDE
    + r"""
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
local doomed = {}
for _, id in ipairs(ids) do
  table.insert(doomed, ARGV[2] .. id)
  table.insert(doomed, ARGV[2] .. id .. ':votes')
  if #doomed >= 500 then
    redis.call('DEL', unpack(doomed))
    doomed = {}
  end
end
if #doomed > 0 then redis.call('DEL', unpack(doomed)) end
redis.call('DEL', KEYS[1], KEYS[2])
emit(KEYS[3], ARGV[1], 'queue_update', '')
return {'ok', tostring(#ids)}
"""
)

# KEYS: now_playing, skip, wake, events   ARGV: events_max_len, skip flag TTL seconds
# A skip with nothing playing is a no-op: a stale flag must not skip the next song.
SKIP = (
    _PRELUDE
    + r"""
local np = load_np(KEYS[1])
if not np then return {'idle'} end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
wake(KEYS[3], 'skip')
emit(KEYS[4], ARGV[1], 'now_playing', np_view(np, now_ms()))
return {'ok'}
"""
)

# KEYS: now_playing, paused, wake, events   ARGV: events_max_len, '1' to pause / '0' to resume
# Pausing freezes pos_ms at the position reached; resuming re-anchors the clock at Redis TIME.
PAUSE = (
    _PRELUDE
    + r"""
local np = load_np(KEYS[1])
if not np then return {'idle'} end
local pause = ARGV[2] == '1'
local paused = np.paused and true or false
if paused == pause then return {'unchanged'} end
local now = now_ms()
if pause then
  local pos = (tonumber(np.pos_ms) or 0) + (now - (tonumber(np.anchor_ms) or now))
  local dur = tonumber(np.item.duration_ms) or 0
  if pos > dur then pos = dur end
  if pos < 0 then pos = 0 end
  np.pos_ms = math.floor(pos)
  np.paused = true
  redis.call('SET', KEYS[2], '1')
else
  np.paused = false
  redis.call('DEL', KEYS[2])
end
np.anchor_ms = now
redis.call('SET', KEYS[1], fix(cjson.encode(np)), 'KEEPTTL')
wake(KEYS[3], pause and 'pause' or 'resume')
emit(KEYS[4], ARGV[1], 'now_playing', np_view(np, now))
return {'ok'}
"""
)

# KEYS: airhorns, now_playing, events, rate key (user), credit key (user)
# ARGV: user, name, free ('1'/'0'), max paid per window, window ms, events_max_len, list max
AIRHORN = (
    _PRELUDE
    + r"""
local np = load_np(KEYS[2])
if not np then return {'idle'} end
local free = ARGV[3] == '1'
if free then
  -- A damaged credit counter holds no credit (DECR on it would fail the script).
  local have = tonumber(redis.call('GET', KEYS[5]) or '0') or 0
  if have <= 0 then return {'no_credit'} end
  local left = redis.call('DECR', KEYS[5])
  emit(KEYS[3], ARGV[6], 'credits', cjson.encode({user = string.lower(ARGV[1]), free = left}))
else
  local n = redis.pcall('INCR', KEYS[4])
  if type(n) ~= 'number' then
    -- A damaged window counter starts a new window instead of failing every horn.
    redis.call('SET', KEYS[4], '1', 'PX', ARGV[5])
    n = 1
  end
  if n == 1 then redis.call('PEXPIRE', KEYS[4], ARGV[5]) end
  local ttl = redis.call('PTTL', KEYS[4])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[4], ARGV[5])
    ttl = tonumber(ARGV[5])
  end
  if n > tonumber(ARGV[4]) then return {'rate', tostring(ttl)} end
end
local item = np.item
local record = cjson.encode({name = ARGV[2], user = ARGV[1], free = free,
  song_id = tostring(item.id or ''), title = item.title or '', artist = item.artist or '',
  at = now_ms() / 1000})
redis.call('RPUSH', KEYS[1], record)
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[7]), -1)
emit(KEYS[3], ARGV[6], 'airhorn', cjson.encode({name = ARGV[2], user = ARGV[1]}))
return {'ok'}
"""
)

# Moderation (shared.queue.moderation). Shared tail of MOD_SKIP and MOD_REMOVE: decide whether
# `actor` acts at once (admin or the song's queuer) or casts a vote; a vote that reaches the
# threshold acts for everyone who voted.
_MOD_DECIDE = r"""
local function decide(owner, actor, privileged, threshold, votes_key, ttl_s)
  if privileged then return 'admin', nil end
  if owner ~= '' and owner == actor then return 'own', nil end
  if threshold <= 0 then return 'forbidden', nil end
  local added = redis.call('SADD', votes_key, actor)
  redis.call('EXPIRE', votes_key, ttl_s)
  local n = redis.call('SCARD', votes_key)
  if n < threshold then
    if added == 0 then return 'already', n end
    return 'voted', n
  end
  return 'vote', redis.call('SMEMBERS', votes_key)
end
local function announce(stream, maxlen, log_key, log_kept, record)
  local data = cjson.encode(record)
  redis.call('LPUSH', log_key, data)
  redis.call('LTRIM', log_key, 0, log_kept - 1)
  emit(stream, maxlen, 'room', data)
end
"""

# KEYS: now_playing, skip flag, wake, events, skip votes of the song, room log
# ARGV: song id, actor (lower), privileged ('1'/'0'), threshold, vote TTL s, events_max_len,
#       log kept, skip flag TTL s
MOD_SKIP = (
    _PRELUDE
    + _MOD_DECIDE
    + r"""
local np = load_np(KEYS[1])
if not np then return {'idle'} end
if tostring(np.item.id) ~= ARGV[1] then return {'changed'} end
-- Already being skipped (the player has not advanced yet): nothing more to count or announce.
if redis.call('EXISTS', KEYS[2]) == 1 then return {'ok', 'pending'} end
local owner = string.lower(tostring(np.item.user or ''))
local actor = ARGV[2]
local threshold = tonumber(ARGV[4])
local how, extra = decide(owner, actor, ARGV[3] == '1', threshold, KEYS[5], ARGV[5])
local song = {song_id = ARGV[1], title = tostring(np.item.title or ''),
  artist = tostring(np.item.artist or ''), owner = owner, by = actor, at = now_ms() / 1000}
if how == 'forbidden' then return {'forbidden'} end
if how == 'voted' or how == 'already' then
  if how == 'voted' then
    song.kind = 'skip_vote'
    song.votes = extra
    song.needed = threshold
    emit(KEYS[4], ARGV[6], 'room', cjson.encode(song))
  end
  return {how, tostring(extra), tostring(threshold)}
end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[8])
redis.call('DEL', KEYS[5])
wake(KEYS[3], 'skip')
emit(KEYS[4], ARGV[6], 'now_playing', np_view(np, now_ms()))
song.kind = 'skip'
song.how = how
if extra then song.voters = extra end
announce(KEYS[4], ARGV[6], KEYS[6], tonumber(ARGV[7]), song)
return {'ok', how}
"""
)

# KEYS: queue, owners, events, remove votes of the item, room log
# ARGV: id, actor (lower), privileged ('1'/'0'), threshold, vote TTL s, events_max_len,
#       log kept, item prefix
# The record may be damaged: removing needs no readable record (title then reads '').
MOD_REMOVE = (
    _PRELUDE
    + _MOD_DECIDE
    + r"""
local id = ARGV[1]
if not redis.call('LPOS', KEYS[1], id) then return {'not_found'} end
local owner = string.lower(tostring(redis.call('HGET', KEYS[2], id) or ''))
local actor = ARGV[2]
local threshold = tonumber(ARGV[4])
local ikey = ARGV[8] .. id
local raw = redis.call('GET', ikey)
local item = raw and load_item(raw, id) or nil
local song = {song_id = id, title = item and tostring(item.title or '') or '',
  artist = item and tostring(item.artist or '') or '', owner = owner, by = actor,
  at = now_ms() / 1000}
local how, extra = decide(owner, actor, ARGV[3] == '1', threshold, KEYS[4], ARGV[5])
if how == 'forbidden' then return {'forbidden'} end
if how == 'voted' or how == 'already' then
  if how == 'voted' then
    song.kind = 'remove_vote'
    song.votes = extra
    song.needed = threshold
    emit(KEYS[3], ARGV[6], 'room', cjson.encode(song))
  end
  return {how, tostring(extra), tostring(threshold)}
end
redis.call('LREM', KEYS[1], 0, id)
redis.call('DEL', ikey, ikey .. ':votes', KEYS[4])
redis.call('HDEL', KEYS[2], id)
emit(KEYS[3], ARGV[6], 'queue_update', '')
song.kind = 'remove'
song.how = how
if extra then song.voters = extra end
announce(KEYS[3], ARGV[6], KEYS[5], tonumber(ARGV[7]), song)
return {'ok', how}
"""
)

# KEYS: events, room log   ARGV: record JSON, events_max_len, log kept
# A moderation record written after a change made by another script (clear, pause, resume).
MOD_RECORD = (
    _PRELUDE
    + _MOD_DECIDE
    + r"""
announce(KEYS[1], ARGV[2], KEYS[2], tonumber(ARGV[3]), cjson.decode(ARGV[1]))
return {'ok'}
"""
)

# KEYS: queue, preview   ARGV: item prefix
# The whole queue view in one round trip: the preview first ('' when none), then id and record
# of each item in order (false when the record is missing). The records are checked by the
# reader (shared.queue.records), which skips and reports a damaged one.
VIEW = r"""
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
local out = {redis.call('GET', KEYS[2]) or ''}
local i = 1
while i <= #ids do
  local j = math.min(i + 499, #ids)
  local names = {}
  for k = i, j do names[#names + 1] = ARGV[1] .. ids[k] end
  local vals = redis.call('MGET', unpack(names))
  for k = 1, #vals do
    out[#out + 1] = ids[i + k - 1]
    out[#out + 1] = vals[k]
  end
  i = j + 1
end
return out
"""


class LuaScript:
    """A script run by EVALSHA (one round trip), loaded on first use or after a server restart;
    its keys' types are checked before it writes (``records.LUA_TYPE_GUARD``)."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = LUA_TYPE_GUARD + source
        self.sha = hashlib.sha1(self.source.encode("utf-8"), usedforsecurity=False).hexdigest()

    async def __call__(
        self,
        redis: Redis,
        keys: Sequence[str],
        args: Sequence[str | int | float],
        *,
        raw: bool = False,
    ) -> list[Any]:
        """Run the script; ``raw=True`` returns bytes (see ``records.execute``)."""
        result = await run_script(redis, self.sha, self.source, keys, args, raw=raw)
        return cast(list[Any], result)


ADD_SCRIPT = LuaScript("add", ADD)
VOTE_SCRIPT = LuaScript("vote", VOTE)
JAM_SCRIPT = LuaScript("jam", JAM)
COMMENT_SCRIPT = LuaScript("comment", COMMENT)
REMOVE_SCRIPT = LuaScript("remove", REMOVE)
CLEAR_SCRIPT = LuaScript("clear", CLEAR)
SKIP_SCRIPT = LuaScript("skip", SKIP)
PAUSE_SCRIPT = LuaScript("pause", PAUSE)
AIRHORN_SCRIPT = LuaScript("airhorn", AIRHORN)
VIEW_SCRIPT = LuaScript("view", VIEW)
MOD_SKIP_SCRIPT = LuaScript("mod_skip", MOD_SKIP)
MOD_REMOVE_SCRIPT = LuaScript("mod_remove", MOD_REMOVE)
MOD_RECORD_SCRIPT = LuaScript("mod_record", MOD_RECORD)
