// bench/lib/reqs.mjs: pre-signed Standard Webhooks requests for the benchmark.
//
//   node reqs.mjs share   --bytes N --out FILE
//       A JSON.stringify'd backup share of N characters (what Portal sends as
//       "share"), written as a JSON string literal (quotes and escapes
//       included), ready to be pasted into a body.
//
//   node reqs.mjs gen     --secret FILE --share FILE --out BASE --threads T
//                         --count N --tag TAG --mix STORE_PERCENT
//                         [--fetch-prefix P --fetch-count K] [--seed S]
//       N requests split over T files BASE.t0 .. BASE.t{T-1} (thread i of wrk
//       reads BASE.ti).  One request a line, tab separated:
//           kind  webhook-id  webhook-timestamp  clientId  signature
//       kind is "s" (POST {root}/backup, body {"clientId","share"}) or "f"
//       (POST {root}/backup/fetch, body {"clientId"}).  STORE_PERCENT of the
//       requests are stores (100 = store only, 0 = fetch only), spread evenly.
//       Stores get unique clientIds TAG-<n>; fetches name a random
//       P-<0..K-1>.  Every request has a unique webhook-id and is signed
//       v1,base64(HMAC-SHA256(key, id.ts.body)), key = base64-decoded part of
//       the secret after "whsec_".  bench/lib/wrk.lua rebuilds the same body
//       bytes, so the signature holds.
//
//   node reqs.mjs preload --secret FILE --share FILE --url URL --prefix P
//                         --count K [--concurrency C] [--root /webhook]
//       Stores K clients P-0 .. P-{K-1} through URL (signed, like gen), C at
//       a time, and fails unless every answer is 200.
import { createHmac, randomBytes } from 'node:crypto'
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

export function storeBody(clientId, shareJson) {
  return `{"clientId":"${clientId}","share":${shareJson}}`
}

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
  const head = { version: 'v1', curve: 'SECP256K1', backupMethod: 'CUSTODIAN', share: '' }
  const fixed = JSON.stringify(head).length
  const payloadLen = Math.max(16, bytes - fixed)
  head.share = randomBytes(Math.ceil(payloadLen * 3 / 4) + 3).toString('base64').slice(0, payloadLen)
  const share = JSON.stringify(head)
  writeFileSync(need(o, 'out'), JSON.stringify(share))
}

function cmdGen(o) {
  const key = loadKey(need(o, 'secret'))
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
    if (isStore) {
      cid = `${tag}-${n}`
      body = storeBody(cid, shareJson)
    } else {
      cid = `${fetchPrefix}-${Math.floor(rnd() * fetchCount)}`
      body = fetchBody(cid)
    }
    const t = n % threads
    bufs[t].push(`${isStore ? 's' : 'f'}\t${id}\t${ts}\t${cid}\t${sign(key, id, ts, body)}\n`)
    if (bufs[t].length >= 4096) flush(t)
  }
  for (let t = 0; t < threads; t++) {
    flush(t)
    closeSync(fds[t])
  }
}

async function cmdPreload(o) {
  const key = loadKey(need(o, 'secret'))
  const shareJson = readFileSync(need(o, 'share'), 'utf8')
  const url = new URL(need(o, 'url'))
  const prefix = need(o, 'prefix')
  const count = Number(need(o, 'count'))
  const conc = Number(o.concurrency ?? 16)
  const root = o.root ?? '/webhook'
  const agent = new http.Agent({ keepAlive: true, maxSockets: conc })
  let next = 0
  let failed = 0
  const one = (n) => new Promise((resolve) => {
    const cid = `${prefix}-${n}`
    const id = `msg_${prefix}_${n}`
    const ts = String(Math.floor(Date.now() / 1000))
    const body = storeBody(cid, shareJson)
    const req = http.request({
      host: url.hostname, port: url.port, path: `${root}/backup`, method: 'POST', agent,
      headers: {
        'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body),
        'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': sign(key, id, ts, body),
      },
    }, (res) => {
      res.resume()
      res.on('end', () => {
        if (res.statusCode !== 200) {
          if (failed++ < 5) console.error(`preload ${cid}: HTTP ${res.statusCode}`)
        }
        resolve()
      })
    })
    req.on('error', (e) => {
      if (failed++ < 5) console.error(`preload ${cid}: ${e.message}`)
      resolve()
    })
    req.end(body)
  })
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
if (cmd === 'share') cmdShare(o)
else if (cmd === 'gen') cmdGen(o)
else if (cmd === 'preload') await cmdPreload(o)
else {
  console.error('usage: reqs.mjs share|gen|preload ...')
  process.exit(2)
}
