-- KEYS: 1 queue, 2 owners, 3 uris, 4 events, 5 wake, 6 preview, 7 now_playing,
--       8 the track's Bender filter flag, 9 the new item
-- ARGV: 1 item body JSON without id/added_at, 2 owner (lower), 3 max_len, 4 events_max_len,
--       5 the new item's id (from the queue's counter), 6 '1' to set the Bender filter,
--       7 filter TTL seconds, 8 track URI, 9 '1' to refuse duplicates, 10 '1' for a quiet add
--       (one of a batch: the batch emits one queue_update and wakes the player once, at its end)
-- Round-robin ("rounds"): n = 1 + the adder's items already queued; the new item goes just before
-- the first item that is its owner's (n+1)-th, else at the end.
-- Duplicates (issue 14): a person's add of the playing song is refused ('playing'); of a queued
-- song it names that item ('duplicate', id) so the caller can vote or jam it instead. Queued
-- ids missing from the uris hash are named ('unknown', ids...) before any write.
--! include prelude
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
if ARGV[9] == '1' then
  local np = load_np(KEYS[7])
  if np and np.item.uri == ARGV[8] then return {'playing'} end
  local uri_of = {}
  local uris = redis.call('HGETALL', KEYS[3])
  for k = 1, #uris, 2 do uri_of[uris[k]] = uris[k + 1] end
  -- Items queued before the uris hash existed: the caller fills it in and asks again.
  local unknown = {'unknown'}
  for _, id in ipairs(ids) do
    if not uri_of[id] then unknown[#unknown + 1] = id end
  end
  if #unknown > 1 then return unknown end
  for _, id in ipairs(ids) do
    if uri_of[id] == ARGV[8] then return {'duplicate', id} end
  end
end
local len = #ids
if len >= tonumber(ARGV[3]) then return {'full'} end
local owner = ARGV[2]
local owners = {}
local i = 1
while i <= #ids do
  local j = math.min(i + 499, #ids)
  local part = redis.call('HMGET', KEYS[2], unpack(ids, i, j))
  for k = 1, #part do owners[i + k - 1] = part[k] or '' end
  i = j + 1
end
local n = 1
for k = 1, #ids do
  if owners[k] == owner then n = n + 1 end
end
local counts = {}
local pivot = nil
for k = 1, #ids do
  local o = owners[k]
  local c = (counts[o] or 0) + 1
  counts[o] = c
  if c == n + 1 then
    pivot = ids[k]
    break
  end
end
local id = ARGV[5]
local json = '{"id":"' .. id .. '","added_at":' .. now_s_text() .. ',' .. string.sub(ARGV[1], 2)
redis.call('SET', KEYS[9], json)
redis.call('HSET', KEYS[3], id, ARGV[8])
redis.call('HSET', KEYS[2], id, owner)
if pivot then
  redis.call('LINSERT', KEYS[1], 'BEFORE', pivot, id)
else
  redis.call('RPUSH', KEYS[1], id)
end
if ARGV[6] == '1' then
  redis.call('SET', KEYS[8], '1', 'EX', ARGV[7])
  -- A person just queued the track Bender was suggesting: the suggestion is stale, drop it
  -- (the player's Bender makes the next one when it sees the preview gone).
  local preview = redis.call('GET', KEYS[6])
  if preview then
    local ok, p = pcall(cjson.decode, preview)
    if (not ok) or type(p) ~= 'table' or p['uri'] == ARGV[8] then redis.call('DEL', KEYS[6]) end
  end
end
if ARGV[10] ~= '1' then
  emit(KEYS[4], ARGV[4], 'queue_update', '')
  wake(KEYS[5], 'add')
end
return {'ok', json}
