-- KEYS: 1 seq  ARGV: 1 an id taken for an add that was refused
-- Gives the id back while it is still the newest one handed out, so a refused add leaves the
-- counter as it was; once another add took a later id the gap stays (ids are unique, not dense).
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DECR', KEYS[1]) end
return 0
