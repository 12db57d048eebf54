-- KEYS: 1 lock  ARGV: 1 token.  Release only our own lock (never a successor's).
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
