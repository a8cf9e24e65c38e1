// The custodian backup webhook as a team following Portal's guides would
// write it with express + pg: Portal's "Back up a wallet" server.js, brought
// up to Portal's current multi-backup contract (self-managed backups, the
// multi-backup migration guide) and made real.
//
//   POST /webhook/backup        {clientId, share, backupMethod?}
//        -> INSERT a new version of (clientId, backupMethod), 200 {"ok":true}
//           after COMMIT
//   POST /webhook/backup/fetch  {clientId}
//        -> 200 {"backupShares":[newest share of each backupMethod, newest
//           first],"backupShare":<the newest of them>}, or 404
//
// Every request must carry the secret shown in Portal's dashboard in
// X-Webhook-Secret, compared in constant time; 401 without it. backupMethod
// is stored as a free string (Portal says it is not an enum), "UNKNOWN" when
// absent (legacy senders). Versions are append-only: a new share of an
// identity is a new row, nothing is updated or deleted, and an index on
// (client_id, backup_method, id DESC) serves "newest per identity" without a
// scan. Commits are PostgreSQL's defaults (synchronous_commit on): the 200
// goes out once the row is durable.
//
// There is no encryption: the share is stored as the plaintext it arrived
// as, as in the guide. Clustered over the machine's cores (node:cluster,
// os.availableParallelism() workers), each worker with its own pg Pool at
// its defaults (max 10 connections).
//
// Environment: PORT (default 3000), HOST (default 127.0.0.1), the usual libpq
// variables for pg (PGHOST, PGPORT, PGDATABASE, PGUSER), EXPRESS_WORKERS
// (default os.availableParallelism()), WEBHOOK_SECRET or WEBHOOK_SECRET_FILE
// (a file whose first line is the secret; one of the two is required).
// With SETUP_SCHEMA=1 the primary creates the table before forking.
import cluster from 'node:cluster'
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import process from 'node:process'

import express from 'express'
import pg from 'pg'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS backup_share (
    id              bigserial   PRIMARY KEY,
    client_id       text        NOT NULL,
    backup_method   text        NOT NULL,
    share           text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS backup_share_identity
    ON backup_share (client_id, backup_method, id DESC);
`

const workers = Number(process.env.EXPRESS_WORKERS || os.availableParallelism())
const port = Number(process.env.PORT || 3000)
const host = process.env.HOST || '127.0.0.1'

function loadSecret() {
  let s = process.env.WEBHOOK_SECRET
  if (!s && process.env.WEBHOOK_SECRET_FILE) {
    s = readFileSync(process.env.WEBHOOK_SECRET_FILE, 'utf8').split('\n')[0]
  }
  s = (s || '').trim()
  if (s.length < 16) {
    console.error('express peer: set WEBHOOK_SECRET or WEBHOOK_SECRET_FILE (16 characters or more)')
    process.exit(2)
  }
  return s
}

if (cluster.isPrimary) {
  loadSecret()
  if (process.env.SETUP_SCHEMA === '1') {
    const client = new pg.Client()
    await client.connect()
    await client.query(SCHEMA)
    await client.end()
  }
  let ready = 0
  let shuttingDown = false
  for (let i = 0; i < workers; i++) cluster.fork()
  cluster.on('message', (_w, msg) => {
    if (msg === 'listening' && ++ready === workers) {
      console.log(`express peer: ${workers} workers on http://${host}:${port}`)
    }
  })
  cluster.on('exit', (w, code, signal) => {
    if (!shuttingDown) console.error(`worker ${w.process.pid} died (${signal || code})`)
  })
  const stop = () => {
    shuttingDown = true
    for (const id in cluster.workers) cluster.workers[id].process.kill('SIGTERM')
    setTimeout(() => process.exit(0), 2000).unref()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
} else {
  // Compared as SHA-256 digests so that timingSafeEqual gets equal lengths
  // and the comparison says nothing about the secret's length either.
  const secretDigest = createHash('sha256').update(loadSecret()).digest()
  const secretOk = (given) => typeof given === 'string' &&
    timingSafeEqual(createHash('sha256').update(given).digest(), secretDigest)

  const fail = (res, status, code, message) => res.status(status).json({ error: { code, message } })
  const isString = (v, max) => typeof v === 'string' && v.length > 0 && v.length <= max

  const db = new pg.Pool()
  const app = express()
  app.disable('x-powered-by')
  app.set('etag', false) // an API of POSTs: no caching, no hashing every answer

  // Authenticate before reading the body: a caller without the secret
  // costs a header check.
  app.use('/webhook', (req, res, next) => {
    if (!secretOk(req.get('X-Webhook-Secret'))) {
      return fail(res, 401, 'unauthenticated', 'the webhook secret is missing or not valid')
    }
    next()
  })
  app.use(express.json({ limit: '64kb' }))

  app.post('/webhook/backup', async (req, res) => {
    const {
      clientId, // The Portal clientId for the user
      share, // a JSON.stringified version of the backup share, stored as is
      backupMethod = 'UNKNOWN', // e.g. PASSWORD-SECP256K1; a free string, absent from legacy senders
    } = req.body ?? {}
    if (!isString(clientId, 128) || !isString(share, 1 << 20) || !isString(backupMethod, 64)) {
      return fail(res, 400, 'bad_request', 'clientId and share must be non-empty strings, backupMethod a string')
    }
    // A new version: append-only, never an UPDATE or a DELETE of the older one.
    await db.query('INSERT INTO backup_share (client_id, backup_method, share) VALUES ($1, $2, $3)',
      [clientId, backupMethod, share])
    res.status(200).json({ ok: true })
  })

  app.post('/webhook/backup/fetch', async (req, res) => {
    const { clientId } = req.body ?? {}
    if (!isString(clientId, 128)) return fail(res, 400, 'bad_request', 'clientId must be a non-empty string')
    // The newest version of each backupMethod, the most recently stored first.
    const { rows } = await db.query(
      `SELECT share FROM (
           SELECT DISTINCT ON (backup_method) share, id FROM backup_share
           WHERE client_id = $1 ORDER BY backup_method, id DESC) newest
       ORDER BY id DESC`,
      [clientId],
    )
    if (rows.length === 0) return fail(res, 404, 'not_found', 'no backup share is stored for this client')
    const backupShares = rows.map((r) => r.share)
    res.status(200).json({ backupShares, backupShare: backupShares[0] })
  })

  // Errors as JSON: a body that is not JSON or too large (express.json's
  // 400 / 413), a database failure (503, so Portal's user can try again).
  app.use((err, _req, res, _next) => {
    if (err.status >= 400 && err.status < 500) {
      return fail(res, err.status, err.status === 413 ? 'payload_too_large' : 'bad_request', 'malformed request')
    }
    console.error(err)
    fail(res, 503, 'unavailable', 'storage is unavailable; retry later')
  })

  const server = app.listen(port, host, () => process.send('listening'))
  process.on('SIGTERM', () => {
    server.close()
    db.end().finally(() => process.exit(0))
    setTimeout(() => process.exit(0), 1000).unref()
  })
}
