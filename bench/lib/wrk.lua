-- bench/lib/wrk.lua: replays pre-signed webhook requests (bench/lib/reqs.mjs
-- gen) and prints one machine-readable result line.
--
--   wrk -t T -c C -d D --timeout 10s -s wrk.lua URL -- BASE SHAREFILE ROOT
--
-- Thread i reads BASE.ti (lines: kind, webhook-id, webhook-timestamp,
-- clientId, signature) and sends them in order with wrk.format, so every
-- request on the wire has its own webhook-id and clientId.  When a thread has
-- sent all of its lines it starts over and counts a wrap: for sharekeep a
-- replayed store is an idempotent retry, not a new store, so bench/run flags
-- a store cell that wrapped.
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
   local base, sharefile, root = args[1], args[2], args[3] or "/webhook"
   local f = assert(io.open(sharefile, "rb"))
   share = f:read("*a")
   f:close()
   kinds, ids, tss, cids, sigs = {}, {}, {}, {}, {}
   n = 0
   for line in io.lines(base .. ".t" .. tid) do
      local k, id, ts, cid, sig = line:match("^(%a)\t([^\t]+)\t(%d+)\t([^\t]+)\t([^\t]+)$")
      if k then
         n = n + 1
         kinds[n], ids[n], tss[n], cids[n], sigs[n] = k, id, ts, cid, sig
      end
   end
   assert(n > 0, "no requests in " .. base .. ".t" .. tid)
   store_path = root .. "/backup"
   fetch_path = root .. "/backup/fetch"
   hdr = { ["Content-Type"] = "application/json" }
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
      body = '{"clientId":"' .. cids[i] .. '","share":' .. share .. '}'
      path = store_path
   else
      body = '{"clientId":"' .. cids[i] .. '"}'
      path = fetch_path
   end
   hdr["webhook-id"] = ids[i]
   hdr["webhook-timestamp"] = tss[i]
   hdr["webhook-signature"] = sigs[i]
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
