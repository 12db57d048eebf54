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
if redis.call('LPOS', KEYS[1], id) then
  local raw = redis.call('GET', KEYS[4])
  if not raw then return {'not_found'} end
  local item = load_item(raw, id)
  if not item then return {'damaged'} end
  if owner_of(item) ~= ARGV[6] then return {'retry', owner_of(item)} end
  local on = toggle_jam(item, user)
  redis.call('SET', KEYS[4], fix(cjson.encode(item)))
  if on then award(item, KEYS[5], threshold, KEYS[6], max_credits, KEYS[3], ARGV[3]) end
  emit(KEYS[3], ARGV[3], 'queue_update', '')
  return {'ok', on and '1' or '0'}
end
local np = load_np(KEYS[2])
if not np or np.item.id ~= id then return np_missing(KEYS[2], id) end
if owner_of(np.item) ~= ARGV[6] then return {'retry', owner_of(np.item)} end
local on = toggle_jam(np.item, user)
local stored = store_np(KEYS[2], np)
if on then award(np.item, KEYS[5], threshold, KEYS[6], max_credits, KEYS[3], ARGV[3]) end
return {'ok', on and '1' or '0', stored, tostring(now_ms())}
