-- The read-heavy mix for wrk (`pnpm loadtest:crosscheck`): Zipf (s = 1.1) over the 100k seeded
-- keys rh:0..rh:99999, 95% reads and 5% writes of Zipf keys with 100-byte values, as
-- loadtests/scenarios/read-heavy.ts draws them. An independent generator on the same mix: if its
-- requests/s and hit rates differ from ours, one of the two measures something else.
--
-- Arguments (after `--`): keys, exponent, write share, value bytes, key prefix; defaults are
-- read-heavy's. A sixth argument, a number N, makes each thread also draw N ranks in init() and
-- report how many fell on rank 1 and on the top 10 and 1,000 (the sampler's test). Counts responses by X-Cache-Level in response() and prints the totals of every
-- thread as one JSON line, `WRK_MIX {...}`, in done().

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local n, s, write_share, value_bytes, prefix
local cdf = {}

-- The cumulative distribution of ranks 0..n-1, P(r) ∝ 1/(r+1)^s, normalised as zipf.ts does
-- (sum first, then divide; the last entry is 1 exactly).
local function build_cdf()
  local sum = 0
  for r = 0, n - 1 do
    sum = sum + (r + 1) ^ -s
    cdf[r] = sum
  end
  for r = 0, n - 1 do
    cdf[r] = cdf[r] / sum
  end
  cdf[n - 1] = 1
end

-- The smallest rank whose cumulative share exceeds u: zipf.ts's binary search.
local function sample()
  local u = math.random()
  local lo, hi = 0, n - 1
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] <= u then lo = mid + 1 else hi = mid end
  end
  return lo
end

local writes = 0
local padding

function init(args)
  n = tonumber(args[1]) or 100000
  s = tonumber(args[2]) or 1.1
  write_share = tonumber(args[3]) or 0.05
  value_bytes = tonumber(args[4]) or 100
  prefix = args[5] or "rh:"
  build_cdf()
  padding = string.rep("x", value_bytes)
  math.randomseed(1000 + (id or 0) * 7919 + os.time())
  l1, l2, db, other, nolevel, failed, drawn, head1, head1000 = 0, 0, 0, 0, 0, 0, 0, 0, 0
  self_n, self_rank1, self_top10, self_top1000 = tonumber(args[6]) or 0, 0, 0, 0
  for _ = 1, self_n do
    local rank = sample()
    if rank == 0 then self_rank1 = self_rank1 + 1 end
    if rank < 10 then self_top10 = self_top10 + 1 end
    if rank < 1000 then self_top1000 = self_top1000 + 1 end
  end
end

local write_headers = { ["Content-Type"] = "application/json" }

function request()
  local rank = sample()
  drawn = drawn + 1
  if rank == 0 then head1 = head1 + 1 end
  if rank < 1000 then head1000 = head1000 + 1 end
  local key = prefix .. rank
  if math.random() < write_share then
    writes = writes + 1
    local tag = "wrk" .. (id or 0) .. ":" .. writes .. ":"
    local value = tag .. string.sub(padding, 1, value_bytes - #tag)
    local body = '{"key":"' .. key .. '","value":"' .. value .. '"}'
    return wrk.format("POST", "/write", write_headers, body)
  end
  return wrk.format("GET", "/read/" .. string.gsub(key, ":", "%%3A"))
end

function response(status, headers, body)
  if status >= 400 then failed = failed + 1 end
  local level = headers["X-Cache-Level"] or headers["x-cache-level"]
  if level == "L1" then l1 = l1 + 1
  elseif level == "L2" then l2 = l2 + 1
  elseif level == "DB" then db = db + 1
  elseif level then other = other + 1
  else nolevel = nolevel + 1 end
end

function done(summary, latency, requests)
  local t = { l1 = 0, l2 = 0, db = 0, other = 0, nolevel = 0, failed = 0, drawn = 0, drawn_rank1 = 0, drawn_top1000 = 0,
    self_n = 0, self_rank1 = 0, self_top10 = 0, self_top1000 = 0 }
  for _, thread in ipairs(threads) do
    t.l1 = t.l1 + thread:get("l1")
    t.l2 = t.l2 + thread:get("l2")
    t.db = t.db + thread:get("db")
    t.other = t.other + thread:get("other")
    t.nolevel = t.nolevel + thread:get("nolevel")
    t.failed = t.failed + thread:get("failed")
    t.drawn = t.drawn + thread:get("drawn")
    t.drawn_rank1 = t.drawn_rank1 + thread:get("head1")
    t.drawn_top1000 = t.drawn_top1000 + thread:get("head1000")
    t.self_n = t.self_n + thread:get("self_n")
    t.self_rank1 = t.self_rank1 + thread:get("self_rank1")
    t.self_top10 = t.self_top10 + thread:get("self_top10")
    t.self_top1000 = t.self_top1000 + thread:get("self_top1000")
  end
  io.write(string.format(
    'WRK_MIX {"requests":%d,"duration_us":%d,"l1":%d,"l2":%d,"db":%d,"other":%d,"no_level":%d,"failed":%d,"drawn":%d,"drawn_rank1":%d,"drawn_top1000":%d,"self_n":%d,"self_rank1":%d,"self_top10":%d,"self_top1000":%d}\n',
    summary.requests, summary.duration, t.l1, t.l2, t.db, t.other, t.nolevel, t.failed, t.drawn, t.drawn_rank1, t.drawn_top1000,
    t.self_n, t.self_rank1, t.self_top10, t.self_top1000))
end
