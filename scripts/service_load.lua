-- Mixed workload for examples/session_service, driven by wrk.
--
-- Per request:  80% GET /sessions/{id}        (a prefilled id: always a hit)
--               10% PATCH /sessions/{id}      ({"add_points":1}, read-modify-write)
--                4% POST /sessions            (a new session)
--                4% DELETE /sessions/{id}     (one this wrk thread created;
--                                              a GET when it has none left)
--                2% GET /sessions?limit=L     (a listing while others write)
--
-- Prefilled sessions (ids 1..PREFILL, created by the service's --prefill) are
-- never deleted, so reads and patches never miss and every response should
-- be 2xx: the summary counts any other status as an error.
--
-- Environment: PREFILL (default 10000), LIST_LIMIT (default 100).
-- The done() hook prints one machine-readable line:
--   RESULT requests=N duration_s=S rps=R p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=.. non2xx=.. socket_errors=..

local prefill = tonumber(os.getenv("PREFILL") or "10000")
local list_limit = tonumber(os.getenv("LIST_LIMIT") or "100")
local json_headers = { ["Content-Type"] = "application/json" }

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
end

-- Per-thread state (each wrk thread has its own Lua state).
local mine = {}   -- a stack of ids this thread created and has not deleted
local patch_body = '{"add_points":1}'
local create_body

function init(args)
  local t = tid or 1
  math.randomseed(0x5eed + 7919 * t)
  create_body = '{"user":"load-' .. t .. '"}'
end

local function random_id()
  return math.random(1, prefill)
end

function request()
  local r = math.random(1, 100)
  if r <= 80 then
    return wrk.format("GET", "/sessions/" .. random_id())
  elseif r <= 90 then
    return wrk.format("PATCH", "/sessions/" .. random_id(), json_headers, patch_body)
  elseif r <= 94 then
    return wrk.format("POST", "/sessions", json_headers, create_body)
  elseif r <= 98 then
    local n = #mine
    if n > 0 then
      local id = mine[n]
      mine[n] = nil
      return wrk.format("DELETE", "/sessions/" .. id)
    end
    return wrk.format("GET", "/sessions/" .. random_id())
  else
    return wrk.format("GET", "/sessions?limit=" .. list_limit)
  end
end

function response(status, headers, body)
  if status == 201 then
    local id = string.match(body, '"id":(%d+)')
    if id then
      mine[#mine + 1] = id
    end
  end
end

function done(summary, latency, requests)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.2f rps=%.0f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, s, summary.requests / s,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
