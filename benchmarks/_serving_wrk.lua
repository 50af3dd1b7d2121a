-- wrk script of serving.py: POST pre-built JSON bodies, rotating, and report as one JSON line.
--
--   wrk -t1 -cN -dDs --latency -s _serving_wrk.lua http://127.0.0.1:P/path -- bodies.jsonl
--
-- bodies.jsonl holds one request body per line; every request is built once in init() and
-- each connection's next request is the next body (round robin over the file, per thread).
-- done() prints {"requests", "duration_us", "bytes", "errors": {...}, "latency_us": {...}}
-- (latency percentiles from wrk's own histogram, microseconds), prefixed "WRKJSON ".

local requests = {}
local n = 0
local i = 0

function init(args)
  local path = args[1]
  local f = assert(io.open(path, "r"))
  for line in f:lines() do
    if #line > 0 then
      n = n + 1
      requests[n] = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, line)
    end
  end
  f:close()
  assert(n > 0, "no bodies in " .. path)
  i = tonumber(args[2] or "0") % n
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return requests[i]
end

function done(summary, latency, requests_)
  local e = summary.errors
  local p = {}
  for _, q in ipairs({50, 90, 99, 99.9}) do
    p[#p + 1] = string.format('"p%s": %d', tostring(q), latency:percentile(q))
  end
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {%s, "mean": %.1f, "stdev": %.1f, "min": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(p, ", "), latency.mean, latency.stdev, latency.min, latency.max))
end
