-- KEYS: 1 history  ARGV: 1 max, 2.. play JSON (newest first).  Only fills an empty history.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if #ARGV < 2 then return 0 end
redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[1]) - 1)
return #ARGV - 1
