#!/usr/bin/python3
"""A small IMAP client for the tests, on the standard library only.

    imap.py [--host H] [--port P] append USER PASSWORD FOLDER FILE [--date D] [--flags F]
    imap.py ... uidvalidity USER PASSWORD FOLDER
    imap.py ... count USER PASSWORD FOLDER
    imap.py ... message-ids USER PASSWORD FOLDER
    imap.py ... fetch USER PASSWORD FOLDER UID         (raw message on stdout)
    imap.py ... recreate USER PASSWORD FOLDER          (same mail, new UIDVALIDITY)
    imap.py ... create USER PASSWORD FOLDER
    imap.py ... login USER PASSWORD                    (exit 0 when accepted)
    imap.py ... flags USER PASSWORD FOLDER             ("UID FLAGS" lines)
    imap.py ... store USER PASSWORD FOLDER UID add|remove FLAGS
    imap.py ... expunge USER PASSWORD FOLDER UID
    imap.py ... move USER PASSWORD FOLDER UID DEST

flags only reads (EXAMINE); store, expunge and move play the mailbox's
owner changing it in another client.

The port defaults to $IMAP_PORT and the host to 127.0.0.1. Errors go to
stderr with exit status 1; nothing is retried.
"""

import argparse
import email.utils
import imaplib
import os
import re
import sys
import time

TIMEOUT = 30


def connect(args):
    port = args.port or os.environ.get("IMAP_PORT")
    if not port:
        sys.exit("imap.py: no port (--port or $IMAP_PORT)")
    conn = imaplib.IMAP4(args.host, int(port), timeout=TIMEOUT)
    conn.login(args.user, args.password)
    return conn


def check(typ, data, what):
    if typ != "OK":
        raise imaplib.IMAP4.error("%s: %s %r" % (what, typ, data))
    return data


def quote(folder):
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def internal_date(value):
    """Accepts an RFC 2822 date or a Unix time; returns imaplib's form."""
    if value is None:
        return None
    if re.fullmatch(r"\d+", value):
        return imaplib.Time2Internaldate(int(value))
    parsed = email.utils.parsedate_to_datetime(value)
    return imaplib.Time2Internaldate(parsed)


def select(conn, folder, readonly=True):
    data = check(*conn.select(quote(folder), readonly=readonly), "SELECT " + folder)
    return int(data[0])


def uidvalidity(conn, folder):
    data = check(*conn.status(quote(folder), "(UIDVALIDITY)"), "STATUS " + folder)
    m = re.search(rb"UIDVALIDITY (\d+)", data[0])
    if not m:
        raise imaplib.IMAP4.error("no UIDVALIDITY in %r" % data)
    return int(m.group(1))


def all_messages(conn, folder):
    """Returns [(uid, raw bytes, flags, internaldate)] in UID order."""
    if select(conn, folder) == 0:
        return []
    data = check(*conn.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])"),
                 "FETCH")
    out = []
    for item in data:
        if not isinstance(item, tuple):
            continue
        head = item[0]
        uid = int(re.search(rb"UID (\d+)", head).group(1))
        flags = re.search(rb"FLAGS \(([^)]*)\)", head)
        date = re.search(rb'INTERNALDATE "([^"]+)"', head)
        out.append((uid, item[1],
                    flags.group(1).decode() if flags else "",
                    date.group(1).decode() if date else None))
    out.sort()
    return out


def cmd_append(conn, args):
    with open(args.file, "rb") as f:
        raw = f.read()
    # imaplib sends the literal as given; IMAP wants CRLF line ends.
    raw = re.sub(rb"\r?\n", b"\r\n", raw)
    flags = "(" + args.flags + ")" if args.flags else None
    data = check(*conn.append(quote(args.folder), flags,
                              internal_date(args.date), raw), "APPEND")
    m = re.search(rb"APPENDUID (\d+) (\d+)", data[0] or b"")
    if m:
        print(m.group(2).decode())


def cmd_uidvalidity(conn, args):
    print(uidvalidity(conn, args.folder))


def cmd_count(conn, args):
    print(select(conn, args.folder))


def cmd_message_ids(conn, args):
    for uid, raw, _, _ in all_messages(conn, args.folder):
        m = re.search(rb"^Message-ID:\s*(<[^>\r\n]*>)", raw, re.I | re.M)
        print(uid, m.group(1).decode("ascii", "replace") if m else "-")


def cmd_fetch(conn, args):
    select(conn, args.folder)
    data = check(*conn.uid("FETCH", str(args.uid), "(BODY.PEEK[])"), "FETCH")
    for item in data:
        if isinstance(item, tuple):
            sys.stdout.buffer.write(item[1])
            return
    sys.exit("imap.py: no message with UID %s" % args.uid)


def cmd_recreate(conn, args):
    """Deletes and recreates a mailbox holding the same mail, so that the
    server gives it a new UIDVALIDITY, as after a server-side rebuild."""
    before = uidvalidity(conn, args.folder)
    saved = all_messages(conn, args.folder)
    conn.close()
    if args.folder.upper() == "INBOX":
        # INBOX cannot be deleted: move the mail out through a scratch
        # mailbox is not enough either, so rename it away; Dovecot then
        # creates a fresh INBOX with a new UIDVALIDITY.
        scratch = "inboxd-recreate-%d" % os.getpid()
        check(*conn.rename("INBOX", scratch), "RENAME")
        check(*conn.delete(scratch), "DELETE " + scratch)
        conn.select("INBOX")
        conn.close()
    else:
        check(*conn.delete(quote(args.folder)), "DELETE")
        check(*conn.create(quote(args.folder)), "CREATE")
    # UIDVALIDITY is often a timestamp: make sure the new one differs.
    for _ in range(30):
        if uidvalidity(conn, args.folder) != before:
            break
        time.sleep(1)
        check(*conn.delete(quote(args.folder)), "DELETE")
        check(*conn.create(quote(args.folder)), "CREATE")
    for _, raw, flags, date in saved:
        flags = " ".join(f for f in flags.split() if f != "\\Recent")
        check(*conn.append(quote(args.folder), "(" + flags + ")" if flags else None,
                           '"' + date + '"' if date else None, raw), "APPEND")
    after = uidvalidity(conn, args.folder)
    if after == before:
        sys.exit("imap.py: UIDVALIDITY did not change (%d)" % after)
    print(after)


def cmd_create(conn, args):
    check(*conn.create(quote(args.folder)), "CREATE")


def cmd_login(conn, args):
    pass


def cmd_flags(conn, args):
    for uid, _, flags, _ in all_messages(conn, args.folder):
        print(uid, " ".join(sorted(f for f in flags.split() if f != "\\Recent")))


def cmd_store(conn, args):
    select(conn, args.folder, readonly=False)
    op = "+FLAGS" if args.op == "add" else "-FLAGS"
    check(*conn.uid("STORE", str(args.uid), op, "(" + args.flags + ")"), "STORE")


def cmd_expunge(conn, args):
    select(conn, args.folder, readonly=False)
    check(*conn.uid("STORE", str(args.uid), "+FLAGS", "(\\Deleted)"), "STORE")
    check(*conn.expunge(), "EXPUNGE")


def cmd_move(conn, args):
    select(conn, args.folder, readonly=False)
    check(*conn.uid("MOVE", str(args.uid), quote(args.dest)), "MOVE")


def main():
    p = argparse.ArgumentParser(prog="imap.py")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int)
    sub = p.add_subparsers(dest="cmd", required=True)

    def command(name, fn, folder=True):
        s = sub.add_parser(name)
        s.add_argument("user")
        s.add_argument("password")
        if folder:
            s.add_argument("folder")
        s.set_defaults(fn=fn)
        return s

    s = command("append", cmd_append)
    s.add_argument("file")
    s.add_argument("--date", help="internal date: RFC 2822 date or Unix time")
    s.add_argument("--flags", default="", help='e.g. "\\Seen \\Answered"')
    command("uidvalidity", cmd_uidvalidity)
    command("count", cmd_count)
    command("message-ids", cmd_message_ids)
    command("fetch", cmd_fetch).add_argument("uid", type=int)
    command("recreate", cmd_recreate)
    command("create", cmd_create)
    command("login", cmd_login, folder=False)
    command("flags", cmd_flags)
    s = command("store", cmd_store)
    s.add_argument("uid", type=int)
    s.add_argument("op", choices=["add", "remove"])
    s.add_argument("flags")
    command("expunge", cmd_expunge).add_argument("uid", type=int)
    s = command("move", cmd_move)
    s.add_argument("uid", type=int)
    s.add_argument("dest")
    args = p.parse_args()

    try:
        conn = connect(args)
        try:
            args.fn(conn, args)
        finally:
            try:
                conn.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
    except (imaplib.IMAP4.error, OSError) as e:
        sys.exit("imap.py %s: %s" % (args.cmd, e))


if __name__ == "__main__":
    main()
