-- KEYS: 1 now_playing, 2 events
-- ARGV: 1 the record the view was built from, 2 the view (shared.queue.now_playing),
--       ('' when it cannot be built: no now_playing event), 3 events_max_len,
--       4 '1' to follow it with a queue_update
-- Announces a change another script made to the playing song. Only while the record is still
-- the one the view shows: when a later change replaced it, that change announces its own view,
-- so an older view can never arrive after a newer one.
--! include prelude
local announced = 0
if ARGV[2] ~= '' and (redis.call('GET', KEYS[1]) or '') == ARGV[1] then
  emit(KEYS[2], ARGV[3], 'now_playing', ARGV[2])
  announced = 1
end
if ARGV[4] == '1' then emit(KEYS[2], ARGV[3], 'queue_update', '') end
return announced
