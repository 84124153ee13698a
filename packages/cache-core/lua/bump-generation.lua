-- strataBumpGeneration. KEYS[1] generation; ARGV[1] the generation this instance knows. Never
-- moves backwards.
local current = tonumber(redis.call('GET', KEYS[1])) or 0
local known = tonumber(ARGV[1])
if current < known then current = known end
current = current + 1
redis.call('SET', KEYS[1], current)
return current
