-- KEYS: 1 preview  ARGV: 1 uri
-- Take the preview only if it is still the one the user clicked. A damaged preview is nobody's
-- click: left alone (the player drops it when it next fills).
--! include checks
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local p = load_item(raw)
if not p or p.uri ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
return raw
