-- KEYS: 1 queue, 2 owners, 3 uris, 4 events, then per id the caller read (in order): its item and
--       its voters
-- ARGV: 1 events_max_len, 2.. the ids the keys were declared for
-- {'retry', ids...}: an id was queued since the caller read them (nothing written; try these).
--! include prelude
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
if not all_declared(ids, 1) then return retry(ids) end
local i = 5
while i <= #KEYS do
  local j = math.min(i + 499, #KEYS)
  redis.call('DEL', unpack(KEYS, i, j))
  i = j + 1
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
emit(KEYS[4], ARGV[1], 'queue_update', '')
return {'ok', tostring(#ids)}
