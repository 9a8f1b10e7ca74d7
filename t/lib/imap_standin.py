#!/usr/bin/python3
"""A small, scriptable IMAP server that can lie, for the tests.

    imap_standin.py --port-file FILE --log FILE [--maildir DIR]
                    [--generate N] [--control FILE] [--lifetime SECS]
                    [--port N] [--gmail FILE] [SWITCH...]

It serves one folder, INBOX, over plain TCP on 127.0.0.1: the .eml
files of DIR in name order (UIDs 1, 2, ...) and N generated messages
after them. Any other folder EXAMINEd or SELECTed is empty. Any user and
password log in (LOGIN or AUTHENTICATE PLAIN).
Commands: CAPABILITY, LOGIN, AUTHENTICATE PLAIN (with or without an
initial response), LIST (plain, or with RETURN (...)), SELECT, EXAMINE,
UID SEARCH (UID set, UNSEEN, SINCE, ALL), UID FETCH, UID STORE, NOOP,
IDLE/DONE, LOGOUT.

UID FETCH serves UID sets and ranges ("1,3:5,9:*"), several messages per
command, in sequence order, each as

    * SEQ FETCH (UID U FLAGS (...) RFC822.SIZE N INTERNALDATE "..."
                 BODY[] {LEN}\\r\\n<LEN bytes>)

with only the items asked for (UID always; a fetch without a body also
always gets RFC822.SIZE and INTERNALDATE). BODY.PEEK[] leaves the flags
alone; BODY[] (or RFC822) sets \\Seen, as a real server does. Commands
may be pipelined: they are answered in order.

Every command received is appended to the log as "CONN TAG COMMAND"
(CONN counts connections from 1; LOGIN's password is left out), also
those sent while IDLE or while a fetch stalls, so that a test can assert
which commands a client sent (never STORE, SELECT... for a read-only
client).

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
    --expunged LIST      the UIDs of LIST ("3,7"; a JSON list or string
                         in the control file) are gone: never listed,
                         fetched or counted
    --unsolicited        once a folder is open, every tagged answer is
                         preceded by "* 1 FETCH (FLAGS (\\Seen \\Flagged)
                         UID 1)" and "* N EXISTS" (N the current count),
                         and at random by "* 0 RECENT", as Cyrus reports
                         the changes of other sessions (UID 1 then has
                         those flags)
    --literal-long-uid U the literal of UID U's body is announced 100
                         bytes longer than the bytes sent; the answer
                         then goes on normally (the client swallows the
                         start of what follows)
    --stall-uid U        half of UID U's body literal is sent, then
                         nothing more: the connection stays open (its
                         commands are still logged) until the client
                         closes it
    --reset-uid U        half of UID U's body literal is sent, then the
                         connection is reset (a TCP RST, as when a server
                         is killed with the client's commands unread)
    --long-line          EXAMINE (and SELECT) is answered first with an
                         untagged "* OK" line of 10 MB before its CRLF
    --no-list-extended   CAPABILITY lists neither LIST-EXTENDED nor
                         SPECIAL-USE; LIST with RETURN (...) or selection
                         options is answered BAD (as Courier and imap4d
                         do); a plain LIST answers INBOX and INBOX.Sent,
                         "." separated, without special-use flags
    --garbled-list       LIST answers first a \\Sent folder named in raw
                         UTF-8, one named "", one with a NUL, a line
                         with a bare CR, then the usual lines
    --gssapi-first       CAPABILITY lists AUTH=GSSAPI before AUTH=PLAIN;
                         AUTHENTICATE GSSAPI is answered NO
    --search-gaps        UID SEARCH UID a:b answers an empty "* SEARCH"
                         when a:b (up to the highest UID) holds a UID
                         that is not there (expunged or vanished), as
                         imap4d does across expunge gaps; a SEARCH
                         without a UID range answers normally
    --login-delay-ms MS  LOGIN and AUTHENTICATE are answered MS ms late;
                         the most logins in progress at once is written
                         to the file LOG.peak
    --gm-garbled-uid U   with --gmail, UID U of every folder is answered
                         with X-GM-THRID 0x1f, which is no decimal

Without --no-list-extended, CAPABILITY lists LIST-EXTENDED and
SPECIAL-USE, and any LIST answers INBOX alone.

--gmail FILE plays Gmail instead of one INBOX. FILE is a JSON list of
messages, each {"eml": PATH, "msgid": N, "thrid": N, "labels": [...]}:
the message's file, its Gmail ids and labels ("\\Inbox", "\\Sent",
"Work"). CAPABILITY adds X-GM-EXT-1 and LIST answers Gmail's folders:
INBOX (the \\Inbox messages), "[Gmail]/All Mail" (\\All: every one),
"[Gmail]/Sent Mail" (\\Sent: the \\Sent ones) and one folder per
other label, each with its own UIDs (1, 2, ... in FILE's order) and
UIDVALIDITY. A UID FETCH that asks for X-GM-MSGID, X-GM-THRID or
X-GM-LABELS gets them, as Gmail sends them: ids in decimal, labels
quoted where they need it, and without the label of the folder open.
"""

import argparse
import json
import os
import random
import re
import socket
import socketserver
import struct
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
    "expunged": "",
    "unsolicited": False,
    "literal_long_uid": 0,
    "stall_uid": 0,
    "reset_uid": 0,
    "long_line": False,
    "no_list_extended": False,
    "gssapi_first": False,
    "garbled_list": False,
    "search_gaps": False,
    "login_delay_ms": 0,
    "gm_garbled_uid": 0,
}

UIDVALIDITY = 1
# Gmail's folders of system labels, with their special-use flag.
GMAIL_FOLDERS = [("INBOX", "", "\\Inbox"),
                 ("[Gmail]/All Mail", "\\All", None),
                 ("[Gmail]/Sent Mail", "\\Sent", "\\Sent")]
DATE = "06-Nov-2023 09:00:00 +0000"
LONG_LINE = 10 * 1024 * 1024


class Hangup(Exception):
    """The session ends without a word more to the client."""


class Mailbox:
    """The messages of INBOX, their flags, and the command log."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.messages = []  # (uid, bytes)
        self.flags = {}  # flag_key() -> set of flags
        self.vanished = set()
        self.conns = 0
        self.logging_in = 0
        self.peak_logging_in = 0
        names = sorted(os.listdir(args.maildir)) if args.maildir else []
        for name in names:
            if name.endswith(".eml"):
                with open(os.path.join(args.maildir, name), "rb") as f:
                    self.add(f.read())
        for i in range(1, args.generate + 1):
            self.add(generated(i))
        self.gmail = None  # Gmail's messages, when playing Gmail
        if args.gmail:
            with open(args.gmail) as f:
                self.gmail = json.load(f)
            for m in self.gmail:
                with open(m["eml"], "rb") as f:
                    raw = f.read()
                m["raw"] = raw.replace(b"\r\n", b"\n").replace(b"\n",
                                                                  b"\r\n")

    def gmail_folders(self):
        """Gmail's folders: (name, special-use flag, label or None)."""
        folders = list(GMAIL_FOLDERS)
        for m in self.gmail:
            for label in m["labels"]:
                if not label.startswith("\\") and \
                        all(f[0] != label for f in folders):
                    folders.append((label, "", label))
        return folders

    def gmail_folder(self, name):
        """The Gmail messages of folder name, in UID order, or None."""
        if name.upper() == "INBOX":
            name = "INBOX"
        for folder, _, label in self.gmail_folders():
            if folder == name:
                return [m for m in self.gmail
                        if label is None or label in m["labels"]]
        return None

    def uidvalidity(self, name):
        """Each of Gmail's folders has its own UIDVALIDITY."""
        if self.gmail is None:
            return UIDVALIDITY
        names = [f[0] for f in self.gmail_folders()]
        key = "INBOX" if name.upper() == "INBOX" else name
        return UIDVALIDITY + (names.index(key) if key in names else 99)

    def flag_key(self, folder, uid):
        """Where a copy's flags are kept: by UID, or by folder and UID."""
        return uid if self.gmail is None else (folder, uid)

    def folder_top(self, name):
        """The highest UID of folder name."""
        if self.gmail is not None:
            return len(self.gmail_folder(name) or [])
        return self.top() if name.upper() == "INBOX" else 0

    def add(self, raw):
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        uid = len(self.messages) + 1
        self.messages.append((uid, raw))
        self.flags[uid] = set()

    def top(self):
        return self.messages[-1][0] if self.messages else 0

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


def gmail_label(label):
    """A label as Gmail writes it: an atom when it can be one."""
    if re.fullmatch(r"\\?[A-Za-z0-9_./\[\]-]+", label):
        return label
    return '"%s"' % label.replace("\\", "\\\\").replace('"', '\\"')


def parse_ranges(text, top):
    """The (lo, hi) ranges a set names; "*" is top."""
    parts = []
    for item in text.split(","):
        a, _, b = item.partition(":")
        lo = top if a == "*" else int(a)
        hi = lo if not b else (top if b == "*" else int(b))
        parts.append((min(lo, hi), max(lo, hi)))
    return parts


def parse_set(text, top):
    """The UIDs a set names, as a predicate over UIDs; "*" is top."""
    parts = parse_ranges(text, top)
    return lambda uid: any(lo <= uid <= hi for lo, hi in parts)


def expunged_set(sw):
    """The UIDs of the "expunged" switch: a list, a number or "3,7"."""
    v = sw.get("expunged") or ""
    if isinstance(v, int):
        return {v}
    if isinstance(v, list):
        return {int(u) for u in v}
    return {int(u) for u in re.split(r"[,\s]+", str(v)) if u}


class Session(socketserver.StreamRequestHandler):
    timeout = 120

    def setup(self):
        super().setup()
        box = self.server.box
        with box.lock:
            box.conns += 1
            self.conn = box.conns
        self.selected = None  # the open folder's name

    def send(self, text):
        data = text if isinstance(text, bytes) else text.encode()
        self.wfile.write(data)
        self.wfile.flush()

    def tagged(self, tag, text, sw):
        """A tagged answer, after the unsolicited lines when asked."""
        out = ""
        if sw["unsolicited"] and self.selected is not None:
            box = self.server.box
            with box.lock:
                if box.messages:
                    box.flags[box.messages[0][0]] |= {"\\Seen", "\\Flagged"}
            if self.present():
                out += "* 1 FETCH (FLAGS (\\Seen \\Flagged) UID %d)\r\n" \
                    % self.present()[0][0]
            out += "* %d EXISTS\r\n" % len(self.present())
            if random.random() < 0.5:
                out += "* 0 RECENT\r\n"
        self.send(out + "%s %s\r\n" % (tag, text))

    def readline(self):
        raw = self.rfile.readline(65536)
        if not raw:
            raise Hangup()
        return raw

    def handle(self):
        try:
            self.send("* OK IMAP stand-in ready\r\n")
            while True:
                raw = self.readline()
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
        except (Hangup, OSError, socket.timeout):
            return

    def login_wait(self, sw):
        """A slow login, counted while it lasts."""
        box = self.server.box
        if not sw["login_delay_ms"]:
            return
        with box.lock:
            box.logging_in += 1
            if box.logging_in > box.peak_logging_in:
                box.peak_logging_in = box.logging_in
                with open(box.args.log + ".peak", "w") as f:
                    f.write("%d\n" % box.peak_logging_in)
        time.sleep(sw["login_delay_ms"] / 1000.0)
        with box.lock:
            box.logging_in -= 1

    def command(self, tag, cmd, rest):
        sw = self.server.box.switches()
        if cmd == "CAPABILITY":
            caps = "IMAP4rev1 LITERAL+"
            if not sw["no_list_extended"]:
                caps += " LIST-EXTENDED SPECIAL-USE"
            if sw["gssapi_first"]:
                caps += " AUTH=GSSAPI"
            caps += " AUTH=PLAIN" + ("" if sw["no_idle"] else " IDLE")
            if self.server.box.gmail is not None:
                caps += " X-GM-EXT-1"
            self.send("* CAPABILITY %s\r\n" % caps)
            self.tagged(tag, "OK done", sw)
        elif cmd == "LOGIN":
            self.login_wait(sw)
            self.tagged(tag, "OK logged in", sw)
        elif cmd == "AUTHENTICATE":
            words = rest.split()
            mech = words[0].upper() if words else ""
            if mech != "PLAIN":
                self.tagged(tag, "NO [AUTHENTICATIONFAILED] %s is not "
                            "available" % (mech or "no mechanism"), sw)
                return True
            if len(words) < 2:
                self.send("+ \r\n")
                self.readline()
            self.login_wait(sw)
            self.tagged(tag, "OK logged in", sw)
        elif cmd == "LIST":
            self.list(tag, rest, sw)
        elif cmd in ("SELECT", "EXAMINE"):
            self.select(tag, cmd, rest, sw)
        elif cmd == "UID":
            self.uid_command(tag, rest, sw)
        elif cmd == "NOOP":
            self.tagged(tag, "OK done", sw)
        elif cmd == "IDLE":
            return self.idle(tag, sw)
        elif cmd == "LOGOUT":
            self.send("* BYE bye\r\n%s OK done\r\n" % tag)
            return False
        else:
            self.tagged(tag, "BAD unknown command", sw)
        return True

    def list(self, tag, rest, sw):
        extended = bool(re.search(r"\bRETURN\b", rest, re.I)) or \
            rest.lstrip().startswith("(")
        if sw["no_list_extended"]:
            if extended:
                self.tagged(tag, "BAD invalid arguments to LIST", sw)
                return
            out = ('* LIST (\\HasChildren) "." INBOX\r\n'
                   '* LIST (\\HasNoChildren) "." INBOX.Sent\r\n')
        elif self.server.box.gmail is not None:
            out = '* LIST (\\HasChildren \\Noselect) "/" "[Gmail]"\r\n'
            for name, use, _ in self.server.box.gmail_folders():
                out += '* LIST (\\HasNoChildren%s) "/" "%s"\r\n' % (
                    " " + use if use else "", name)
        else:
            out = '* LIST (\\HasNoChildren) "/" INBOX\r\n'
        if sw["garbled_list"]:
            self.send(b'* LIST (\\Sent) "/" "Envoy\xc3\xa9s"\r\n'
                      b'* LIST (\\Sent) "/" ""\r\n'
                      b'* LIST (\\Sent) "/" "Se\x00nt"\r\n'
                      b'* LIST (\\Sent) "/" Sent\r* LIST () "/" X\r\n')
        self.send(out)
        self.tagged(tag, "OK done", sw)

    def present(self):
        """The (uid, bytes) of the open folder that are still there."""
        box = self.server.box
        if self.selected is not None and box.gmail is not None:
            msgs = box.gmail_folder(self.selected) or []
            return [(i, m["raw"]) for i, m in enumerate(msgs, 1)]
        if self.selected is None or self.selected.upper() != "INBOX":
            return []
        sw = box.switches()
        gone = expunged_set(sw)
        return [(u, raw) for u, raw in box.messages
                if u not in gone and not self.vanished(u, sw)]

    def select(self, tag, cmd, rest, sw):
        box = self.server.box
        if sw["examine_no"]:
            self.tagged(tag, "NO cannot open the folder", sw)
            return
        name = rest.strip()
        if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
            name = name[1:-1]
        if sw["long_line"]:
            # 10 MB before the CRLF, sent in pieces.
            self.send(b"* OK [ALERT] ")
            chunk = b"x" * 65536
            for _ in range(LONG_LINE // len(chunk)):
                self.send(chunk)
            self.send(b"\r\n")
        self.selected = name
        msgs = self.present()
        top = box.folder_top(name)
        out = "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        out += "* %d EXISTS%s\r\n" % (len(msgs),
                                      " " if sw["exists_space"] else "")
        out += "* 0 RECENT\r\n"
        out += "* OK [UIDVALIDITY %d] UIDs valid\r\n" % \
            box.uidvalidity(name)
        if not sw["no_uidnext"]:
            out += "* OK [UIDNEXT %d] next\r\n" % (top + 1)
        self.send(out)
        self.tagged(tag, "OK [%s] done" % ("READ-ONLY" if cmd == "EXAMINE"
                                           else "READ-WRITE"), sw)

    def uid_command(self, tag, rest, sw):
        verb, _, args = rest.partition(" ")
        verb = verb.upper()
        if verb == "SEARCH":
            self.search(tag, args, sw)
        elif verb == "FETCH":
            self.fetch(tag, args, sw)
        elif verb == "STORE":
            self.store(tag, args, sw)
        else:
            self.tagged(tag, "BAD unknown UID command", sw)

    def search(self, tag, args, sw):
        box = self.server.box
        top = box.folder_top(self.selected or "")
        words = args.split()
        pred = lambda uid: True
        ranges = None
        unseen = False
        i = 0
        while i < len(words):
            w = words[i].upper()
            if w == "UID" and i + 1 < len(words):
                pred = parse_set(words[i + 1], top)
                ranges = parse_ranges(words[i + 1], top)
                i += 2
                continue
            if w == "UNSEEN":
                unseen = True
            elif w == "SINCE":
                i += 1
            i += 1
        msgs = self.present()
        there = {u for u, _ in msgs}
        with box.lock:
            uids = [u for u, _ in msgs
                    if pred(u) and not (unseen and "\\Seen" in
                                        self.flags_of(u))]
        if sw["search_gaps"] and ranges is not None:
            for lo, hi in ranges:
                if any(u not in there for u in range(max(lo, 1),
                                                     min(hi, top) + 1)):
                    uids = []
                    break
        if sw["search_garbage"] and uids:
            uids.insert(min(2, len(uids)), -3)
        if sw["search_extra_uid"]:
            uids.append(sw["search_extra_uid"])
        if not sw["search_empty"]:
            self.send("* SEARCH%s\r\n" % "".join(" %d" % u for u in uids))
        self.tagged(tag, "OK SEARCH done", sw)

    def flags_of(self, uid):
        """The flags of the open folder's UID (box.lock held)."""
        return self.server.box.flags.setdefault(
            self.server.box.flag_key(self.selected, uid), set())

    def gmail_items(self, uid, up):
        """Gmail's X-GM items of the open folder's UID, those asked."""
        box = self.server.box
        if box.gmail is None:
            return ""
        m = box.gmail_folder(self.selected)[uid - 1]
        out = ""
        if "X-GM-MSGID" in up:
            out += " X-GM-MSGID %d" % m["msgid"]
        if "X-GM-THRID" in up:
            if uid == box.switches()["gm_garbled_uid"]:
                out += " X-GM-THRID 0x1f"
            else:
                out += " X-GM-THRID %d" % m["thrid"]
        if "X-GM-LABELS" in up:
            folder = self.selected
            if folder.upper() == "INBOX":
                folder = "INBOX"
            own = [f[2] for f in box.gmail_folders() if f[0] == folder]
            out += " X-GM-LABELS (%s)" % " ".join(
                gmail_label(label) for label in m["labels"]
                if label not in own)
        return out

    def fetch(self, tag, args, sw):
        box = self.server.box
        top = box.folder_top(self.selected or "")
        uidset, _, items = args.partition(" ")
        pred = parse_set(uidset, top)
        up = items.upper()
        peek = "BODY.PEEK[" in up
        body = peek or "BODY[" in up or re.search(r"\bRFC822\b(?!\.)", up)
        want_flags = "FLAGS" in up
        want_size = "RFC822.SIZE" in up or not body
        want_date = "INTERNALDATE" in up or not body
        if body and sw["vanish_uid"] and pred(sw["vanish_uid"]):
            with box.lock:
                box.vanished.add(sw["vanish_uid"])
        for seq, (uid, raw) in enumerate(self.present(), 1):
            if not pred(uid):
                continue
            if body and uid == sw["fetch_fail_uid"]:
                self.tagged(tag, "%s no message for you" % sw["fetch_answer"],
                            sw)
                return
            with box.lock:
                if body and not peek:
                    self.flags_of(uid).add("\\Seen")
                flags = " ".join(sorted(self.flags_of(uid)))
            head = "* %d FETCH (UID %d" % (seq, uid)
            head += self.gmail_items(uid, up)
            if want_flags:
                head += " FLAGS (%s)" % flags
            if want_size:
                head += " RFC822.SIZE %d" % len(raw)
            if want_date:
                head += ' INTERNALDATE "%s"' % DATE
            if not body:
                self.send(head + ")\r\n")
                continue
            if uid == sw["stall_uid"]:
                self.send(b"%s BODY[] {%d}\r\n" % (head.encode(), len(raw))
                          + raw[:len(raw) // 2])
                self.stall()
            if uid == sw["reset_uid"]:
                self.send(b"%s BODY[] {%d}\r\n" % (head.encode(), len(raw))
                          + raw[:len(raw) // 2])
                self.reset()
            announced = len(raw)
            if uid == sw["literal_long_uid"]:
                announced += 100
            self.send(b"%s BODY[] {%d}\r\n" % (head.encode(), announced)
                      + raw + b")\r\n")
        self.tagged(tag, "OK FETCH done", sw)

    def stall(self):
        """Nothing more to the client: log what it sends until it goes."""
        while True:
            raw = self.readline()
            self.server.box.log(
                self.conn, raw.decode("utf-8", "replace").rstrip("\r\n"))

    def reset(self):
        """A close that sends RST: the client's read fails."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.connection.close()
        raise Hangup()

    def vanished(self, uid, sw):
        return uid == sw["vanish_uid"] and uid in self.server.box.vanished

    def store(self, tag, args, sw):
        box = self.server.box
        top = box.top()
        uidset, _, what = args.partition(" ")
        pred = parse_set(uidset, top)
        with box.lock:
            for uid, _ in box.messages:
                if pred(uid) and "\\SEEN" in what.upper():
                    if what.startswith("-"):
                        box.flags[uid].discard("\\Seen")
                    else:
                        box.flags[uid].add("\\Seen")
        self.tagged(tag, "OK STORE done", sw)

    def idle(self, tag, sw):
        if sw["idle_no"]:
            self.tagged(tag, "NO no IDLE for you", sw)
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
                self.tagged(tag, "OK IDLE done", self.server.box.switches())
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
    p.add_argument("--gmail")
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
