-- One benchmark scenario for wrk, configured through the environment by bench/harness.py:
--   BENCH_METHOD, BENCH_PATH, BENCH_BODY (JSON text), BENCH_TOKEN (bearer access token),
--   BENCH_REFRESH_TOKENS (file of refresh tokens, one a line: each request spends the next one),
--   BENCH_REPORT (file the summary is written to as JSON).
-- Run wrk with one thread (-t1): the token list is consumed by that thread's Lua state.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
local token = os.getenv("BENCH_TOKEN")
local tokens_file = os.getenv("BENCH_REFRESH_TOKENS")
local report = os.getenv("BENCH_REPORT")

local headers = {["Accept"] = "application/json"}
if body and body ~= "" then
  headers["Content-Type"] = "application/json"
else
  body = nil
end
if token and token ~= "" then
  headers["Authorization"] = "Bearer " .. token
end

local tokens = nil
local next_token = 1
if tokens_file and tokens_file ~= "" then
  tokens = {}
  for line in io.lines(tokens_file) do
    tokens[#tokens + 1] = line
  end
  headers["Content-Type"] = "application/json"
end

local fixed = nil

function init(args)
  -- After wrk has set the Host header on wrk.headers: a request without Host is a 400 for some
  -- servers (granian hands Django an empty host).
  fixed = wrk.format(method, path, headers, body)
end

function request()
  if tokens then
    -- Refresh tokens rotate: a token used twice revokes its session, so never wrap around.
    local refresh = tokens[next_token] or "exhausted"
    next_token = next_token + 1
    return wrk.format(method, path, headers, '{"refresh_token": "' .. refresh .. '"}')
  end
  return fixed
end

function done(summary, latency, requests)
  local file = assert(io.open(report, "w"))
  file:write(string.format(
    '{"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, "timeouts": %d, '
      .. '"p50_us": %d, "p95_us": %d, "p99_us": %d, "mean_us": %f, "max_us": %d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean, latency.max
  ))
  file:close()
end
