-- Keep a track out of Bender's suggestions for a while and, when it is the preview, drop it: the
-- player's Bender makes the next one as soon as the wake tells it the preview is gone.
-- A damaged preview is nobody's click: left alone (the player replaces it when it next fills).
-- KEYS: 1 the track's Bender filter flag, 2 preview, 3 events, 4 player wake
-- ARGV: 1 track URI, 2 filter TTL seconds, 3 the flag's value, 4 events_max_len
--! include prelude
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[2])
local preview = load_item(redis.call('GET', KEYS[2]))
if not preview or preview.uri ~= ARGV[1] then return {'kept'} end
redis.call('DEL', KEYS[2])
emit(KEYS[3], ARGV[4], 'queue_update', '')
wake(KEYS[4], 'preview')
return {'taken'}
