#!/usr/bin/python3
"""New-mail latency on random accounts of a fleet, for bench/fleet.sh.

    fleet_latency.py --conninfo C --users N
                     (--control-port P | --imap-port P --password W
                      --maildir-msgs M)
                     [--count 100] [--timeout 30] [--budget 300]
                     [--jitter 0.2] [--seed 1] [--out FILE]

LISTENs on inboxd_jobs, then COUNT times: after a random pause of up to
--jitter seconds, adds one message to the INBOX of a random user uK
(K in 1..N) and waits until a notification has arrived after which the
message's row is in conversation_messages (a notification of another
account's job does not count). With --control-port the message is
added through the fleet stand-in's control port ("APPEND uK"); with
--imap-port by an IMAP APPEND as uK@fleet.example (Dovecot), on a
connection logged in before the clock starts.

The latency is from just before the message is added to the arrival of
that notification. A message not seen within --timeout seconds is
counted as missing; the run stops adding messages after --budget
seconds. Prints p50/p90/p99/max and a line "RESULT key=value ...";
exits non-zero when a message is missing.
"""

import argparse
import imaplib
import random
import select
import socket
import sys
import time

import psycopg


def percentile(s, p):
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


class Control:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), 10)
        self.f = self.sock.makefile("rb")

    def prepare(self, _user):
        pass

    def add(self, user, _seq):
        self.sock.sendall(b"APPEND u%d\n" % user)
        words = self.f.readline().decode().split()
        if not words or words[0] != "OK":
            raise RuntimeError("APPEND u%d: %r" % (user, words))
        return words[2]


class ImapAppend:
    def __init__(self, port, password):
        self.port = port
        self.password = password

    def prepare(self, user):
        """Logs in as uK before the clock starts."""
        self.imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        self.imap.login("u%d@fleet.example" % user, self.password)

    def add(self, user, seq):
        msgid = "<lat%d.u%d@fleet.example>" % (seq, user)
        raw = ("From: Latency <latency@customer.example>\r\n"
               "To: u%d@fleet.example\r\n"
               "Subject: latency %d\r\n"
               "Date: Mon, 06 Nov 2023 09:00:00 +0000\r\n"
               "Message-ID: %s\r\n"
               "\r\n"
               "Latency probe %d.\r\n" % (user, seq, msgid, seq)).encode()
        imap = self.imap
        typ, data = imap.append("INBOX", None, None, raw)
        imap.logout()
        if typ != "OK":
            raise RuntimeError("APPEND failed: %r" % data)
        return msgid


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--conninfo", required=True)
    p.add_argument("--users", type=int, required=True)
    p.add_argument("--control-port", type=int)
    p.add_argument("--imap-port", type=int)
    p.add_argument("--password", default="secret")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--budget", type=float, default=300)
    p.add_argument("--jitter", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out")
    a = p.parse_args()

    rng = random.Random(a.seed)
    conn = psycopg.connect(a.conninfo, autocommit=True)
    conn.execute("LISTEN inboxd_jobs")
    pg = conn.pgconn
    adder = Control(a.control_port) if a.control_port else \
        ImapAppend(a.imap_port, a.password)

    def drain():
        n = 0
        pg.consume_input()
        while pg.notifies() is not None:
            n += 1
        return n

    def stored(msgid):
        cur = conn.execute(
            "SELECT count(*) FROM conversation_messages WHERE rfc_message_id "
            "IN (%s, %s)", (msgid, msgid.strip("<>")))
        return cur.fetchone()[0]

    lat, missing, dup, added = [], [], 0, 0
    started = time.monotonic()
    for seq in range(a.count):
        if time.monotonic() - started > a.budget:
            break
        time.sleep(rng.uniform(0, a.jitter))
        user = rng.randrange(1, a.users + 1)
        adder.prepare(user)
        drain()
        t0 = time.monotonic()
        msgid = adder.add(user, seq)
        added += 1
        deadline = t0 + a.timeout
        seen = None
        while seen is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            select.select([pg.socket], [], [], left)
            if drain():
                t = time.monotonic()
                n = stored(msgid)
                if n:
                    seen = t
                    dup += n > 1
        if seen is None:
            missing.append((user, msgid))
            print("u%d %s: not stored within %.0f s" % (user, msgid,
                                                        a.timeout),
                  file=sys.stderr)
            continue
        lat.append(seen - t0)
    elapsed = time.monotonic() - started

    s = sorted(lat)
    if a.out:
        with open(a.out, "w") as f:
            f.write("".join("%.4f\n" % x for x in lat))
    print("APPEND -> NOTIFY on random accounts: %d added, %d notified, "
          "%d missing (over %.0f s)" % (added, len(s), len(missing), elapsed))
    if s:
        print("  p50 %.3f s   p90 %.3f s   p99 %.3f s   max %.3f s" % (
            percentile(s, 50), percentile(s, 90), percentile(s, 99), s[-1]))
    print("RESULT added=%d notified=%d missing=%d duplicates=%d p50=%.3f "
          "p90=%.3f p99=%.3f max=%.3f" % (
              added, len(s), len(missing), dup, percentile(s, 50),
              percentile(s, 90), percentile(s, 99), s[-1] if s else
              float("nan")))
    return 1 if missing or not s else 0


if __name__ == "__main__":
    sys.exit(main())
