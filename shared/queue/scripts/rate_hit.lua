-- KEYS: 1 the window's counter  ARGV: 1 window ms
-- Count one hit of a fixed-window limit (shared.ratelimit): {count, ttl_ms, reset}.
--! include window
local n, ttl, reset = window_hit(KEYS[1], ARGV[1])
return {n, ttl, reset}
