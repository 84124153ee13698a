-- strataSet. KEYS[1] key; ARGV: version, encoded record, ttl ms, deadline (ms since the epoch).
-- Returns 1 when installed, 0 when refused: a higher version is there, or the deadline has passed
-- on Redis's clock (the load is too old: the fence that would refuse it may have expired since).
-- GETRANGE reads only the version prefix: a 1 MiB value is never copied into Lua.
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[4]) then return 0 end
local head = redis.call('GETRANGE', KEYS[1], 0, 31)
local ttl = tonumber(ARGV[3])
if head ~= '' then
  local current = tonumber(string.match(head, '^(%d+):'))
  if current and current > tonumber(ARGV[1]) then return 0 end
  local left = redis.call('PTTL', KEYS[1])
  if left > ttl then ttl = left end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
return 1
