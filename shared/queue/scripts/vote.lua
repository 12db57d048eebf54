-- KEYS: 1 queue, 2 owners, 3 events, 4 the item, 5 the item's voters
-- ARGV: 1 id, 2 voter (lower), 3 up ('1' or '0'), 4 events_max_len
-- One vote per user per song; a counted vote swaps the song with its neighbour (one slot).
--! include prelude
local id = ARGV[1]
local pos = redis.call('LPOS', KEYS[1], id)
if not pos then return {'not_found'} end
local raw = redis.call('GET', KEYS[4])
if not raw then return {'not_found'} end
-- Decoded and checked before the first write: a damaged record must not keep the voter.
local item = load_item(raw, id)
if not item then return {'damaged'} end
local up = ARGV[3] == '1'
if up and redis.call('HGET', KEYS[2], id) == ARGV[2] then return {'own_upvote'} end
if redis.call('SADD', KEYS[5], ARGV[2]) == 0 then return {'already_voted'} end
local delta = -1
if up then delta = 1 end
item.votes = (tonumber(item.votes) or 0) + delta
redis.call('SET', KEYS[4], fix(cjson.encode(item)))
local other = pos + 1
if up then other = pos - 1 end
if other >= 0 and other < redis.call('LLEN', KEYS[1]) then
  local oid = redis.call('LINDEX', KEYS[1], other)
  redis.call('LSET', KEYS[1], other, id)
  redis.call('LSET', KEYS[1], pos, oid)
  pos = other
end
emit(KEYS[3], ARGV[4], 'queue_update', '')
return {'ok', tostring(pos), tostring(item.votes)}
