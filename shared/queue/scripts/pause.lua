-- KEYS: 1 now_playing, 2 paused, 3 wake   ARGV: 1 '1' to pause / '0' to resume
-- Pausing freezes pos_ms at the position reached; resuming re-anchors the clock at Redis TIME.
-- Returns {'ok', record, Redis time} for the caller to announce (shared.queue.now_playing).
--! include prelude
local np = load_np(KEYS[1])
if not np then return {'idle'} end
local pause = ARGV[1] == '1'
local paused = np.paused and true or false
if paused == pause then return {'unchanged'} end
local now = now_ms()
if pause then
  local pos = (tonumber(np.pos_ms) or 0) + (now - (tonumber(np.anchor_ms) or now))
  local dur = tonumber(np.item.duration_ms) or 0
  if pos > dur then pos = dur end
  if pos < 0 then pos = 0 end
  np.pos_ms = math.floor(pos)
  np.paused = true
  redis.call('SET', KEYS[2], '1')
else
  np.paused = false
  redis.call('DEL', KEYS[2])
end
np.anchor_ms = now
local stored = store_np(KEYS[1], np)
wake(KEYS[3], pause and 'pause' or 'resume')
return {'ok', stored, tostring(now)}
