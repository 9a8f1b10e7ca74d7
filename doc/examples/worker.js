#!/usr/bin/env node
// An inboxd job worker in Node.js (the "pg" package from npm).
//
//     node worker.js KIND [--name NAME] [--batch N] [--poll SECONDS]
//                         [--max-jobs N] [--idle-exit SECONDS]
//
// Connects with the usual libpq settings (PGHOST, PGPORT, PGUSER,
// PGDATABASE, PGPASSWORD, or DATABASE_URL), claims jobs of KIND, runs
// handle() on each and records the outcome. --max-jobs and --idle-exit
// make it stop by itself (tests, cron); otherwise it runs until killed.

'use strict';

const os = require('os');
const { Client } = require('pg');

function parseArgs(argv) {
  const opts = {
    kind: null, name: `${os.hostname()}:${process.pid}`, batch: 10,
    poll: 30, maxJobs: 0, idleExit: 0,
  };
  const flags = {
    '--name': (v) => { opts.name = v; },
    '--batch': (v) => { opts.batch = Number(v); },
    '--poll': (v) => { opts.poll = Number(v); },
    '--max-jobs': (v) => { opts.maxJobs = Number(v); },
    '--idle-exit': (v) => { opts.idleExit = Number(v); },
  };
  for (let i = 0; i < argv.length; i++) {
    if (flags[argv[i]] && i + 1 < argv.length) flags[argv[i]](argv[++i]);
    else if (!opts.kind && !argv[i].startsWith('--')) opts.kind = argv[i];
    else throw new Error(`unexpected argument ${argv[i]}`);
  }
  if (!opts.kind) throw new Error('usage: worker.js KIND [options]');
  return opts;
}

const ARGS = parseArgs(process.argv.slice(2));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The work. Returns the result to store; throws to fail the attempt.
// This demonstration echoes the payload; a payload with "simulate_error"
// fails its first attempt, to show retries.
async function handle(job) {
  if (job.payload.simulate_error && job.attempts === 1) {
    throw new Error('simulated failure');
  }
  return { echo: job.payload, worker: ARGS.name };
}

// Claims up to --batch jobs and runs them. Returns how many succeeded and
// whether anything was claimed.
async function workBatch(client) {
  const { rows: jobs } = await client.query(
    'SELECT id, attempts, payload FROM inboxd.claim($1, $2, $3)',
    [ARGS.kind, ARGS.name, ARGS.batch]);
  let succeeded = 0;
  for (const job of jobs) {
    // The whole batch was leased at claim time: renew this job's lease
    // before starting it, and skip it if the lease is already lost.
    const beat = await client.query('SELECT inboxd.heartbeat($1, $2) AS ok',
      [job.id, job.attempts]);
    if (!beat.rows[0].ok) continue;
    let result;
    try {
      result = await handle(job);
    } catch (e) {
      await client.query('SELECT inboxd.fail($1, $2, $3)',
        [job.id, job.attempts, `${e.name}: ${e.message}`]);
      continue;
    }
    // (id, attempts) fences the write: false means the lease expired and
    // the job went to another worker, whose outcome counts.
    const done = await client.query(
      'SELECT inboxd.complete($1, $2, $3) AS ok',
      [job.id, job.attempts, JSON.stringify(result)]);
    if (done.rows[0].ok) succeeded++;
  }
  return { succeeded, claimed: jobs.length > 0 };
}

// One connection's life: LISTEN, then claim until idle, then wait.
async function session(stats) {
  const client = new Client(process.env.DATABASE_URL
    ? { connectionString: process.env.DATABASE_URL } : {});
  let wake = null;
  let pending = false; // a notification came while we were busy
  let lost = null;
  const interrupt = () => { if (wake) wake(); else pending = true; };
  client.on('notification', (msg) => {
    const kinds = (msg.payload || '').split(',');
    if (kinds.includes(ARGS.kind) || kinds.includes('*')) interrupt();
  });
  client.on('error', (e) => { lost = e; interrupt(); });
  await client.connect();
  try {
    // LISTEN before the first claim: a job queued in between is then
    // either claimed or announced, never missed.
    await client.query('LISTEN inboxd_jobs');
    let idleSince = Date.now();
    for (;;) {
      if (lost) throw lost;
      const { succeeded, claimed } = await workBatch(client);
      stats.done += succeeded;
      if (ARGS.maxJobs && stats.done >= ARGS.maxJobs) return true;
      if (claimed) {
        idleSince = Date.now();
        continue;
      }
      const idle = (Date.now() - idleSince) / 1000;
      if (ARGS.idleExit && idle >= ARGS.idleExit) return true;
      // NOTIFY is a hint; the timeout catches anything it missed.
      let wait = ARGS.poll;
      if (ARGS.idleExit) wait = Math.min(wait, ARGS.idleExit - idle);
      if (!pending) {
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, wait * 1000);
          wake = () => { clearTimeout(timer); resolve(); };
        });
        wake = null;
      }
      pending = false;
    }
  } finally {
    await client.end().catch(() => {});
  }
}

async function main() {
  const stats = { done: 0 };
  let backoff = 1;
  for (;;) {
    try {
      if (await session(stats)) break;
    } catch (e) {
      // Lost connection: reconnect with backoff. The LISTEN is renewed by
      // the new session, and its first claim catches up.
      console.error(`worker: ${e.message}; reconnecting in ${backoff} s`);
      await sleep(backoff * 1000);
      backoff = Math.min(backoff * 2, 30);
    }
  }
  console.log(`worker ${ARGS.name}: ${stats.done} jobs done`);
}

main().catch((e) => {
  console.error(`worker: ${e.message}`);
  process.exit(1);
});
