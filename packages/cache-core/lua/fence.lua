-- strataFence. KEYS[1] key; ARGV: version, encoded fence, ttl ms, then optionally the bus channel,
-- the invalidation message and '1' to send it with SPUBLISH (a Redis Cluster's sharded channel,
-- which is in KEYS[1]'s slot by construction) or '0' with PUBLISH. Keeps a newer record if one is
-- there; publishes the message either way, exactly once: one command and one reply for both.
local fenced = 1
local head = redis.call('GETRANGE', KEYS[1], 0, 31)
if head ~= '' then
  local current = tonumber(string.match(head, '^(%d+):'))
  if current and current > tonumber(ARGV[1]) then fenced = 0 end
end
if fenced == 1 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
if ARGV[4] then
  local publish = 'PUBLISH'
  if ARGV[6] == '1' then publish = 'SPUBLISH' end
  redis.call(publish, ARGV[4], ARGV[5])
end
return fenced
