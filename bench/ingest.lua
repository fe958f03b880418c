-- wrk script: POST a valid submission with a fresh UUID each time.
-- The body (answers) comes from the environment variable INGEST_BODY_FILE.
local f = assert(io.open(os.getenv("INGEST_BODY_FILE"), "r"))
local answers = f:read("*a")
f:close()
local token = os.getenv("INGEST_TOKEN") or ""
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + seed)
end

local function uuid()
  local function hex(n) local s = "" for _ = 1, n do s = s .. string.format("%x", math.random(0, 15)) end return s end
  return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-" .. string.format("%x", math.random(8, 11)) .. hex(3) .. "-" .. hex(12)
end

function request()
  local body = '{"id":"' .. uuid() .. '","completed_at":"2026-11-20T10:00:00+08:00","answers":' .. answers .. '}'
  local headers = {["Content-Type"] = "application/json"}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("POST", nil, headers, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %.3f %.3f %.3f\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.duration / 1e6))
end
