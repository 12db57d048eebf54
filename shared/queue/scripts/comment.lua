-- KEYS: 1 queue, 2 now_playing, 3 events, 4 the item
-- ARGV: 1 id, 2 author, 3 text, 4 events_max_len, 5 max comments per item
-- Returns {'ok'} for a queued song; for the playing song also the record as stored and the
-- Redis time, to announce it (shared.queue.now_playing).
--! include prelude
local id = ARGV[1]
local max_comments = tonumber(ARGV[5])
local function append(item)
  local comments = item.comments
  if type(comments) ~= 'table' then comments = {} end
  if #comments >= max_comments then return false end
  local t = redis.call('TIME')
  table.insert(comments, {user = ARGV[2], text = ARGV[3],
    time = tonumber(t[1]) + tonumber(t[2]) / 1000000})
  item.comments = comments
  return true
end
if redis.call('LPOS', KEYS[1], id) then
  local raw = redis.call('GET', KEYS[4])
  if not raw then return {'not_found'} end
  local item = load_item(raw, id)
  if not item then return {'damaged'} end
  if not append(item) then return {'too_many'} end
  redis.call('SET', KEYS[4], fix(cjson.encode(item)))
  emit(KEYS[3], ARGV[4], 'queue_update', '')
  return {'ok'}
end
local np = load_np(KEYS[2])
if not np or np.item.id ~= id then return np_missing(KEYS[2], id) end
if not append(np.item) then return {'too_many'} end
local stored = store_np(KEYS[2], np)
return {'ok', stored, tostring(now_ms())}
