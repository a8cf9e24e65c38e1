// The server.js of Portal's "Back up a wallet" guide, made real: what a team
// following the guide would write itself with express + pg.
//
//   POST /webhook/backup        {clientId, share}  -> INSERT, 200 after COMMIT
//   POST /webhook/backup/fetch  {clientId}         -> newest share, or 404
//
// As in the guide there is no authentication (the webhook-* signature headers
// the benchmark sends are ignored) and no encryption: the share is stored as
// the plaintext it arrived as.  Clustered over the machine's cores
// (node:cluster, os.availableParallelism() workers), each worker with its own
// pg Pool at its defaults (max 10 connections).  Express listens directly on
// its port, with no nginx in front: that is how most users would run it.
//
// Environment: PORT (default 3000), HOST (default 127.0.0.1), the usual libpq
// variables for pg (PGHOST, PGPORT, PGDATABASE, PGUSER), EXPRESS_WORKERS
// (default os.availableParallelism()).  With SETUP_SCHEMA=1 the primary
// creates the table before forking.
import cluster from 'node:cluster'
import os from 'node:os'
import process from 'node:process'

import express from 'express'
import pg from 'pg'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS backup_share (
    id          bigserial   PRIMARY KEY,
    client_id   text        NOT NULL,
    share       text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS backup_share_client ON backup_share (client_id, id DESC);
`

const workers = Number(process.env.EXPRESS_WORKERS || os.availableParallelism())
const port = Number(process.env.PORT || 3000)
const host = process.env.HOST || '127.0.0.1'

if (cluster.isPrimary) {
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
  const db = new pg.Pool()
  const app = express()
  app.use(express.json())

  app.post('/webhook/backup', async (req, res) => {
    // Destructure the provided fields from the request body
    const {
      clientId, // The Portal clientId for the user
      share, // a JSON.stringified version of the backup share
    } = req.body

    // Store the backup share within your infrastructure
    await db.query('INSERT INTO backup_share (client_id, share) VALUES ($1, $2)', [clientId, share])

    res.status(200).send()
  })

  app.post('/webhook/backup/fetch', async (req, res) => {
    const { clientId } = req.body
    const { rows } = await db.query(
      'SELECT share FROM backup_share WHERE client_id = $1 ORDER BY id DESC LIMIT 1',
      [clientId],
    )
    if (rows.length === 0) return res.status(404).send()
    res.status(200).json({ share: rows[0].share })
  })

  const server = app.listen(port, host, () => process.send('listening'))
  process.on('SIGTERM', () => {
    server.close()
    db.end().finally(() => process.exit(0))
    setTimeout(() => process.exit(0), 1000).unref()
  })
}
