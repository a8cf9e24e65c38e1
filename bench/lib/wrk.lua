-- bench/lib/wrk.lua: replays pre-signed webhook requests (bench/lib/reqs.mjs
-- gen) and prints one machine-readable result line.
--
--   wrk -t T -c C -d D --timeout 10s -s wrk.lua URL -- BASE SHAREFILE ROOT [SECRETFILE]
--
-- Thread i reads BASE.ti (lines: kind, webhook-id, webhook-timestamp,
-- clientId, signature[, backupMethod]) and sends them in order with
-- wrk.format, so every request on the wire has its own webhook-id and
-- clientId.  A store line with a backupMethod gets it in its body
-- ({"clientId","share","backupMethod"}, Portal's multi-backup contract).
-- With SECRETFILE (Portal's shared secret, its first line) every request
-- carries X-Webhook-Secret instead of the webhook-* signature headers, and
-- the lines' id, timestamp and signature fields are ignored.  When a thread has
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
   local base, sharefile, root, secretfile = args[1], args[2], args[3] or "/webhook", args[4]
   local f = assert(io.open(sharefile, "rb"))
   share = f:read("*a")
   f:close()
   secret = nil
   if secretfile and secretfile ~= "" then
      f = assert(io.open(secretfile, "rb"))
      secret = f:read("*l"):match("^%s*(.-)%s*$")
      f:close()
   end
   kinds, ids, tss, cids, sigs, methods = {}, {}, {}, {}, {}, {}
   n = 0
   for line in io.lines(base .. ".t" .. tid) do
      local k, id, ts, cid, sig, m =
         line:match("^(%a)\t([^\t]+)\t(%d+)\t([^\t]+)\t([^\t]+)\t([^\t]+)$")
      if not k then
         k, id, ts, cid, sig = line:match("^(%a)\t([^\t]+)\t(%d+)\t([^\t]+)\t([^\t]+)$")
      end
      if k then
         n = n + 1
         kinds[n], ids[n], tss[n], cids[n], sigs[n], methods[n] = k, id, ts, cid, sig, m
      end
   end
   assert(n > 0, "no requests in " .. base .. ".t" .. tid)
   store_path = root .. "/backup"
   fetch_path = root .. "/backup/fetch"
   hdr = { ["Content-Type"] = "application/json" }
   if secret then hdr["X-Webhook-Secret"] = secret end
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
      if methods[i] then
         body = '{"clientId":"' .. cids[i] .. '","share":' .. share ..
            ',"backupMethod":"' .. methods[i] .. '"}'
      else
         body = '{"clientId":"' .. cids[i] .. '","share":' .. share .. '}'
      end
      path = store_path
   else
      body = '{"clientId":"' .. cids[i] .. '"}'
      path = fetch_path
   end
   if not secret then
      hdr["webhook-id"] = ids[i]
      hdr["webhook-timestamp"] = tss[i]
      hdr["webhook-signature"] = sigs[i]
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
