#!/usr/bin/python3
"""A small, scriptable IMAP server that can lie, for the tests.

    imap_standin.py --port-file FILE --log FILE [--maildir DIR]
                    [--generate N] [--control FILE] [--lifetime SECS]
                    [--port N] [SWITCH...]

It serves one folder, INBOX, over plain TCP on 127.0.0.1: the .eml
files of DIR in name order (UIDs 1, 2, ...) and N generated messages
after them. Any user and password log in (LOGIN or AUTHENTICATE PLAIN).
Commands: CAPABILITY, LOGIN, AUTHENTICATE PLAIN, LIST, SELECT, EXAMINE,
UID SEARCH (UID set, UNSEEN, SINCE), UID FETCH (UID, FLAGS,
INTERNALDATE, RFC822.SIZE, BODY[], BODY.PEEK[]), UID STORE, NOOP,
IDLE/DONE, LOGOUT. Fetching BODY[] sets \\Seen.

Every command received is appended to the log as "CONN TAG COMMAND"
(CONN counts connections from 1; LOGIN's password is left out).

Switches (on the command line, or as JSON keys of the control file,
which is read again for every command so that a test can change them
while the server runs):

    --no-idle            CAPABILITY does not list IDLE
    --idle-no            IDLE is answered NO
    --examine-no         EXAMINE and SELECT are answered NO
    --search-empty       UID SEARCH answers without a "* SEARCH" line
    --search-garbage     a "-3" among the UIDs of "* SEARCH"
    --search-extra-uid U U is added to every "* SEARCH" answer
    --exists-space       the EXISTS line ends in a space
    --no-uidnext         EXAMINE's answer has no UIDNEXT
    --fetch-fail-uid U   a BODY fetch of UID U is answered without the
                         message ...
    --fetch-answer A     ... with a tagged A: OK (default), NO or BAD
    --vanish-uid U       UID U is expunged once a BODY fetch asks for it:
                         that fetch and every later SEARCH or fetch
                         leave it out (while the switch is on)
"""

import argparse
import json
import os
import re
import socket
import socketserver
import sys
import threading
import time

SWITCHES = {
    "no_idle": False,
    "idle_no": False,
    "examine_no": False,
    "search_empty": False,
    "search_garbage": False,
    "search_extra_uid": 0,
    "exists_space": False,
    "no_uidnext": False,
    "fetch_fail_uid": 0,
    "fetch_answer": "OK",
    "vanish_uid": 0,
}

UIDVALIDITY = 1


class Mailbox:
    """The messages of INBOX, their flags, and the command log."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.messages = []  # (uid, bytes)
        self.seen = set()
        self.vanished = set()
        self.conns = 0
        names = sorted(os.listdir(args.maildir)) if args.maildir else []
        for name in names:
            if name.endswith(".eml"):
                with open(os.path.join(args.maildir, name), "rb") as f:
                    self.add(f.read())
        for i in range(1, args.generate + 1):
            self.add(generated(i))

    def add(self, raw):
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        self.messages.append((len(self.messages) + 1, raw))

    def switches(self):
        s = dict(self.args.switches)
        path = self.args.control
        if path and os.path.exists(path):
            try:
                with open(path) as f:
                    s.update(json.load(f))
            except (OSError, ValueError):
                pass
        return s

    def log(self, conn, line):
        if re.match(r"\S+ LOGIN ", line, re.I):
            line = " ".join(line.split(" ")[:3]) + " ***"
        with self.lock:
            with open(self.args.log, "a") as f:
                f.write("%d %s\n" % (conn, line))


def generated(i):
    return (
        "From: Sender %d <s%d@gen.example>\r\n"
        "To: sales@example.com\r\n"
        "Subject: Generated %d\r\n"
        "Date: Mon, 06 Nov 2023 09:00:00 +0000\r\n"
        "Message-ID: <gen-%d@gen.example>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Generated message %d.\r\n" % (i, i, i, i, i)
    ).encode()


def parse_set(text, top):
    """The UIDs a set names, as a predicate over UIDs; "*" is top."""
    parts = []
    for item in text.split(","):
        a, _, b = item.partition(":")
        lo = top if a == "*" else int(a)
        hi = lo if not b else (top if b == "*" else int(b))
        parts.append((min(lo, hi), max(lo, hi)))
    return lambda uid: any(lo <= uid <= hi for lo, hi in parts)


class Session(socketserver.StreamRequestHandler):
    timeout = 120

    def setup(self):
        super().setup()
        box = self.server.box
        with box.lock:
            box.conns += 1
            self.conn = box.conns
        self.selected = False

    def send(self, text):
        data = text if isinstance(text, bytes) else text.encode()
        self.wfile.write(data)
        self.wfile.flush()

    def handle(self):
        self.send("* OK IMAP stand-in ready\r\n")
        while True:
            try:
                raw = self.rfile.readline(65536)
            except (OSError, socket.timeout):
                return
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.server.box.log(self.conn, line)
            parts = line.split(" ", 2)
            if len(parts) < 2:
                self.send("* BAD no command\r\n")
                continue
            tag, cmd = parts[0], parts[1].upper()
            rest = parts[2] if len(parts) > 2 else ""
            if not self.command(tag, cmd, rest):
                return

    def command(self, tag, cmd, rest):
        sw = self.server.box.switches()
        if cmd == "CAPABILITY":
            caps = "IMAP4rev1 AUTH=PLAIN" + ("" if sw["no_idle"] else " IDLE")
            self.send("* CAPABILITY %s\r\n%s OK done\r\n" % (caps, tag))
        elif cmd == "LOGIN":
            self.send("%s OK logged in\r\n" % tag)
        elif cmd == "AUTHENTICATE":
            if len(rest.split()) < 2:
                self.send("+ \r\n")
                self.rfile.readline(65536)
            self.send("%s OK logged in\r\n" % tag)
        elif cmd == "LIST":
            self.send('* LIST (\\HasNoChildren) "/" INBOX\r\n%s OK done\r\n' % tag)
        elif cmd in ("SELECT", "EXAMINE"):
            self.select(tag, sw)
        elif cmd == "UID":
            self.uid_command(tag, rest, sw)
        elif cmd == "NOOP":
            self.send("%s OK done\r\n" % tag)
        elif cmd == "IDLE":
            return self.idle(tag, sw)
        elif cmd == "LOGOUT":
            self.send("* BYE bye\r\n%s OK done\r\n" % tag)
            return False
        else:
            self.send("%s BAD unknown command\r\n" % tag)
        return True

    def select(self, tag, sw):
        box = self.server.box
        if sw["examine_no"]:
            self.send("%s NO cannot open the folder\r\n" % tag)
            return
        n = len(box.messages)
        out = "* FLAGS (\\Seen)\r\n"
        out += "* %d EXISTS%s\r\n" % (n, " " if sw["exists_space"] else "")
        out += "* 0 RECENT\r\n"
        out += "* OK [UIDVALIDITY %d] UIDs valid\r\n" % UIDVALIDITY
        if not sw["no_uidnext"]:
            out += "* OK [UIDNEXT %d] next\r\n" % (n + 1)
        out += "%s OK [READ-WRITE] done\r\n" % tag
        self.selected = True
        self.send(out)

    def uid_command(self, tag, rest, sw):
        verb, _, args = rest.partition(" ")
        verb = verb.upper()
        if verb == "SEARCH":
            self.search(tag, args, sw)
        elif verb == "FETCH":
            self.fetch(tag, args, sw)
        elif verb == "STORE":
            self.store(tag, args)
        else:
            self.send("%s BAD unknown UID command\r\n" % tag)

    def search(self, tag, args, sw):
        box = self.server.box
        top = box.messages[-1][0] if box.messages else 0
        words = args.split()
        pred = lambda uid: True
        unseen = False
        i = 0
        while i < len(words):
            w = words[i].upper()
            if w == "UID" and i + 1 < len(words):
                pred = parse_set(words[i + 1], top)
                i += 2
                continue
            if w == "UNSEEN":
                unseen = True
            elif w == "SINCE":
                i += 1
            i += 1
        with box.lock:
            uids = [u for u, _ in box.messages
                    if pred(u) and not (unseen and u in box.seen)
                    and not self.vanished(u, sw)]
        if sw["search_garbage"] and uids:
            uids.insert(min(2, len(uids)), -3)
        if sw["search_extra_uid"]:
            uids.append(sw["search_extra_uid"])
        out = ""
        if not sw["search_empty"]:
            out = "* SEARCH%s\r\n" % "".join(" %d" % u for u in uids)
        self.send(out + "%s OK SEARCH done\r\n" % tag)

    def fetch(self, tag, args, sw):
        box = self.server.box
        top = box.messages[-1][0] if box.messages else 0
        uidset, _, items = args.partition(" ")
        pred = parse_set(uidset, top)
        body = "BODY" in items.upper()
        peek = "PEEK" in items.upper()
        for seq, (uid, raw) in enumerate(box.messages, 1):
            if not pred(uid):
                continue
            if body and uid == sw["vanish_uid"]:
                with box.lock:
                    box.vanished.add(uid)
            if self.vanished(uid, sw):
                continue
            if body and uid == sw["fetch_fail_uid"]:
                self.send("%s %s no message for you\r\n"
                          % (tag, sw["fetch_answer"]))
                return
            if body:
                self.send(b"* %d FETCH (UID %d BODY[] {%d}\r\n"
                          % (seq, uid, len(raw)) + raw + b")\r\n")
                if not peek:
                    with box.lock:
                        box.seen.add(uid)
            else:
                self.send('* %d FETCH (UID %d RFC822.SIZE %d '
                          'INTERNALDATE "06-Nov-2023 09:00:00 +0000")\r\n'
                          % (seq, uid, len(raw)))
        self.send("%s OK FETCH done\r\n" % tag)

    def vanished(self, uid, sw):
        return uid == sw["vanish_uid"] and uid in self.server.box.vanished

    def store(self, tag, args):
        box = self.server.box
        top = box.messages[-1][0] if box.messages else 0
        uidset, _, what = args.partition(" ")
        pred = parse_set(uidset, top)
        with box.lock:
            for uid, _ in box.messages:
                if pred(uid) and "\\SEEN" in what.upper():
                    if what.startswith("-"):
                        box.seen.discard(uid)
                    else:
                        box.seen.add(uid)
        self.send("%s OK STORE done\r\n" % tag)

    def idle(self, tag, sw):
        if sw["idle_no"]:
            self.send("%s NO no IDLE for you\r\n" % tag)
            return True
        self.send("+ idling\r\n")
        while True:
            try:
                raw = self.rfile.readline(65536)
            except (OSError, socket.timeout):
                return False
            if not raw:
                return False
            line = raw.decode("utf-8", "replace").strip()
            self.server.box.log(self.conn, line)
            if line.upper() == "DONE":
                self.send("%s OK IDLE done\r\n" % tag)
                return True


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--maildir")
    p.add_argument("--generate", type=int, default=0)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--control")
    p.add_argument("--lifetime", type=int, default=600)
    for name, default in SWITCHES.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            p.add_argument(flag, action="store_true")
        elif isinstance(default, int):
            p.add_argument(flag, type=int, default=default)
        else:
            p.add_argument(flag, default=default)
    args = p.parse_args()
    args.switches = {k: getattr(args, k) for k in SWITCHES}
    box = Mailbox(args)
    srv = Server(("127.0.0.1", args.port), Session)
    srv.box = box
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    # The server ends by itself, whatever the test does.
    threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
