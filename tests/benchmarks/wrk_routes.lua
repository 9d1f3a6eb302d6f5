-- wrk script of tests/benchmarks/test_http.py: one route per run.
--
--   wrk ... -s wrk_routes.lua URL -- item   EXPECTED TOKEN IDS_FILE   (GET /tasks/{id}, ids in turn)
--   wrk ... -s wrk_routes.lua URL -- list   EXPECTED TOKEN            (GET of URL's path and query)
--   wrk ... -s wrk_routes.lua URL -- create EXPECTED TOKEN BODY_FILE  (POST of the JSON body to URL)
--
-- Every request carries "Authorization: Bearer TOKEN". Every response whose status is not EXPECTED is counted; done() prints one line,
-- "HK_RESULT {json}", with the totals the benchmark reads and checks.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

local mode, expected
local ids, next_id = {}, 0
local fixed
unexpected = 0
last_unexpected = ""

function init(args)
   mode, expected = args[1], tonumber(args[2])
   local auth = { Authorization = "Bearer " .. args[3] }
   if mode == "item" then
      for line in io.lines(args[4]) do
         table.insert(ids, wrk.format("GET", "/tasks/" .. line, auth))
      end
   elseif mode == "create" then
      local file = assert(io.open(args[4], "rb"))
      local body = file:read("*a")
      file:close()
      auth["Content-Type"] = "application/json"
      fixed = wrk.format("POST", nil, auth, body)
   elseif mode == "list" then
      fixed = wrk.format("GET", nil, auth)
   else
      error("unknown mode " .. tostring(mode))
   end
end

function request()
   if mode == "item" then
      next_id = next_id % #ids + 1
      return ids[next_id]
   end
   return fixed
end

function response(status, headers, body)
   if status ~= expected then
      unexpected = unexpected + 1
      last_unexpected = status .. " " .. string.sub(body or "", 1, 300)
   end
end

function done(summary, latency, requests)
   local bad, sample = 0, ""
   for _, thread in ipairs(threads) do
      bad = bad + thread:get("unexpected")
      local last = thread:get("last_unexpected")
      if last ~= "" then sample = last end
   end
   local e = summary.errors
   io.write(string.format(
      'HK_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, '
         .. '"write": %d, "status": %d, "timeout": %d, "unexpected": %d, "p50_us": %d, '
         .. '"p99_us": %d, "sample": "%s"}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
      e.status, e.timeout, bad, latency:percentile(50), latency:percentile(99),
      (string.gsub(sample, '[%c"\\]', "?"))
   ))
end
