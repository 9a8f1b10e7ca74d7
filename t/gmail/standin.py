#!/usr/bin/python3
"""A local stand-in for Google's OAuth2 token endpoint and the Gmail API.

    standin.py --maildir DIR [options]

It serves one mailbox, read from DIR at start: each label is a
subdirectory of .eml files (DIR/INBOX, DIR/SENT, DIR/Work, ...), loose
files in DIR are in INBOX. A message's headers may steer it (the
headers are removed from what is served):

    X-Test-Labels: INBOX, SENT      labels, instead of the directory's
    X-Test-Thread: KEY              messages with one KEY share a thread
    X-Test-Internal-Date: EPOCH     Gmail's internalDate, in seconds

Without X-Test-Thread a message joins the thread of a message it names
in References or In-Reply-To, else it starts its own.

Endpoints, on 127.0.0.1 only:

    POST /token                             refresh_token and jwt-bearer grants
    GET  /gmail/v1/users/me/profile
    GET  /gmail/v1/users/me/messages        labelIds, q, maxResults, pageToken
    GET  /gmail/v1/users/me/messages/ID     format=raw|minimal|metadata|full
    GET  /gmail/v1/users/me/history         startHistoryId, historyTypes,
                                            labelId, maxResults, pageToken
    POST /gmail/v1/users/me/watch           push to a Pub/Sub topic
    POST /v1/SUBSCRIPTION:pull              Cloud Pub/Sub: maxMessages
    POST /v1/SUBSCRIPTION:acknowledge       ackIds
    POST /v1/SUBSCRIPTION:modifyAckDeadline ackIds, ackDeadlineSeconds
    POST /admin/messages                    add a message (body: the .eml;
                                            X-Test-Labels / X-Test-Thread /
                                            X-Test-Internal-Date request headers)
    POST /admin/labels                      {"id": ID, "add": [LABEL...],
                                             "remove": [LABEL...]}: as
                                            messages.modify, one history
                                            record per kind of change
    POST /admin/delete                      {"id": ID}: the message is
                                            deleted for good
    POST /admin/expire-history              history before now answers 404
    POST /admin/faults                      {"fail_429": K, "retry_after": N,
                                             "fail_500": K, "fail_401": K,
                                             "fail_403": K, "fail_403_rate": K,
                                             "after": M, "revoke_after": N,
                                             "token_500": K, "quota": UNITS,
                                             "project_quota": UNITS,
                                             "spurious_429": SHARE,
                                             "spurious_retry_after": N,
                                             "endless_pages": 0|1|2,
                                             "raw_missing": K,
                                             "raw_empty": K,
                                             "raw_not_string": K,
                                             "raw_not_base64url": K,
                                             "gzip_bomb": K,
                                             "history_id": 0|1|2|3}
    POST /admin/revoke                      every access token stops working
    POST /admin/publish                     {"data": BASE64} or {"json": {...}}:
                                            a message on the topic, as from
                                            anyone who may publish there
    POST /admin/pubsub                      {"pull_status": CODE (0: none),
                                             "ack_deadline": SECONDS,
                                             "watch_ttl_ms": MS,
                                             "pull_wait_ms": MS}
    GET  /admin/pubsub                      the topic's messages, with their
                                            deliveries, acks and hand-backs,
                                            and the watches (JSON)
    GET  /admin/requests                    the request log (JSON)
    GET  /admin/stats                       counters (JSON)
    POST /admin/reset                       clear the log and counters

Faults hit Gmail API requests only: after M more requests ("after"), the
next K answer 401, then 403 insufficientPermissions, then 403
userRateLimitExceeded, then 500, then 429 (with Retry-After N when
given).
"revoke_after": N revokes every access token after N more API requests,
as a user revoking access mid-sync would; "token_500": K fails the next
K token requests. "endless_pages": 1 puts a new nextPageToken on every
page of messages.list and history.list, for ever; 2 the same token
again. "spurious_429": SHARE (--spurious-429) answers that
share of the API requests, at random (--seed), with 429
rateLimitExceeded and Retry-After N (--spurious-retry-after, default 1)
before any quota is spent, as Google does now and then under the quota.
"raw_missing", "raw_empty", "raw_not_string", "raw_not_base64url": K
spoil the raw of the next K messages.get?format=raw answers: no raw,
"", a number, or text that is not base64url. "gzip_bomb": K sends the
next K messages.get answers gzip-encoded with 100 MB of spaces inside
(about 100 KB on the wire). "history_id": 1 answers
every historyId (users.getProfile, messages.get, history.list) as
garbage, 2 as a number lower than the mailbox's (backwards), 3 as 21
digits; 0 tells the truth again.

The quota (--quota UNITS) is a token bucket per user holding one
second's units; the project's quota (--project-quota UNITS) one more
such bucket that every user's requests draw from, as one OAuth
project's do. A request that finds too few units in either answers 429
rateLimitExceeded and is counted in /admin/stats as over_quota: a
client that keeps to the quota has none.

Users: the refresh token REFRESH (--refresh-token) is the user --user;
REFRESH+NAME is the user NAME, with the same mailbox and a quota of its
own, so that one stand-in serves many accounts.
Costs: messages.get 5, messages.list 5, history.list 2, getProfile 1.

Push: users.watch records the topic of the user (--pubsub-topic is the
one topic that exists) and answers an expiration watch_ttl_ms ahead
(7 days unless told). While a user is watched, each message added or
labelled INBOX or SENT publishes {"emailAddress", "historyId"} on the
topic, which the one subscription (--pubsub-subscription) delivers:
a pull waits up to pull_wait_ms for a message; a message pulled and
neither acknowledged nor handed back (modifyAckDeadline 0) within
ack_deadline seconds is delivered again, with a new ackId. Pub/Sub
requests need a token of the service account with the pubsub scope;
"pull_status": CODE answers every pull with that HTTP status (404 as a
subscription deleted) until it is set to 0.

Errors have Google's shape: {"error": {"code", "message", "errors":
[{"domain", "reason", "message"}], "status"}}; the token endpoint's
{"error", "error_description"}.
"""

import argparse
import base64
import email
import email.policy
import email.utils
import gzip
import hashlib
import http.server
import json
import os
import random
import re
import secrets
import signal
import sys
import threading
import time
import urllib.parse

COSTS = {"profile": 1, "list": 5, "get": 5, "history": 2, "watch": 100}
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
SYSTEM_LABELS = ("INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD",
                 "STARRED", "IMPORTANT")
TEST_HEADER = re.compile(rb"^X-Test-[A-Za-z-]+:.*(\r?\n[ \t].*)*\r?\n",
                         re.IGNORECASE | re.MULTILINE)
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


class ApiError(Exception):
    """An error answer in Google's shape."""

    STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED",
              403: "PERMISSION_DENIED", 404: "NOT_FOUND",
              429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
              503: "UNAVAILABLE"}

    def __init__(self, code, message, reason, domain="global", headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.headers = headers or {}

    def body(self):
        return {"error": {
            "code": self.code,
            "message": self.message,
            "errors": [{"message": self.message, "domain": self.domain,
                        "reason": self.reason}],
            "status": self.STATUS.get(self.code, "UNKNOWN"),
        }}


class TokenError(Exception):
    """An error answer of the token endpoint."""

    def __init__(self, code, error, description):
        super().__init__(description)
        self.code = code
        self.error = error
        self.description = description


# Messages -------------------------------------------------------------------

class Message:
    def __init__(self, gid, raw, labels, internal_ms):
        self.id = gid
        self.raw = raw
        self.labels = list(labels)
        self.internal_ms = internal_ms
        self.thread_id = gid
        self.history_id = 0
        parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
        self.headers = [(k, str(v)) for k, v in parsed.items()]
        self.msgid = _angle_ids(parsed.get("Message-ID", ""))[:1]
        self.refs = (_angle_ids(parsed.get("References", "")) +
                     _angle_ids(parsed.get("In-Reply-To", "")))
        self.snippet = _snippet(parsed)
        self.text = raw.decode("utf-8", "replace").lower()

    def ref(self):
        return {"id": self.id, "threadId": self.thread_id}

    def summary(self):
        return {"id": self.id, "threadId": self.thread_id,
                "labelIds": list(self.labels)}


def _angle_ids(value):
    return re.findall(r"<([^<>\s]+)>", value or "")


def _snippet(parsed):
    for part in parsed.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True) or b""
            text = payload.decode(part.get_content_charset() or "utf-8",
                                  "replace")
            return " ".join(text.split())[:100]
    return ""


def _strip_test_headers(raw):
    """Removes X-Test-* headers from the header section; returns both."""
    end = re.search(rb"\r?\n\r?\n", raw)
    head, body = (raw[:end.end()], raw[end.end():]) if end else (raw, b"")
    found = {}
    for m in TEST_HEADER.finditer(head):
        name, _, value = m.group(0).partition(b":")
        found[name.decode().strip().lower()] = " ".join(
            value.decode("utf-8", "replace").split())
    return TEST_HEADER.sub(b"", head) + body, found


class Mailbox:
    """One user's mail and history; every method runs under the lock."""

    def __init__(self, user):
        self.user = user
        self.lock = threading.RLock()
        self.messages = {}
        self.by_msgid = {}
        self.thread_keys = {}
        self.history = []
        self.history_id = 1000
        self.horizon = 0
        self.next_id = 0x18c4f00000000000

    def _new_history(self, kind, message, labels=None):
        self.history_id += 1
        rec = {"id": str(self.history_id), "messages": [message.ref()]}
        if kind == "messageAdded":
            rec["messagesAdded"] = [{"message": message.summary()}]
        elif kind == "labelAdded":
            rec["labelsAdded"] = [{"message": message.summary(),
                                   "labelIds": list(labels)}]
        elif kind == "labelRemoved":
            rec["labelsRemoved"] = [{"message": message.summary(),
                                     "labelIds": list(labels)}]
        elif kind == "messageDeleted":
            rec["messagesDeleted"] = [{"message": message.summary()}]
        self.history.append((self.history_id, kind, rec))
        message.history_id = self.history_id
        return self.history_id

    def add(self, raw, labels=None, thread_key=None, internal=None):
        raw, test = _strip_test_headers(raw)
        if labels is None and "x-test-labels" in test:
            labels = test["x-test-labels"]
        if isinstance(labels, str):
            labels = [x.strip() for x in labels.split(",") if x.strip()]
        labels = labels or ["INBOX"]
        thread_key = thread_key or test.get("x-test-thread")
        internal = internal or test.get("x-test-internal-date")
        self.next_id += 1
        gid = "%016x" % self.next_id
        msg = Message(gid, raw, [], 0)
        if internal:
            msg.internal_ms = int(float(internal) * 1000)
        else:
            msg.internal_ms = _header_date_ms(msg.headers)
        msg.labels = labels
        if thread_key:
            msg.thread_id = self.thread_keys.setdefault(thread_key, gid)
        else:
            for ref in msg.refs:
                if ref in self.by_msgid:
                    msg.thread_id = self.messages[self.by_msgid[ref]].thread_id
                    break
        for mid in msg.msgid:
            self.by_msgid.setdefault(mid, gid)
        self.messages[gid] = msg
        self._new_history("messageAdded", msg)
        return msg

    def add_labels(self, gid, labels, remove=()):
        """Labels added, then removed, as messages.modify does: a label
        already there (or not there) makes no record."""
        msg = self.messages.get(gid)
        if msg is None:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        added = [x for x in labels if x not in msg.labels]
        msg.labels.extend(added)
        if added:
            self._new_history("labelAdded", msg, added)
        removed = [x for x in remove if x in msg.labels]
        msg.labels = [x for x in msg.labels if x not in removed]
        if removed:
            self._new_history("labelRemoved", msg, removed)
        return msg

    def delete(self, gid):
        msg = self.messages.pop(gid, None)
        if msg is None:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        for mid in msg.msgid:
            if self.by_msgid.get(mid) == gid:
                del self.by_msgid[mid]
        self._new_history("messageDeleted", msg)
        return msg

    def load(self, maildir):
        entries = []
        for root, _dirs, files in os.walk(maildir):
            rel = os.path.relpath(root, maildir)
            label = None if rel == "." else rel.split(os.sep)[0]
            if label in ("cur", "new", "tmp"):
                label = None
            for f in files:
                if f.startswith("."):
                    continue
                entries.append((f, os.path.join(root, f), label))
        for _name, path, label in sorted(entries):
            with open(path, "rb") as fh:
                raw = fh.read()
            labels = None
            if label is not None:
                labels = [label.upper() if label.upper() in SYSTEM_LABELS
                          else label]
            self.add(raw, labels=labels)


def _header_date_ms(headers):
    for k, v in headers:
        if k.lower() == "date":
            try:
                return int(email.utils.parsedate_to_datetime(v).timestamp()
                           * 1000)
            except (TypeError, ValueError):
                break
    return int(time.time() * 1000)


# Search ---------------------------------------------------------------------

def _pacific_midnight(y, m, d):
    """Gmail reads dates in after:/before: in Pacific time."""
    try:
        from zoneinfo import ZoneInfo
        import datetime
        tz = ZoneInfo("America/Los_Angeles")
        return int(datetime.datetime(y, m, d, tzinfo=tz).timestamp())
    except Exception:  # no time zone data: PST
        import calendar
        return calendar.timegm((y, m, d, 0, 0, 0)) + 8 * 3600


def _when(value):
    if re.fullmatch(r"\d{9,}", value):
        return int(value)
    m = re.fullmatch(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})", value)
    if not m:
        raise ApiError(400, "Invalid query: bad date %r" % value,
                       "invalidArgument")
    return _pacific_midnight(int(m.group(1)), int(m.group(2)),
                             int(m.group(3)))


def _relative(value):
    m = re.fullmatch(r"(\d+)([dmy])", value)
    if not m:
        raise ApiError(400, "Invalid query: bad period %r" % value,
                       "invalidArgument")
    days = int(m.group(1)) * {"d": 1, "m": 30, "y": 365}[m.group(2)]
    return time.time() - days * 86400


def _term(tok):
    """A predicate for one search term."""
    key, sep, value = tok.partition(":")
    key = key.lower() if sep else ""
    value = value.strip('"')
    if key == "in":
        v = value.lower()
        if v == "anywhere":
            return lambda m: True
        return lambda m: v.upper() in m.labels
    if key in ("label", "l"):
        return lambda m: any(x.lower() == value.lower() for x in m.labels)
    if key == "after":
        t = _when(value)
        return lambda m: m.internal_ms / 1000 >= t
    if key == "before":
        t = _when(value)
        return lambda m: m.internal_ms / 1000 < t
    if key == "newer_than":
        t = _relative(value)
        return lambda m: m.internal_ms / 1000 >= t
    if key == "older_than":
        t = _relative(value)
        return lambda m: m.internal_ms / 1000 < t
    if key in ("from", "to", "subject"):
        v = value.lower()
        return lambda m: any(h.lower() == key and v in hv.lower()
                             for h, hv in m.headers)
    if key == "rfc822msgid":
        return lambda m: value.strip("<>") in m.msgid
    if key:
        raise ApiError(400, "Invalid query: unsupported operator %r" % key,
                       "invalidArgument")
    v = tok.lower()
    return lambda m: v in m.text


class Query:
    """Gmail's search syntax, the part a mail client needs: terms joined
    by spaces (AND), OR (binding tighter), -term, (...) and {...}."""

    def __init__(self, q):
        self.toks = re.findall(r'\(|\)|\{|\}|-?[^\s(){}"]*"[^"]*"|-?[^\s(){}]+',
                               q or "")
        self.pos = 0
        self.pred = self._and(None) if self.toks else (lambda m: True)
        if self.pos != len(self.toks):
            raise ApiError(400, "Invalid query", "invalidArgument")

    def _peek(self):
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def _and(self, closer):
        preds = []
        while self._peek() is not None and self._peek() != closer:
            preds.append(self._or())
        return lambda m: all(p(m) for p in preds)

    def _or(self):
        preds = [self._unary()]
        while self._peek() == "OR":
            self.pos += 1
            preds.append(self._unary())
        return lambda m: any(p(m) for p in preds)

    def _unary(self):
        tok = self._peek()
        if tok is None or tok in (")", "}"):
            raise ApiError(400, "Invalid query", "invalidArgument")
        self.pos += 1
        if tok == "(":
            pred = self._and(")")
            self._expect(")")
            return pred
        if tok == "{":
            preds = []
            while self._peek() not in ("}", None):
                preds.append(self._unary())
            self._expect("}")
            return lambda m: any(p(m) for p in preds)
        if tok.startswith("-") and len(tok) > 1:
            inner = _term(tok[1:])
            return lambda m: not inner(m)
        return _term(tok)

    def _expect(self, tok):
        if self._peek() != tok:
            raise ApiError(400, "Invalid query", "invalidArgument")
        self.pos += 1


# Tokens ---------------------------------------------------------------------

def _b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _der_read(data, pos):
    """One DER element: (tag, content, next position)."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    return tag, data[pos:pos + length], pos + length


def rsa_public_key(pem):
    """(n, e) of a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) or
    "RSA PUBLIC KEY" (PKCS #1)."""
    m = re.search(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END", pem, re.S)
    if not m:
        raise ValueError("no PEM block")
    der = base64.b64decode("".join(m.group(2).split()))
    _, seq, _ = _der_read(der, 0)
    if m.group(1) == "PUBLIC KEY":
        _, _alg, pos = _der_read(seq, 0)
        _, bits, _ = _der_read(seq, pos)
        _, seq, _ = _der_read(bits[1:], 0)
    _, n, pos = _der_read(seq, 0)
    _, e, _ = _der_read(seq, pos)
    return int.from_bytes(n, "big"), int.from_bytes(e, "big")


def rs256_verify(key, signing_input, signature):
    n, e = key
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    em = pow(int.from_bytes(signature, "big"), e, n).to_bytes(k, "big")
    digest = SHA256_DIGEST_INFO + hashlib.sha256(signing_input).digest()
    expected = b"\x00\x01" + b"\xff" * (k - 3 - len(digest)) + b"\x00" + digest
    return secrets.compare_digest(em, expected)


# The server -----------------------------------------------------------------

class Bucket:
    """A quota: a token bucket holding one second's units; rate 0 is
    no limit."""

    def __init__(self, rate):
        self.rate = float(rate or 0)
        self.level = self.rate
        self.at = time.monotonic()

    def has(self, units):
        if not self.rate:
            return True
        now = time.monotonic()
        self.level = min(self.rate, self.level + (now - self.at) * self.rate)
        self.at = now
        return self.level >= units

    def take(self, units):
        if self.rate:
            self.level -= units


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.mailbox = Mailbox(args.user)
        self.tokens = {}
        self.tokens_issued = 0
        self.log = []
        self.started = time.monotonic()
        self.faults = {"after": args.faults_after, "fail_401": args.fail_401,
                       "fail_403": args.fail_403, "fail_403_rate": 0,
                       "token_500": 0,
                       "fail_500": args.fail_500,
                       "fail_429": args.fail_429,
                       "endless_pages": 0,
                       "raw_missing": 0, "raw_empty": 0,
                       "raw_not_string": 0, "raw_not_base64url": 0,
                       "gzip_bomb": 0, "history_id": 0,
                       "retry_after": args.retry_after,
                       "revoke_after": args.revoke_after}
        self.quota = float(args.quota or 0)
        self.buckets = {}
        self.project = Bucket(args.project_quota)
        self.spurious = {"share": args.spurious_429,
                         "retry_after": args.spurious_retry_after}
        self.rng = random.Random(args.seed)
        self.counts = {"over_user_quota": 0, "over_project_quota": 0,
                       "spurious_429": 0}
        self.cond = threading.Condition(self.lock)
        self.watches = {}
        self.topic = []
        self.next_message = 0
        self.next_ack = 0
        self.pubsub = {"pull_status": 0, "ack_deadline": args.ack_deadline,
                       "watch_ttl_ms": 7 * 86400 * 1000,
                       "pull_wait_ms": 2000}
        self.sa_key = None
        if args.service_account_key:
            with open(args.service_account_key) as fh:
                self.sa_key = rsa_public_key(fh.read())

    # Push ---------------------------------------------------------------

    def pubsub_principal(self):
        return "pubsub:" + self.args.service_account_email

    def watch(self, mb, req):
        topic = req.get("topicName")
        if topic != self.args.pubsub_topic:
            raise ApiError(400, "Invalid topicName does not match "
                           "projects/SOME_PROJECT/topics/SOME_TOPIC" if
                           not topic else "Resource not found: " + topic,
                           "invalidArgument")
        w = self.watches.setdefault(mb.user, {"count": 0, "lapsed": 0})
        w.update(topic=topic, labelIds=req.get("labelIds") or [],
                 labelFilterBehavior=req.get("labelFilterBehavior"))
        # A renewal that comes after the watch expired: notices were
        # lost in between.
        if w.get("expiration", 0) and time.time() * 1000 > w["expiration"]:
            w["lapsed"] += 1
        w["count"] += 1
        w["at"] = round(time.time() * 1000)
        expires = round(time.time() * 1000) + self.pubsub["watch_ttl_ms"]
        w["expiration"] = expires
        return {"historyId": str(mb.history_id), "expiration": str(expires)}

    def notify(self, mb, msg):
        """Publishes a notice when the user is watched for msg's labels."""
        w = self.watches.get(mb.user)
        if w is None or w["expiration"] < time.time() * 1000:
            return
        if w["labelIds"] and not set(w["labelIds"]) & set(msg.labels):
            return
        notice = {"emailAddress": mb.user, "historyId": mb.history_id}
        self.publish(base64.b64encode(json.dumps(notice).encode()).decode())

    def publish(self, data):
        self.next_message += 1
        mid = str(self.next_message)
        self.topic.append({"messageId": mid, "data": data,
                           "published": round(time.time() * 1000),
                           "ack_id": None, "deadline": 0, "deliveries": 0,
                           "acked": None, "handed_back": 0, "ack_ids": []})
        self.cond.notify_all()
        return mid

    def _deliverable(self, now):
        return [m for m in self.topic if m["acked"] is None and
                (m["ack_id"] is None or m["deadline"] <= now)]

    def pull(self, most):
        end = time.monotonic() + self.pubsub["pull_wait_ms"] / 1000
        while True:
            now = time.monotonic()
            ready = self._deliverable(now)[:max(1, min(most, 1000))]
            if ready or now >= end:
                break
            self.cond.wait(min(end - now, 0.05))
        got = []
        for m in ready:
            self.next_ack += 1
            m["ack_id"] = "ack-%s-%d" % (m["messageId"], self.next_ack)
            m["ack_ids"].append(m["ack_id"])
            m["deadline"] = now + self.pubsub["ack_deadline"]
            m["deliveries"] += 1
            got.append({"ackId": m["ack_id"], "message": {
                "data": m["data"], "messageId": m["messageId"],
                "publishTime": time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime(m["published"] / 1000))}})
        return {"receivedMessages": got} if got else {}

    def _by_ack(self, ack_id):
        for m in self.topic:
            if m["ack_id"] == ack_id:
                return m
        return None

    def acknowledge(self, ids):
        for a in ids:
            m = self._by_ack(a)
            if m is not None and m["acked"] is None:
                m["acked"] = round(time.time() * 1000)
        return {}

    def modify(self, ids, seconds):
        if not 0 <= seconds <= 600:
            raise ApiError(400, "Invalid ack deadline given.",
                           "invalidArgument")
        for a in ids:
            m = self._by_ack(a)
            if m is None or m["acked"] is not None:
                continue
            m["deadline"] = time.monotonic() + seconds
            if seconds == 0:
                m["handed_back"] += 1
        self.cond.notify_all()
        return {}

    def pubsub_view(self):
        out = []
        for m in self.topic:
            try:
                notice = json.loads(base64.b64decode(m["data"]))
            except (ValueError, TypeError):
                notice = None
            out.append({"messageId": m["messageId"], "notice": notice,
                        "published": m["published"],
                        "deliveries": m["deliveries"], "acked": m["acked"],
                        "handed_back": m["handed_back"]})
        return {"messages": out, "watches": self.watches,
                "settings": self.pubsub}

    def history_id(self, real):
        """A historyId as the "history_id" fault has it said."""
        lie = self.faults["history_id"]
        if lie == 1:
            return "12abc"
        if lie == 2:
            return str(real // 2)
        if lie == 3:
            return "1" * 21
        return str(real)

    def spoil_raw(self, answer):
        """The raw of a messages.get answer, as the raw faults have it."""
        for fault, raw in (("raw_missing", None), ("raw_empty", ""),
                           ("raw_not_string", 42),
                           ("raw_not_base64url", "not base64url!*")):
            if self.faults[fault] > 0:
                self.faults[fault] -= 1
                if raw is None:
                    del answer["raw"]
                else:
                    answer["raw"] = raw
                return

    def token_url(self):
        return "http://127.0.0.1:%d/token" % self.port

    def issue_token(self, user):
        token = "ya29.standin-" + secrets.token_urlsafe(24)
        self.tokens[token] = (time.monotonic() + self.args.expires_in, user)
        self.tokens_issued += 1
        return {"access_token": token, "expires_in": self.args.expires_in,
                "scope": "https://www.googleapis.com/auth/gmail.readonly",
                "token_type": "Bearer"}

    def grant(self, form):
        kind = form.get("grant_type", "")
        if kind == "refresh_token":
            if (form.get("client_id") != self.args.client_id or
                    form.get("client_secret") != self.args.client_secret):
                raise TokenError(401, "invalid_client", "Unauthorized")
            return self.issue_token(self.refresh_user(form))
        if kind == JWT_BEARER:
            if self.check_assertion(form.get("assertion", "")):
                return self.issue_token(self.pubsub_principal())
            return self.issue_token(self.args.user)
        raise TokenError(400, "unsupported_grant_type",
                         "Invalid grant_type: " + kind)

    def refresh_user(self, form):
        """The user a refresh token stands for."""
        token = form.get("refresh_token") or ""
        mine = self.args.refresh_token
        if token == mine:
            return self.args.user
        if token.startswith(mine + "+") and len(token) > len(mine) + 1:
            return token[len(mine) + 1:]
        raise TokenError(400, "invalid_grant",
                         "Token has been expired or revoked.")

    def check_assertion(self, jwt):
        if self.sa_key is None:
            raise TokenError(400, "invalid_grant", "No service account.")
        try:
            h64, c64, s64 = jwt.split(".")
            header = json.loads(_b64url_decode(h64))
            claims = json.loads(_b64url_decode(c64))
            sig = _b64url_decode(s64)
        except ValueError:
            raise TokenError(400, "invalid_grant", "Invalid JWT.")
        if header.get("alg") != "RS256":
            raise TokenError(400, "invalid_grant", "Invalid JWT algorithm.")
        if not rs256_verify(self.sa_key, (h64 + "." + c64).encode(), sig):
            raise TokenError(400, "invalid_grant", "Invalid JWT Signature.")
        now = time.time()
        if claims.get("iss") != self.args.service_account_email:
            raise TokenError(401, "invalid_client", "Unknown issuer.")
        if claims.get("aud") != self.token_url():
            raise TokenError(400, "invalid_grant",
                             "Invalid JWT: audience is not the token URL.")
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        if not (iat - 300 <= now < exp) or exp - iat > 3600:
            raise TokenError(400, "invalid_grant",
                             "Invalid JWT: Token must be a short-lived token "
                             "(60 minutes) and in a reasonable timeframe.")
        if claims.get("scope") == "https://www.googleapis.com/auth/pubsub":
            # The subscriber acts as itself, for no user.
            if "sub" in claims:
                raise TokenError(401, "unauthorized_client",
                                 "Pub/Sub is not delegated.")
            return True
        if "gmail" not in claims.get("scope", "") and \
                "mail.google.com" not in claims.get("scope", ""):
            raise TokenError(400, "invalid_scope", "No Gmail scope.")
        if claims.get("sub") != self.args.user:
            raise TokenError(401, "unauthorized_client",
                             "Client is unauthorized to retrieve access "
                             "tokens using this method, or client not "
                             "authorized for any of the scopes requested.")
        return False

    def authorize(self, header):
        token = header[7:] if header and header.startswith("Bearer ") else ""
        expires, user = self.tokens.get(token, (None, None))
        if expires is None or expires <= time.monotonic():
            raise ApiError(401, "Request had invalid authentication "
                           "credentials. Expected OAuth 2 access token, "
                           "login cookie or other valid authentication "
                           "credential.", "authError",
                           headers={"WWW-Authenticate":
                                    'Bearer realm="https://accounts.google.com/"'
                                    ', error="invalid_token"'})
        return user

    def inject_fault(self):
        """A fault for this API request, if one is due."""
        f = self.faults
        if f["revoke_after"]:
            f["revoke_after"] -= 1
            if f["revoke_after"] == 0:
                self.tokens.clear()
        if f["after"] > 0:
            f["after"] -= 1
            return None
        if f["fail_401"] > 0:
            f["fail_401"] -= 1
            return ApiError(401, "Request had invalid authentication "
                            "credentials.", "authError")
        if f["fail_403"] > 0:
            f["fail_403"] -= 1
            return ApiError(403, "Request had insufficient authentication "
                            "scopes.", "insufficientPermissions")
        if f["fail_403_rate"] > 0:
            f["fail_403_rate"] -= 1
            return ApiError(403, "User-rate limit exceeded.",
                            "userRateLimitExceeded", domain="usageLimits")
        if f["fail_500"] > 0:
            f["fail_500"] -= 1
            return ApiError(500, "Internal error encountered.",
                            "backendError")
        if f["fail_429"] > 0:
            f["fail_429"] -= 1
            headers = {}
            if f["retry_after"]:
                headers["Retry-After"] = str(f["retry_after"])
            return ApiError(429, "Too many concurrent requests for user.",
                            "rateLimitExceeded", headers=headers)
        return None

    def spurious_429(self):
        """Google's 429 now and then, whatever the quota; or None."""
        share = self.spurious["share"]
        if not share or self.rng.random() >= share:
            return None
        self.counts["spurious_429"] += 1
        headers = {}
        if self.spurious["retry_after"]:
            headers["Retry-After"] = str(self.spurious["retry_after"])
        return ApiError(429, "Too many concurrent requests for user.",
                        "rateLimitExceeded", headers=headers)

    def spend(self, user, units):
        """Spends the user's and the project's units, or answers 429."""
        mine = self.buckets.get(user)
        if mine is None:
            mine = self.buckets[user] = Bucket(self.quota)
        if not mine.has(units):
            self.counts["over_user_quota"] += 1
            raise ApiError(429, "Quota exceeded for quota metric 'Queries' "
                           "and limit 'Queries per minute per user' of "
                           "service 'gmail.googleapis.com'.",
                           "rateLimitExceeded", domain="usageLimits")
        if not self.project.has(units):
            self.counts["over_project_quota"] += 1
            raise ApiError(429, "Quota exceeded for quota metric 'Queries' "
                           "and limit 'Queries per minute' of service "
                           "'gmail.googleapis.com'.",
                           "rateLimitExceeded", domain="usageLimits")
        mine.take(units)
        self.project.take(units)


def _first(params, name, default=None):
    return params.get(name, [default])[0]


def _int_param(params, name, default, lo, hi):
    try:
        v = int(_first(params, name, default))
    except (TypeError, ValueError):
        raise ApiError(400, "Invalid value for %s" % name, "invalid")
    return max(lo, min(hi, v))


def _page(items, params, default_size, endless=0):
    """One page and the next page's token; endless 1: a new token on
    every page, for ever; 2: the same token again."""
    size = _int_param(params, "maxResults", default_size, 1, 500)
    token = _first(params, "pageToken")
    try:
        start = int(_b64url_decode(token).decode()) if token else 0
    except ValueError:
        raise ApiError(400, "Invalid pageToken", "invalid")
    chunk = items[start:start + size]
    nxt = None
    if start + size < len(items) or endless == 1:
        nxt = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    if endless == 2:
        nxt = base64.urlsafe_b64encode(str(start).encode()).decode()
    return chunk, nxt


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "standin/1"

    def log_message(self, fmt, *args):
        if self.server.state.args.verbose:
            sys.stderr.write("standin: " + fmt % args + "\n")

    def _send(self, code, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _record(self, kind, code, units=0, user=None):
        st = self.server.state
        st.log.append({"t": round(time.monotonic() - st.started, 4),
                       "method": self.command, "path": self.path,
                       "kind": kind, "status": code, "units": units,
                       "user": user})

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def _dispatch(self):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        params = urllib.parse.parse_qs(url.query)
        path = url.path
        body = self._body()
        with st.lock:
            try:
                if path == "/token" and self.command == "POST":
                    self._token(body)
                elif path.startswith("/admin/"):
                    self._admin(path[7:], body)
                elif path.startswith("/gmail/v1/users/"):
                    self._api(path[16:], params, body)
                elif path.startswith("/v1/") and self.command == "POST":
                    self._pubsub(path[4:], body)
                else:
                    raise ApiError(404, "Not Found", "notFound")
            except ApiError as e:
                self._send(e.code, e.body(), e.headers)

    def _token(self, body):
        st = self.server.state
        form = {k: v[0] for k, v in
                urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        try:
            if st.faults["token_500"] > 0:
                st.faults["token_500"] -= 1
                raise TokenError(500, "internal_failure", "Backend Error")
            answer = st.grant(form)
        except TokenError as e:
            self._record("token", e.code)
            self._send(e.code, {"error": e.error,
                                "error_description": e.description})
            return
        self._record("token", 200)
        self._send(200, answer)

    def _api(self, rest, params, body=b""):
        st = self.server.state
        user, _, rest = rest.partition("/")
        if (self.command == "POST") != (rest == "watch"):
            raise ApiError(405, "Method not allowed", "badRequest")
        kind, handler = self._route(rest, body)
        me = None
        try:
            me = st.authorize(self.headers.get("Authorization"))
            if me == st.pubsub_principal():
                raise ApiError(403, "Request had insufficient "
                               "authentication scopes.",
                               "insufficientPermissions")
            if user not in ("me", me):
                raise ApiError(403, "Delegation denied for " + user,
                               "forbidden")
            fault = st.inject_fault() or st.spurious_429()
            if fault is not None:
                raise fault
            st.spend(me, COSTS[kind])
            answer = handler(params)
        except ApiError as e:
            self._record(kind, e.code, user=me)
            raise
        self._record(kind, 200, COSTS[kind], user=me)
        if kind == "get" and st.faults["gzip_bomb"] > 0:
            st.faults["gzip_bomb"] -= 1
            self._send_bomb(answer)
            return
        self._send(200, answer)

    def _send_bomb(self, answer):
        """The answer, gzip-encoded, with 100 MB of spaces inside: small
        on the wire, huge once inflated."""
        data = json.dumps(answer).encode()
        data = data[:1] + b" " * (100 * 1024 * 1024) + data[1:]
        packed = gzip.compress(data, compresslevel=1)
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(packed)))
        self.end_headers()
        self.wfile.write(packed)

    def _route(self, rest, body=b""):
        mb = self.server.state.mailbox
        if rest == "watch":
            return "watch", lambda p: self.server.state.watch(
                mb, self._json(body))
        if rest == "profile":
            return "profile", lambda p: {
                "emailAddress": mb.user,
                "messagesTotal": len(mb.messages),
                "threadsTotal": len({m.thread_id for m in
                                     mb.messages.values()}),
                "historyId": self.server.state.history_id(mb.history_id)}
        if rest == "messages":
            return "list", self._list
        if rest.startswith("messages/") and "/" not in rest[9:]:
            gid = urllib.parse.unquote(rest[9:])
            return "get", lambda p: self._get(gid, p)
        if rest == "history":
            return "history", self._history
        raise ApiError(404, "Not Found", "notFound")

    def _list(self, params):
        mb = self.server.state.mailbox
        labels = params.get("labelIds", [])
        query = Query(_first(params, "q", ""))
        spam_trash = _first(params, "includeSpamTrash", "false") == "true"
        found = [m for m in mb.messages.values()
                 if all(x in m.labels for x in labels) and query.pred(m) and
                 (spam_trash or not ({"SPAM", "TRASH"} & set(m.labels)))]
        found.sort(key=lambda m: (m.internal_ms, m.id), reverse=True)
        chunk, nxt = _page(found, params, 100,
                           self.server.state.faults["endless_pages"])
        answer = {"resultSizeEstimate": len(found)}
        if chunk:
            answer["messages"] = [m.ref() for m in chunk]
        if nxt:
            answer["nextPageToken"] = nxt
        return answer

    def _get(self, gid, params):
        m = self.server.state.mailbox.messages.get(gid)
        if m is None:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        fmt = _first(params, "format", "full")
        answer = {"id": m.id, "threadId": m.thread_id,
                  "labelIds": list(m.labels), "snippet": m.snippet,
                  "historyId": self.server.state.history_id(m.history_id),
                  "internalDate": str(m.internal_ms),
                  "sizeEstimate": len(m.raw)}
        if fmt == "raw":
            answer["raw"] = base64.urlsafe_b64encode(m.raw).decode()
            self.server.state.spoil_raw(answer)
        elif fmt in ("full", "metadata"):
            answer["payload"] = {"headers": [{"name": k, "value": v}
                                             for k, v in m.headers]}
        elif fmt != "minimal":
            raise ApiError(400, "Invalid value for format: " + fmt,
                           "invalidArgument")
        return answer

    def _history(self, params):
        mb = self.server.state.mailbox
        start = _first(params, "startHistoryId")
        if not start or not start.isdigit():
            raise ApiError(400, "Invalid startHistoryId", "invalidArgument")
        start = int(start)
        if start < mb.horizon:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        types = params.get("historyTypes") or list(HISTORY_TYPES)
        for t in types:
            if t not in HISTORY_TYPES:
                raise ApiError(400, "Invalid value for historyTypes: " + t,
                               "invalidArgument")
        label = _first(params, "labelId")
        records = []
        for hid, kind, rec in mb.history:
            if hid <= start or kind not in types:
                continue
            if label and not any(
                    label in e["message"]["labelIds"]
                    for key in ("messagesAdded", "labelsAdded",
                                "labelsRemoved", "messagesDeleted")
                    for e in rec.get(key, [])):
                continue
            records.append(rec)
        chunk, nxt = _page(records, params, 100,
                           self.server.state.faults["endless_pages"])
        answer = {"historyId": self.server.state.history_id(mb.history_id)}
        if chunk:
            answer["history"] = chunk
        if nxt:
            answer["nextPageToken"] = nxt
        return answer

    def _json(self, body):
        try:
            return json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "Invalid JSON payload received.",
                           "invalidArgument")

    def _pubsub(self, rest, body):
        st = self.server.state
        sub, _, verb = rest.partition(":")
        kind = "pubsub_" + verb
        try:
            me = st.authorize(self.headers.get("Authorization"))
            if me != st.pubsub_principal():
                raise ApiError(403, "User not authorized to perform this "
                               "action.", "forbidden")
            if verb == "pull" and st.pubsub["pull_status"]:
                code = st.pubsub["pull_status"]
                raise ApiError(code, "Resource not found (resource=%s)."
                               % sub.rpartition("/")[2] if code == 404 else
                               "Injected failure.", "injected")
            if sub != st.args.pubsub_subscription:
                raise ApiError(404, "Resource not found (resource=%s)."
                               % sub.rpartition("/")[2], "notFound")
            req = self._json(body)
            if verb == "pull":
                answer = st.pull(int(req.get("maxMessages") or 1))
            elif verb == "acknowledge":
                answer = st.acknowledge(req.get("ackIds") or [])
            elif verb == "modifyAckDeadline":
                answer = st.modify(req.get("ackIds") or [],
                                   int(req.get("ackDeadlineSeconds", -1)))
            else:
                raise ApiError(404, "Not Found", "notFound")
        except ApiError as e:
            self._record(kind, e.code)
            raise
        self._record(kind, 200)
        self._send(200, answer)

    def _admin(self, what, body):
        st = self.server.state
        mb = st.mailbox
        if what == "messages" and self.command == "POST":
            m = mb.add(body, labels=self.headers.get("X-Test-Labels"),
                       thread_key=self.headers.get("X-Test-Thread"),
                       internal=self.headers.get("X-Test-Internal-Date"))
            st.notify(mb, m)
            self._send(200, {"id": m.id, "threadId": m.thread_id,
                             "historyId": str(m.history_id)})
        elif what == "labels" and self.command == "POST":
            req = json.loads(body or b"{}")
            m = mb.add_labels(req.get("id"), req.get("add", []),
                              req.get("remove", []))
            st.notify(mb, m)
            self._send(200, {"id": m.id, "labelIds": m.labels,
                             "historyId": str(mb.history_id)})
        elif what == "delete" and self.command == "POST":
            req = json.loads(body or b"{}")
            m = mb.delete(req.get("id"))
            self._send(200, {"id": m.id, "historyId": str(mb.history_id)})
        elif what == "expire-history" and self.command == "POST":
            mb.horizon = mb.history_id
            self._send(200, {"horizon": str(mb.horizon)})
        elif what == "faults" and self.command == "POST":
            req = json.loads(body or b"{}")
            for k in st.faults:
                if k in req:
                    st.faults[k] = int(req[k])
            if "quota" in req:
                st.quota = float(req["quota"])
                st.buckets.clear()
            if "project_quota" in req:
                st.project = Bucket(req["project_quota"])
            if "spurious_429" in req:
                st.spurious["share"] = float(req["spurious_429"])
            if "spurious_retry_after" in req:
                st.spurious["retry_after"] = int(req["spurious_retry_after"])
            self._send(200, dict(st.faults, quota=st.quota,
                                 project_quota=st.project.rate,
                                 spurious_429=st.spurious["share"]))
        elif what == "revoke" and self.command == "POST":
            st.tokens.clear()
            self._send(200, {"revoked": True})
        elif what == "publish" and self.command == "POST":
            req = json.loads(body or b"{}")
            data = req.get("data")
            if "json" in req:
                data = base64.b64encode(
                    json.dumps(req["json"]).encode()).decode()
            self._send(200, {"messageId": st.publish(data)})
        elif what == "pubsub" and self.command == "POST":
            req = json.loads(body or b"{}")
            for k in st.pubsub:
                if k in req:
                    st.pubsub[k] = int(req[k])
            self._send(200, st.pubsub)
        elif what == "pubsub":
            self._send(200, st.pubsub_view())
        elif what == "requests":
            self._send(200, st.log)
        elif what == "stats":
            by_status, by_kind = {}, {}
            for e in st.log:
                by_status[str(e["status"])] = by_status.get(
                    str(e["status"]), 0) + 1
                by_kind[e["kind"]] = by_kind.get(e["kind"], 0) + 1
            self._send(200, {"requests": len(st.log), "by_status": by_status,
                             "by_kind": by_kind,
                             "tokens_issued": st.tokens_issued,
                             "users": len({e["user"] for e in st.log
                                           if e["user"]}),
                             "over_quota": st.counts["over_user_quota"] +
                             st.counts["over_project_quota"],
                             **st.counts,
                             "messages": len(mb.messages),
                             "historyId": str(mb.history_id)})
        elif what == "reset" and self.command == "POST":
            st.log.clear()
            st.tokens_issued = 0
            for k in st.counts:
                st.counts[k] = 0
            self._send(200, {"reset": True})
        else:
            raise ApiError(404, "Not Found", "notFound")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--user", default="me@example.com")
    ap.add_argument("--client-id", default="standin-client")
    ap.add_argument("--client-secret", default="standin-secret")
    ap.add_argument("--refresh-token", default="standin-refresh")
    ap.add_argument("--service-account-key",
                    help="PEM public key of the service account")
    ap.add_argument("--service-account-email",
                    default="inboxd@standin.iam.gserviceaccount.com")
    ap.add_argument("--expires-in", type=int, default=3600)
    ap.add_argument("--pubsub-topic",
                    default="projects/standin-project/topics/gmail")
    ap.add_argument("--pubsub-subscription",
                    default="projects/standin-project/subscriptions/inboxd")
    ap.add_argument("--ack-deadline", type=int, default=10,
                    help="seconds before a pulled message comes again")
    ap.add_argument("--quota", type=float, default=0,
                    help="units per second per user; 0: no limit")
    ap.add_argument("--project-quota", type=float, default=0,
                    help="units per second of all users; 0: no limit")
    ap.add_argument("--spurious-429", type=float, default=0,
                    help="share of API requests answered 429 at random")
    ap.add_argument("--spurious-retry-after", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fail-429", type=int, default=0)
    ap.add_argument("--retry-after", type=int, default=0)
    ap.add_argument("--fail-403", type=int, default=0)
    ap.add_argument("--fail-500", type=int, default=0)
    ap.add_argument("--fail-401", type=int, default=0)
    ap.add_argument("--faults-after", type=int, default=0)
    ap.add_argument("--revoke-after", type=int, default=0)
    ap.add_argument("--lifetime", type=int, default=600,
                    help="exit after this many seconds")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    state = State(args)
    state.mailbox.load(args.maildir)
    server = Server(("127.0.0.1", args.port), Handler)
    server.state = state
    state.port = server.server_address[1]

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGALRM, stop)
    signal.alarm(args.lifetime)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("%d\n" % state.port)
        os.rename(tmp, args.port_file)
    sys.stderr.write("standin: %d messages, listening on 127.0.0.1:%d\n" %
                     (len(state.mailbox.messages), state.port))
    sys.stderr.flush()
    server.serve_forever(poll_interval=0.2)
    server.server_close()


if __name__ == "__main__":
    main()
