-- Queue Bender's preview as a person's add, in the same step as the add (round-robin rounds,
-- duplicates, the cap, its event and wake: the add script's rules, run unchanged as add()).
-- Only the preview the person clicked is promoted: when another click or a Filter acted first
-- there is nothing to promote ('gone'); a refused add (full, duplicate, playing) leaves the
-- preview where it was, since the add refuses before its first write.
-- KEYS and ARGV: the add script's (KEYS[6] the preview, ARGV[8] the track URI).
--! include prelude
local function add()
--! include add
end
local preview = load_item(redis.call('GET', KEYS[6]))
if not preview or preview.uri ~= ARGV[8] then return {'gone'} end
local result = add()
if result[1] == 'ok' then redis.call('DEL', KEYS[6]) end
return result
