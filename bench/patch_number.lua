-- wrk script for PATCH /v1/organization-phone-numbers/{id}: each request gives a random
-- number of IDS_FILE (one id per line) a nickname never sent before, so every request is a
-- change that writes a history entry and an event. TOKEN is the API key. Answers other than
-- 200 are counted and reported.

local ids, count = {}, 0
local token = os.getenv("TOKEN")
local sent = 0
local threads = {}
ok, other = 0, 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  for line in io.lines(os.getenv("IDS_FILE")) do
    count = count + 1
    ids[count] = line
  end
  math.randomseed(os.time() * 100 + thread_number)
end

function request()
  sent = sent + 1
  local id = ids[math.random(count)]
  local body = '{"nickname":"t' .. thread_number .. "-" .. sent .. '"}'
  return wrk.format("PATCH", "/v1/organization-phone-numbers/" .. id,
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local o, x = 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    x = x + t:get("other")
  end
  io.write(string.format("CHECK ok=%d other=%d\n", o, x))
  io.write(string.format("LATENCY p50=%d p99=%d\n", latency:percentile(50), latency:percentile(99)))
end
