// bench/lib/pgcost.mjs: PostgreSQL's CPU and WAL per store, fetch and
// rewrapped record, before and after, from the results of several runs of
// bench/run and bench/scale/run (their .jsonl, each given as LABEL=FILE;
// LABEL names the build, e.g. before, after).
//
//   node bench/lib/pgcost.mjs OUT.jsonl before=A.jsonl after=B.jsonl ... > TABLE.md
//
// OUT.jsonl gets one line per measurement (the figures the table is made
// of, so the table can be redrawn: `node bench/lib/pgcost.mjs - OUT.jsonl`
// reads such a file back). The table: per harness, operation and
// concurrency, the median of each label's runs (min-max, runs), and the
// ratio of each label's median to the first label's.
import { readFileSync, writeFileSync } from 'node:fs'
import process from 'node:process'

const [outFile, ...args] = process.argv.slice(2)
if (!outFile || args.length === 0) {
  console.error('usage: pgcost.mjs OUT.jsonl|- LABEL=RESULTS.jsonl... | pgcost.mjs - PGCOST.jsonl')
  process.exit(2)
}
const lines = (f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))

const m = []
for (const arg of args) {
  const eq = arg.indexOf('=')
  if (eq < 0) { // a pgcost.jsonl written before
    m.push(...lines(arg))
    continue
  }
  const label = arg.slice(0, eq)
  const file = arg.slice(eq + 1)
  let meta = {}
  try { meta = JSON.parse(readFileSync(file.replace(/\.jsonl$/, '.meta.json'), 'utf8')) } catch { /* scale: in each line */ }
  for (const x of lines(file)) {
    if (x.scenario !== undefined) { // bench/run: one cell a line
      if (x.target !== 'sharekeep' || !x.cpu || x.wal_b === undefined) continue
      m.push({ harness: 'bench/run', label, file, op: x.scenario, c: x.c, pg_us: x.cpu.pg_us, wal_bytes: x.wal_b,
        n: x.r.requests, per_s: Math.round(x.r.requests / (x.r.duration_us / 1e6)), bg: x.bg,
        postgres: meta.postgres, commit: meta.commit })
    } else if (x.records !== undefined) { // bench/scale/run: one checkpoint a line
      const run = x.run || {}
      const base = { harness: 'bench/scale/run', label, file, records: x.records, postgres: run.postgres, layout: run.layout }
      for (const op of ['store', 'fetch']) {
        if (x[op].pg_us === undefined) continue
        m.push({ ...base, op, c: Number(run.c), pg_us: x[op].pg_us, wal_bytes: x[op].wal_bytes,
          wal_fpi_bytes: x[op].wal_fpi_bytes, n: x[op].requests,
          per_s: Math.round(x[op].requests / (x[op].duration_us / 1e6)), bg: x[op].bg })
      }
      if (x.rewrap.pg_us !== undefined) {
        m.push({ ...base, op: 'rewrap', pg_us: x.rewrap.pg_us, wal_bytes: x.rewrap.wal_bytes,
          wal_fpi_bytes: x.rewrap.wal_fpi_bytes, n: x.records, per_s: x.rewrap.per_s })
        m.push({ ...base, op: 'bare UPDATE', pg_us: x.update.pg_us, wal_bytes: x.update.wal_bytes,
          wal_fpi_bytes: x.update.wal_fpi_bytes, n: x.records, per_s: x.update.per_s })
      }
    }
  }
}
if (outFile !== '-') writeFileSync(outFile, m.map((x) => JSON.stringify(x)).join('\n') + '\n')

const median = (v) => {
  const s = [...v].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const int = (x) => Math.round(x).toLocaleString('en-US')
const labels = [...new Set(m.map((x) => x.label))]
const first = labels[0]
const OPS = ['store', 'fetch', 'rewrap', 'bare UPDATE']
const groups = []
for (const h of ['bench/scale/run', 'bench/run']) {
  const hm = m.filter((x) => x.harness === h)
  for (const op of OPS) {
    for (const c of [...new Set(hm.filter((x) => x.op === op).map((x) => x.c))].sort((a, b) => (a ?? 0) - (b ?? 0))) {
      groups.push({ h, op, c, rows: hm.filter((x) => x.op === op && x.c === c) })
    }
  }
}
const out = []
const p = (s = '') => out.push(s)
const range = (v) => (v.length > 1 ? ` (${int(Math.min(...v))}–${int(Math.max(...v))})` : '')
p(`| harness | operation | build | runs | PostgreSQL CPU µs: median (min–max) | ÷ ${first} | WAL bytes: median (min–max) | of which full-page images | ÷ ${first} | req/s (records/s): median (min–max) | other CPU before the cell |`)
p('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const g of groups) {
  const name = g.op + (g.c !== undefined ? `, c=${g.c}` : '') + (g.op === 'rewrap' || g.op === 'bare UPDATE' ? ', per record' : '')
  for (const l of labels) {
    const rs = g.rows.filter((x) => x.label === l)
    if (!rs.length) continue
    const by = (k) => rs.map((x) => x[k]).filter((v) => v !== undefined && v >= 0)
    const base = (k) => g.rows.filter((x) => x.label === first).map((x) => x[k]).filter((v) => v !== undefined && v >= 0)
    const ratio = (k) => (l === first || !by(k).length || !base(k).length || !(median(base(k)) > 0) ? ''
      : (median(by(k)) / median(base(k))).toFixed(2))
    const fpi = by('wal_fpi_bytes')
    const bg = by('bg')
    const bgs = bg.length ? `${Math.min(...bg)}${bg.length > 1 ? `–${Math.max(...bg)}` : ''}%` : '–'
    p(`| ${g.h} | ${name} | ${l} | ${rs.length} | ${by('pg_us').length ? int(median(by('pg_us'))) + range(by('pg_us')) : '–'} | ${ratio('pg_us')} ` +
      `| ${int(median(by('wal_bytes')))}${range(by('wal_bytes'))} | ${fpi.length ? int(median(fpi)) : '–'} | ${ratio('wal_bytes')} | ${by('per_s').length ? int(median(by('per_s'))) + range(by('per_s')) : '–'} | ${bgs} |`)
  }
}
console.log(out.join('\n'))
