-- KEYS: 1 now_playing, 2 skip flag, 3 wake, 4 events, 5 skip votes of the song, 6 room log
-- ARGV: 1 song id, 2 actor (lower), 3 privileged ('1'/'0'), 4 threshold, 5 vote TTL s,
--       6 events_max_len, 7 log kept, 8 skip flag TTL s
-- A done skip returns {'ok', how, record, Redis time} for the caller to announce the playing
-- song (shared.queue.now_playing).
--! include prelude
--! include moderation
local np = load_np(KEYS[1])
if not np then return {'idle'} end
if tostring(np.item.id) ~= ARGV[1] then return {'changed'} end
-- Already being skipped (the player has not advanced yet): nothing more to count or announce.
if redis.call('EXISTS', KEYS[2]) == 1 then return {'ok', 'pending'} end
local owner = string.lower(tostring(np.item.user or ''))
local actor = ARGV[2]
local threshold = tonumber(ARGV[4])
local how, extra = decide(owner, actor, ARGV[3] == '1', threshold, KEYS[5], ARGV[5])
local now = now_ms()
local song = {song_id = ARGV[1], title = tostring(np.item.title or ''),
  artist = tostring(np.item.artist or ''), owner = owner, by = actor, at = now / 1000}
if how == 'forbidden' then return {'forbidden'} end
if how == 'voted' or how == 'already' then
  return vote_reply(how, extra, threshold, song, 'skip_vote', KEYS[4], ARGV[6])
end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[8])
redis.call('DEL', KEYS[5])
wake(KEYS[3], 'skip')
record_done(song, 'skip', how, extra, KEYS[4], ARGV[6], KEYS[6], tonumber(ARGV[7]))
return {'ok', how, redis.call('GET', KEYS[1]), tostring(now)}
