-- KEYS: 1 airhorns, 2 now_playing, 3 events, 4 the user's paid-horn window, 5 the user's credits
-- ARGV: 1 user, 2 name, 3 free ('1'/'0'), 4 max paid per window, 5 window ms,
--       6 events_max_len, 7 list max
--! include prelude
--! include window
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
  local n, ttl = window_hit(KEYS[4], ARGV[5])
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
