// bench/lib/reqs.mjs: the requests of the benchmark, in Portal's two
// authentication forms: Standard Webhooks signing (pre-signed, whsec_
// secret) or Portal's own shared secret in X-Webhook-Secret (--auth shared;
// the secret file's first line is the secret).
//
//   node reqs.mjs share   --bytes N --out FILE [--curve SECP256K1]
//       A JSON.stringify'd backup share of N characters (what Portal sends as
//       "share"), written as a JSON string literal (quotes and escapes
//       included), ready to be pasted into a body.
//
//   node reqs.mjs gen     --secret FILE --share FILE --out BASE --threads T
//                         --count N --tag TAG --mix STORE_PERCENT
//                         [--fetch-prefix P --fetch-count K] [--seed S]
//                         [--auth signed|shared] [--methods M1,M2,...]
//       N requests split over T files BASE.t0 .. BASE.t{T-1} (thread i of wrk
//       reads BASE.ti).  One request a line, tab separated:
//           kind  webhook-id  webhook-timestamp  clientId  signature  [backupMethod]
//       kind is "s" (POST {root}/backup, body {"clientId","share"}, with
//       --methods {"clientId","share","backupMethod"}, the methods taken in
//       turn) or "f" (POST {root}/backup/fetch, body {"clientId"}).
//       STORE_PERCENT of the requests are stores (100 = store only, 0 =
//       fetch only), spread evenly.  Stores get unique clientIds TAG-<n>;
//       fetches name a random P-<0..K-1>.  Every request has a unique
//       webhook-id; signed (the default), it carries
//       v1,base64(HMAC-SHA256(key, id.ts.body)), key = base64-decoded part of
//       the secret after "whsec_", and bench/lib/wrk.lua rebuilds the same
//       body bytes, so the signature holds.  With --auth shared the signature
//       field is "-" (wrk.lua sends X-Webhook-Secret instead).
//
//   node reqs.mjs preload --secret FILE --share FILE[,FILE2...] --url URL --prefix P
//                         --count K [--concurrency C] [--root /webhook]
//                         [--auth signed|shared] [--methods M1[,M2...]]
//       Stores K clients P-0 .. P-{K-1} through URL, C at a time, and fails
//       unless every answer is 200.  With --methods each client gets one
//       share per method, in that order (the i-th method with the i-th share
//       file), so its newest identity is the last method.
//
//   node reqs.mjs check   --secret FILE --share FILE[,FILE2...] --url URL --prefix P
//                         --name NAME [--methods M1[,M2...]] [--auth shared] [--out FILE]
//       Checks a target answers the contract, and fails loudly if not:
//       401 without the secret or with a wrong one (store and fetch), 404
//       for a client with nothing stored, 200 and
//       {"backupShares":[one per method, newest first],"backupShare":newest}
//       with the preloaded bytes for P-0, and a store of check-NAME-0 that
//       a fetch then returns.  --out gets P-0's fetch answer as received.
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs'
import http from 'node:http'
import process from 'node:process'

function args(argv) {
  const out = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`)
    out[a.slice(2)] = argv[++i]
  }
  return out
}

function need(o, k) {
  if (o[k] === undefined) throw new Error(`--${k} is required`)
  return o[k]
}

// The HMAC key from a secrets file: first non-comment line, whsec_<base64>.
function loadKey(file) {
  const line = readFileSync(file, 'utf8').split('\n').map((l) => l.trim())
    .find((l) => l && !l.startsWith('#'))
  if (!line) throw new Error(`${file}: no secret`)
  return Buffer.from(line.startsWith('whsec_') ? line.slice(6) : line, 'base64')
}

export function storeBody(clientId, shareJson, method) {
  if (method) return `{"clientId":"${clientId}","share":${shareJson},"backupMethod":"${method}"}`
  return `{"clientId":"${clientId}","share":${shareJson}}`
}

// Portal's shared secret: the first non-comment line of the file, as is.
function loadShared(file) {
  const line = readFileSync(file, 'utf8').split('\n').map((l) => l.trim())
    .find((l) => l && !l.startsWith('#'))
  if (!line) throw new Error(`${file}: no secret`)
  return line
}

const listOf = (v) => (v === undefined || v === '' ? [] : String(v).split(','))

export function fetchBody(clientId) {
  return `{"clientId":"${clientId}"}`
}

function sign(key, id, ts, body) {
  return 'v1,' + createHmac('sha256', key).update(`${id}.${ts}.`).update(body).digest('base64')
}

// Small deterministic PRNG (mulberry32) so a run's fetch pattern can be repeated.
function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function cmdShare(o) {
  const bytes = Number(need(o, 'bytes'))
  // Shaped like an MPC backup share serialised with JSON.stringify: a few
  // fields around a long base64 payload, sized to `bytes` characters.
  const head = { version: 'v1', curve: o.curve ?? 'SECP256K1', backupMethod: 'CUSTODIAN', share: '' }
  const fixed = JSON.stringify(head).length
  const payloadLen = Math.max(16, bytes - fixed)
  head.share = randomBytes(Math.ceil(payloadLen * 3 / 4) + 3).toString('base64').slice(0, payloadLen)
  const share = JSON.stringify(head)
  writeFileSync(need(o, 'out'), JSON.stringify(share))
}

function cmdGen(o) {
  const shared = o.auth === 'shared'
  const key = shared ? null : loadKey(need(o, 'secret'))
  const methods = listOf(o.methods)
  let nstore = 0
  const shareJson = readFileSync(need(o, 'share'), 'utf8')
  const base = need(o, 'out')
  const threads = Number(need(o, 'threads'))
  const count = Number(need(o, 'count'))
  const tag = need(o, 'tag')
  const mix = Number(o.mix ?? 100)
  const fetchPrefix = o['fetch-prefix']
  const fetchCount = Number(o['fetch-count'] ?? 0)
  const rnd = prng(Number(o.seed ?? 1))
  const ts = String(Math.floor(Date.now() / 1000))
  if (mix < 100 && (!fetchPrefix || fetchCount < 1)) throw new Error('fetches need --fetch-prefix and --fetch-count')
  const fds = []
  const bufs = []
  for (let t = 0; t < threads; t++) {
    fds.push(openSync(`${base}.t${t}`, 'w'))
    bufs.push([])
  }
  const flush = (t) => {
    if (bufs[t].length) writeSync(fds[t], bufs[t].join(''))
    bufs[t] = []
  }
  let acc = 0
  for (let n = 0; n < count; n++) {
    // Bresenham-style spread: exactly mix% stores, evenly interleaved.
    acc += mix
    const isStore = acc >= 100
    if (isStore) acc -= 100
    const id = `msg_${tag}_${n}`
    let cid, body
    let method = ''
    if (isStore) {
      cid = `${tag}-${n}`
      if (methods.length) method = methods[nstore++ % methods.length]
      body = storeBody(cid, shareJson, method)
    } else {
      cid = `${fetchPrefix}-${Math.floor(rnd() * fetchCount)}`
      body = fetchBody(cid)
    }
    const t = n % threads
    const sig = shared ? '-' : sign(key, id, ts, body)
    bufs[t].push(`${isStore ? 's' : 'f'}\t${id}\t${ts}\t${cid}\t${sig}${method ? '\t' + method : ''}\n`)
    if (bufs[t].length >= 4096) flush(t)
  }
  for (let t = 0; t < threads; t++) {
    flush(t)
    closeSync(fds[t])
  }
}

// authHeaders(o): a function (id, ts, body) -> the request's auth headers.
function authHeaders(o) {
  if (o.auth === 'shared') {
    const secret = loadShared(need(o, 'secret'))
    return () => ({ 'X-Webhook-Secret': secret })
  }
  const key = loadKey(need(o, 'secret'))
  return (id, ts, body) => ({
    'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': sign(key, id, ts, body),
  })
}

// One POST; resolves {status, body} (body as a string), rejects on a socket error.
function post(url, path, headers, body, agent) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, path, method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers },
    }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

async function cmdPreload(o) {
  const auth = authHeaders(o)
  const shareJsons = listOf(need(o, 'share')).map((f) => readFileSync(f, 'utf8'))
  const methods = listOf(o.methods)
  const url = new URL(need(o, 'url'))
  const prefix = need(o, 'prefix')
  const count = Number(need(o, 'count'))
  const conc = Number(o.concurrency ?? 16)
  const root = o.root ?? '/webhook'
  const agent = new http.Agent({ keepAlive: true, maxSockets: conc })
  let next = 0
  let failed = 0
  // One client: one share per method, in order (or one legacy share).
  const one = async (n) => {
    const cid = `${prefix}-${n}`
    const todo = methods.length ? methods : ['']
    for (let i = 0; i < todo.length; i++) {
      const id = `msg_${prefix}_${n}_${i}`
      const ts = String(Math.floor(Date.now() / 1000))
      const body = storeBody(cid, shareJsons[Math.min(i, shareJsons.length - 1)], todo[i])
      try {
        const r = await post(url, `${root}/backup`, auth(id, ts, body), body, agent)
        if (r.status !== 200 && failed++ < 5) console.error(`preload ${cid} ${todo[i]}: HTTP ${r.status}`)
      } catch (e) {
        if (failed++ < 5) console.error(`preload ${cid} ${todo[i]}: ${e.message}`)
      }
    }
  }
  const worker = async () => {
    while (next < count) await one(next++)
  }
  await Promise.all(Array.from({ length: conc }, worker))
  agent.destroy()
  if (failed) {
    console.error(`preload: ${failed} of ${count} failed`)
    process.exit(1)
  }
}

const [cmd, ...rest] = process.argv.slice(2)
const o = args(rest)
async function cmdCheck(o) {
  const auth = authHeaders(o)
  const shares = listOf(need(o, 'share')).map((f) => JSON.parse(readFileSync(f, 'utf8')))
  const methods = listOf(o.methods)
  const url = new URL(need(o, 'url'))
  const prefix = need(o, 'prefix')
  const name = need(o, 'name')
  const root = o.root ?? '/webhook'
  const problems = []
  const expect = (what, got, want) => {
    if (got !== want) problems.push(`${what}: got ${JSON.stringify(got)?.slice(0, 200)}, want ${JSON.stringify(want)?.slice(0, 200)}`)
  }
  let k = 0
  const call = async (path, body, headers) => post(url, `${root}${path}`, headers ?? auth(`msg_check_${name}_${k}`, String(Math.floor(Date.now() / 1000)), body), body)
  const sb = storeBody(`check-${name}-0`, JSON.stringify(shares[0]), methods[0])
  const fb = fetchBody(`${prefix}-0`)
  const wrong = { 'X-Webhook-Secret': 'not-the-secret-0123456789abcdef' }
  expect('store without the secret', (await call('/backup', sb, {})).status, 401)
  expect('store with a wrong secret', (await call('/backup', sb, wrong)).status, 401)
  expect('fetch without the secret', (await call('/backup/fetch', fb, {})).status, 401)
  expect('fetch of a client with nothing stored', (await call('/backup/fetch', fetchBody(`nobody-${name}`))).status, 404)
  const r = await call('/backup/fetch', fb)
  expect(`fetch ${prefix}-0 status`, r.status, 200)
  if (r.status === 200) {
    let j = {}
    try { j = JSON.parse(r.body) } catch (e) { problems.push(`fetch ${prefix}-0: not JSON: ${e.message}`) }
    const n = Math.max(1, methods.length)
    // stored in method order, so the newest (first) is the last method's
    const want = Array.from({ length: n }, (_, i) => shares[Math.min(n - 1 - i, shares.length - 1)])
    expect(`fetch ${prefix}-0 backupShares count`, Array.isArray(j.backupShares) ? j.backupShares.length : -1, n)
    for (let i = 0; i < n && Array.isArray(j.backupShares); i++) {
      expect(`fetch ${prefix}-0 backupShares[${i}]`, j.backupShares[i], want[i])
    }
    expect(`fetch ${prefix}-0 backupShare`, j.backupShare, want[0])
    if (o.out) writeFileSync(o.out, r.body)
  }
  expect(`store check-${name}-0`, (await call('/backup', sb)).status, 200)
  const r2 = await call('/backup/fetch', fetchBody(`check-${name}-0`))
  expect(`fetch check-${name}-0 status`, r2.status, 200)
  if (r2.status === 200) expect(`fetch check-${name}-0 backupShare`, JSON.parse(r2.body).backupShare, shares[0])
  if (problems.length) {
    for (const p of problems) console.error(`check ${name}: ${p}`)
    process.exit(1)
  }
  console.log(`check ${name}: ok (401 without the secret, 404 for nobody, ${Math.max(1, methods.length)} shares newest first for ${prefix}-0, ` +
    `sha256 ${r.status === 200 ? createHash('sha256').update(r.body).digest('hex').slice(0, 16) : '-'})`)
}

if (cmd === 'share') cmdShare(o)
else if (cmd === 'gen') cmdGen(o)
else if (cmd === 'preload') await cmdPreload(o)
else if (cmd === 'check') await cmdCheck(o)
else {
  console.error('usage: reqs.mjs share|gen|preload|check ...')
  process.exit(2)
}
