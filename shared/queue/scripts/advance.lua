-- KEYS: 1 leader, 2 now_playing, 3 queue, 4 owners, 5 paused, 6 skip, 7 history, 8 preview,
--       9 events, 10 streak_start, 11 seed, 12 candidates, 13 uris, 14 the preview's Bender
--       filter flag, 15.. per candidate (the head of the queue, in order): its item, its voters, its track's
--       Bender filter flag
-- ARGV: 1 token, 2 expected now_playing raw ('' = idle), 3 mode (end|skip|idle), 4 now_ms,
--       5 allow_fill ('1'/'0'), 6 finished play JSON ('' = none), 7 history max,
--       8 events max len, 9 the preview's uri ('' = none), 10 filter ttl s, 11 seed ttl s,
--       12.. per candidate: its id and its track's uri
--
-- One atomic step: only the lock holder, and only if now_playing is still what it looked at
-- (a pause, resume or jam in between makes it look again). Finishes the current song into the
-- history, pops the next queued item (or promotes the Bender preview when allowed), writes the
-- new now_playing and returns it; the caller announces it (shared.queue.now_playing). Items are
-- spliced as text: re-encoding with cjson would turn empty lists into objects.
-- The keys are declared from what the caller read just before: {'moved'} when the queue's head
-- is no longer that, {'more'} when every declared candidate is damaged and the queue holds more;
-- both before any write.
--! include checks
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'not_leader'} end
local cur = redis.call('GET', KEYS[2]) or ''
if cur ~= ARGV[2] then return {'stale'} end
-- The per-song keys are not type-checked up front (only the first 14 keys are): a song key of
-- the wrong type reads as a damaged record (GET of another type is an error, caught here),
-- which is dropped like any other, rather than stopping the music.
local function get_any(key)
  local value = redis.pcall('GET', key)
  if type(value) == 'table' then return nil end
  return value
end
-- An item record that is missing or damaged (shared.queue.records) is dropped, named in the
-- reply so the worker can report it, and the next one tried: a bad record never stops the music.
local function readable(raw, id)
  if type(raw) ~= 'string' then return nil end
  local item = load_item(raw, id)
  if item and string.sub(raw, -1) == '}' then return item end
  return nil
end
local declared = (#ARGV - 11) / 2
local head = redis.call('LRANGE', KEYS[3], 0, declared)
local pick = nil
for c = 1, declared do
  local id = ARGV[10 + 2 * c]
  if head[c] ~= id then return {'moved'} end
  if not pick then
    if readable(get_any(KEYS[12 + 3 * c]), id) then pick = c end
  end
end
if not pick and head[declared + 1] then return {'more'} end
local preview_json = redis.call('GET', KEYS[8])
local preview = nil
if not pick and ARGV[5] == '1' and preview_json then preview = readable(preview_json) end
-- Scripts are not rolled back on error: never raise after the first write.
local now = tonumber(ARGV[4])
local cur_paused = false
if cur ~= '' then
  local ok, decoded = pcall(cjson.decode, cur)
  if ok and type(decoded) == 'table' then cur_paused = decoded.paused and true or false end
end
if ARGV[6] ~= '' then
  redis.call('LPUSH', KEYS[7], ARGV[6])
  redis.call('LTRIM', KEYS[7], 0, tonumber(ARGV[7]) - 1)
end
-- A skip request is about the song that is now over (or there was none): consume it.
redis.call('DEL', KEYS[6])
local dropped = {}
local item_json = nil
local item = nil
local filter = nil
local source = 'queue'
for c = 1, (pick or declared) do
  local id = redis.call('LPOP', KEYS[3])
  redis.call('HDEL', KEYS[4], id)
  redis.call('HDEL', KEYS[13], id)
  local raw = get_any(KEYS[12 + 3 * c])
  redis.call('DEL', KEYS[12 + 3 * c], KEYS[13 + 3 * c])
  if c == pick then
    item_json = raw
    item = readable(raw, id)
    filter = {KEYS[14 + 3 * c], ARGV[11 + 2 * c]}
  else
    dropped[#dropped + 1] = id
  end
end
if not item and ARGV[5] == '1' and preview_json then
  redis.call('DEL', KEYS[8])
  if preview then
    item_json = preview_json
    item = preview
    filter = {KEYS[14], ARGV[9]}
    source = 'preview'
  else
    dropped[#dropped + 1] = 'preview'
  end
end
local emit = function(etype, data)
  redis.call('XADD', KEYS[9], 'MAXLEN', '~', ARGV[8], '*', 'type', etype, 'data', data)
end
if not item then
  redis.call('DEL', KEYS[2], KEYS[5])
  if cur ~= '' then emit('now_playing', '{}') end
  return {'idle', '', '', unpack(dropped)}
end
-- Skip while paused: the next song is cued at 0 and stays paused until someone resumes.
local paused = (ARGV[3] == 'skip') and cur_paused
local pflag = paused and 'true' or 'false'
local np = '{"item":' .. item_json .. ',"started_at":' .. string.format('%.3f', now / 1000) ..
  ',"pos_ms":0,"anchor_ms":' .. string.format('%d', now) .. ',"paused":' .. pflag .. '}'
redis.call('SET', KEYS[2], np)
if paused then redis.call('SET', KEYS[5], '1') else redis.call('DEL', KEYS[5]) end
local uri = tostring(item.uri or '')
-- The filter flag was declared for the uri the caller read; ids are never reused, so it differs
-- only when the caller could not read the record (bad bytes) or the preview changed meanwhile:
-- then no flag is set rather than an undeclared key touched.
if uri ~= '' and uri == filter[2] and get_any(filter[1]) ~= 'user' then
  redis.call('SET', filter[1], 'play', 'EX', ARGV[10])
end
if item.auto then
  redis.call('SET', KEYS[10], string.format('%d', now), 'NX')
else
  -- A human song ends any auto-fill streak and becomes Bender's new seed.
  redis.call('DEL', KEYS[10], KEYS[12])
  if uri ~= '' then redis.call('SET', KEYS[11], uri, 'EX', ARGV[11]) end
end
return {'started', np, source, unpack(dropped)}
