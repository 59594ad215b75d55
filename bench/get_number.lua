-- wrk script for GET /v1/organization-phone-numbers/{id}.
--
-- Reads PAIRS_FILE: one request per line, "<token> <id> <expected status>". Each request
-- picks a random line and sends x-request-id "<n>-<expected status>"; the server echoes
-- the id, so each response is checked against what its own request expected.
-- With BASELINE_TOKEN set, every request carries that token and expects 200.

local pairs_file = os.getenv("PAIRS_FILE")
local baseline_token = os.getenv("BASELINE_TOKEN")
local tokens, ids, expected = {}, {}, {}
local count = 0
local sent = 0
-- Per-thread counters, summed over the threads in done().
mismatches, ok, not_found, other = 0, 0, 0, 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  for line in io.lines(pairs_file) do
    local token, id, status = line:match("^(%S+) (%S+) (%d+)$")
    if token then
      count = count + 1
      tokens[count], ids[count], expected[count] = token, id, status
    end
  end
  if count == 0 then
    error("no pairs in " .. tostring(pairs_file))
  end
  math.randomseed(os.time() * 100 + (thread_number or 0))
end

function request()
  local i = math.random(count)
  local token, want = tokens[i], expected[i]
  if baseline_token then
    token, want = baseline_token, "200"
  end
  sent = sent + 1
  return wrk.format("GET", "/v1/organization-phone-numbers/" .. ids[i], {
    ["Authorization"] = "Bearer " .. token,
    ["x-request-id"] = sent .. "-" .. want,
  })
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  elseif status == 404 then
    not_found = not_found + 1
  else
    other = other + 1
  end
  local echoed = headers["x-request-id"] or headers["X-Request-Id"] or ""
  local want = echoed:match("-(%d+)$")
  if want ~= tostring(status) then
    mismatches = mismatches + 1
  end
end

function done(summary, latency, requests)
  local total = { mismatches = 0, ok = 0, not_found = 0, other = 0 }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(total) do
      total[name] = total[name] + (thread:get(name) or 0)
    end
  end
  io.write(string.format(
    "CHECK responses_200=%d responses_404=%d responses_other=%d mismatched=%d\n",
    total.ok, total.not_found, total.other, total.mismatches))
  io.write(string.format("LATENCY p50_us=%d p99_us=%d\n",
    latency:percentile(50), latency:percentile(99)))
  io.write(string.format("RATE requests=%d duration_us=%d\n", summary.requests, summary.duration))
end
