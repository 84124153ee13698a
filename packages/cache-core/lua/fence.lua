-- strataFence. KEYS[1] key, KEYS[2] (optional) its fill lease (same hash slot); ARGV: version,
-- encoded fence, ttl ms, then the bus channel, the invalidation message and '1' to send it with
-- SPUBLISH (a Redis Cluster's sharded channel, which is in KEYS[1]'s slot by construction) or '0'
-- with PUBLISH ('' for no message), then, with KEYS[2], the writer's lease token and its ttl ms.
-- Keeps a newer record if one is there; publishes the message either way, exactly once: one
-- command and one reply for both. With KEYS[2], a fence that went up also takes the key's fill
-- lease for the write's version (fill-lease.lua's format, `version:token`) on the writer's
-- behalf: readers that need that version wait for the writer's fill after its commit rather than
-- load the row it replaces. A lease for a newer version is left alone.
-- The lease is read with GETRANGE 0 -1 (the whole value; '' when absent), not GET: a read's L2
-- lookup is a GET from the client, and Redis's per-command counts (INFO commandstats, which
-- count a script's commands too) then tell a read's round trips from the scripts' own reads.
local fenced = 1
local head = redis.call('GETRANGE', KEYS[1], 0, 31)
if head ~= '' then
  local current = tonumber(string.match(head, '^(%d+):'))
  if current and current > tonumber(ARGV[1]) then fenced = 0 end
end
if fenced == 1 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
if ARGV[4] and ARGV[4] ~= '' then
  local publish = 'PUBLISH'
  if ARGV[6] == '1' then publish = 'SPUBLISH' end
  redis.call(publish, ARGV[4], ARGV[5])
end
if fenced == 1 and KEYS[2] then
  local held = redis.call('GETRANGE', KEYS[2], 0, -1)
  local leased = held and tonumber(string.match(held, '^(%d+):'))
  if not leased or leased <= tonumber(ARGV[1]) then
    redis.call('SET', KEYS[2], ARGV[1] .. ':' .. ARGV[7], 'PX', ARGV[8])
  end
end
return fenced
