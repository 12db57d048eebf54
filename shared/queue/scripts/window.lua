-- One fixed-window counter (shared.ratelimit and the paid airhorn cap): count a hit in `key`,
-- whose window of `window_ms` starts with its first hit. Returns the count, the window's
-- remaining ms and 1 when a damaged (non-integer) counter was reset to start a new window
-- instead of failing every request of its subject.
local function window_hit(key, window_ms)
  local reset = 0
  local n = redis.pcall('INCR', key)
  if type(n) ~= 'number' then
    redis.call('SET', key, '1', 'PX', window_ms)
    n = 1
    reset = 1
  end
  if n == 1 then redis.call('PEXPIRE', key, window_ms) end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, window_ms)
    ttl = tonumber(window_ms)
  end
  return n, ttl, reset
end
