-- strataFence. KEYS[1] key; ARGV: version, encoded fence, ttl ms. Keeps a newer record if one is
-- there.
local head = redis.call('GETRANGE', KEYS[1], 0, 31)
if head ~= '' then
  local current = tonumber(string.match(head, '^(%d+):'))
  if current and current > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
