-- strataSyncGeneration. KEYS[1] generation; ARGV: the generation this instance knows (0: none),
-- a fresh random one. A missing key, or one below what an instance knew, means Redis lost data (a
-- restart without persistence, a failover to a lagging replica): it is moved past every known
-- value, so every instance sees the generation move and treats it as a loss.
local current = tonumber(redis.call('GET', KEYS[1]))
local known = tonumber(ARGV[1])
if current == nil then
  if known > 0 then current = known + 1 else current = tonumber(ARGV[2]) end
  redis.call('SET', KEYS[1], current)
elseif current < known then
  current = known + 1
  redis.call('SET', KEYS[1], current)
end
return current
