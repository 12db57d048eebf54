-- Offer Bender's next suggestion, unless a preview is there already (the engine looked before it
-- picked, and another player may have filled it since); the event and the player's wake go with it.
-- KEYS: 1 preview, 2 queue id counter, 3 events, 4 player wake
-- ARGV: 1 item body JSON without id/added_at, 2 events_max_len
--! include prelude
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
-- The first write: a damaged counter refuses with nothing changed (as the add does).
local seq = redis.pcall('INCR', KEYS[2])
if type(seq) ~= 'number' then return {'seq_damaged'} end
local json = '{"id":"' .. tostring(seq) .. '","added_at":' .. now_s_text() .. ','
  .. string.sub(ARGV[1], 2)
redis.call('SET', KEYS[1], json)
emit(KEYS[3], ARGV[2], 'queue_update', '')
-- Wakes the player at once if it is idle and waiting for a fill song.
wake(KEYS[4], 'preview')
return {'ok', json}
