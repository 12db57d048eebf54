-- KEYS: 1 events, 2 room log   ARGV: 1 record JSON, 2 events_max_len, 3 log kept
-- A moderation record written after a change made by another script (clear, pause, resume).
--! include prelude
--! include moderation
announce(KEYS[1], ARGV[2], KEYS[2], tonumber(ARGV[3]), cjson.decode(ARGV[1]))
return {'ok'}
