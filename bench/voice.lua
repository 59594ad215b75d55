-- wrk script for POST /carriers/twilio/voice: every request a new call, signed as Twilio signs.
--
-- Reads CALLS_FILE: one call per line, "<X-Twilio-Signature>\t<form body>" (bench/calls.py
-- writes it). Each thread takes every other line, so no CallSid repeats while the file lasts;
-- an answer must be a 200 with a <Dial> in it.

local calls_file = os.getenv("CALLS_FILE")
local signatures, bodies = {}, {}
local count, sent = 0, 0
dialled, other = 0, 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads - 1)
end

function init(args)
  for line in io.lines(calls_file) do
    local signature, body = line:match("^([^\t]+)\t(.+)$")
    if signature then
      count = count + 1
      signatures[count], bodies[count] = signature, body
    end
  end
  if count == 0 then
    error("no calls in " .. tostring(calls_file))
  end
end

function request()
  local i = (sent * 2 + thread_number) % count + 1
  sent = sent + 1
  return wrk.format("POST", "/carriers/twilio/voice", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = signatures[i],
  }, bodies[i])
end

function response(status, headers, body)
  if status == 200 and body:find("<Dial", 1, true) then
    dialled = dialled + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local total = { dialled = 0, other = 0 }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(total) do
      total[name] = total[name] + (thread:get(name) or 0)
    end
  end
  io.write(string.format("CHECK dialled=%d other=%d\n", total.dialled, total.other))
  io.write(string.format("LATENCY p50_us=%d p99_us=%d\n", latency:percentile(50), latency:percentile(99)))
  io.write(string.format("RATE requests=%d duration_us=%d\n", summary.requests, summary.duration))
end
