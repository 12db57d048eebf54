-- KEYS: 1 events, 2 wake
-- ARGV: 1 events_max_len
-- The end of a batch of quiet adds (shared.queue.add_many): their one event and player wake.
--! include prelude
emit(KEYS[1], ARGV[1], 'queue_update', '')
wake(KEYS[2], 'add')
return 'ok'
