// bench/lib/token-report.mjs META.json MICRO.jsonl HTTP.jsonl: the markdown
// report of a bench/token run (file vs PKCS#11 token backends).
import { readFileSync } from 'node:fs'

const meta = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const lines = (f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
const micro = lines(process.argv[3])
const all = lines(process.argv[4])
const http = all.filter((x) => x.type === undefined)
const starts = all.filter((x) => x.type === 'starts')

const BACK = ['file', 'direct', 'server']
const LABEL = {
  file: 'key file',
  direct: 'token, SoftHSM2 direct',
  server: 'token via p11-kit server',
}
const SCHEME = { file: '0 (RFC 5649, OpenSSL)', direct: '1 (RFC 5649, C_WrapKey)', server: '2 (RFC 3394 from ECB)' }
const OPS = [
  ['wrap', 'keyring_wrap (32-byte data key)'],
  ['unwrap', 'keyring_unwrap'],
  ['seal_share', 'seal_share'],
  ['seal_open', 'seal_open'],
  ['rpc_noop', 'one PKCS#11 call that does nothing (C_GetSessionInfo)'],
]
const us = (v) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v >= 10 ? v.toFixed(1) : v.toFixed(2))
const ms = (v) => (v / 1000).toFixed(v < 10000 ? 2 : 1)
const rps = (x) => x.r.requests / (x.r.duration_us / 1e6)
const fmtRps = (v) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1))
const errs = (x) => Object.values(x.r.errors).reduce((a, b) => a + b, 0)
const ratio = (a, b) => (a && b ? (a / b >= 10 ? Math.round(a / b) : (a / b).toFixed(2)) + '×' : '–')

const out = []
const p = (s = '') => out.push(s)
const backs = BACK.filter((b) => micro.some((m) => m.backend === b) || http.some((x) => x.backend === b))

p(`# sharekeep benchmark — KEK backends (${meta.mode})`)
p()
p(`${meta.date}; ${meta.duration} s per HTTP cell; run took ${Math.floor(meta.elapsed / 60)} min ${meta.elapsed % 60} s.`)
p()
p('| machine | |')
p('|---|---|')
p(`| CPU | ${meta.cpu}, ${meta.cores} cores |`)
p(`| memory | ${meta.mem} |`)
p(`| kernel | ${meta.kernel}; PostgreSQL data on ${meta.fs} |`)
p(`| PostgreSQL | ${meta.postgres}; fsync=on, synchronous_commit=on |`)
p(`| nginx | ${meta.nginx}; wrk ${meta.wrk}; ${meta.openssl} |`)
p(`| token | ${meta.softhsm ? 'SoftHSM ' + meta.softhsm : 'SoftHSM2'} (file object store in the temp dir); p11-kit ${meta.p11kit} |`)
p(`| sharekeep | ${meta.commit}; workers=${meta.workers}, behind nginx over a unix socket; share ${meta.share_bytes} chars |`)
p()
p('Backends: **file** = a key file KEK, AES-256-KWP by OpenSSL in the worker (scheme 0); ' +
  '**direct** = a KEK generated inside a SoftHSM2 token that the process loads itself ' +
  '(libsofthsm2.so), C_WrapKey / C_UnwrapKey with CKM_AES_KEY_WRAP_PAD (scheme 1); ' +
  '**server** = the same token behind `p11-kit server`, reached through p11-kit-client.so, ' +
  'whose RPC carries no key-wrap mechanism, so sharekeep computes RFC 3394 from the token\'s ' +
  'CKM_AES_ECB: C_EncryptInit + 24 C_EncryptUpdate + C_EncryptFinal, 26 round trips a wrap (scheme 2).')
p()

if (micro.length) {
  const m0 = micro[0]
  p(`## µs per operation (bench/micro/kek, one process, no server)`)
  p()
  p(`${m0.rounds} rounds; the backends take turns, each op running for a fixed time per round; ` +
    `median round (fastest round in brackets); share ${m0.share_bytes} bytes for seal/open. ` +
    `× = median ÷ the file backend's median.`)
  p()
  p('| operation | ' + backs.map((b) => LABEL[b]).join(' | ') + ' | ' +
    backs.filter((b) => b !== 'file').map((b) => b + ' × file').join(' | ') + ' |')
  p('|---|' + backs.map(() => '---:').join('|') + '|' + backs.filter((b) => b !== 'file').map(() => '---:').join('|') + '|')
  for (const [op, label] of OPS) {
    const get = (b) => micro.find((m) => m.op === op && m.backend === b)
    if (!backs.some((b) => get(b))) continue
    const f = get('file')
    p(`| ${label} | ` + backs.map((b) => (get(b) ? `${us(get(b).median_us)} (${us(get(b).min_us)})` : '–')).join(' | ') +
      ' | ' + backs.filter((b) => b !== 'file').map((b) => (f && get(b) ? ratio(get(b).median_us, f.median_us) : '–')).join(' | ') + ' |')
  }
  const rs = micro.find((m) => m.op === 'rpc_noop' && m.backend === 'server')
  const ws = micro.find((m) => m.op === 'wrap' && m.backend === 'server')
  if (rs && ws) {
    p()
    p(`Through the server, a wrap costs ${(ws.median_us / rs.median_us).toFixed(1)} no-op round trips ` +
      `(it makes 26 PKCS#11 calls).`)
  }
  p()
}

const scens = [...new Set(http.map((x) => x.scenario))]
const concs = [...new Set(http.map((x) => x.c))]
if (http.length) {
  p('## Requests through nginx (bench/token)')
  p()
  p('wrk closed loop, pre-signed requests (bench/lib/reqs.mjs, bench/lib/wrk.lua), as bench/run. ' +
    'Cells run backend after backend for each scenario and concurrency (sharekeep restarted on the ' +
    'next backend\'s key file, 1 s of stores to warm up). × file = req/s ÷ the file backend\'s in the same ' +
    'scenario and concurrency. CPU per request from /proc: sharekeep (master + workers), the p11-kit ' +
    'server (listener + its p11-kit-remote children, one per worker), PostgreSQL, nginx, and the whole machine. ' +
    '"other CPU" = machine busy in the 0.2 s before the cell (other users of the machine).')
  p()
  p('| scenario | c | backend | req/s | × file | p50 ms | p99 ms | errors | sharekeep µs/req | token server µs/req | PostgreSQL µs/req | nginx µs/req | machine µs/req | other CPU |')
  p('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const s of scens) {
    for (const c of concs) {
      const f = http.find((x) => x.scenario === s && x.c === c && x.backend === 'file')
      for (const b of backs) {
        const x = http.find((y) => y.scenario === s && y.c === c && y.backend === b)
        if (!x) continue
        p(`| ${s} | ${c} | ${LABEL[b]} | ${fmtRps(rps(x))} | ${b === 'file' ? '' : f ? ratio(rps(x), rps(f)) : '–'} | ${ms(x.r.p50_us)} | ${ms(x.r.p99_us)} | ${errs(x)} | ${x.cpu.app_us} | ${b === 'server' ? x.cpu.token_us : '–'} | ${x.cpu.pg_us} | ${x.cpu.nginx_us} | ${x.cpu.machine_us} | ${x.bg}% |`)
      }
    }
  }
  p()
  const warn = []
  for (const x of http) {
    const tag = `${x.scenario} c=${x.c} ${x.backend}`
    if (errs(x) > 0) warn.push(`${tag}: ${errs(x)} errors ${JSON.stringify(x.r.errors)}`)
    if (x.r.wraps > 0 && x.scenario === 'store') warn.push(`${tag}: wrk ran out of requests and replayed some (${x.r.wraps} wraps)`)
    if (x.bg >= 10) warn.push(`${tag}: machine ${x.bg}% busy before the cell`)
    if (x.scenario === 'store') {
      const ok = x.r.requests - errs(x)
      const want = { file: 0, direct: 1, server: 2 }[x.backend]
      if (x.rows < ok) warn.push(`${tag}: ${x.rows} rows committed for ${ok} successful stores`)
      if (x.schemes !== `${want}:${x.rows}`) warn.push(`${tag}: the stored records' wrap schemes are ${x.schemes}, not ${want}:${x.rows}`)
    }
  }
  const stores = http.filter((x) => x.scenario === 'store')
  if (stores.length) {
    p('Every store cell\'s records were checked in PostgreSQL: byte 10 of the record (the wrap scheme, ' +
      'doc/record-format.md; column `envelope`) is ' + backs.map((b) => `${SCHEME[b]} for ${b}`).join(', ') + '; ' +
      (warn.some((w) => w.includes('schemes')) ? 'see the warnings.' : 'it was in every cell, for every row.') +
      ' The fetch cells read clients preloaded through the same backend (checked the same way).')
    p()
  }
  if (starts.some((x) => x.backend !== 'file')) {
    p('Worker starts: each cell restarts sharekeep on its backend. A worker that finds no token when it ' +
      'connects after fork logs "token not reachable" and answers 503 until a later connect works ' +
      '(keyring_pkcs11.h); 1 s of stores (not recorded) follows every start, repeated until one gets no error, ' +
      'so that every worker has connected again before the cell.')
    p()
    p('| backend | sharekeep starts | worker connects at start | found no token | errors in warm-ups |')
    p('|---|---:|---:|---:|---:|')
    for (const x of starts) {
      p(`| ${LABEL[x.backend]} | ${x.starts} | ${x.starts * x.workers} | ${x.misses} | ${x.warm_errors} |`)
    }
    p()
  }
  if (warn.length) {
    p('Warnings:')
    p()
    for (const w of warn) p(`* ${w}`)
    p()
  }
}
console.log(out.join('\n'))
