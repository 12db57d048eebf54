-- KEYS: 1 the subject's stream leases (ZSET lease id -> expiry ms, Redis TIME)
-- ARGV: 1 lease id  2 most leases (0: no cap, a refresh)  3 lease ms
-- Take or renew one open event stream's lease (shared.streamcap). Expired leases (a replica that
-- died with streams open) are dropped first. Returns {1, count} when held, else {0, retry ms}:
-- the time until the soonest lease expires (or a full lease if none does sooner).
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local lease_ms = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local most = tonumber(ARGV[2])
if most > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if redis.call('ZCARD', KEYS[1]) >= most then
    local soonest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    local retry = lease_ms
    if soonest[2] then retry = math.min(lease_ms, tonumber(soonest[2]) - now) end
    return {0, retry}
  end
end
redis.call('ZADD', KEYS[1], now + lease_ms, ARGV[1])
-- The whole set lives as long as its newest lease: nothing is left behind by a crash.
redis.call('PEXPIRE', KEYS[1], lease_ms)
return {1, redis.call('ZCARD', KEYS[1])}
