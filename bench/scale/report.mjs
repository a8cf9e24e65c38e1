// bench/scale/report.mjs: the markdown report of bench/scale/run, and the
// data and gnuplot script of its plot.
//
//   node report.mjs RESULTS.jsonl [PLOTDIR] > REPORT.md
//
// RESULTS.jsonl: one line per checkpoint, the run's description in "run".
// PLOTDIR gets data.tsv and plot.gp (`gnuplot plot.gp` in PLOTDIR writes
// scale.png). The report links the plot as @PNG@, for the caller to fill.
// Redraw from saved results: node bench/scale/report.mjs
//   bench/results/scale.jsonl /tmp/plot | sed s/@PNG@/scale.png/
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import process from 'node:process'

const [jsonlFile, plotDir] = process.argv.slice(2)
if (!jsonlFile) {
  console.error('usage: report.mjs RESULTS.jsonl [PLOTDIR]')
  process.exit(2)
}
const rows = readFileSync(jsonlFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
const meta = rows[0].run

const int = (x) => Math.round(x).toLocaleString('en-US')
const ms = (us) => (us / 1000).toFixed(us < 10000 ? 2 : 1)
const ratio = (a, b) => (b > 0 ? (a / b).toFixed(2) : '-')
const kib = (kb) => (kb / 1024).toFixed(1) + ' MiB'
const reqs = (r) => r.requests / (r.duration_us / 1e6)
const bytes = (s) => s.heap + s.toast + s.index
// sharekeep's own CPU (user + system, every process of the command) per record
const cpu = (x, n) => (x.cpu_secs === undefined ? '' : `, ${int((x.cpu_secs * 1e6) / n)} µs CPU/record`)
const out = []
const p = (s = '') => out.push(s)

p('# sharekeep at scale (bench/scale/run)')
p()
p(`${meta.date}, commit ${meta.commit}${meta.smoke === '1' ? ' (smoke run)' : ''}: ` +
  `${int(Number(meta.records))} records of ${meta.share} bytes shares, two identities per client, ` +
  `loaded in steps with COPY through the real seal path (bench/scale/load); ` +
  `wrk cells of ${meta.duration} s at c=${meta.c} through nginx and \`sharekeep serve\` ` +
  `(${meta.workers} workers); rewrap and verify with ${meta.jobs === 'default' ? 'their default --jobs (one process per CPU)' : '--jobs ' + meta.jobs}; layout ${meta.layout}. ` +
  `Took ${int(Number(meta.elapsed))} s.`)
p()
p(`Machine: ${meta.cpu}, ${meta.cores} cores, ${meta.mem}, ${meta.kernel}; PostgreSQL data on ${meta.fs}. ` +
  `${meta.postgres} (fsync, synchronous_commit and full_page_writes on, shared_buffers 256MB, ` +
  `autovacuum off: each step VACUUMs), ${meta.nginx}, wrk ${meta.wrk}.`)
p()
const las = rows.map((r) => Number(r.loadavg_start.split(' ')[0]))
const bgs = rows.flatMap((r) => [r.fetch.bg, r.store.bg])
p(`Load average (1 min) at the start of each checkpoint: ${las.join(', ')}; at the end ` +
  `${meta.loadavg_end.split(' ')[0]}. Machine CPU busy just before the wrk cells (our stack idle): ` +
  `${bgs.map((b) => b + '%').join(', ')}.` +
  (Math.max(...las) > Number(meta.cores) || Math.max(...bgs) >= 10
    ? ' **Other work was running on this machine during the run: the rates are lower and noisier than on a quiet one.**'
    : ''))
p()
p('## Summary')
p()
p('Rates in records/s (store, fetch: requests/s); in parentheses sharekeep ÷ its ceiling on the same run.')
p()
p('| records | load (seal + COPY) | fetch req/s | fetch p50 / p99 ms | store req/s | store p50 / p99 ms | rewrap (÷ UPDATE) | verify (÷ scan) | export (÷ COPY TO) | import (÷ COPY FROM) | disk bytes per share (× raw) |')
p('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const r of rows) {
  p(`| ${int(r.records)} | ${int(r.load.per_s)} | ${int(reqs(r.fetch))} | ${ms(r.fetch.p50_us)} / ${ms(r.fetch.p99_us)} ` +
    `| ${int(reqs(r.store))} | ${ms(r.store.p50_us)} / ${ms(r.store.p99_us)} ` +
    `| ${int(r.rewrap.per_s)} (${ratio(r.rewrap.per_s, r.update.per_s)}) ` +
    `| ${int(r.verify.per_s)} (${ratio(r.verify.per_s, r.seqscan.per_s)}) ` +
    `| ${int(r.export.per_s)} (${ratio(r.export.per_s, r.copy_to.per_s)}) ` +
    `| ${int(r.import.per_s)}${r.import.capped ? '*' : ''} (${ratio(r.import.per_s, r.copy_from.per_s)}) ` +
    `| ${int(bytes(r.sizes) / r.records)} (${ratio(bytes(r.sizes) / r.records, r.share_bytes)}) |`)
}
const last = rows[rows.length - 1]
if (last.fetch_again) {
  p()
  p(`At ${int(last.records)} records, fetch and store once more after the admin commands: fetch ${int(reqs(last.fetch_again))} req/s, ` +
    `p50 / p99 ${ms(last.fetch_again.p50_us)} / ${ms(last.fetch_again.p99_us)} ms; store ${int(reqs(last.store_again))} req/s, ` +
    `p50 / p99 ${ms(last.store_again.p50_us)} / ${ms(last.store_again.p99_us)} ms.`)
}
if (rows.some((r) => r.import.capped)) p('\n\\* import stopped after its first part (see below); the rate is of that part.')
if (rows.some((r) => r.store.pg_us !== undefined || r.rewrap.pg_us !== undefined)) {
  p()
  p('PostgreSQL\'s cost per operation: CPU (user + system of every process of the cluster, µs) and WAL bytes, per request (store, fetch) or per record (rewrap, bare UPDATE).')
  p()
  p('| records | store CPU µs | store WAL B | fetch CPU µs | fetch WAL B | rewrap CPU µs | rewrap WAL B | UPDATE CPU µs | UPDATE WAL B |')
  p('|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  const v = (x) => (x === undefined ? '-' : int(x))
  for (const r of rows) {
    p(`| ${int(r.records)} | ${v(r.store.pg_us)} | ${v(r.store.wal_bytes)} | ${v(r.fetch.pg_us)} | ${v(r.fetch.wal_bytes)} ` +
      `| ${v(r.rewrap.pg_us)} | ${v(r.rewrap.wal_bytes)} | ${v(r.update.pg_us)} | ${v(r.update.wal_bytes)} |`)
  }
}
p()
if (rows.length > 1) p('![records/s and fetch p99 against the number of records](@PNG@)')
p()
p('## Per checkpoint')
for (const r of rows) {
  p()
  p(`### ${int(r.records)} records (${int(r.clients)} clients)`)
  p()
  p(`Loaded ${int(r.load.records)} records for this step in ${r.load.secs} s; VACUUM ANALYZE ${r.load.vacuum_secs} s. ` +
    `Load average ${r.loadavg_start} at the start, ${r.loadavg_end} at the end.`)
  p()
  p('| | sharekeep | ceiling, same run | sharekeep ÷ ceiling |')
  p('|---|---|---|---:|')
  const cells = [['fetch', r.fetch], ['store', r.store]]
  if (r.fetch_again) cells.push(['fetch again (after the admin commands)', r.fetch_again], ['store again', r.store_again])
  for (const [name, c] of cells) {
    const io = c.disk_read_mb === undefined ? ''
      : `; disk ${int(c.disk_read_mb)} MB read, ${int(c.disk_write_mb)} MB written, ${c.checkpoints} checkpoints during the cell`
    const fpi = (x) => (x.wal_fpi_bytes === undefined || x.wal_fpi_bytes < 0 ? '' : ` (${int(x.wal_fpi_bytes)} of them full-page images)`)
    const pgc = c.pg_us === undefined ? '' : `; PostgreSQL ${int(c.pg_us)} µs CPU and ${int(c.wal_bytes)} WAL bytes${fpi(c)} per request`
    p(`| ${name}, c=${meta.c} | ${int(reqs(c))} req/s; p50 ${ms(c.p50_us)} ms, p99 ${ms(c.p99_us)} ms, ` +
      `max ${ms(c.max_us)} ms; worker peak RSS ${kib(c.worker_hwm_kb)}; other CPU ${c.bg}%${io}${pgc} | | |`)
  }
  const pgr = (x) => (x.pg_us === undefined ? '' : `, ${int(x.pg_us)} µs PostgreSQL CPU/record`)
  const fpr = (x) => (x.wal_fpi_bytes === undefined || x.wal_fpi_bytes < 0 ? '' : ` (${int(x.wal_fpi_bytes)} of them full-page images)`)
  p(`| rewrap | ${int(r.rewrap.per_s)} records/s (${r.rewrap.secs} s${cpu(r.rewrap, r.records)}), ${int(r.rewrap.wal_bytes)} WAL bytes/record${fpr(r.rewrap)}${pgr(r.rewrap)}, ` +
    `peak RSS ${kib(r.rewrap.rss_kb)} | bare UPDATE of kek_id: ${int(r.update.per_s)} records/s, ` +
    `${int(r.update.wal_bytes)} WAL bytes/record${fpr(r.update)}${pgr(r.update)} | ${ratio(r.rewrap.per_s, r.update.per_s)} |`)
  p(`| verify | ${int(r.verify.per_s)} records/s (${r.verify.secs} s${cpu(r.verify, r.records)}), peak RSS ${kib(r.verify.rss_kb)} ` +
    `| sequential scan detoasting every record: ${int(r.seqscan.per_s)} records/s | ${ratio(r.verify.per_s, r.seqscan.per_s)} |`)
  p(`| export | ${int(r.export.per_s)} records/s (${r.export.secs} s${cpu(r.export, r.records)}), ${int(r.export.bytes / r.records)} bytes/record, ` +
    `peak RSS ${kib(r.export.rss_kb)} | COPY TO (binary): ${int(r.copy_to.per_s)} records/s, ` +
    `${int(r.copy_to.bytes / r.records)} bytes/record | ${ratio(r.export.per_s, r.copy_to.per_s)} |`)
  const part = (i) => (i.capped ? `${int(i.rows)} records in ${i.secs} s, stopped there` : `${i.secs} s`) + cpu(i, i.rows)
  p(`| import (empty database) | ${int(r.import.per_s)} records/s (${part(r.import)}), peak RSS ${kib(r.import.rss_kb)} ` +
    `| COPY FROM (the load: seal + COPY): ${int(r.copy_from.per_s)} records/s | ${ratio(r.import.per_s, r.copy_from.per_s)} |`)
  if (r.import_async && r.import_async.per_s !== undefined) {
    p(`| import, synchronous_commit=off (diagnostic) | ${int(r.import_async.per_s)} records/s (${part(r.import_async)}) ` +
      `| COPY FROM: ${int(r.copy_from.per_s)} records/s | ${ratio(r.import_async.per_s, r.copy_from.per_s)} |`)
  }
  const s = r.sizes, n = r.records
  p(`| on disk per share | heap ${int(s.heap / n)} + TOAST ${int(s.toast / n)} + indexes ${int(s.index / n)} = ` +
    `${int(bytes(s) / n)} bytes | raw share: ${int(r.share_bytes)} bytes | ${ratio(bytes(s) / n, r.share_bytes)} |`)
}
p()
p('## How each number is taken')
p()
p('* **load**: `bench/scale/load` seals each share with the keyring\'s active KEK (the same `seal_share` as a store) and writes COPY text; `psql COPY share_record FROM STDIN` reads it. Records/s of the pipeline for that step; it is the COPY FROM ceiling of import.')
p('* **fetch / store**: wrk (`bench/scale/wrk.lua`, requests from `bench/scale/reqs.mjs`), as Portal sends them: the shared secret in `X-Webhook-Secret` (sharekeep\'s default `webhook_auth = shared-secret`). Fetch: `{"clientId"}` of a random loaded client (two identities, two shares in the answer). Store: `{"clientId","share","backupMethod"}`, a new client each request, the two methods in turn, a share of the same size; the rows it commits are counted, then deleted again (as the superuser, triggers off) so every admin command sees exactly the checkpoint\'s records. After the first load, one unrecorded fetch and store cell warm the workers; a CHECKPOINT before each cell. Closed loop, no coordinated-omission correction.')
p('* **rewrap**: `sharekeep rotate`, SIGHUP to serve, then `sharekeep rewrap` moves every record to the new KEK (wall time of the command; its jobs take an id range each). Ceiling: `UPDATE share_record SET kek_id = kek_id` in one statement (same rows, same triggers, no crypto, one commit). WAL from `pg_current_wal_lsn()` before and after, after a CHECKPOINT (so full-page images count).')
p('* **PostgreSQL CPU, WAL per operation**: around each wrk cell, rewrap and the bare UPDATE, the user + system CPU of every process of the cluster from /proc (the postmaster\'s own and its reaped children\'s, so backends that exited meanwhile count, plus every live child: backends, checkpointer, WAL writer; 10 ms ticks) and `pg_current_wal_lsn()`; the differences ÷ requests answered (store, fetch) or records (rewrap, UPDATE); the full-page images in that WAL from `pg_waldump --stats`. Cluster-wide, after the CHECKPOINT each cell starts with: full-page images of the pages a cell touches first count, so a shorter cell pays more of them per request.')
p('* **verify**: `sharekeep verify` opens every record (its jobs take an id range each). Ceiling: one non-parallel `SELECT sum(get_byte(envelope, 0)) + sum(get_byte(payload, 0))`, which reads and detoasts every envelope and payload (`length()` would not: it reads the TOAST pointer\'s size).')
p('* **export**: `sharekeep export > FILE` (JSON lines, base64). Ceiling: `COPY (SELECT …) TO STDOUT (FORMAT binary)` into a file.')
p('* **import**: a new database, migrated, then `sharekeep import < FILE` as a member of sharekeep_admin. Ceiling: the load\'s COPY FROM rate. ' +
  'Import commits 500 records per transaction (its default `--batch`); one still running after `--import-secs` ' +
  `(${meta.import_secs ?? '?'} s here) is stopped, and its rate is the records it inserted by then ÷ that time. ` +
  'The diagnostic row is the same import with `options=\'-c synchronous_commit=off\'` in its conninfo ' +
  `(at most ${meta.async_secs ?? '?'} s): what the commits' WAL flushes cost.`)
p('* **sizes**: after the load\'s VACUUM ANALYZE: `pg_relation_size` (heap), the TOAST table with its index, `pg_indexes_size`; per record, against the raw share bytes.')
p('* **peak RSS, CPU/record**: GNU time\'s maximum resident set of each admin command (rewrap: the largest of its job processes), and its user + system CPU (all its processes; PostgreSQL\'s not included) ÷ records; serve: the largest worker\'s VmHWM during the cell.')
process.stdout.write(out.join('\n') + '\n')

if (plotDir) {
  mkdirSync(plotDir, { recursive: true })
  const tsv = ['# records rewrap verify export import fetch_p99_ms update seqscan copy_to copy_from store_p99_ms fetch_bg']
  for (const r of rows) {
    tsv.push([r.records, r.rewrap.per_s, r.verify.per_s, r.export.per_s, r.import.per_s,
      r.fetch.p99_us / 1000, r.update.per_s, r.seqscan.per_s, r.copy_to.per_s, r.copy_from.per_s,
      r.store.p99_us / 1000, r.fetch.bg].join('\t'))
  }
  writeFileSync(`${plotDir}/data.tsv`, tsv.join('\n') + '\n')
  writeFileSync(`${plotDir}/plot.gp`, `# written by bench/scale/report.mjs
set terminal pngcairo size 1100,650 font ",10"
set output "scale.png"
set title "sharekeep at scale: ${meta.share}-byte shares, ${meta.cores} cores (${meta.date})"
set logscale x 10
set logscale y 10
set xlabel "records in share_record"
set ylabel "records/s (solid: sharekeep; dashed: its ceiling)"
set y2label "fetch / store p99 at c=${meta.c} (ms)"
set y2tics
set ytics nomirror
set y2range [0:*]
set format x "%.0s%c"
set format y "%.0s%c"
set termoption noenhanced
set key outside right top
set offsets graph 0.04, graph 0.04, 0, 0
set grid xtics ytics
plot "data.tsv" using 1:2 with linespoints lw 2 lc 1 pt 7 title "rewrap", \\
     "" using 1:7 with lines dt 2 lc 1 title "  bare UPDATE", \\
     "" using 1:3 with linespoints lw 2 lc 2 pt 7 title "verify", \\
     "" using 1:8 with lines dt 2 lc 2 title "  seq scan", \\
     "" using 1:4 with linespoints lw 2 lc 3 pt 7 title "export", \\
     "" using 1:9 with lines dt 2 lc 3 title "  COPY TO", \\
     "" using 1:5 with linespoints lw 2 lc 4 pt 7 title "import", \\
     "" using 1:10 with lines dt 2 lc 4 title "  COPY FROM (load)", \\
     "" using 1:6 axes x1y2 with linespoints lw 2 lc 7 pt 5 title "fetch p99 (ms, right)", \\
     "" using 1:6:(sprintf("other CPU %d%%", $12)) axes x1y2 with labels center offset 0,1.1 tc lt 7 notitle, \\
     "" using 1:11 axes x1y2 with linespoints lw 1 lc 8 pt 4 title "store p99 (ms, right)"
`)
}
