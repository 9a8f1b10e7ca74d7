#!/usr/bin/python3
"""Records PostgreSQL notifications, one line each, for the tests.

    listen.py CONNINFO OUTFILE MAX_SECONDS CHANNEL...

LISTENs on every CHANNEL, then creates OUTFILE.ready. Each notification
is appended to OUTFILE as "channel<TAB>payload<TAB>backend pid" and
flushed at once (newlines in the payload are written as \\n). It stops on
SIGTERM or after MAX_SECONDS, whichever comes first.
"""

import signal
import sys

import psycopg
from psycopg import sql


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    conninfo, outfile, max_seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    channels = sys.argv[4:]

    # Never outlive the test that started us.
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.alarm(max_seconds)

    conn = psycopg.connect(conninfo, autocommit=True)
    for ch in channels:
        conn.execute("LISTEN " + sql.Identifier(ch).as_string(conn))
    with open(outfile, "a", encoding="utf-8") as out:
        open(outfile + ".ready", "w").close()
        for n in conn.notifies():
            payload = n.payload.replace("\\", "\\\\").replace("\n", "\\n")
            out.write("%s\t%s\t%d\n" % (n.channel, payload, n.pid))
            out.flush()


if __name__ == "__main__":
    main()
