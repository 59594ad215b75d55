-- wrk script for GET /v1/organization-phone-numbers?page=P&limit=100 with one key.
-- TOKEN and PAGE come from the environment; every answer must be a 200.
local token = os.getenv("TOKEN")
local page = os.getenv("PAGE") or "1"
ok, other = 0, 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function request()
  return wrk.format("GET", "/v1/organization-phone-numbers?limit=100&page=" .. page,
    { ["Authorization"] = "Bearer " .. token })
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_other = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + (thread:get("ok") or 0)
    total_other = total_other + (thread:get("other") or 0)
  end
  io.write(string.format("CHECK responses_200=%d responses_other=%d\n", total_ok, total_other))
  io.write(string.format("LATENCY p50_us=%d p99_us=%d\n", latency:percentile(50), latency:percentile(99)))
  io.write(string.format("RATE requests=%d duration_us=%d\n", summary.requests, summary.duration))
end
