-- strataUnfence. KEYS[1] key; ARGV: the fence as strataFence wrote it, its replacement ('' for
-- none), ttl ms. Compares the whole record, nonce included: only the write that left the fence
-- takes it back. STRLEN first, so a large value is never copied into Lua.
if redis.call('STRLEN', KEYS[1]) ~= string.len(ARGV[1]) then return 0 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
