-- KEYS: 1 the window's counter
-- Undo one count, only while the window's key still exists (a DECR after it expired would
-- create a key without a TTL).
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
