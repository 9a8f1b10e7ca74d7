#!/usr/bin/python3
"""New-mail latency: APPEND one message at a time, wait for the NOTIFY.

    latency.py --conninfo C --port P --user U --password W
               [--timeout S] [--jitter S] [--seed N] [--out FILE] FILE...

LISTENs on inboxd_jobs, then for each FILE (the first one is a warm-up,
not counted): waits a random pause of up to --jitter seconds (so that
the APPENDs do not fall into step with a poll timer), APPENDs the file
to INBOX over IMAP and waits for a notification on inboxd_jobs; checks
that the message's row is then in conversation_messages. The latency of
a message is the time from just before the APPEND command is sent to
the arrival of the notification. A second IMAP connection of our own
IDLEs on INBOX too, so the latency is split into the server's part
(APPEND to "* N EXISTS") and the daemon's part (EXISTS to NOTIFY).
Prints p50/p90/p99/max; exits non-zero when a notification or a row is
missing.
"""

import argparse
import imaplib
import random
import re
import select
import statistics
import sys
import time

import psycopg


def message_id(raw):
    m = re.search(rb"^Message-ID:\s*(<[^>\r\n]*>)", raw, re.I | re.M)
    return m.group(1).decode("ascii") if m else None


class Listener:
    def __init__(self, conninfo, channel):
        self.conn = psycopg.connect(conninfo, autocommit=True)
        self.conn.execute("LISTEN " + channel)
        self.pg = self.conn.pgconn

    def drain(self):
        """Returns the notifications already received, without waiting."""
        out = []
        self.pg.consume_input()
        while True:
            n = self.pg.notifies()
            if n is None:
                return out
            out.append(n)

    def row_exists(self, msgid):
        cur = self.conn.execute(
            "SELECT count(*) FROM conversation_messages WHERE rfc_message_id "
            "IN (%s, %s)", (msgid, msgid.strip("<>")))
        return cur.fetchone()[0] > 0


class Idler:
    """An IMAP connection in IDLE; reports when EXISTS arrives."""

    def __init__(self, host, port, user, password):
        self.imap = imaplib.IMAP4(host, port, timeout=30)
        self.imap.login(user, password)
        self.imap.select("INBOX")
        self.imap.send(b"L1 IDLE\r\n")
        line = self.imap.readline()
        if not line.startswith(b"+"):
            raise imaplib.IMAP4.error("IDLE refused: %r" % line)
        self.sock = self.imap.sock
        self.sock.setblocking(False)
        self.buf = b""

    def exists(self):
        """True when an EXISTS line has arrived since the last call."""
        seen = False
        while True:
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                break
            if not chunk:
                raise EOFError("IDLE connection closed")
            self.buf += chunk
        *lines, self.buf = self.buf.split(b"\r\n")
        for line in lines:
            if line.startswith(b"* ") and line.endswith(b" EXISTS"):
                seen = True
        return seen


def wait_both(listener, idler, deadline):
    """Waits for the NOTIFY; returns (t_exists, t_notify), None if unseen."""
    t_exists = t_notify = None
    while t_notify is None:
        if t_exists is None and idler.exists():
            t_exists = time.monotonic()
        if listener.drain():
            t_notify = time.monotonic()
            break
        left = deadline - time.monotonic()
        if left <= 0:
            break
        select.select([listener.pg.socket, idler.sock], [], [], left)
    if t_exists is None and idler.exists():
        t_exists = t_notify
    return t_exists, t_notify


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--conninfo", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--jitter", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out")
    p.add_argument("files", nargs="+")
    a = p.parse_args()

    rng = random.Random(a.seed)
    listener = Listener(a.conninfo, "inboxd_jobs")
    imap = imaplib.IMAP4(a.host, a.port, timeout=30)
    imap.login(a.user, a.password)
    idler = Idler(a.host, a.port, a.user, a.password)

    latencies, appends, server, daemon, missing = [], [], [], [], 0
    started = time.monotonic()
    for i, path in enumerate(a.files):
        with open(path, "rb") as f:
            raw = re.sub(rb"\r?\n", b"\r\n", f.read())
        msgid = message_id(raw)
        time.sleep(rng.uniform(0, a.jitter))
        listener.drain()                    # stale ones are not ours
        idler.exists()
        t0 = time.monotonic()
        typ, data = imap.append("INBOX", None, None, raw)
        t_app = time.monotonic()
        if typ != "OK":
            sys.exit("latency.py: APPEND failed: %r" % data)
        t_ex, t1 = wait_both(listener, idler, t0 + a.timeout)
        if t1 is None:
            print("message %d: no notification within %.0f s" %
                  (i, a.timeout), file=sys.stderr)
            missing += 1
            continue
        if msgid and not listener.row_exists(msgid):
            print("message %d: notified, but %s is not stored" % (i, msgid),
                  file=sys.stderr)
            missing += 1
        if i == 0:
            continue                        # warm-up
        latencies.append(t1 - t0)
        appends.append(t_app - t0)
        if t_ex is not None:
            server.append(t_ex - t0)
            daemon.append(t1 - t_ex)
    elapsed = time.monotonic() - started
    imap.logout()

    s = sorted(latencies)
    if a.out:
        with open(a.out, "w") as f:
            f.write("".join("%.4f\n" % x for x in latencies))
    print("APPEND -> NOTIFY inboxd_jobs latency over %d messages "
          "(%.0f s in all)" % (len(s), elapsed))
    if s:
        print("  p50 %.3f s   p90 %.3f s   p99 %.3f s   max %.3f s   "
              "mean %.3f s" % (percentile(s, 50), percentile(s, 90),
                               percentile(s, 99), s[-1], statistics.mean(s)))
        print("  APPEND itself: p50 %.4f s" %
              percentile(sorted(appends), 50))
        if server:
            print("  server, APPEND -> EXISTS on another IDLE connection: "
                  "p50 %.3f s  p99 %.3f s" % (
                      percentile(sorted(server), 50),
                      percentile(sorted(server), 99)))
            print("  daemon, EXISTS -> NOTIFY: p50 %.3f s  p99 %.3f s" % (
                percentile(sorted(daemon), 50),
                percentile(sorted(daemon), 99)))
    print("  missing notifications or rows: %d" % missing)
    return 1 if missing or not s else 0


if __name__ == "__main__":
    sys.exit(main())
