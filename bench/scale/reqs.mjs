// bench/scale/reqs.mjs: the requests bench/scale/run replays with
// bench/scale/wrk.lua, as Portal sends them today (the shared secret goes in
// X-Webhook-Secret, added by wrk.lua, so nothing here is signed). The
// clients it fetches are the ones bench/scale/load wrote, scale-%010d.
//
//   node reqs.mjs share --bytes N --out FILE
//       A JSON.stringify'd share of N characters, as a JSON string literal
//       (what bench/lib/reqs.mjs share writes).
//
//   node reqs.mjs store --out BASE --threads T --count N --tag TAG
//                       [--methods M1,M2]
//       N stores, each a new client TAG-<n>, with the methods in turn
//       (default PASSWORD-SECP256K1,PASSWORD-ED25519), over BASE.t0 .. t{T-1}.
//
//   node reqs.mjs fetch --out BASE --threads T --count N --clients K [--seed S]
//       N fetches of a random loaded client scale-%010d in 0 .. K-1.
//
// Lines: kind ("s"/"f"), clientId, backupMethod ("-" for a fetch), tab separated.
import { randomBytes } from 'node:crypto'
import { writeFileSync, openSync, writeSync, closeSync } from 'node:fs'
import process from 'node:process'

function args(argv) {
  const out = {}
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--')) throw new Error(`unexpected argument ${argv[i]}`)
    out[argv[i].slice(2)] = argv[i + 1]
  }
  return out
}

function need(o, k) {
  if (o[k] === undefined) throw new Error(`--${k} is required`)
  return o[k]
}

// mulberry32: a repeatable fetch pattern
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

function share(o) {
  const bytes = Number(need(o, 'bytes'))
  const head = { version: 'v1', curve: 'SECP256K1', backupMethod: 'CUSTODIAN', share: '' }
  const len = Math.max(16, bytes - JSON.stringify(head).length)
  head.share = randomBytes(Math.ceil(len * 3 / 4) + 3).toString('base64').slice(0, len)
  writeFileSync(need(o, 'out'), JSON.stringify(JSON.stringify(head)))
}

// write(o, n => line) over --threads files
function write(o, make) {
  const base = need(o, 'out')
  const threads = Number(need(o, 'threads'))
  const count = Number(need(o, 'count'))
  const fds = [], bufs = []
  for (let t = 0; t < threads; t++) {
    fds.push(openSync(`${base}.t${t}`, 'w'))
    bufs.push([])
  }
  for (let n = 0; n < count; n++) {
    const t = n % threads
    bufs[t].push(make(n) + '\n')
    if (bufs[t].length >= 4096) {
      writeSync(fds[t], bufs[t].join(''))
      bufs[t] = []
    }
  }
  for (let t = 0; t < threads; t++) {
    if (bufs[t].length) writeSync(fds[t], bufs[t].join(''))
    closeSync(fds[t])
  }
}

const [cmd, ...rest] = process.argv.slice(2)
const o = args(rest)
if (cmd === 'share') {
  share(o)
} else if (cmd === 'store') {
  const tag = need(o, 'tag')
  const methods = (o.methods ?? 'PASSWORD-SECP256K1,PASSWORD-ED25519').split(',').filter(Boolean)
  write(o, (n) => `s\t${tag}-${n}\t${methods[n % methods.length]}`)
} else if (cmd === 'fetch') {
  const k = Number(need(o, 'clients'))
  const rnd = prng(Number(o.seed ?? 1))
  if (!(k >= 1)) throw new Error('--clients must be at least 1')
  write(o, () => `f\tscale-${String(Math.floor(rnd() * k)).padStart(10, '0')}\t-`)
} else {
  console.error('usage: reqs.mjs share|store|fetch ...')
  process.exit(2)
}
