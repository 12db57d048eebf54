-- KEYS: 1 queue, 2 preview, 3.. the item of each id the caller read
-- ARGV: the ids the keys were declared for
-- The whole queue view in one step: {'ok', preview ('' when none), then id and record of each
-- queued item in order (false when missing)}, or {'retry', ids...} when an id was queued since
-- the caller read them. The records are checked by the reader (shared.queue.records), which
-- skips and reports a damaged one.
--! include prelude
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
if not all_declared(ids, 0) then return retry(ids) end
local key_of = {}
for k = 1, #ARGV do key_of[ARGV[k]] = KEYS[k + 2] end
local out = {'ok', redis.call('GET', KEYS[2]) or ''}
local i = 1
while i <= #ids do
  local j = math.min(i + 499, #ids)
  local names = {}
  for k = i, j do names[#names + 1] = key_of[ids[k]] end
  local vals = redis.call('MGET', unpack(names))
  for k = 1, #vals do
    out[#out + 1] = ids[i + k - 1]
    out[#out + 1] = vals[k]
  end
  i = j + 1
end
return out
