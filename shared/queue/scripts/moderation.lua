-- Moderation (shared.queue.moderation). Shared tail of mod_skip and mod_remove: decide whether
-- `actor` acts at once (admin or the song's queuer) or casts a vote; a vote that reaches the
-- threshold acts for everyone who voted.
local function decide(owner, actor, privileged, threshold, votes_key, ttl_s)
  if privileged then return 'admin', nil end
  if owner ~= '' and owner == actor then return 'own', nil end
  if threshold <= 0 then return 'forbidden', nil end
  local added = redis.call('SADD', votes_key, actor)
  redis.call('EXPIRE', votes_key, ttl_s)
  local n = redis.call('SCARD', votes_key)
  if n < threshold then
    if added == 0 then return 'already', n end
    return 'voted', n
  end
  return 'vote', redis.call('SMEMBERS', votes_key)
end
local function announce(stream, maxlen, log_key, log_kept, record)
  local data = cjson.encode(record)
  redis.call('LPUSH', log_key, data)
  redis.call('LTRIM', log_key, 0, log_kept - 1)
  emit(stream, maxlen, 'room', data)
end
-- A vote that does not act yet: a new one is announced; the reply says how many of how many.
local function vote_reply(how, votes, threshold, song, kind, stream, maxlen)
  if how == 'voted' then
    song.kind = kind
    song.votes = votes
    song.needed = threshold
    emit(stream, maxlen, 'room', cjson.encode(song))
  end
  return {how, tostring(votes), tostring(threshold)}
end
-- The change was made (`how`: admin, own or vote, with the voters): recorded and announced.
local function record_done(song, kind, how, voters, stream, maxlen, log_key, log_kept)
  song.kind = kind
  song.how = how
  if voters then song.voters = voters end
  announce(stream, maxlen, log_key, log_kept, song)
end
