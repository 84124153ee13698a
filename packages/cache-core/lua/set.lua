-- strataSet. KEYS[1] key, KEYS[2] (optional) its fill lease (same hash slot); ARGV: version,
-- encoded record, ttl ms, deadline (ms since the epoch), then, with KEYS[2], the token of the
-- lease the filler holds.
-- Returns 1 when installed, 0 when refused: a higher version is there, or the deadline has passed
-- on Redis's clock (the load is too old: the fence that would refuse it may have expired since).
-- With KEYS[2], drops the filler's lease (fill-lease.lua's format, `version:token`) if it still
-- holds it, installed or refused: the fill is over either way, and a lease kept past it would
-- hold up the readers of that version once the record is gone (expired, evicted, cleared) with
-- no fill to come. One command for both; a lease another reader or a newer write took stays.
-- GETRANGE reads only the version prefix: a 1 MiB value is never copied into Lua.
-- The lease is read with GETRANGE 0 -1 (the whole value; '' when absent), not GET: a read's L2
-- lookup is a GET from the client, and Redis's per-command counts (INFO commandstats, which
-- count a script's commands too) then tell a read's round trips from the scripts' own reads.
local function settled(result)
  if KEYS[2] then
    local held = redis.call('GETRANGE', KEYS[2], 0, -1)
    if held and string.match(held, '^%d+:(.*)$') == ARGV[5] then redis.call('DEL', KEYS[2]) end
  end
  return result
end
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[4]) then return settled(0) end
local head = redis.call('GETRANGE', KEYS[1], 0, 31)
local ttl = tonumber(ARGV[3])
if head ~= '' then
  local current = tonumber(string.match(head, '^(%d+):'))
  if current and current > tonumber(ARGV[1]) then return settled(0) end
  local left = redis.call('PTTL', KEYS[1])
  if left > ttl then ttl = left end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
return settled(1)
