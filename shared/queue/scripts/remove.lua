-- KEYS: 1 queue, 2 owners, 3 events, 4 the item, 5 the item's voters, 6 uris
-- ARGV: 1 id, 2 events_max_len
--! include prelude
local id = ARGV[1]
if redis.call('LREM', KEYS[1], 0, id) == 0 then return {'not_found'} end
redis.call('DEL', KEYS[4], KEYS[5])
redis.call('HDEL', KEYS[2], id)
redis.call('HDEL', KEYS[6], id)
emit(KEYS[3], ARGV[2], 'queue_update', '')
return {'ok'}
