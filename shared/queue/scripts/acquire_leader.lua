-- KEYS: 1 lock  ARGV: 1 token, 2 ttl_ms.  Take the lock if free, or extend it if we still hold it.
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
