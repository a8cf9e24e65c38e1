-- bench/scale/wrk.lua: replays the requests of bench/scale/reqs.mjs and
-- prints one machine-readable result line. A copy of bench/lib/wrk.lua
-- (which bench/run owns) that sends what Portal sends today: the shared
-- secret in X-Webhook-Secret and, on a store, the backupMethod in the body.
--
--   wrk -t T -c C -d D --timeout 10s -s wrk.lua URL -- BASE SHAREFILE SECRETFILE [ROOT]
--
-- Thread i reads BASE.ti, lines of: kind ("s" or "f"), clientId,
-- backupMethod ("-" for a fetch), tab separated, and sends them in order:
-- POST ROOT/backup {"clientId","share","backupMethod"} or POST
-- ROOT/backup/fetch {"clientId"}, each with X-Webhook-Secret: the first
-- line of SECRETFILE. A thread that has sent all its lines starts over and
-- counts a wrap (a replayed store is an idempotent retry, not a new store:
-- bench/scale/run refuses a store cell that wrapped).
--
-- done() prints
--   WRKRESULT {"requests":..,"duration_us":..,"p50_us":..,"p99_us":..,
--              "max_us":..,"mean_us":..,"errors":{...},"wraps":..}

local threads = {}
local nthreads = 0

function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
   threads[nthreads] = thread
end

function init(args)
   local base, sharefile, secretfile, root = args[1], args[2], args[3], args[4] or "/webhook"
   local f = assert(io.open(sharefile, "rb"))
   share = f:read("*a")
   f:close()
   f = assert(io.open(secretfile, "rb"))
   local secret = f:read("*l"):match("^%s*(.-)%s*$")
   f:close()
   kinds, cids, methods = {}, {}, {}
   n = 0
   for line in io.lines(base .. ".t" .. tid) do
      local k, cid, m = line:match("^(%a)\t([^\t]+)\t([^\t]+)$")
      if k then
         n = n + 1
         kinds[n], cids[n], methods[n] = k, cid, m
      end
   end
   assert(n > 0, "no requests in " .. base .. ".t" .. tid)
   store_path = root .. "/backup"
   fetch_path = root .. "/backup/fetch"
   hdr = { ["Content-Type"] = "application/json", ["X-Webhook-Secret"] = secret }
   i = 0
   wraps = 0
end

function request()
   i = i + 1
   if i > n then
      i = 1
      wraps = wraps + 1
   end
   local body, path
   if kinds[i] == "s" then
      body = '{"clientId":"' .. cids[i] .. '","share":' .. share ..
         ',"backupMethod":"' .. methods[i] .. '"}'
      path = store_path
   else
      body = '{"clientId":"' .. cids[i] .. '"}'
      path = fetch_path
   end
   return wrk.format("POST", path, hdr, body)
end

function done(summary, latency, requests)
   local w = 0
   for _, t in ipairs(threads) do
      w = w + (tonumber(t:get("wraps")) or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'WRKRESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
      '"mean_us":%.1f,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"wraps":%d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout, w))
end
