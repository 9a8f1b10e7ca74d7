#!/usr/bin/python3
"""An IMAP server for many small mailboxes, for bench/fleet.sh.

    fleet_standin.py --users N --msgs M --port-file FILE
                     [--control-port-file FILE] [--stats FILE]
                     [--port P] [--control-port P] [--lifetime SECS]

One asyncio process (standard library only) serves the users
u1@fleet.example .. uN@fleet.example on 127.0.0.1, any password
accepted. Each user's INBOX holds M generated messages of 2-4 KB
(Message-IDs distinct across users, threads of up to four: replies
carry In-Reply-To and References); Sent exists and is empty. Messages
are made from (user, UID) when asked for, so memory does not grow with
N x M.

CAPABILITY: IMAP4rev1 SASL-IR AUTH=PLAIN IDLE ENABLE LITERAL+
Commands: CAPABILITY, LOGIN, AUTHENTICATE PLAIN (with or without an
initial response), ENABLE, LIST, SELECT, EXAMINE (a "(CONDSTORE)"
parameter is ignored), UID SEARCH (UID set; other keys match all),
UID FETCH (UID FLAGS INTERNALDATE RFC822.SIZE BODY[] BODY.PEEK[]
RFC822), NOOP, CHECK, IDLE/DONE, LOGOUT. Synchronising and
non-synchronising literals are read anywhere in a command. UID sets
take ranges and "*". Sequence numbers equal UIDs (nothing is expunged).

A session with INBOX open hears "* N EXISTS" for mail added since it
last heard the count: at once while in IDLE, else before its next
tagged answer.

The control port takes one command a line:

    APPEND uK        a new message in uK's INBOX: "OK <uid> <message-id>"
    STATS            the counters, as one line of JSON
    QUIT             closes the control connection

Counters: sessions (accepted in all, open now, peak open), logins,
logins in progress now and their peak (a session counts from its
accept until its login succeeds or it closes), sessions in IDLE,
commands (in all and by name), bytes sent. They are written to --stats
as JSON on SIGTERM/SIGINT and at the end of --lifetime.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import re
import resource
import signal
import sys
import time

DOMAIN = "fleet.example"
UIDVALIDITY = 1700000000
CAPS = "IMAP4rev1 SASL-IR AUTH=PLAIN IDLE ENABLE LITERAL+"
WORDS = ("order quote invoice delivery pallet schedule price discount "
         "warehouse contract renewal sample meeting tomorrow thanks "
         "regards shipment tracking approval budget forecast update "
         "question answer customer supplier agreement").split()
LITERAL = re.compile(rb"\{(\d+)(\+?)\}\r?\n$")


class Stats:
    def __init__(self):
        self.sessions = 0
        self.open = 0
        self.open_peak = 0
        self.logins = 0
        self.login_failures = 0
        self.in_login = 0
        self.in_login_peak = 0
        self.idling = 0
        self.idle_peak = 0
        self.commands = 0
        self.by_command = {}
        self.appends = 0
        self.pushes = 0
        self.bytes_out = 0
        self.started = time.time()

    def as_dict(self):
        d = dict(self.__dict__)
        d["uptime"] = round(time.time() - self.started, 1)
        return d


class Fleet:
    """The users' INBOX sizes and who listens to which INBOX."""

    def __init__(self, users, msgs):
        self.users = users
        self.msgs = msgs
        self.top = [msgs] * (users + 1)    # index 0 unused
        self.watchers = {}                 # user -> set of sessions
        self.stats = Stats()

    def user_index(self, name):
        m = re.fullmatch(r"u(\d+)(@" + re.escape(DOMAIN) + r")?", name,
                         re.I)
        if not m:
            return 0
        i = int(m.group(1))
        return i if 1 <= i <= self.users else 0

    def append(self, i):
        self.top[i] += 1
        self.stats.appends += 1
        for s in list(self.watchers.get(i, ())):
            s.mail_arrived()
        return self.top[i]


def message_id(i, uid):
    return "<m%d.u%d@%s>" % (uid, i, DOMAIN)


def message(i, uid):
    """Message UID of user i: 2-4 KB, the same bytes every time."""
    rng = random.Random(i * 1000003 + uid)
    sender = rng.randrange(1, 6)
    first = uid - (uid - 1) % 4            # threads of four
    subject = "Order %d-%d" % (i, first)
    hdr = [
        "From: Contact %d <contact%d.u%d@customer.example>" % (
            sender, sender, i),
        "To: u%d@%s" % (i, DOMAIN),
        "Subject: %s%s" % ("" if uid == first else "Re: ", subject),
        "Date: Mon, 06 Nov 2023 %02d:%02d:00 +0000" % (
            9 + uid // 60 % 12, uid % 60),
        "Message-ID: " + message_id(i, uid),
    ]
    if uid != first:
        refs = " ".join(message_id(i, u) for u in range(first, uid))
        hdr.append("In-Reply-To: " + message_id(i, uid - 1))
        hdr.append("References: " + refs)
    hdr += ["MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8"]
    size = rng.randrange(2048, 4096)
    body, n = [], 0
    while n < size:
        line = " ".join(rng.choice(WORDS) for _ in range(12))
        body.append(line)
        n += len(line) + 2
    text = "\r\n".join(hdr) + "\r\n\r\n" + "\r\n".join(body) + "\r\n"
    return text.encode()


def internaldate(uid):
    return "06-Nov-2023 %02d:%02d:00 +0000" % (9 + uid // 60 % 12, uid % 60)


def parse_set(text, top):
    """The UIDs a set names, in order, clipped to 1..top."""
    out = set()
    for item in text.split(","):
        a, _, b = item.partition(":")
        lo = top if a == "*" else int(a)
        hi = lo if not b else (top if b == "*" else int(b))
        lo, hi = min(lo, hi), max(lo, hi)
        out.update(range(max(lo, 1), min(hi, top) + 1))
    return sorted(out)


def astrings(text):
    """The atoms and quoted strings of a line (read_command has turned
    literals into quoted strings)."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == " ":
            i += 1
        elif c == '"':
            j, s = i + 1, []
            while j < len(text) and text[j] != '"':
                if text[j] == "\\" and j + 1 < len(text):
                    j += 1
                s.append(text[j])
                j += 1
            out.append("".join(s))
            i = j + 1
        else:
            j = text.find(" ", i)
            j = len(text) if j < 0 else j
            out.append(text[i:j])
            i = j
    return out


class Session:
    def __init__(self, fleet, reader, writer):
        self.fleet = fleet
        self.reader = reader
        self.writer = writer
        self.user = 0
        self.selected = None
        self.known = 0          # the EXISTS count this session has heard
        self.idle_tag = None
        self.logging_in = True

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.fleet.stats.bytes_out += len(data)
        self.writer.write(data)

    def pending_exists(self):
        if self.selected == "INBOX" and self.user:
            top = self.fleet.top[self.user]
            if top != self.known:
                self.known = top
                return "* %d EXISTS\r\n" % top
        return ""

    def mail_arrived(self):
        if self.idle_tag is not None:
            text = self.pending_exists()
            if text:
                self.fleet.stats.pushes += 1
                self.send(text)

    def tagged(self, tag, text):
        self.send(self.pending_exists() + "%s %s\r\n" % (tag, text))

    async def read_command(self):
        """One command with its literals inlined; None at EOF."""
        parts = []
        while True:
            line = await self.reader.readline()
            if not line:
                return None
            m = LITERAL.search(line)
            if not m:
                parts.append(line.rstrip(b"\r\n"))
                break
            parts.append(line[:m.start()])
            n = int(m.group(1))
            if not m.group(2):
                self.send("+ go ahead\r\n")
                await self.writer.drain()
            data = await self.reader.readexactly(n)
            parts.append(b'"' + data.replace(b"\\", b"\\\\")
                         .replace(b'"', b'\\"') + b'"')
        return b"".join(parts).decode("utf-8", "replace")

    def logged_in(self, name):
        st = self.fleet.stats
        i = self.fleet.user_index(name)
        if not i:
            st.login_failures += 1
            return False
        self.user = i
        st.logins += 1
        if self.logging_in:
            self.logging_in = False
            st.in_login -= 1
        return True

    async def run(self):
        st = self.fleet.stats
        st.sessions += 1
        st.open += 1
        st.open_peak = max(st.open_peak, st.open)
        st.in_login += 1
        st.in_login_peak = max(st.in_login_peak, st.in_login)
        try:
            self.send("* OK [CAPABILITY %s] fleet stand-in ready\r\n" % CAPS)
            while True:
                line = await self.read_command()
                if line is None:
                    return
                tag, _, rest = line.partition(" ")
                cmd, _, args = rest.partition(" ")
                cmd = cmd.upper()
                if not tag or not cmd:
                    self.send("* BAD no command\r\n")
                    continue
                st.commands += 1
                key = cmd
                if cmd == "UID":
                    key += " " + args.partition(" ")[0].upper()
                st.by_command[key] = st.by_command.get(key, 0) + 1
                if not await self.command(tag, cmd, args):
                    return
                await self.writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            return
        finally:
            st.open -= 1
            if self.logging_in:
                st.in_login -= 1
            self.unwatch()
            try:
                self.writer.close()
            except Exception:
                pass

    def watch(self):
        self.fleet.watchers.setdefault(self.user, set()).add(self)

    def unwatch(self):
        if self.idle_tag is not None:
            self.idle_tag = None
            self.fleet.stats.idling -= 1
        w = self.fleet.watchers.get(self.user)
        if w:
            w.discard(self)

    async def command(self, tag, cmd, args):
        if cmd == "CAPABILITY":
            self.send("* CAPABILITY %s\r\n" % CAPS)
            self.tagged(tag, "OK done")
        elif cmd == "LOGIN":
            a = astrings(args)
            if len(a) >= 2 and self.logged_in(a[0]):
                self.tagged(tag, "OK [CAPABILITY %s] logged in" % CAPS)
            else:
                self.tagged(tag, "NO [AUTHENTICATIONFAILED] no such user")
        elif cmd == "AUTHENTICATE":
            words = args.split()
            if not words or words[0].upper() != "PLAIN":
                self.tagged(tag, "NO [AUTHENTICATIONFAILED] PLAIN only")
                return True
            if len(words) >= 2:
                resp = words[1]
            else:
                self.send("+ \r\n")
                await self.writer.drain()
                raw = await self.reader.readline()
                if not raw:
                    return False
                resp = raw.decode("ascii", "replace").strip()
            try:
                fields = base64.b64decode(resp).split(b"\0")
                name = fields[1].decode()
            except Exception:
                self.tagged(tag, "BAD bad PLAIN response")
                return True
            if self.logged_in(name):
                self.tagged(tag, "OK [CAPABILITY %s] logged in" % CAPS)
            else:
                self.tagged(tag, "NO [AUTHENTICATIONFAILED] no such user")
        elif cmd == "ENABLE":
            self.send("* ENABLED\r\n")
            self.tagged(tag, "OK done")
        elif cmd == "LIST":
            if not self.user:
                self.tagged(tag, "BAD log in first")
            else:
                self.send('* LIST (\\HasNoChildren) "/" INBOX\r\n'
                          '* LIST (\\HasNoChildren) "/" Sent\r\n')
                self.tagged(tag, "OK LIST done")
        elif cmd in ("SELECT", "EXAMINE"):
            self.select(tag, cmd, args)
        elif cmd == "UID":
            await self.uid(tag, args)
        elif cmd in ("NOOP", "CHECK"):
            self.tagged(tag, "OK done")
        elif cmd == "IDLE":
            return await self.idle(tag)
        elif cmd == "LOGOUT":
            self.send("* BYE bye\r\n%s OK done\r\n" % tag)
            await self.writer.drain()
            return False
        else:
            self.tagged(tag, "BAD unknown command")
        return True

    def select(self, tag, cmd, args):
        if not self.user:
            self.tagged(tag, "BAD log in first")
            return
        a = astrings(re.sub(r"\s*\(.*\)\s*$", "", args))
        name = a[0] if a else ""
        self.unwatch()
        if name.upper() == "INBOX":
            self.selected = "INBOX"
            top = self.fleet.top[self.user]
            self.watch()
        elif name == "Sent":
            self.selected = "Sent"
            top = 0
        else:
            self.selected = None
            self.tagged(tag, "NO no such folder")
            return
        self.known = top
        self.send("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
                  "* OK [PERMANENTFLAGS ()] read-only\r\n"
                  "* %d EXISTS\r\n* 0 RECENT\r\n"
                  "* OK [UIDVALIDITY %d] UIDs valid\r\n"
                  "* OK [UIDNEXT %d] next\r\n" % (top, UIDVALIDITY, top + 1))
        self.tagged(tag, "OK [%s] done" % (
            "READ-ONLY" if cmd == "EXAMINE" else "READ-WRITE"))

    def top(self):
        return self.fleet.top[self.user] if self.selected == "INBOX" else 0

    async def uid(self, tag, args):
        verb, _, rest = args.partition(" ")
        verb = verb.upper()
        if self.selected is None:
            self.tagged(tag, "BAD no folder open")
            return
        top = self.top()
        if verb == "SEARCH":
            words = rest.split()
            uids = list(range(1, top + 1))
            for k, w in enumerate(words):
                if w.upper() == "UID" and k + 1 < len(words):
                    uids = parse_set(words[k + 1], top)
                elif re.fullmatch(r"[\d*:,]+", w) and (
                        k == 0 or words[k - 1].upper() != "UID"):
                    uids = parse_set(w, top)
            self.send("* SEARCH%s\r\n" % "".join(" %d" % u for u in uids))
            self.tagged(tag, "OK SEARCH done")
        elif verb == "FETCH":
            uidset, _, items = rest.partition(" ")
            up = items.upper()
            body = "BODY.PEEK[]" in up or "BODY[]" in up or \
                re.search(r"\bRFC822\b(?!\.)", up)
            for uid in parse_set(uidset, top):
                head = "* %d FETCH (UID %d" % (uid, uid)
                raw = message(self.user, uid) if (
                    body or "RFC822.SIZE" in up) else b""
                if "FLAGS" in up:
                    head += " FLAGS (%s)" % ("\\Seen" if uid % 3 else "")
                if "INTERNALDATE" in up:
                    head += ' INTERNALDATE "%s"' % internaldate(uid)
                if "RFC822.SIZE" in up:
                    head += " RFC822.SIZE %d" % len(raw)
                if body:
                    self.send(b"%s BODY[] {%d}\r\n%s)\r\n" % (
                        head.encode(), len(raw), raw))
                    await self.writer.drain()
                else:
                    self.send(head + ")\r\n")
            self.tagged(tag, "OK FETCH done")
        else:
            self.tagged(tag, "BAD unknown UID command")

    async def idle(self, tag):
        st = self.fleet.stats
        self.send("+ idling\r\n")
        self.idle_tag = tag
        st.idling += 1
        st.idle_peak = max(st.idle_peak, st.idling)
        self.mail_arrived()     # mail that came since the last count
        await self.writer.drain()
        while True:
            line = await self.reader.readline()
            if not line:
                return False
            if line.strip().upper() == b"DONE":
                break
        self.idle_tag = None
        st.idling -= 1
        self.tagged(tag, "OK IDLE done")
        return True


async def control(fleet, reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            words = line.decode("utf-8", "replace").split()
            if not words:
                continue
            cmd = words[0].upper()
            if cmd == "APPEND" and len(words) == 2:
                i = fleet.user_index(words[1])
                if not i:
                    writer.write(b"NO no such user\n")
                else:
                    uid = fleet.append(i)
                    writer.write(("OK %d %s\n" % (uid, message_id(i, uid)))
                                 .encode())
            elif cmd == "STATS":
                writer.write((json.dumps(fleet.stats.as_dict()) + "\n")
                             .encode())
            elif cmd == "QUIT":
                break
            else:
                writer.write(b"NO unknown command\n")
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    writer.close()


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


async def main_async(a):
    fleet = Fleet(a.users, a.msgs)

    async def imap(reader, writer):
        await Session(fleet, reader, writer).run()

    srv = await asyncio.start_server(imap, "127.0.0.1", a.port,
                                     backlog=4096, limit=1 << 20)
    ctl = await asyncio.start_server(lambda r, w: control(fleet, r, w),
                                     "127.0.0.1", a.control_port)
    if a.control_port_file:
        write_atomically(a.control_port_file,
                         "%d\n" % ctl.sockets[0].getsockname()[1])
    write_atomically(a.port_file, "%d\n" % srv.sockets[0].getsockname()[1])

    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    try:
        await asyncio.wait_for(done.wait(), a.lifetime)
    except asyncio.TimeoutError:
        pass
    if a.stats:
        write_atomically(a.stats, json.dumps(fleet.stats.as_dict()) + "\n")
    srv.close()
    ctl.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--users", type=int, required=True)
    p.add_argument("--msgs", type=int, default=10)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--control-port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    p.add_argument("--control-port-file")
    p.add_argument("--stats")
    p.add_argument("--lifetime", type=float, default=3600)
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.users * 2 + 1024
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    asyncio.run(main_async(a))
    # Open sessions are dropped with the process.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
