-- strataFillLease. KEYS[1] a key's L2 slot, KEYS[2] its fill lease (same hash slot). After a miss,
-- the first reader takes the lease and loads; the others wait for its fill instead of loading too.
-- A lease names the version it was taken for, so a reader that needs a newer one (a write fenced
-- the key since) is never held up by an older lease: it takes the lease over.
-- ARGV[1] 'take': ARGV[2] the version the reader needs, [3] its generation, [4] its clock (ms since
-- the epoch), [5] a token naming it, [6] the lease's ttl in ms. Returns 2 when the slot already
-- holds a record the reader may serve (read it again), 0 when another reader holds the lease for
-- that version or a newer one (wait for its fill), 1 when the reader took it (load).
-- ARGV[1] 'drop': ARGV[2] the token. Deletes the lease if that reader still holds it (its load
-- failed or was refused), so waiters need not wait for it to expire. Returns 1 when deleted.
-- GETRANGE reads only the record's head: a 1 MiB value is never copied into Lua.
-- The lease is read with GETRANGE 0 -1 (the whole value; '' when absent), not GET: a read's L2
-- lookup is a GET from the client, and Redis's per-command counts (INFO commandstats, which
-- count a script's commands too) then tell a read's round trips from the scripts' own reads.
if ARGV[1] == 'drop' then
  local held = redis.call('GETRANGE', KEYS[2], 0, -1)
  if held and string.match(held, '^%d+:(.*)$') == ARGV[2] then
    redis.call('DEL', KEYS[2])
    return 1
  end
  return 0
end
local want = ARGV[2]
local head = redis.call('GETRANGE', KEYS[1], 0, 63)
if head ~= '' then
  local version, expires, generation, kind = string.match(head, '^(%d+):(%d+):(%d+):(%a):')
  if version and tonumber(version) >= tonumber(want) then
    if kind ~= 't' and tonumber(generation) >= tonumber(ARGV[3]) and tonumber(expires) > tonumber(ARGV[4]) then
      return 2
    end
    want = version
  end
end
local held = redis.call('GETRANGE', KEYS[2], 0, -1)
if held ~= '' then
  local leased = tonumber(string.match(held, '^(%d+):'))
  if leased and leased >= tonumber(want) then return 0 end
end
redis.call('SET', KEYS[2], want .. ':' .. ARGV[5], 'PX', ARGV[6])
return 1
