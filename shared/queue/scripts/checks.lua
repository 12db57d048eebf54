-- What a readable item / now-playing record is: the same rule as shared.queue.records.check_item.
-- ITEM_FIELDS, COMMENT_FIELDS and NP_FIELDS are rendered from the models (the `fields` include).
-- load_item decodes inside pcall, so a damaged record is a return value, never a script error
-- (Redis does not roll a script back: an error after a write leaves half the change).
--! include fields
local function finite(v)
  return type(v) == 'number' and v > -9007199254740992 and v < 9007199254740992
end
local function is_list(t)
  if type(t) ~= 'table' then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end
local check_fields
local function value_ok(kind, v)
  if kind == 'string' then return type(v) == 'string' end
  if kind == 'boolean' then return type(v) == 'boolean' end
  if kind == 'number' then return finite(v) end
  if kind == 'int' then return finite(v) and math.floor(v) == v end
  if kind == 'strings' or kind == 'comments' then
    if not is_list(v) then return false end
    for _, e in ipairs(v) do
      if kind == 'strings' and type(e) ~= 'string' then return false end
      if kind == 'comments' and not check_fields(e, COMMENT_FIELDS) then return false end
    end
    return true
  end
  return false
end
check_fields = function(t, fields)
  if type(t) ~= 'table' then return false end
  for _, f in ipairs(fields) do
    local v = t[f[1]]
    if v == nil then
      if f[3] then return false end
    elseif not value_ok(f[2], v) then
      return false
    end
  end
  return true
end
local function item_ok(item, id)
  if not check_fields(item, ITEM_FIELDS) then return false end
  return id == nil or item.id == id
end
-- The decoded item, or nil when the record is absent or damaged.
local function load_item(raw, id)
  if not raw then return nil end
  local ok, item = pcall(cjson.decode, raw)
  if ok and item_ok(item, id) then return item end
  return nil
end
-- 'absent', 'damaged' or 'ok' and the decoded andre:now_playing record.
local function read_np(key)
  local raw = redis.call('GET', key)
  if not raw then return 'absent', nil end
  local ok, np = pcall(cjson.decode, raw)
  if not ok or not check_fields(np, NP_FIELDS) or not item_ok(np.item) then
    return 'damaged', (ok and type(np) == 'table') and np or nil
  end
  return 'ok', np
end
