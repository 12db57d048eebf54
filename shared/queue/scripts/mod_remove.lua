-- KEYS: 1 queue, 2 owners, 3 events, 4 remove votes of the item, 5 room log, 6 the item,
--       7 the item's voters, 8 uris
-- ARGV: 1 id, 2 actor (lower), 3 privileged ('1'/'0'), 4 threshold, 5 vote TTL s,
--       6 events_max_len, 7 log kept
-- The record may be damaged: removing needs no readable record (title then reads '').
--! include prelude
--! include moderation
local id = ARGV[1]
if not redis.call('LPOS', KEYS[1], id) then return {'not_found'} end
local owner = string.lower(tostring(redis.call('HGET', KEYS[2], id) or ''))
local actor = ARGV[2]
local threshold = tonumber(ARGV[4])
local raw = redis.call('GET', KEYS[6])
local item = raw and load_item(raw, id) or nil
local song = {song_id = id, title = item and tostring(item.title or '') or '',
  artist = item and tostring(item.artist or '') or '', owner = owner, by = actor,
  at = now_ms() / 1000}
local how, extra = decide(owner, actor, ARGV[3] == '1', threshold, KEYS[4], ARGV[5])
if how == 'forbidden' then return {'forbidden'} end
if how == 'voted' or how == 'already' then
  return vote_reply(how, extra, threshold, song, 'remove_vote', KEYS[3], ARGV[6])
end
redis.call('LREM', KEYS[1], 0, id)
redis.call('DEL', KEYS[6], KEYS[7], KEYS[4])
redis.call('HDEL', KEYS[2], id)
redis.call('HDEL', KEYS[8], id)
emit(KEYS[3], ARGV[6], 'queue_update', '')
record_done(song, 'remove', how, extra, KEYS[3], ARGV[6], KEYS[5], tonumber(ARGV[7]))
return {'ok', how}
