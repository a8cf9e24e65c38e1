// bench/lib/report.mjs META.json RESULTS.jsonl: the markdown report of a run.
import { readFileSync } from 'node:fs'

const meta = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const rows = readFileSync(process.argv[3], 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))

const TARGETS = ['sharekeep', 'express', 'express-nginx', 'nginx', 'pgbench']
const PEERS = ['express', 'express-nginx']
const LABEL = {
  sharekeep: 'sharekeep (nginx → FastCGI)',
  express: 'Express peer (direct)',
  'express-nginx': 'Express peer (nginx → HTTP)',
  nginx: 'limit A: nginx `return 200`',
  pgbench: 'limit B: pgbench',
}
const SCEN = ['store', 'fetch', 'mixed']

const rps = (x) => (x.tool === 'pgbench' ? x.r.tps : x.r.requests / (x.r.duration_us / 1e6))
const ms = (us) => (us / 1000).toFixed(us < 10000 ? 2 : 1)
const errs = (x) => Object.values(x.r.errors).reduce((a, b) => a + b, 0)
const mib = (kb) => (kb / 1024).toFixed(1)
const fmtRps = (v) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1))
const ratio = (a, b) => (a && b ? (a / b).toFixed(2) + '×' : '–')
const pct = (a, b) => (a && b ? Math.round((100 * a) / b) + '%' : '–')
const find = (s, c, t, w) => rows.find((x) => x.scenario === s && x.c === c && x.target === t &&
  (w === undefined || x.workers === w))

const out = []
const p = (s = '') => out.push(s)
const sweep = Boolean(meta.sweep)

p(`# sharekeep benchmark — ${meta.mode}${sweep ? ` worker sweep (${meta.sweep})` : ''}`)
p()
p(`${meta.date}; ${meta.duration} s per cell${Number(meta.wait_idle) > 0 ? ` (each waiting up to ${meta.wait_idle} s for a quiet machine)` : ''}; run took ${Math.floor(meta.elapsed / 60)} min ${meta.elapsed % 60} s.`)
p()
p('| machine | |')
p('|---|---|')
p(`| CPU | ${meta.cpu}, ${meta.cores} cores |`)
p(`| memory | ${meta.mem} |`)
p(`| kernel | ${meta.kernel}; PostgreSQL data on ${meta.fs} |`)
p(`| PostgreSQL | ${meta.postgres}; fsync=on, synchronous_commit=on, shared_buffers=128MB |`)
p(`| nginx | ${meta.nginx} (worker_processes auto) |`)
p(`| node | ${meta.node}; express ${meta.express}, pg ${meta.pg} |`)
p(`| wrk | ${meta.wrk}; ${meta.openssl} |`)
p(`| sharekeep | ${meta.commit}; workers=${sweep ? meta.sweep : meta.workers}, behind nginx over a unix socket |`)
p(`| load | share ${meta.share_bytes} chars (JSON.stringify'd), mixed = ${meta.mix}% store / ${100 - meta.mix}% fetch, ${meta.preload} clients preloaded for fetches${meta.methods ? `, each with ${meta.methods.split(',').length} identities (${meta.methods.split(',').join(', ')}), so a fetch answers ${meta.methods.split(',').length} shares; stores take those backupMethods in turn` : ''} |`)
if (meta.auth) p(`| webhook auth | ${meta.auth}; the Express peer checks the same secret |`)
p()
p('Everything (wrk, nginx, sharekeep or Express, PostgreSQL, pgbench) shares the same cores. ' +
  'Latency is wrk\'s closed-loop latency (no coordinated-omission correction). ' +
  'Errors = non-2xx answers + socket errors (connect, read, write, timeout); for pgbench, failed transactions. ' +
  'Peak RSS = VmHWM after the cell, reset before it (/proc/PID/clear_refs): sum = master + workers, and the largest worker. ' +
  '"other CPU" = machine-wide CPU busy in the 0.2 s before the cell, while the benchmark itself was idle (other users of the machine).')
p()

if (sweep) {
  p('| scenario | c | workers | req/s | p50 ms | p99 ms | max ms | errors | RSS sum MiB | RSS/worker MiB | other CPU |')
  p('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const x of rows) {
    p(`| ${x.scenario} | ${x.c} | ${x.workers} | ${fmtRps(rps(x))} | ${ms(x.r.p50_us)} | ${ms(x.r.p99_us)} | ${ms(x.r.max_us)} | ${errs(x)} | ${x.rss ? mib(x.rss.sum_kb) : '–'} | ${x.rss ? mib(x.rss.worker_max_kb) : '–'} | ${x.bg ?? '–'}% |`)
  }
  console.log(out.join('\n'))
  process.exit(0)
}

const concs = [...new Set(rows.map((x) => x.c))].sort((a, b) => a - b)
const scens = SCEN.filter((s) => rows.some((x) => x.scenario === s))
const warnings = []
const busy = []

p('## Throughput and latency')
p()
p('| scenario | c | target | req/s | p50 ms | p99 ms | max ms | errors | peak RSS sum MiB | peak RSS/worker MiB | other CPU |')
p('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const s of scens) {
  for (const c of concs) {
    for (const t of TARGETS) {
      const x = find(s, c, t)
      if (!x) continue
      const rss = x.rss ? [mib(x.rss.sum_kb), mib(x.rss.worker_max_kb)] : ['–', '–']
      p(`| ${s} | ${c} | ${LABEL[t]} | ${fmtRps(rps(x))} | ${ms(x.r.p50_us)} | ${ms(x.r.p99_us)} | ${ms(x.r.max_us)} | ${errs(x)} | ${rss[0]} | ${rss[1]} | ${x.bg ?? '–'}% |`)
      if (x.bg >= 10) busy.push(`${s} c=${c} ${t} (${x.bg}%)`)
      if (errs(x) > 0) warnings.push(`${s} c=${c} ${t}: ${errs(x)} errors (${JSON.stringify(x.r.errors)}).`)
      if (t === 'sharekeep' && x.r.wraps > 0 && s !== 'fetch') {
        warnings.push(`${s} c=${c}: sharekeep replayed its pre-signed requests (${x.r.wraps} wraps), so some stores were idempotent retries; raise RATE_CAP.`)
      }
      if (t === 'sharekeep' && x.rows !== undefined) {
        const ok = x.r.requests - errs(x)
        const stores = s === 'store' ? ok : Math.round(ok * meta.mix / 100)
        if (x.rows + Math.max(5, stores * 0.02) < stores) {
          warnings.push(`${s} c=${c}: ${x.rows} rows committed for ~${stores} successful stores.`)
        }
      }
    }
  }
}
p()
if (busy.length) {
  warnings.push(`Other processes kept the machine busy (≥ 10% CPU just before the cell) for: ${busy.join(', ')}. ` +
    'Those numbers are low and noisy; re-run on a quiet machine (or with --wait-idle 60).')
}

p('## CPU per request')
p()
p('CPU time (user + system, from /proc) used during the cell divided by the requests served, in µs. ' +
  '"app" is sharekeep (master + workers) or Express (primary + workers); "nginx" is the nginx in front (sharekeep, Express behind nginx, limit A); "machine" is every process on the machine, wrk and pgbench included. ' +
  (rows.some((x) => x.cpu && x.cpu.pg_reaped)
    ? 'PostgreSQL counts every process of the cluster, backends that exited during the cell included (pgbench\'s). '
    : 'pgbench\'s own backends exit before they can be read, so for limit B only the machine column is meaningful. ') +
  '"WAL bytes" is what the cluster wrote to its WAL during the cell (`pg_current_wal_lsn()` before and after, after the CHECKPOINT each cell starts with, so full-page images count) divided by the requests served.')
p()
p('| scenario | c | target | app | PostgreSQL | nginx | machine | WAL bytes |')
p('|---|---:|---|---:|---:|---:|---:|---:|')
for (const s of scens) {
  for (const c of concs) {
    for (const t of TARGETS) {
      const x = find(s, c, t)
      if (!x || !x.cpu) continue
      const pgcol = t === 'pgbench' && !x.cpu.pg_reaped ? '–' : x.cpu.pg_us
      const wal = x.wal_b === undefined ? '–' : x.wal_b.toLocaleString('en-US')
      p(`| ${s} | ${c} | ${LABEL[t]} | ${t === 'sharekeep' || PEERS.includes(t) ? x.cpu.app_us : '–'} | ${pgcol} | ${t === 'express' || t === 'pgbench' ? '–' : x.cpu.nginx_us} | ${x.cpu.machine_us} | ${wal} |`)
    }
  }
}
p()

p('## Ratios')
p()
p('sharekeep divided by each Express variant at the same scenario and concurrency: requests/s (above 1 is better for sharekeep), p99, stack CPU per request, PostgreSQL CPU per request and peak RSS (below 1 is better for sharekeep).')
p()
p('"stack CPU" is the CPU a request is served with: the server\'s own processes plus PostgreSQL, plus nginx where nginx is in front (sharekeep, Express behind nginx), from the CPU table. Unlike req/s it does not depend on what else ran on the machine, and on a machine they had to themselves their throughput ratio at saturation would be about its inverse.')
p()
const stack = (x) => (x && x.cpu ? x.cpu.app_us + x.cpu.pg_us + (x.target === 'express' ? 0 : x.cpu.nginx_us) : 0)
const div = (a, b, d = 2) => (a > 0 && b > 0 ? (a / b).toFixed(d) : '–')
const withUs = (a, b) => (a > 0 && b > 0 ? `${(a / b).toFixed(2)} (${a} vs ${b} µs)` : '–')
p('| scenario | c | vs | sharekeep req/s | peer req/s | req/s ÷ | p99 ÷ | stack CPU ÷ | PostgreSQL CPU ÷ | peak RSS sum ÷ |')
p('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|')
for (const s of scens) {
  for (const c of concs) {
    const sk = find(s, c, 'sharekeep')
    if (!sk) continue
    for (const t of PEERS) {
      const ex = find(s, c, t)
      if (!ex) continue
      p(`| ${s} | ${c} | ${LABEL[t]} | ${fmtRps(rps(sk))} | ${fmtRps(rps(ex))} | ${ratio(rps(sk), rps(ex))} | ${div(sk.r.p99_us, ex.r.p99_us)} | ${withUs(stack(sk), stack(ex))} | ${withUs(sk.cpu?.pg_us, ex.cpu?.pg_us)} | ${sk.rss && ex.rss ? `${div(sk.rss.sum_kb, ex.rss.sum_kb)} (${mib(sk.rss.sum_kb)} vs ${mib(ex.rss.sum_kb)} MiB)` : '–'} |`)
    }
  }
}
p()
if (rows.some((x) => x.target === 'nginx' || x.target === 'pgbench')) {
  p('sharekeep\'s requests/s as a share of the two ceilings on the same machine.')
  p()
  p('| scenario | c | sharekeep req/s | ÷ limit A (nginx) | ÷ limit B (pgbench) |')
  p('|---|---:|---:|---:|---:|')
  for (const s of scens) {
    for (const c of concs) {
      const sk = find(s, c, 'sharekeep')
      if (!sk) continue
      const ng = find(s, c, 'nginx')
      const pg = find(s, c, 'pgbench')
      p(`| ${s} | ${c} | ${fmtRps(rps(sk))} | ${ng ? pct(rps(sk), rps(ng)) : '–'} | ${pg ? pct(rps(sk), rps(pg)) : '–'} |`)
    }
  }
  p()
}

p('## Targets')
p()
p('Issue 14\'s targets against each Express variant: stack CPU per store and per fetch ≤ 0.75× the peer\'s (every concurrency), requests/s ≥ 1.3× the peer\'s at c=16 and c=64 (store and fetch).')
p()
p('| target | c | result | numbers |')
p('|---|---:|---|---|')
for (const s of ['store', 'fetch']) {
  for (const t of PEERS) {
    for (const c of concs) {
      const sk = find(s, c, 'sharekeep')
      const ex = find(s, c, t)
      if (!sk || !ex || !(stack(sk) > 0) || !(stack(ex) > 0)) continue
      const r = stack(sk) / stack(ex)
      p(`| ${s}: stack CPU ≤ 0.75× ${LABEL[t]} | ${c} | ${r <= 0.75 ? 'met' : 'not met'} | ${r.toFixed(2)}× (${stack(sk)} vs ${stack(ex)} µs) |`)
    }
  }
}
for (const s of ['store', 'fetch']) {
  for (const t of PEERS) {
    for (const c of concs.filter((c) => c >= 16)) {
      const sk = find(s, c, 'sharekeep')
      const ex = find(s, c, t)
      if (!sk || !ex) continue
      const r = rps(sk) / rps(ex)
      p(`| ${s}: req/s ≥ 1.3× ${LABEL[t]} | ${c} | ${r >= 1.3 ? 'met' : 'not met'} | ${r.toFixed(2)}× (${fmtRps(rps(sk))} vs ${fmtRps(rps(ex))}); p99 ${ms(sk.r.p99_us)} vs ${ms(ex.r.p99_us)} ms |`)
    }
  }
}
for (const c of concs) {
  const sk = find('store', c, 'sharekeep')
  const pg = find('store', c, 'pgbench')
  if (!sk || !pg) continue
  const r = rps(sk) / rps(pg)
  p(`| store ≥ 60% of pgbench | ${c} | ${r >= 0.6 ? 'met' : 'not met'} | ${Math.round(100 * r)}% (${fmtRps(rps(sk))} vs ${fmtRps(rps(pg))} tps) |`)
}
const skRss = rows.filter((x) => x.target === 'sharekeep' && x.rss)
if (skRss.length) {
  const worst = skRss.reduce((a, b) => (b.rss.worker_max_kb > a.rss.worker_max_kb ? b : a))
  const kb = worst.rss.worker_max_kb
  p(`| sharekeep worker RSS < 8 MiB | all | ${kb < 8192 ? 'met' : 'not met'} | largest worker peak ${mib(kb)} MiB (${worst.scenario} c=${worst.c}); master ${mib(worst.rss.master_kb)} MiB |`)
}
p()
if (warnings.length) {
  p('## Warnings')
  p()
  for (const w of warnings) p(`- ${w}`)
  p()
}
console.log(out.join('\n'))
