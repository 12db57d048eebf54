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
local refused, _, stored = change_song(KEYS[1], KEYS[2], KEYS[4], id, function(song)
  if not append(song) then return {'too_many'} end
  return nil
end)
if refused then return refused end
if not stored then
  emit(KEYS[3], ARGV[4], 'queue_update', '')
  return {'ok'}
end
return {'ok', stored, tostring(now_ms())}
