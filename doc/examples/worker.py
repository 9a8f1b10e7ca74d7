#!/usr/bin/python3
"""An inboxd job worker in Python (psycopg 3, Debian: python3-psycopg).

    worker.py KIND [--name NAME] [--batch N] [--poll SECONDS]
              [--max-jobs N] [--idle-exit SECONDS]

Connects with the usual libpq settings (PGHOST, PGPORT, PGUSER,
PGDATABASE, PGPASSWORD, or DATABASE_URL), claims jobs of KIND, runs
handle() on each and records the outcome. --max-jobs and --idle-exit
make it stop by itself (tests, cron); otherwise it runs until killed.
"""

import argparse
import json
import os
import select
import socket
import sys
import time

import psycopg
from psycopg.rows import dict_row


def handle(job):
    """The work. Returns the result to store; raises to fail the attempt.

    This demonstration echoes the payload; a payload with
    "simulate_error" fails its first attempt, to show retries.
    """
    payload = job["payload"]
    if payload.get("simulate_error") and job["attempts"] == 1:
        raise RuntimeError("simulated failure")
    return {"echo": payload, "worker": ARGS.name}


def work_batch(conn):
    """Claims up to --batch jobs and runs them. Returns how many succeeded
    and whether anything was claimed."""
    jobs = conn.execute(
        "SELECT id, attempts, payload FROM inboxd.claim(%s, %s, %s)",
        (ARGS.kind, ARGS.name, ARGS.batch),
    ).fetchall()
    succeeded = 0
    for job in jobs:
        # The whole batch was leased at claim time: renew this job's lease
        # before starting it, and skip it if the lease is already lost.
        beat = conn.execute(
            "SELECT inboxd.heartbeat(%s, %s) AS ok", (job["id"], job["attempts"])
        ).fetchone()
        if not beat["ok"]:
            continue
        try:
            result = handle(job)
        except Exception as e:  # any failure of the work: retry later
            conn.execute(
                "SELECT inboxd.fail(%s, %s, %s)",
                (job["id"], job["attempts"], "%s: %s" % (type(e).__name__, e)),
            )
            continue
        # (id, attempts) fences the write: False means the lease expired
        # and the job went to another worker, whose outcome counts.
        done = conn.execute(
            "SELECT inboxd.complete(%s, %s, %s) AS ok",
            (job["id"], job["attempts"], json.dumps(result)),
        ).fetchone()
        if done["ok"]:
            succeeded += 1
    return succeeded, bool(jobs)


def wait_for_jobs(conn, woken, timeout):
    """Sleeps until a notification names our kind, or timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        # Some may have come in with the results of the last queries.
        while woken:
            kinds = woken.pop().split(",")
            if ARGS.kind in kinds or "*" in kinds:
                return
        left = deadline - time.monotonic()
        if left <= 0:
            return
        if select.select([conn.fileno()], [], [], left)[0]:
            # Notifications reach the handler while psycopg reads results.
            conn.execute("SELECT 1")


def session(conninfo, stats):
    """One connection's life: LISTEN, then claim until idle, then wait."""
    with psycopg.connect(conninfo, autocommit=True, row_factory=dict_row) as conn:
        woken = []
        conn.add_notify_handler(lambda n: woken.append(n.payload))
        # LISTEN before the first claim: a job queued in between is then
        # either claimed or announced, never missed.
        conn.execute("LISTEN inboxd_jobs")
        idle_since = time.monotonic()
        while True:
            n, claimed = work_batch(conn)
            stats["done"] += n
            if ARGS.max_jobs and stats["done"] >= ARGS.max_jobs:
                return True
            if claimed:
                idle_since = time.monotonic()
                continue
            idle = time.monotonic() - idle_since
            if ARGS.idle_exit and idle >= ARGS.idle_exit:
                return True
            # NOTIFY is a hint; the timeout catches anything it missed.
            wait = ARGS.poll
            if ARGS.idle_exit:
                wait = min(wait, ARGS.idle_exit - idle)
            wait_for_jobs(conn, woken, wait)


def main():
    global ARGS
    p = argparse.ArgumentParser(description="inboxd job worker")
    p.add_argument("kind")
    p.add_argument("--name", default="%s:%d" % (socket.gethostname(), os.getpid()))
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--poll", type=float, default=30.0)
    p.add_argument("--max-jobs", type=int, default=0)
    p.add_argument("--idle-exit", type=float, default=0.0)
    ARGS = p.parse_args()

    conninfo = os.environ.get("DATABASE_URL", "")
    stats = {"done": 0}
    backoff = 1.0
    while True:
        try:
            if session(conninfo, stats):
                break
        except psycopg.OperationalError as e:
            # Lost connection: reconnect with backoff. The LISTEN is
            # renewed by the new session, and its first claim catches up.
            print("worker: %s; reconnecting in %.0f s" % (e, backoff), file=sys.stderr)
            time.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
    print("worker %s: %d jobs done" % (ARGS.name, stats["done"]))


if __name__ == "__main__":
    main()
