-- KEYS: 1 queue, 2 now_playing, 3 events, 4 the item, 5 the item's free-horn marker,
--       6 the free-horn credits of the queuer named in ARGV[6]
-- ARGV: 1 id, 2 user (lower), 3 events_max_len, 4 free-jam threshold, 5 max credits,
--       6 the queuer (lower) the caller read
-- Returns {'ok', '1'/'0'} for a queued song; for the playing song also the record as stored and
-- the Redis time, to announce it (shared.queue.now_playing). {'retry', queuer}: the song's
-- queuer is not the one the caller declared the credits key for; nothing was written.
--! include prelude
local id = ARGV[1]
local user = ARGV[2]
local threshold = tonumber(ARGV[4])
local max_credits = tonumber(ARGV[5])
local function owner_of(item) return string.lower(tostring(item.user or '')) end
local on = false
local refused, item, stored = change_song(KEYS[1], KEYS[2], KEYS[4], id, function(song)
  if owner_of(song) ~= ARGV[6] then return {'retry', owner_of(song)} end
  on = toggle_jam(song, user)
  return nil
end)
if refused then return refused end
if on then award(item, KEYS[5], threshold, KEYS[6], max_credits, KEYS[3], ARGV[3]) end
if not stored then
  emit(KEYS[3], ARGV[3], 'queue_update', '')
  return {'ok', on and '1' or '0'}
end
return {'ok', on and '1' or '0', stored, tostring(now_ms())}
