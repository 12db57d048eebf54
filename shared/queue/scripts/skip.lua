-- KEYS: 1 now_playing, 2 skip, 3 wake, 4 events   ARGV: 1 skip flag TTL seconds
-- A skip with nothing playing is a no-op: a stale flag must not skip the next song.
-- Returns {'ok', record, Redis time} for the caller to announce (shared.queue.now_playing).
--! include prelude
local np = load_np(KEYS[1])
if not np then return {'idle'} end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
wake(KEYS[3], 'skip')
return {'ok', redis.call('GET', KEYS[1]), tostring(now_ms())}
