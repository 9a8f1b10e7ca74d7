#!/usr/bin/python3
"""Writes a deterministic corpus of realistic mail into a Maildir.

    gen_corpus.py --count N --out DIR [--seed S] [--avg-kb K]
                  [--unseen-pct P] [--address ADDR]

DIR/cur/ receives N messages whose file names sort in delivery order,
so Dovecot numbers them in that order; each file's mtime is its
delivery time (Dovecot's INTERNALDATE). DIR/manifest.json describes the
corpus, including "threads": the number of connected components of the
Message-ID graph (Message-ID, In-Reply-To and References, ghost ids
included), which is the number of conversations a correct threader makes
when it threads by headers alone.

What the corpus holds, as real mailboxes do:
  - conversations between the account (ADDR) and its contacts, with
    replies in both directions, quoting, Cc'd colleagues, branches,
    a few replies to messages the mailbox never had (ghost parents);
  - multipart/alternative text + HTML, multipart/related inline images,
    attachments (base64, sizes from tens of KB to several MB),
    forwarded messages (message/rfc822), S/MIME-signed messages;
  - foreign charsets (iso-8859-1, windows-1252, utf-8, iso-2022-jp,
    koi8-r), some mislabelled or with bad bytes, RFC 2047 headers and
    RFC 2231 file names;
  - automated mail: auto-replies, mailing lists (List-Id), newsletters,
    no-reply notifications, delivery status reports (multipart/report).

Sizes follow real mail: most messages are 5-50 KB, a few are several MB,
and attachment sizes are scaled so that the mean is close to --avg-kb.
The same --count, --seed and --avg-kb always give the same bytes.
"""

import argparse
import base64
import binascii
import json
import math
import os
import quopri
import random
import sys
import time

DAY = 86400
START = 1672531200          # 2023-01-01T00:00:00Z
SPAN = 2 * 365 * DAY

# Vocabulary -------------------------------------------------------------------

EN_WORDS = """
the a to of and in for on with we you our your this that will can be is are
have has it as at by from please thanks thank regarding about proposal
contract invoice order delivery schedule meeting call next week monday
tuesday wednesday thursday friday morning afternoon team project update
pricing quote discount license renewal support ticket issue question
answer review draft version attached document report numbers quarter
budget forecast timeline milestone launch customer account onboarding
training demo trial feature request integration api access login password
security compliance audit data migration backup server performance
shipment warehouse payment terms net thirty days signature legal approval
manager director sales marketing finance procurement operations
follow up confirm available discuss agree suggest recommend need would
could should might let know hope well sure great good happy glad sorry
delay soon today tomorrow yesterday already still again also just only
more less many much some any each every first last new old current
previous final updated revised summary details notes minutes agenda
slides spreadsheet figures estimate cost savings value benefit risk plan
""".split()

EN_NAMES = """
Alice Bob Carol David Emma Frank Grace Henry Irene Jack Karen Liam Maria
Nina Oscar Paul Quinn Rachel Steve Tina Umar Vera Walter Xenia Yusuf Zoe
Hannah Lukas Sofia Mateo Olivia Noah Chloe Ethan Mia Lucas Ava James
""".split()

EN_SURNAMES = """
Smith Johnson Brown Taylor Anderson Thomas Jackson White Harris Martin
Thompson Garcia Martinez Robinson Clark Lewis Lee Walker Hall Allen Young
King Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Carter
""".split()

COMPANIES = """
acme globex initech umbrella hooli vandelay wonka stark wayne tyrell
soylent cyberdyne oscorp aperture blackmesa monarch gringotts dunder
pied-piper massive-dynamic nakatomi virtucon zorg primatech octan
""".split()

TLDS = ["com", "com", "com", "net", "io", "co.uk", "de", "fr", "es", "jp", "ru"]

# Foreign text: (language, sentences, names). Every sentence is
# representable in the charsets the language is sent in.
FR = ("fr", [
    "Bonjour, merci beaucoup pour votre réponse rapide.",
    "Nous avons bien reçu votre commande et la préparons dès aujourd'hui.",
    "Pourriez-vous me confirmer la date de livraison prévue ?",
    "Vous trouverez ci-joint le devis révisé, valable trente jours.",
    "Je reste à votre disposition pour toute question complémentaire.",
    "La réunion de jeudi est déplacée à vendredi matin, à 10 h 30.",
    "Le coût total s'élève à 1 250 euros hors taxes.",
    "Nous préférerions un paiement à réception de facture.",
    "Veuillez agréer l'expression de mes salutations distinguées.",
    "Élodie a déjà vérifié les éléments techniques du cahier des charges.",
], ["Élodie Lefèvre", "François Côté", "Hélène Dubois", "Jérôme Müller"])

DE = ("de", [
    "Sehr geehrte Damen und Herren, vielen Dank für Ihre Nachricht.",
    "Anbei erhalten Sie das überarbeitete Angebot für das nächste Quartal.",
    "Könnten Sie uns bitte die Unterlagen bis Donnerstag zukommen lassen?",
    "Die Lieferung verzögert sich leider um zwei Wochen.",
    "Für Rückfragen stehe ich Ihnen gerne zur Verfügung.",
    "Wir würden uns über einen gemeinsamen Termin nächste Woche freuen.",
    "Die Schulung für das Außendienst-Team findet im März statt.",
    "Mit freundlichen Grüßen aus München.",
    "Bitte prüfen Sie die beigefügte Rechnung und bestätigen Sie den Betrag.",
], ["Jürgen Schäfer", "Björn Weiß", "Käthe Groß", "Özlem Yılmaz"])

ES = ("es", [
    "Hola, gracias por la información que nos enviaste ayer.",
    "¿Podríamos reunirnos la próxima semana para revisar la propuesta?",
    "El presupuesto incluye la instalación y la formación del equipo.",
    "Adjunto encontrarás el contrato firmado por ambas partes.",
    "Quedo atento a tus comentarios sobre la versión definitiva.",
    "La reunión será en la oficina de Málaga, en la sala de conferencias.",
    "Un saludo cordial desde Logroño.",
    "¡Enhorabuena por el lanzamiento del nuevo catálogo!",
], ["José Núñez", "María Peña", "Iñigo Ibáñez", "Begoña Martín"])

JA = ("ja", [
    "いつもお世話になっております。",
    "先日の打ち合わせの件でご連絡いたしました。",
    "資料を添付いたしましたので、ご確認のほどよろしくお願いいたします。",
    "来週の火曜日に御社へお伺いしてもよろしいでしょうか。",
    "お見積りの金額について、社内で検討させていただきます。",
    "納期につきましては、改めてご連絡いたします。",
    "ご不明な点がございましたら、お気軽にお問い合わせください。",
    "今後ともどうぞよろしくお願い申し上げます。",
    "本件、担当者より折り返しご連絡いたします。",
], ["山田太郎", "佐藤花子", "鈴木一郎", "高橋美咲"])

RU = ("ru", [
    "Добрый день! Спасибо за ваше письмо.",
    "Направляем вам коммерческое предложение на следующий квартал.",
    "Просим подтвердить получение счёта и сроки оплаты.",
    "Встреча перенесена на четверг, в одиннадцать часов.",
    "Договор подписан с нашей стороны, оригинал отправлен курьером.",
    "Если возникнут вопросы, пожалуйста, свяжитесь со мной.",
    "С уважением, отдел продаж.",
    "Мы готовы предоставить скидку при годовой подписке.",
], ["Иван Петров", "Ольга Смирнова", "Дмитрий Кузнецов", "Анна Волкова"])

# (charset name in headers, Python codec, language, body transfer encoding)
CHARSETS = [
    ("us-ascii", "ascii", None, "7bit", 62.0),
    ("utf-8", "utf-8", None, "quoted-printable", 14.0),
    ("utf-8", "utf-8", ES, "quoted-printable", 3.0),
    ("utf-8", "utf-8", FR, "8bit", 2.0),
    ("utf-8", "utf-8", JA, "base64", 1.0),
    ("iso-8859-1", "latin-1", FR, "quoted-printable", 4.0),
    ("iso-8859-1", "latin-1", DE, "8bit", 3.0),
    ("windows-1252", "cp1252", DE, "quoted-printable", 3.0),
    ("windows-1252", "cp1252", FR, "8bit", 1.5),
    ("iso-2022-jp", "iso2022_jp", JA, "7bit", 2.5),
    ("koi8-r", "koi8_r", RU, "8bit", 2.0),
    ("koi8-r", "koi8_r", RU, "base64", 1.0),
]

ATTACHMENTS = [
    ("application/pdf", "pdf", b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n",
     ["Quote", "Invoice", "Contract", "Proposal", "Report", "Brochure"]),
    ("image/jpeg", "jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
     ["IMG_", "photo", "scan", "Screenshot"]),
    ("image/png", "png", b"\x89PNG\r\n\x1a\n", ["diagram", "chart", "logo"]),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
     "xlsx", b"PK\x03\x04\x14\x00\x06\x00", ["figures", "pricing", "forecast"]),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     "docx", b"PK\x03\x04\x14\x00\x06\x00", ["draft", "agreement", "minutes"]),
    ("application/zip", "zip", b"PK\x03\x04\x0a\x00\x00\x00", ["export", "logs"]),
]

# Helpers ----------------------------------------------------------------------


def rfc2822_date(ts, tz_minutes):
    t = time.gmtime(ts + tz_minutes * 60)
    sign = "+" if tz_minutes >= 0 else "-"
    return "%s, %d %s %d %02d:%02d:%02d %s%02d%02d" % (
        ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[t.tm_wday],
        t.tm_mday,
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
         "Oct", "Nov", "Dec")[t.tm_mon - 1],
        t.tm_year, t.tm_hour, t.tm_min, t.tm_sec,
        sign, abs(tz_minutes) // 60, abs(tz_minutes) % 60)


def encode_word_chunks(text, charset, codec, limit=45):
    """Splits text into pieces whose encoded bytes stay under limit, so
    that every encoded-word is complete (ISO-2022-JP ones end in ASCII)."""
    pieces, cur = [], ""
    for ch in text:
        if cur and len((cur + ch).encode(codec)) > limit:
            pieces.append(cur)
            cur = ""
        cur += ch
    if cur:
        pieces.append(cur)
    return pieces


def rfc2047(text, charset, codec, rng):
    """Encodes a header value as RFC 2047 words when it is not ASCII."""
    try:
        text.encode("ascii")
        return text
    except UnicodeEncodeError:
        pass
    q = codec not in ("iso2022_jp",) and rng.random() < 0.4
    words = []
    for piece in encode_word_chunks(text, charset, codec):
        raw = piece.encode(codec)
        if q:
            enc = "".join(
                "_" if b == 0x20 else
                chr(b) if (0x30 <= b <= 0x39 or 0x41 <= b <= 0x5a or
                           0x61 <= b <= 0x7a) else "=%02X" % b
                for b in raw)
            words.append("=?%s?Q?%s?=" % (charset, enc))
        else:
            words.append("=?%s?B?%s?=" %
                         (charset, base64.b64encode(raw).decode()))
    return "\n ".join(words)


def fold(name, value):
    """Folds a header at spaces near 78 columns."""
    line = "%s: %s" % (name, value)
    if len(line) <= 78 or "\n" in value:
        return line + "\n"
    out, cur = [], ""
    for word in line.split(" "):
        if cur and len(cur) + 1 + len(word) > 76:
            out.append(cur)
            cur = " " + word
        else:
            cur = word if not cur else cur + " " + word
    out.append(cur)
    return "\n".join(out) + "\n"


def b64_lines(data):
    s = base64.b64encode(data)
    return b"\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + b"\n"


def encode_body(raw, cte):
    if cte == "base64":
        return b64_lines(raw)
    if cte == "quoted-printable":
        return quopri.encodestring(raw) + b"\n"
    return raw if raw.endswith(b"\n") else raw + b"\n"


class Part:
    """A MIME entity: headers, and either bytes or sub-parts."""

    def __init__(self, ctype, params=None, headers=None, body=b"",
                 parts=None):
        self.ctype = ctype
        self.params = params or []
        self.headers = headers or []
        self.body = body
        self.parts = parts

    def render(self, rng):
        params = "".join("; %s" % p for p in self.params)
        out = [("Content-Type: %s%s\n" % (self.ctype, params))]
        out += ["%s\n" % h for h in self.headers]
        if self.parts is None:
            return "".join(out).encode() + b"\n" + self.body
        boundary = "----=_Part_%d_%08x.%d" % (
            rng.randrange(10**6), rng.getrandbits(32), rng.randrange(10**12))
        out[0] = "Content-Type: %s;\n boundary=\"%s\"%s\n" % (
            self.ctype, boundary, params)
        chunks = ["".join(out).encode(), b"\n"]
        if self.ctype == "multipart/alternative" or rng.random() < 0.3:
            chunks.append(b"This is a multi-part message in MIME format.\n")
        for p in self.parts:
            chunks.append(b"\n--" + boundary.encode() + b"\n")
            chunks.append(p.render(rng))
        chunks.append(b"\n--" + boundary.encode() + b"--\n")
        return b"".join(chunks)


# The plan: who writes what to whom, when ---------------------------------------


class Contact:
    def __init__(self, rng, idx):
        lang = rng.choices([None, FR, DE, ES, JA, RU],
                           [70, 8, 8, 5, 5, 4])[0]
        self.company = rng.choice(COMPANIES)
        tld = {None: rng.choice(TLDS[:5]), "fr": "fr", "de": "de",
               "es": "es", "ja": "jp", "ru": "ru"}[lang and lang[0]]
        self.domain = "%s%s.%s" % (self.company,
                                   "" if idx % 7 else str(idx % 50), tld)
        if lang is None:
            first, last = rng.choice(EN_NAMES), rng.choice(EN_SURNAMES)
            self.name = "%s %s" % (first, last)
            local = "%s.%s" % (first.lower(), last.lower())
        else:
            self.name = rng.choice(lang[2])
            local = "contact%d" % idx
        self.email = "%s@%s" % (local, self.domain)
        self.lang = lang


class Msg:
    """One message of the plan; content is made later from its own seed."""

    __slots__ = ("idx", "kind", "thread", "ts", "frm", "to", "cc", "subject",
                 "msgid", "in_reply_to", "references", "parent", "charset",
                 "body_kb", "atts", "outbound", "seen", "extra", "file_ts")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


class Planner:
    def __init__(self, rng, count, address, unseen_pct=7.0):
        self.rng = rng
        self.unseen = unseen_pct / 100.0
        self.count = count
        self.me = ("Sam Seller", address)
        self.mydomain = address.split("@", 1)[1]
        self.contacts = [Contact(rng, i) for i in range(max(50, count // 6))]
        self.msgs = []
        self.n_ids = 0

    def msgid(self, domain, ts):
        self.n_ids += 1
        r = self.rng
        style = r.random()
        if style < 0.3:
            return "<%s%06d.%s@%s>" % (
                time.strftime("%Y%m%d%H%M%S", time.gmtime(ts)),
                self.n_ids, "%08x" % r.getrandbits(32), domain)
        if style < 0.55:
            return "<CA%s@mail.gmail.com>" % base64.b32encode(
                r.getrandbits(200).to_bytes(25, "big")).decode().rstrip("=")
        if style < 0.75:
            return "<%s.%d@%s>" % (
                "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                        for _ in range(16)), self.n_ids,
                "eurprd04.prod.outlook.com")
        return "<%08x-%04x-%04x-%04x-%012x@%s>" % (
            r.getrandbits(32), r.getrandbits(16), r.getrandbits(16),
            r.getrandbits(16), r.getrandbits(48), domain)

    def pick_contact(self):
        # Some contacts write much more than others.
        n = len(self.contacts)
        i = min(n - 1, int(n * (self.rng.random() ** 2.2)))
        return self.contacts[i]

    def charset_for(self, contact):
        r = self.rng
        if contact.lang is None:
            opts = [c for c in CHARSETS if c[2] is None]
        else:
            opts = [c for c in CHARSETS if c[2] is contact.lang]
            if r.random() < 0.15:       # they answer in English too
                opts = [c for c in CHARSETS if c[2] is None]
        return r.choices(opts, [c[4] for c in opts])[0]

    def size_plan(self, kind):
        """Body size in KB and attachment sizes (encoded bytes)."""
        r = self.rng
        if kind == "newsletter":
            body = min(90.0, max(15.0, r.lognormvariate(math.log(32), 0.4)))
        elif kind in ("bounce", "autoreply", "notification"):
            body = min(20.0, max(3.0, r.lognormvariate(math.log(6), 0.4)))
        else:
            body = min(60.0, max(4.0, r.lognormvariate(math.log(11), 0.55)))
        atts = []
        if kind in ("human", "forward") and r.random() < 0.0015:
            atts.append(("big", int(r.uniform(2.0, 7.5) * 1024 * 1024)))
        elif kind == "human" and r.random() < 0.19:
            for _ in range(r.choices([1, 2, 3], [70, 22, 8])[0]):
                atts.append(("att", int(min(1_500_000, max(
                    6_000, r.lognormvariate(math.log(70_000), 1.0))))))
        elif kind == "notification" and r.random() < 0.3:
            atts.append(("att", int(r.uniform(20_000, 120_000))))
        return body, atts

    def add(self, **kw):
        m = Msg(idx=len(self.msgs), **kw)
        self.msgs.append(m)
        return m

    def full(self):
        return len(self.msgs) >= self.count

    # Thread kinds -----------------------------------------------------------

    def subject_for(self, contact, cs):
        r = self.rng
        lang = cs[2]
        if lang is None:
            topic = " ".join(r.sample(EN_WORDS[40:], r.randint(2, 5)))
            base = topic[0].upper() + topic[1:]
            if r.random() < 0.3:
                base += " - %s" % contact.company.title()
        else:
            base = r.choice(lang[1]).rstrip(".!?。")
            if len(base) > 40:
                base = base[:40].rstrip()
        return base

    def human_thread(self):
        r = self.rng
        c = self.pick_contact()
        cs = self.charset_for(c)
        subject = self.subject_for(c, cs)
        length = r.choices([1, 2, 3, 4, 5, 6, 8, 11, 15],
                           [34, 22, 14, 9, 7, 5, 5, 3, 1])[0]
        ts = START + r.randrange(SPAN)
        colleague = None
        if r.random() < 0.15:
            colleague = ("%s %s" % (r.choice(EN_NAMES), r.choice(EN_SURNAMES)),
                         "%s@%s" % (r.choice(EN_NAMES).lower(), c.domain))
        outbound = r.random() < 0.2
        tid = object()
        root_refs = []
        if r.random() < 0.03:
            # A reply to a message this mailbox never had.
            root_refs = [self.msgid(c.domain, ts - DAY)]
        prev = []
        for i in range(length):
            if self.full():
                return
            if i > 0:
                ts += int(min(20 * DAY, r.lognormvariate(math.log(5 * 3600),
                                                         1.3)))
                # Mostly a reply to the last message, sometimes a branch.
                outbound = (not outbound) if r.random() < 0.8 else outbound
            parent = prev[-1] if prev else None
            if parent is not None and len(prev) > 2 and r.random() < 0.1:
                parent = r.choice(prev[:-1])
            if outbound:
                frm = self.me
                to = [(c.name, c.email)]
            elif colleague and i > 1 and r.random() < 0.3:
                frm, to = colleague, [self.me]
            else:
                frm, to = (c.name, c.email), [self.me]
            cc = [colleague] if colleague and r.random() < 0.5 else []
            body, atts = self.size_plan("human")
            if parent is None:
                refs = list(root_refs)
                subj = subject if not root_refs else "Re: " + subject
            else:
                refs = parent.references + [parent.msgid]
                if len(refs) > 12:          # MUAs trim the middle
                    refs = refs[:1] + refs[-11:]
                subj = ("AW: " if cs[2] is DE and not outbound else "Re: ") \
                    + subject
            domain = self.mydomain if outbound else frm[1].split("@")[1]
            irt = refs[-1] if refs else None
            style = r.random()
            if parent is not None and style < 0.04:
                refs = []                   # In-Reply-To only
            elif parent is not None and style < 0.06:
                irt = None                  # References only
            m = self.add(kind="human", thread=tid, ts=ts, frm=frm, to=to,
                         cc=cc, subject=subj, msgid=self.msgid(domain, ts),
                         in_reply_to=irt, references=refs, parent=parent,
                         charset=cs, body_kb=body, atts=atts,
                         outbound=outbound, extra=None)
            prev.append(m)
            if outbound and r.random() < 0.04 and not self.full():
                self.autoreply(m, c, ts)
            if outbound and r.random() < 0.012 and not self.full():
                self.bounce(m, ts)
            if not outbound and r.random() < 0.01 and not self.full():
                self.forward(m, ts)

    def autoreply(self, orig, c, ts):
        body, atts = self.size_plan("autoreply")
        ts += self.rng.randrange(2, 90)
        self.add(kind="autoreply", thread=orig.thread, ts=ts,
                 frm=(c.name, c.email), to=[self.me], cc=[],
                 subject="Automatic reply: " + orig.subject,
                 msgid=self.msgid(c.domain, ts), in_reply_to=orig.msgid,
                 references=[orig.msgid], parent=orig,
                 charset=CHARSETS[0], body_kb=body, atts=atts,
                 outbound=False, extra=None)

    def bounce(self, orig, ts):
        body, atts = self.size_plan("bounce")
        ts += self.rng.randrange(1, 30)
        # Like Postfix: the report names the original, but does not
        # reference it in In-Reply-To or References.
        self.add(kind="bounce", thread=object(), ts=ts,
                 frm=("Mail Delivery System", "MAILER-DAEMON@mx1.example.net"),
                 to=[self.me], cc=[],
                 subject="Undelivered Mail Returned to Sender",
                 msgid=self.msgid("mx1.example.net", ts), in_reply_to=None,
                 references=[], parent=orig, charset=CHARSETS[0],
                 body_kb=body, atts=atts, outbound=False, extra=None)

    def forward(self, orig, ts):
        body, atts = self.size_plan("forward")
        ts += self.rng.randrange(600, 3 * DAY)
        colleague = ("%s %s" % (self.rng.choice(EN_NAMES),
                                self.rng.choice(EN_SURNAMES)),
                     "%s@%s" % (self.rng.choice(EN_NAMES).lower(),
                                self.mydomain))
        self.add(kind="forward", thread=object(), ts=ts, frm=colleague,
                 to=[self.me], cc=[], subject="Fwd: " + orig.subject,
                 msgid=self.msgid(self.mydomain, ts), in_reply_to=None,
                 references=[], parent=orig, charset=CHARSETS[0],
                 body_kb=body, atts=atts, outbound=False, extra=None)

    def list_thread(self):
        r = self.rng
        lists = ["dev", "announce", "users", "sales-ops", "partners"]
        lname = r.choice(lists)
        lid = "%s.lists.%s" % (lname, r.choice(COMPANIES) + ".org")
        subject = "[%s] %s" % (lname, " ".join(r.sample(EN_WORDS[40:], 4)))
        ts = START + r.randrange(SPAN)
        prev = []
        for i in range(r.choices([1, 2, 3, 5, 8], [40, 20, 20, 12, 8])[0]):
            if self.full():
                return
            ts += r.randrange(600, 2 * DAY) if i else 0
            c = self.pick_contact()
            parent = r.choice(prev) if prev else None
            refs = (parent.references + [parent.msgid]) if parent else []
            body, atts = self.size_plan("list")
            m = self.add(kind="list", thread=None, ts=ts,
                         frm=(c.name, c.email),
                         to=[("", "%s@%s" % (lname, lid.split(".", 2)[2]))],
                         cc=[], subject=("Re: " if parent else "") + subject,
                         msgid=self.msgid(c.domain, ts),
                         in_reply_to=parent.msgid if parent else None,
                         references=refs, parent=parent,
                         charset=self.charset_for(c), body_kb=body, atts=atts,
                         outbound=False, extra=lid)
            prev.append(m)

    def newsletter(self):
        r = self.rng
        co = r.choice(COMPANIES)
        ts = START + r.randrange(SPAN)
        body, atts = self.size_plan("newsletter")
        self.add(kind="newsletter", thread=None, ts=ts,
                 frm=("%s News" % co.title(), "news@mail.%s.com" % co),
                 to=[self.me], cc=[],
                 subject="%s: %s" % (co.title(), " ".join(
                     r.sample(EN_WORDS[40:], 5))),
                 msgid=self.msgid("mail.%s.com" % co, ts), in_reply_to=None,
                 references=[], parent=None, charset=CHARSETS[1],
                 body_kb=body, atts=atts, outbound=False,
                 extra="newsletter.%s.com" % co)

    def notification(self):
        r = self.rng
        co = r.choice(COMPANIES)
        ts = START + r.randrange(SPAN)
        body, atts = self.size_plan("notification")
        what = r.choice(["Your invoice #%d" % r.randrange(10000, 99999),
                         "Your order has shipped",
                         "Password reset requested",
                         "Weekly usage summary",
                         "Payment received - thank you"])
        self.add(kind="notification", thread=None, ts=ts,
                 frm=(co.title(), "no-reply@%s.com" % co), to=[self.me],
                 cc=[], subject=what, msgid=self.msgid("%s.com" % co, ts),
                 in_reply_to=None, references=[], parent=None,
                 charset=CHARSETS[0], body_kb=body, atts=atts,
                 outbound=False, extra=None)

    def plan(self):
        r = self.rng
        while not self.full():
            k = r.random()
            if k < 0.72:
                self.human_thread()
            elif k < 0.80:
                self.list_thread()
            elif k < 0.91:
                self.newsletter()
            else:
                self.notification()
        self.msgs.sort(key=lambda m: (m.ts, m.idx))
        for i, m in enumerate(self.msgs):
            # Delivered a little after it was written.
            m.file_ts = m.ts + r.randrange(1, 120)
            m.seen = r.random() >= self.unseen
        return self.msgs


def scale_attachments(msgs, avg_kb):
    """Scales ordinary attachment sizes so that the mean lands near avg_kb."""
    target = avg_kb * 1024 * len(msgs)
    fixed = sum(m.body_kb * 1024 for m in msgs)
    fixed += sum(s for m in msgs for kind, s in m.atts if kind == "big")
    scalable = sum(s for m in msgs for kind, s in m.atts if kind == "att")
    if scalable == 0:
        return 1.0
    k = max(0.05, min(20.0, (target - fixed) / scalable))
    for m in msgs:
        m.atts = [(kind, int(s * k) if kind == "att" else s)
                  for kind, s in m.atts]
    return k


# Content ----------------------------------------------------------------------


class Writer:
    def __init__(self, seed, address):
        self.seed = seed
        self.address = address
        self.texts = {}             # msgid -> first lines, for quoting

    def sentences(self, r, lang, n):
        if lang is None:
            out = []
            for _ in range(n):
                words = r.choices(EN_WORDS, k=r.randint(6, 18))
                s = " ".join(words)
                out.append(s[0].upper() + s[1:] + r.choice(".....?!"))
            return out
        return r.choices(lang[1], k=n)

    def paragraphs(self, r, lang, nbytes):
        paras, size = [], 0
        while size < nbytes:
            p = " ".join(self.sentences(r, lang, r.randint(2, 6)))
            if lang is JA:
                p = p.replace(" ", "")
            paras.append(p)
            size += len(p.encode("utf-8")) + 2
        return paras

    @staticmethod
    def wrap(p, width=72):
        if " " not in p:
            return [p[i:i + 36] for i in range(0, len(p), 36)]
        lines, cur = [], ""
        for w in p.split(" "):
            if cur and len(cur) + 1 + len(w) > width:
                lines.append(cur)
                cur = w
            else:
                cur = w if not cur else cur + " " + w
        lines.append(cur)
        return lines

    def text_and_html(self, r, m, lang, nbytes):
        first = m.to[0][0].split(" ")[0] if m.to[0][0] else "all"
        greet = {None: "Hi %s," % first, "fr": "Bonjour %s," % first,
                 "de": "Hallo %s," % first, "es": "Hola %s:" % first,
                 "ja": "%s様" % first,
                 "ru": "Здравствуйте, %s!" % first}[lang and lang[0]]
        # HTML is about twice the size of the text, so the text gets a
        # third of the budget.
        paras = self.paragraphs(r, lang, max(300, nbytes // 3))
        sig = [m.frm[0], "%s | %s" % (m.frm[1].split("@")[1],
                                      "+1 555 %04d" % r.randrange(10000))]
        quoted = []
        if m.parent is not None and m.parent.msgid in self.texts and \
                m.kind == "human":
            quoted = ["On %s, %s wrote:" % (
                rfc2822_date(m.parent.ts, 0), m.parent.frm[0])]
            quoted += ["> " + line if line else ">"
                       for line in self.texts[m.parent.msgid]]
        lines = [greet, ""]
        for p in paras:
            lines += self.wrap(p) + [""]
        lines += ["-- "] + sig
        if quoted:
            lines += [""] + quoted
        text = "\n".join(lines) + "\n"
        if m.kind == "human":
            self.texts[m.msgid] = lines[:40]

        html = ['<html><head><meta http-equiv="Content-Type" '
                'content="text/html; charset=%s">' % m.charset[0],
                '<style type="text/css">body{font-family:Calibri,Arial,'
                'sans-serif;font-size:11pt;color:#1f1f1f}p{margin:0 0 '
                '10px 0}.sig{color:#666;font-size:9pt}</style></head>',
                '<body lang="EN-US" link="#0563C1" vlink="#954F72">',
                '<div class="WordSection1"><p class="MsoNormal">%s</p>'
                % greet]
        for p in paras:
            html.append('<p class="MsoNormal"><span style="font-size:11.0pt;'
                        'font-family:&quot;Calibri&quot;,sans-serif">%s'
                        '</span></p>' % p)
        html.append('<p class="sig">%s<br>%s</p></div>' % tuple(sig))
        if quoted:
            html.append('<div style="border:none;border-top:solid #E1E1E1 '
                        '1.0pt;padding:3.0pt 0cm 0cm 0cm"><blockquote '
                        'style="margin:0 0 0 .8ex;border-left:1px #ccc solid;'
                        'padding-left:1ex">')
            html += ["%s<br>" % q[2:] for q in quoted[1:]]
            html.append("</blockquote></div>")
        html.append("</body></html>")
        return text, "\n".join(html) + "\n"

    def encode_text(self, r, text, m, subtype):
        name, codec, lang, cte = m.charset[:4]
        try:
            raw = text.encode(codec)
        except UnicodeEncodeError:
            # A foreign name in English text: sent as UTF-8 instead.
            name, codec, cte = "utf-8", "utf-8", "quoted-printable"
            raw = text.encode(codec)
        declared = name
        if codec == "cp1252" and r.random() < 0.3:
            declared = "iso-8859-1"         # the classic mislabel
        if codec == "utf-8" and r.random() < 0.01:
            raw = raw.replace(b" ", b" \xff", 1)    # a stray bad byte
        if codec == "latin-1" and r.random() < 0.05:
            declared = None                 # 8-bit text, no charset
            cte = "8bit"
        if cte == "7bit" and codec not in ("ascii", "iso2022_jp"):
            cte = "quoted-printable"
        params = ['charset="%s"' % declared] if declared else []
        if subtype == "plain" and r.random() < 0.2:
            params.append("format=flowed")
        return Part("text/" + subtype, params,
                    ["Content-Transfer-Encoding: %s" % cte],
                    encode_body(raw, cte))

    def attachment(self, r, size, m):
        ctype, ext, magic, stems = r.choice(ATTACHMENTS)
        raw_len = max(64, size * 3 // 4)
        data = magic + r.randbytes(raw_len - len(magic))
        stem = r.choice(stems)
        if stem.endswith("_"):
            stem += "%04d" % r.randrange(10000)
        else:
            stem += "_%d" % r.randrange(2019, 2026)
        fname = "%s.%s" % (stem, ext)
        lang = m.charset[2]
        if lang is not None and r.random() < 0.5:
            fname = "%s_%s.%s" % (lang[1][0][:10].strip(), stem, ext)
            disp = "attachment;\n filename*=utf-8''%s" % "".join(
                c if c.isascii() and c.isalnum() or c in "._-" else
                "".join("%%%02X" % b for b in c.encode("utf-8"))
                for c in fname)
            params = ['name="%s"' % rfc2047(fname, "utf-8", "utf-8", r)]
        else:
            disp = 'attachment;\n filename="%s"' % fname
            params = ['name="%s"' % fname]
        return Part(ctype, params,
                    ["Content-Disposition: %s; size=%d" % (disp, len(data)),
                     "Content-Transfer-Encoding: base64"], b64_lines(data))

    def inline_image(self, r, m):
        cid = "image%03d.png@%08X.%08X" % (r.randrange(1000), r.getrandbits(32),
                                           r.getrandbits(32))
        data = b"\x89PNG\r\n\x1a\n" + r.randbytes(r.randrange(2000, 9000))
        return cid, Part("image/png", ['name="image001.png"'],
                         ["Content-Transfer-Encoding: base64",
                          "Content-ID: <%s>" % cid,
                          'Content-Disposition: inline; filename="image001.png"'],
                         b64_lines(data))

    def body(self, r, m):
        lang = m.charset[2]
        budget = int(m.body_kb * 1024) - 2600
        if m.kind == "bounce":
            return self.bounce_body(r, m)
        if m.kind == "autoreply":
            text = ("I am out of the office until %s with limited access to "
                    "email.\nFor urgent matters please contact "
                    "support@%s.\n\nBest regards,\n%s\n" % (
                        rfc2822_date(m.ts + 7 * DAY, 0)[:16],
                        m.frm[1].split("@")[1], m.frm[0]))
            return Part("text/plain", ['charset="us-ascii"'],
                        ["Content-Transfer-Encoding: 7bit"], text.encode())
        text, html = self.text_and_html(r, m, lang, max(1000, budget))
        tp = self.encode_text(r, text, m, "plain")
        hp = self.encode_text(r, html, m, "html")
        if m.kind in ("human", "list", "forward") and r.random() < 0.12:
            alt = tp                        # plain text only
        elif m.kind == "newsletter" and r.random() < 0.3:
            alt = hp                        # HTML only
        else:
            alt = Part("multipart/alternative", parts=[tp, hp])
        if m.kind == "human" and m.outbound and r.random() < 0.25:
            cid, img = self.inline_image(r, m)
            alt = Part("multipart/related", ['type="multipart/alternative"'],
                       parts=[alt, img])
        parts = [alt]
        for _, size in m.atts:
            parts.append(self.attachment(r, size, m))
        if m.kind == "forward":
            parts.append(Part("message/rfc822", [],
                              ["Content-Disposition: inline"],
                              self.forwarded(r, m.parent)))
        if len(parts) > 1:
            top = Part("multipart/mixed", parts=parts)
        else:
            top = alt
        if m.kind == "human" and r.random() < 0.02:
            sig = b64_lines(r.randbytes(r.randrange(3000, 5000)))
            top = Part("multipart/signed",
                       ['protocol="application/pkcs7-signature"',
                        "micalg=sha-256"],
                       parts=[top, Part("application/pkcs7-signature",
                                        ['name="smime.p7s"'],
                                        ["Content-Transfer-Encoding: base64",
                                         'Content-Disposition: attachment; '
                                         'filename="smime.p7s"'], sig)])
        return top

    def forwarded(self, r, orig):
        text = "\n".join(self.texts.get(orig.msgid, ["(no text)"])) + "\n"
        return ("From: %s <%s>\nTo: %s\nSubject: %s\nDate: %s\n"
                "Message-ID: %s\nMIME-Version: 1.0\n"
                "Content-Type: text/plain; charset=\"utf-8\"\n"
                "Content-Transfer-Encoding: 8bit\n\n%s" % (
                    orig.frm[0], orig.frm[1], orig.to[0][1], orig.subject,
                    rfc2822_date(orig.ts, 0), orig.msgid, text)
                ).encode("utf-8", errors="replace")

    def bounce_body(self, r, m):
        orig = m.parent
        rcpt = orig.to[0][1]
        text = ("This is the mail system at host mx1.example.net.\n\n"
                "I'm sorry to have to inform you that your message could not\n"
                "be delivered to one or more recipients. It's attached below.\n"
                "\n<%s>: host mx.%s said: 550 5.1.1 <%s>: Recipient\n"
                "    address rejected: User unknown in virtual mailbox table\n"
                % (rcpt, rcpt.split("@")[1], rcpt))
        status = ("Reporting-MTA: dns; mx1.example.net\n"
                  "Arrival-Date: %s\n\n"
                  "Final-Recipient: rfc822; %s\nAction: failed\n"
                  "Status: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User "
                  "unknown\n" % (rfc2822_date(orig.ts, 0), rcpt))
        hdrs = ("Return-Path: <%s>\nFrom: %s <%s>\nTo: %s\nSubject: %s\n"
                "Date: %s\nMessage-ID: %s\n" % (
                    self.address, orig.frm[0], orig.frm[1], rcpt,
                    orig.subject, rfc2822_date(orig.ts, 0), orig.msgid))
        return Part("multipart/report", ["report-type=delivery-status"], parts=[
            Part("text/plain", ['charset="us-ascii"'],
                 ["Content-Description: Notification"], text.encode()),
            Part("message/delivery-status", [],
                 ["Content-Description: Delivery report"], status.encode()),
            Part("text/rfc822-headers", [],
                 ["Content-Description: Undelivered Message Headers"],
                 hdrs.encode("utf-8", errors="replace")),
        ])

    def addr(self, r, name, email, m):
        if not name:
            return email
        name_cs = m.charset if m.charset[2] is not None else \
            ("utf-8", "utf-8", None, "", 0)
        try:
            name.encode("ascii")
            return '"%s" <%s>' % (name, email) if "," in name else \
                "%s <%s>" % (name, email)
        except UnicodeEncodeError:
            try:
                name.encode(name_cs[1])
            except UnicodeEncodeError:
                name_cs = ("utf-8", "utf-8")
            return "%s <%s>" % (rfc2047(name, name_cs[0], name_cs[1], r),
                                email)

    def headers(self, r, m):
        out = []
        sender_domain = m.frm[1].split("@")[1]
        out.append("Return-Path: <%s>\n" % m.frm[1])
        if not m.outbound:
            out.append(fold("Delivered-To", self.address))
            for hop in range(r.randint(2, 4)):
                out.append(fold("Received", (
                    "from mail%d.%s (mail%d.%s [198.51.100.%d]) by "
                    "mx%d.example.com (Postfix) with ESMTPS id %010X for "
                    "<%s>; %s" % (hop, sender_domain, hop, sender_domain,
                                  r.randrange(1, 254), hop,
                                  r.getrandbits(40), self.address,
                                  rfc2822_date(m.ts + 5 + hop, 0)))))
            out.append(fold("Authentication-Results", (
                "mx1.example.com; dkim=pass header.d=%s header.s=s1 "
                "header.b=%s; spf=pass smtp.mailfrom=%s; dmarc=pass "
                "(p=NONE) header.from=%s" % (
                    sender_domain,
                    base64.b64encode(r.randbytes(6)).decode(),
                    sender_domain, sender_domain))))
            out.append(fold("DKIM-Signature", (
                "v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=s1; "
                "t=%d; h=from:to:subject:date:message-id:mime-version; "
                "bh=%s; b=%s" % (
                    sender_domain, m.ts,
                    base64.b64encode(r.randbytes(32)).decode(),
                    base64.b64encode(r.randbytes(256)).decode()))))
        tz = r.choice([0, 60, 120, -300, -240, 540, 180, 330])
        out.append("Date: %s\n" % rfc2822_date(m.ts, tz))
        out.append(fold("From", self.addr(r, m.frm[0], m.frm[1], m)))
        out.append(fold("To", ", ".join(self.addr(r, n, e, m)
                                        for n, e in m.to)))
        if m.cc:
            out.append(fold("Cc", ", ".join(self.addr(r, n, e, m)
                                            for n, e in m.cc)))
        cs = m.charset if m.charset[2] is not None else ("utf-8", "utf-8")
        try:
            m.subject.encode(cs[1])
        except UnicodeEncodeError:
            cs = ("utf-8", "utf-8")
        out.append(fold("Subject", rfc2047(m.subject, cs[0], cs[1], r)))
        out.append("Message-ID: %s\n" % m.msgid)
        if m.in_reply_to:
            out.append("In-Reply-To: %s\n" % m.in_reply_to)
        if m.references:
            out.append(fold("References", " ".join(m.references)))
        if m.kind == "autoreply":
            out.append("Auto-Submitted: auto-replied\n")
            out.append("X-Autoreply: yes\n")
        elif m.kind == "list":
            out.append("List-Id: <%s>\n" % m.extra)
            out.append("List-Post: <mailto:%s>\n" % m.to[0][1])
            out.append(fold("List-Unsubscribe", "<mailto:%s-leave@%s>" % (
                m.extra.split(".")[0], m.extra.split(".", 2)[2])))
            out.append("Precedence: list\n")
        elif m.kind == "newsletter":
            out.append("List-Id: %s <%s>\n" % (m.frm[0], m.extra))
            out.append(fold("List-Unsubscribe", (
                "<https://%s/u/%s>, <mailto:unsubscribe@%s>" % (
                    m.extra, binascii.hexlify(r.randbytes(12)).decode(),
                    m.extra))))
            out.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click\n")
            out.append("Precedence: bulk\n")
            out.append("X-Campaign-Id: %d\n" % r.randrange(10**8))
        elif m.kind == "notification":
            out.append("Auto-Submitted: auto-generated\n")
            out.append("X-Mailer: %s Notifier 4.2\n" % m.frm[0])
        elif m.kind == "bounce":
            out.append("Auto-Submitted: auto-replied\n")
        if m.kind == "human":
            ua = r.random()
            if ua < 0.35:
                out.append("Thread-Topic: %s\n" % m.subject.encode(
                    "ascii", "replace").decode()[:60])
                out.append("Thread-Index: %s\n" % base64.b64encode(
                    r.randbytes(22)).decode())
                out.append("X-MS-Has-Attach: %s\n" % ("yes" if m.atts else ""))
                out.append("X-Originating-IP: [203.0.113.%d]\n" %
                           r.randrange(1, 254))
            elif ua < 0.6:
                out.append("User-Agent: Mozilla/5.0 (X11; Linux x86_64; "
                           "rv:115.0) Gecko/20100101 Thunderbird/115.6.0\n")
                out.append("Content-Language: en-US\n")
            else:
                out.append("X-Mailer: Apple Mail (2.3731.700.6)\n")
        out.append("MIME-Version: 1.0\n")
        return "".join(out).encode("ascii")

    def message(self, m):
        r = random.Random("%d:%d" % (self.seed, m.idx))
        top = self.body(r, m)
        return self.headers(r, m) + top.render(r)


# Threads: connected components of the Message-ID graph -------------------------


def count_threads(msgs):
    parent = {}

    def find(x):
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for m in msgs:
        a = find(m.msgid)
        for ref in ([m.in_reply_to] if m.in_reply_to else []) + m.references:
            b = find(ref)
            if a != b:
                parent[b] = a
    return len({find(m.msgid) for m in msgs})


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=11000)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--avg-kb", type=float, default=40.0)
    p.add_argument("--unseen-pct", type=float, default=7.0,
                   help="share of messages without the \\Seen flag")
    p.add_argument("--address", default="sales@example.com")
    a = p.parse_args()
    if a.count < 1:
        sys.exit("gen_corpus.py: --count must be at least 1")

    rng = random.Random(a.seed)
    planner = Planner(rng, a.count, a.address, a.unseen_pct)
    msgs = planner.plan()
    k = scale_attachments(msgs, a.avg_kb)

    cur = os.path.join(a.out, "cur")
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(a.out, d), exist_ok=True)
    if os.listdir(cur):
        sys.exit("gen_corpus.py: %s is not empty" % cur)

    writer = Writer(a.seed, a.address)
    total, sizes, kinds = 0, [], {}
    for i, m in enumerate(msgs):
        data = writer.message(m)
        name = "%d.M%08dP0.bench,S=%d:2,%s" % (1000000000 + i, i, len(data),
                                               "S" if m.seen else "")
        path = os.path.join(cur, name)
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (m.file_ts, m.file_ts))
        total += len(data)
        sizes.append(len(data))
        kinds[m.kind] = kinds.get(m.kind, 0) + 1

    sizes.sort()
    manifest = {
        "count": len(msgs),
        "seed": a.seed,
        "avg_kb_requested": a.avg_kb,
        "unseen": sum(1 for m in msgs if not m.seen),
        "address": a.address,
        "bytes": total,
        "avg_kb": round(total / len(msgs) / 1024, 1),
        "median_kb": round(sizes[len(sizes) // 2] / 1024, 1),
        "p90_kb": round(sizes[int(len(sizes) * 0.9)] / 1024, 1),
        "max_kb": round(sizes[-1] / 1024, 1),
        "over_1mb": sum(1 for s in sizes if s > 1 << 20),
        "between_5_and_50kb": sum(1 for s in sizes if 5 << 10 <= s <= 50 << 10),
        "threads": count_threads(msgs),
        "outbound": sum(1 for m in msgs if m.outbound),
        "with_attachments": sum(1 for m in msgs if m.atts),
        "kinds": kinds,
        "attachment_scale": round(k, 3),
    }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print(json.dumps(manifest, sort_keys=True))


if __name__ == "__main__":
    main()
