-- Helpers shared by the queue's scripts.
--  - cjson encodes an empty Lua table as `{}`; the list fields of an item must stay lists.
--    The pattern cannot match inside a JSON string, where every quote is escaped.
--  - Redis TIME is the one clock shared by every process and replica.
--! include checks
local function fix(s)
  s = string.gsub(s, '"jams":{}', '"jams":[]')
  s = string.gsub(s, '"comments":{}', '"comments":[]')
  return s
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function now_s_text()
  local t = redis.call('TIME')
  return t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
end
local function emit(stream, maxlen, etype, data)
  return redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'type', etype, 'data', data)
end
local function wake(key, token)
  redis.call('LPUSH', key, token)
  redis.call('LTRIM', key, 0, 9)
end
-- A now-playing record written by the player, or nil when absent or damaged (reads as idle).
local function load_np(key)
  local state, np = read_np(key)
  if state ~= 'ok' then return nil end
  return np
end
-- The status for an action on song `id` when it is not the (readable) playing song.
local function np_missing(key, id)
  local state, np = read_np(key)
  if state == 'damaged' and np and type(np.item) == 'table' and np.item.id == id then
    return {'damaged'}
  end
  return {'not_found'}
end
-- Write a changed now-playing record; returns what the caller needs to announce it (the record
-- as stored and the Redis time): the public view is built in Python (shared.queue.now_playing).
local function store_np(key, np)
  local raw = fix(cjson.encode(np))
  redis.call('SET', key, raw, 'KEEPTTL')
  return raw
end
-- Apply `change(item)` to song `id`, queued (`item_key`) or playing (`np_key`), and store it.
-- Returns a refusal (a status table: not found, damaged, or what `change` returned before
-- changing anything), else nil, the changed item and, for the playing song, the record as stored.
local function change_song(queue_key, np_key, item_key, id, change)
  if redis.call('LPOS', queue_key, id) then
    local raw = redis.call('GET', item_key)
    if not raw then return {'not_found'} end
    local item = load_item(raw, id)
    if not item then return {'damaged'} end
    local refused = change(item)
    if refused then return refused end
    redis.call('SET', item_key, fix(cjson.encode(item)))
    return nil, item, nil
  end
  local np = load_np(np_key)
  if not np or np.item.id ~= id then return np_missing(np_key, id) end
  local refused = change(np.item)
  if refused then return refused end
  return nil, np.item, store_np(np_key, np)
end
local function toggle_jam(item, user)
  local jams = item.jams
  if type(jams) ~= 'table' then jams = {} end
  for i, u in ipairs(jams) do
    if u == user then
      table.remove(jams, i)
      item.jams = jams
      return false
    end
  end
  table.insert(jams, user)
  item.jams = jams
  return true
end
-- Free airhorn credit for the queuer once an item collects enough jams from other people.
-- Announces the queuer's new count (event `credits`) so their open pages update live.
-- `credits` is the queuer's counter, declared by the caller (the script checked the queuer).
local function award(item, marker, threshold, credits, max_credits, stream, maxlen)
  local owner = string.lower(tostring(item.user or ''))
  if owner == '' then return end
  local n = 0
  for _, u in ipairs(item.jams or {}) do
    if u ~= owner then n = n + 1 end
  end
  if n < threshold then return end
  if not redis.call('SET', marker, '1', 'NX', 'EX', 86400) then return end
  -- A damaged counter counts as none: this runs after the item was written, so never raise.
  local have = tonumber(redis.call('GET', credits) or '0')
  local now_have = 1
  if not have then
    redis.call('SET', credits, '1')
  elseif have < max_credits then
    now_have = redis.call('INCR', credits)
  else
    return
  end
  emit(stream, maxlen, 'credits', cjson.encode({user = owner, free = now_have}))
end
-- Scripts over the whole queue declare one key per queued id, read by the caller just before:
-- every id queued now (`ids`) must be among ARGV[offset + 1 ...] (ids removed since are fine),
-- else the caller declares again.
local function all_declared(ids, offset)
  local declared = {}
  for k = offset + 1, #ARGV do declared[ARGV[k]] = true end
  for k = 1, #ids do
    if not declared[ids[k]] then return false end
  end
  return true
end
local function retry(ids)
  local out = {'retry'}
  for k = 1, #ids do out[#out + 1] = ids[k] end
  return out
end
