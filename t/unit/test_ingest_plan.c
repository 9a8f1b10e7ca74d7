/*
 * Unit tests for the ingest plan: duplicates, subject keys, placing
 * messages in new and stored conversations, merges, and the JSON
 * parameter of every statement, parsed back and checked field by field.
 * No database: the lookup's rows are written here by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tap.h"
#include "config.h"
#include "ingest_plan.h"
#include "mail.h"
#include "util.h"

#define DAY ((int64_t)86400)
#define T0 ((int64_t)1700000000)

/* Stored conversations the lookup rows point at. */
#define CONV_A "aaaaaaaa-0000-4000-8000-000000000001"
#define CONV_B "bbbbbbbb-0000-4000-8000-000000000002"
#define ROW_A "cccccccc-0000-4000-8000-000000000003"

/* A message as the tests describe it. */
struct spec {
	const char *id;
	const char *refs[3];
	const char *from;
	const char *to;
	const char *subject;
	const char *text;
	int64_t at;
};

/* A batch under test and everything it points at. */
struct fixture {
	struct account_conf ac;
	struct store_item items[4];
	struct store_batch b;
	struct ingest_plan *p;
};

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static struct mail *
new_mail(const struct spec *s)
{
	struct mail *m = xcalloc(1, sizeof(*m));

	m->message_id = xstrdup(s->id);
	while (m->n_references < nitems(s->refs) &&
	    s->refs[m->n_references] != NULL)
		m->n_references++;
	m->references = xcalloc(m->n_references + 1, sizeof(char *));
	for (size_t i = 0; i < m->n_references; i++)
		m->references[i] = xstrdup(s->refs[i]);
	if (m->n_references > 0)
		m->in_reply_to = xstrdup(s->refs[0]);
	m->from_email = dup_or_null(s->from);
	m->to_email = dup_or_null(s->to);
	m->subject = dup_or_null(s->subject);
	m->text = dup_or_null(s->text);
	m->sent_at = s->at;
	m->size_bytes = 1234;
	m->n_headers = 1;
	m->headers = xcalloc(1, sizeof(*m->headers));
	m->headers[0].name = xstrdup("Subject");
	m->headers[0].value = dup_or_null(s->subject ? s->subject : "");
	return m;
}

/* An IMAP batch of sales@example.com with leads and without subject
 * threading; tests change what they need before planning. */
static void
fixture_init(struct fixture *f, const struct spec *specs, size_t n)
{
	memset(f, 0, sizeof(*f));
	f->ac.name = "sales";
	f->ac.create_leads = true;
	f->ac.subject_window = 30;
	for (size_t i = 0; i < n; i++) {
		f->items[i].mail = new_mail(&specs[i]);
		f->items[i].uid = (uint32_t)(100 + i);
	}
	f->b.account = &f->ac;
	f->b.account_id = 7;
	f->b.mailbox = "INBOX";
	f->b.uidvalidity = 42;
	f->b.items = f->items;
	f->b.n_items = n;
}

static void
fixture_plan(struct fixture *f, const struct ingest_known *rows, size_t n)
{
	f->p = ingest_plan_new(&f->b);
	ingest_plan_place(f->p, rows, n);
}

static void
fixture_free(struct fixture *f)
{
	ingest_plan_free(f->p);
	for (size_t i = 0; i < f->b.n_items; i++)
		mail_free(f->items[i].mail);
}

/* Parses (and frees) a parameter; a parse error fails a test. */
static json_t *
parse(char *text, const char *what)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	if (!ok(j != NULL, "%s parses", what))
		printf("#   %s: %s\n", err.text, text);
	free(text);
	return j;
}

/* Compares, then frees, a parameter. */
static void
is_text(char *got, const char *want, const char *what)
{
	is_str(got, want, "%s", what);
	free(got);
}

static const char *
field(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool
is_uuid(const char *s)
{
	if (s == NULL || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-'
			 : strchr("0123456789abcdef", s[i]) == NULL)
			return false;
	}
	return true;
}

/* The element of an array whose key has this string value, or NULL. */
static json_t *
find(const json_t *a, const char *key, const char *value)
{
	size_t i;
	json_t *o;

	json_array_foreach(a, i, o)
		if (field(o, key) && value && strcmp(field(o, key), value) == 0)
			return o;
	return NULL;
}

static void
test_empty_batch(void)
{
	struct fixture f;
	struct store_result r = {0};
	size_t n = 99;
	int64_t now = now_usec() / 1000000;
	int64_t horizon;

	fixture_init(&f, NULL, 0);
	f.p = ingest_plan_new(&f.b);
	is_text(ingest_plan_lookup_keys(f.p), "[]", "empty: no keys");
	horizon = ingest_plan_subject_horizon(f.p);
	ok(horizon <= now - 30 * DAY && horizon >= now - 30 * DAY - 5,
	    "empty: subject horizon is a window before now");
	ingest_plan_place(f.p, NULL, 0);
	ingest_plan_count(f.p, &r);
	ok(r.inserted == 0 && r.duplicates == 0 &&
		r.conversations_created == 0 && r.merges == 0,
	    "empty: nothing counted");
	is_text(ingest_plan_messages(f.p), "[]", "empty: no messages");
	is_text(ingest_plan_thread_ids(f.p), "[]", "empty: no ids");
	is_text(ingest_plan_new_convs(f.p), "[]", "empty: no conversations");
	is_text(ingest_plan_jobs(f.p, &n), "[]", "empty: no jobs");
	is_int(n, 0, "empty: zero jobs counted");
	is_text(ingest_plan_events(f.p, &n), "[]", "empty: no events");
	is_int(n, 0, "empty: zero events counted");
	ok(!ingest_plan_has_gmail(f.p) && !ingest_plan_has_superseded(f.p) &&
		ingest_plan_n_merges(f.p) == 0,
	    "empty: every optional statement is skipped");
	fixture_free(&f);
}

/* One inbound message that starts a conversation: every parameter. */
static void
test_new_conversation(void)
{
	static const struct spec s[] = {
	    {"m1@x", {"p1@x", "p2@x"}, "bob@example.org", "sales@example.com",
		"Quote \"A\"\nplease", "Hello\tthere", T0},
	};
	struct fixture f;
	struct store_result r = {0};
	json_t *a, *o, *h;
	const char *row, *conv;
	size_t n;

	fixture_init(&f, s, 1);
	f.items[0].mail->cc_list = xstrdup("carol@example.org");
	f.p = ingest_plan_new(&f.b);
	a = parse(ingest_plan_lookup_keys(f.p), "new: lookup keys");
	ok(json_array_size(a) == 3 &&
		strcmp(json_string_value(json_array_get(a, 0)), "m1@x") == 0 &&
		strcmp(json_string_value(json_array_get(a, 2)), "p2@x") == 0,
	    "new: lookup keys are the own id, then the references");
	json_decref(a);
	is_text(ingest_plan_lookup_subjects(f.p), "[]",
	    "new: no subject keys without subject threading");
	is_text(ingest_plan_lookup_threads(f.p), "[]", "new: no Gmail threads");
	ingest_plan_place(f.p, NULL, 0);
	ingest_plan_count(f.p, &r);
	is_int(r.inserted, 1, "new: one row inserted");
	is_int(r.conversations_created, 1, "new: one conversation created");
	row = ingest_plan_row_id(f.p, 0);
	conv = ingest_plan_conv_id(f.p, 0);
	ok(is_uuid(row) && is_uuid(conv) && strcmp(row, conv) != 0,
	    "new: row and conversation get their own UUIDs");
	ok(!ingest_plan_duplicate(f.p, 0), "new: not a duplicate");

	a = parse(ingest_plan_new_convs(f.p), "new: conversations");
	o = json_array_get(a, 0);
	ok(json_array_size(a) == 1, "new: one new conversation");
	is_str(field(o, "id"), conv, "new: conversation id");
	is_str(field(o, "subject"), "Quote \"A\"\nplease",
	    "new: subject survives escaping");
	is_str(field(o, "counterparty"), "bob@example.org",
	    "new: counterparty of an inbound message is its sender");
	ok(json_is_null(json_object_get(o, "gmail_thread_id")) &&
		json_is_null(json_object_get(o, "subject_key")),
	    "new: no Gmail thread, no subject key");
	is_str(field(o, "status"), "needs_reply", "new: inbound needs a reply");
	json_decref(a);

	a = parse(ingest_plan_messages(f.p), "new: messages");
	o = json_array_get(a, 0);
	ok(json_array_size(a) == 1, "new: one message row");
	is_str(field(o, "id"), row, "message: id");
	is_str(field(o, "conversation_id"), conv, "message: conversation");
	is_str(field(o, "direction"), "inbound", "message: direction");
	is_str(field(o, "content"), "Hello\tthere", "message: content");
	is_str(field(o, "reply_text"), "Hello\tthere",
	    "message: reply_text, with no quote to drop");
	ok(json_is_null(json_object_get(o, "html_content")),
	    "message: no html");
	is_int(json_integer_value(json_object_get(o, "sent_at")), T0,
	    "message: sent_at");
	is_str(field(o, "sender_email"), "bob@example.org", "message: sender");
	is_str(field(o, "recipient_email"), "sales@example.com",
	    "message: recipient");
	ok(json_is_null(json_object_get(o, "gmail_message_id")) &&
		json_is_null(json_object_get(o, "gmail_thread_id")) &&
		json_is_null(json_object_get(o, "gmail_labels")),
	    "message: no Gmail fields from IMAP");
	h = json_object_get(o, "headers");
	is_str(field(json_array_get(h, 0), "name"), "Subject",
	    "message: headers are JSON, not a string");
	ok(json_is_array(json_object_get(o, "attachments")) &&
		json_array_size(json_object_get(o, "attachments")) == 0,
	    "message: no attachments");
	is_str(field(o, "mailbox"), "INBOX", "message: mailbox");
	is_int(json_integer_value(json_object_get(o, "uidvalidity")), 42,
	    "message: uidvalidity");
	is_int(json_integer_value(json_object_get(o, "imap_uid")), 100,
	    "message: uid");
	is_str(field(o, "rfc_message_id"), "m1@x", "message: Message-ID");
	is_str(field(o, "in_reply_to"), "p1@x", "message: In-Reply-To");
	h = json_object_get(o, "reference_ids");
	ok(json_array_size(h) == 2 &&
		strcmp(json_string_value(json_array_get(h, 1)), "p2@x") == 0,
	    "message: references");
	is_str(field(o, "cc"), "carol@example.org", "message: cc");
	ok(json_is_false(json_object_get(o, "is_automated")) &&
		json_is_null(json_object_get(o, "automated_reason")),
	    "message: not automated");
	is_int(json_integer_value(json_object_get(o, "size_bytes")), 1234,
	    "message: size");
	ok(json_is_false(json_object_get(o, "truncated")),
	    "message: not truncated");
	json_decref(a);

	a = parse(ingest_plan_thread_ids(f.p), "new: thread ids");
	ok(json_array_size(a) == 3, "ids: own id and two references");
	o = find(a, "k", "m1@x");
	ok(o && strcmp(field(o, "c"), conv) == 0 &&
		strcmp(field(o, "r"), row) == 0,
	    "ids: own id points at the conversation and the row");
	o = find(a, "k", "p2@x");
	ok(o && strcmp(field(o, "c"), conv) == 0 &&
		json_is_null(json_object_get(o, "r")),
	    "ids: a reference points at the conversation only");
	json_decref(a);

	a = parse(ingest_plan_locations(f.p), "new: locations");
	o = json_array_get(a, 0);
	ok(json_array_size(a) == 1 &&
		json_integer_value(json_object_get(o, "uid")) == 100 &&
		strcmp(field(o, "row"), row) == 0,
	    "locations: uid and row");
	ok(json_is_array(json_object_get(o, "flags")) &&
		json_array_size(json_object_get(o, "flags")) == 0,
	    "locations: unknown flags are an empty set");
	json_decref(a);

	a = parse(ingest_plan_leads(f.p), "new: leads");
	ok(json_array_size(a) == 1 &&
		strcmp(json_string_value(json_array_get(a, 0)),
		    "bob@example.org") == 0,
	    "leads: the new conversation's counterparty");
	json_decref(a);

	a = parse(ingest_plan_conv_updates(f.p), "new: conversation updates");
	o = json_array_get(a, 0);
	ok(json_array_size(a) == 1 && strcmp(field(o, "id"), conv) == 0,
	    "updates: the new conversation");
	is_str(field(o, "status"), "needs_reply", "updates: status");
	is_str(field(o, "reason"), "latest human message is inbound",
	    "updates: reason");
	ok(json_integer_value(json_object_get(o, "last_message_at")) == T0 &&
		json_integer_value(json_object_get(o, "last_human_at")) == T0,
	    "updates: times");
	is_str(
	    field(o, "last_human_direction"), "inbound", "updates: direction");
	json_decref(a);

	a = parse(ingest_plan_jobs(f.p, &n), "new: jobs");
	is_int(n, 2, "jobs: two counted");
	ok(json_array_size(a) == 2, "jobs: embedding and suggestion");
	o = find(a, "kind", "embed_message");
	ok(o && strcmp(field(o, "message_id"), row) == 0, "jobs: embedding");
	o = find(a, "kind", "suggest_reply");
	h = json_object_get(o, "payload");
	ok(o && strcmp(field(h, "message_id"), row) == 0 &&
		strcmp(field(h, "conversation_id"), conv) == 0 &&
		strcmp(field(h, "account"), "sales") == 0,
	    "jobs: suggestion payload");
	json_decref(a);

	a = parse(ingest_plan_events(f.p, &n), "new: events");
	is_int(n, 2, "events: two counted");
	o = find(a, "type", "conversation.created");
	h = json_object_get(o, "payload");
	ok(o && strcmp(field(o, "conversation_id"), conv) == 0 &&
		json_is_null(json_object_get(o, "message_id")) &&
		strcmp(field(h, "status"), "needs_reply") == 0 &&
		field(h, "reason") != NULL,
	    "events: conversation created");
	o = find(a, "type", "message.received");
	h = json_object_get(o, "payload");
	ok(o && strcmp(field(o, "message_id"), row) == 0 &&
		strcmp(field(h, "direction"), "inbound") == 0 &&
		strcmp(field(h, "sender"), "bob@example.org") == 0 &&
		json_is_false(json_object_get(h, "automated")),
	    "events: message received");
	json_decref(a);
	ok(!ingest_plan_has_superseded(f.p),
	    "new: nothing to withdraw in a new conversation");
	fixture_free(&f);
}

static void
test_duplicates_in_batch(void)
{
	static const struct spec s[] = {
	    {"m1@x", {NULL}, "bob@example.org", "sales@example.com", "Hi",
		"one", T0},
	    {"m1@x", {NULL}, "bob@example.org", "sales@example.com", "Hi",
		"one", T0},
	};
	struct fixture f;
	struct store_result r = {0};
	json_t *a;
	size_t n;

	fixture_init(&f, s, 2);
	fixture_plan(&f, NULL, 0);
	ingest_plan_count(f.p, &r);
	ok(!ingest_plan_duplicate(f.p, 0) && ingest_plan_duplicate(f.p, 1),
	    "batch copy: the second copy is the duplicate");
	is_str(ingest_plan_row_id(f.p, 1), ingest_plan_row_id(f.p, 0),
	    "batch copy: shares the first copy's row");
	ok(r.inserted == 1 && r.duplicates == 1, "batch copy: counted");
	a = parse(ingest_plan_messages(f.p), "batch copy: messages");
	is_int(json_array_size(a), 1, "batch copy: inserted once");
	json_decref(a);
	a = parse(ingest_plan_jobs(f.p, &n), "batch copy: jobs");
	ok(n == json_array_size(a) && n == 2,
	    "batch copy: queues jobs for one copy only");
	json_decref(a);
	a = parse(ingest_plan_events(f.p, &n), "batch copy: events");
	ok(n == 2 && find(a, "type", "message.received") != NULL,
	    "batch copy: one message event");
	json_decref(a);
	fixture_free(&f);
}

/* A stored message comes again (another folder, a re-sync). */
static void
test_duplicate_of_stored(void)
{
	static const struct spec s[] = {
	    {"m1@x", {NULL}, "bob@example.org", "sales@example.com", "Hi",
		"one", T0},
	};
	static const struct ingest_known rows[] = {
	    {"m1@x", CONV_A, ROW_A, 1, "needs_reply", T0, false, T0, NULL, 0},
	};
	struct fixture f;
	struct store_result r = {0};
	json_t *a, *o;
	size_t n;

	fixture_init(&f, s, 1);
	fixture_plan(&f, rows, 1);
	ingest_plan_count(f.p, &r);
	ok(ingest_plan_duplicate(f.p, 0), "stored copy: a duplicate");
	is_str(
	    ingest_plan_row_id(f.p, 0), ROW_A, "stored copy: its stored row");
	is_str(ingest_plan_conv_id(f.p, 0), CONV_A,
	    "stored copy: its stored conversation");
	ok(r.inserted == 0 && r.duplicates == 1 && r.conversations_created == 0,
	    "stored copy: counted");
	is_text(ingest_plan_messages(f.p), "[]", "stored copy: no new row");
	is_text(ingest_plan_new_convs(f.p), "[]",
	    "stored copy: no new conversation");
	is_text(ingest_plan_jobs(f.p, &n), "[]", "stored copy: no jobs");
	a = parse(ingest_plan_locations(f.p), "stored copy: locations");
	o = json_array_get(a, 0);
	is_str(field(o, "row"), ROW_A,
	    "stored copy: the new location points at the stored row");
	json_decref(a);
	fixture_free(&f);
}

/* A reply to a stored conversation that was waiting for the customer. */
static void
test_existing_conversation(void)
{
	static const struct spec s[] = {
	    {"m2@x", {"m1@x"}, "bob@example.org", "sales@example.com", "Re: Hi",
		"thanks", T0 + DAY},
	};
	static const struct ingest_known rows[] = {
	    {"m1@x", CONV_A, ROW_A, 1, "waiting", T0, true, T0, NULL, 0},
	};
	struct fixture f;
	struct store_result r = {0};
	json_t *a, *o, *pl;
	size_t n;

	fixture_init(&f, s, 1);
	fixture_plan(&f, rows, 1);
	ingest_plan_count(f.p, &r);
	is_str(ingest_plan_conv_id(f.p, 0), CONV_A,
	    "reply: joins the stored conversation");
	ok(!ingest_plan_duplicate(f.p, 0) && r.inserted == 1 &&
		r.conversations_created == 0,
	    "reply: a new row in no new conversation");
	is_text(ingest_plan_new_convs(f.p), "[]", "reply: no new conversation");
	is_text(ingest_plan_leads(f.p), "[\"bob@example.org\"]",
	    "reply: a human reply names its sender's lead");
	a = parse(ingest_plan_conv_updates(f.p), "reply: updates");
	o = json_array_get(a, 0);
	ok(json_array_size(a) == 1 && strcmp(field(o, "id"), CONV_A) == 0 &&
		strcmp(field(o, "status"), "needs_reply") == 0 &&
		json_integer_value(json_object_get(o, "last_human_at")) ==
		    T0 + DAY,
	    "reply: the stored conversation needs a reply now");
	is_str(field(o, "lead"), "bob@example.org",
	    "reply: the stored conversation gets its lead if it has none");
	json_decref(a);
	a = parse(ingest_plan_events(f.p, &n), "reply: events");
	o = find(a, "type", "conversation.status_changed");
	pl = json_object_get(o, "payload");
	ok(o && strcmp(field(o, "conversation_id"), CONV_A) == 0 &&
		strcmp(field(pl, "old"), "waiting") == 0 &&
		strcmp(field(pl, "new"), "needs_reply") == 0,
	    "reply: status change event");
	ok(n == 2 && find(a, "type", "conversation.created") == NULL,
	    "reply: no creation event");
	json_decref(a);
	ok(ingest_plan_has_superseded(f.p), "reply: earlier suggestions go");
	a = parse(ingest_plan_superseded(f.p), "reply: superseded");
	ok(json_array_size(a) == 1 &&
		strcmp(json_string_value(json_array_get(a, 0)), CONV_A) == 0,
	    "reply: withdraws the stored conversation's suggestions");
	json_decref(a);
	fixture_free(&f);
}

/* A message that references two stored conversations joins them. */
static void
test_merge(void)
{
	static const struct spec s[] = {
	    {"m3@x", {"m1@x", "m2@x"}, "bob@example.org", "sales@example.com",
		"Re: both", "joined", T0 + 2 * DAY},
	};
	static const struct ingest_known rows[] = {
	    {"m1@x", CONV_A, NULL, 1, "active", INT64_MIN, false, T0, NULL, 0},
	    {"m2@x", CONV_B, NULL, 2, "active", INT64_MIN, false, T0, NULL, 0},
	};
	struct fixture f;
	struct store_result r = {0};
	json_t *a, *o, *pl;
	size_t n;

	fixture_init(&f, s, 1);
	fixture_plan(&f, rows, 2);
	ingest_plan_count(f.p, &r);
	is_int(ingest_plan_n_merges(f.p), 1, "merge: one merge");
	is_int(r.merges, 1, "merge: counted");
	is_str(ingest_plan_conv_id(f.p, 0), CONV_A,
	    "merge: the message goes to the older conversation");
	a = parse(ingest_plan_merges(f.p), "merge: merges");
	o = json_array_get(a, 0);
	ok(json_array_size(a) == 1 && strcmp(field(o, "loser"), CONV_B) == 0 &&
		strcmp(field(o, "survivor"), CONV_A) == 0,
	    "merge: the newer conversation is merged into the older");
	json_decref(a);
	a = parse(ingest_plan_events(f.p, &n), "merge: events");
	o = find(a, "type", "conversation.merged");
	pl = json_object_get(o, "payload");
	ok(o && strcmp(field(o, "conversation_id"), CONV_A) == 0 &&
		strcmp(field(pl, "from"), CONV_B) == 0 &&
		strcmp(field(pl, "into"), CONV_A) == 0,
	    "merge: event names both");
	ok(n == json_array_size(a), "merge: events counted");
	json_decref(a);
	a = parse(ingest_plan_conv_updates(f.p), "merge: updates");
	ok(find(a, "id", CONV_A) != NULL && find(a, "id", CONV_B) == NULL,
	    "merge: only the survivor is updated");
	json_decref(a);
	fixture_free(&f);
}

/* With subject threading, same subject and counterparty share a key;
 * for an outbound message the counterparty is the recipient. */
static void
test_subject_keys(void)
{
	static const struct spec s[] = {
	    {"m1@x", {NULL}, "bob@example.org", "sales@example.com",
		"Re: Price  List", "a", T0},
	    {"m2@x", {NULL}, "sales@example.com", "bob@example.org",
		"price list", "b", T0 + DAY},
	    {"m3@x", {NULL}, "eve@example.org", "sales@example.com",
		"Price list", "c", T0 - DAY},
	};
	struct fixture f;
	json_t *a, *o;
	const char *key = "price list\x1f"
			  "bob@example.org";

	fixture_init(&f, s, 3);
	f.ac.thread_by_subject = true;
	f.items[1].outbound = true;
	f.p = ingest_plan_new(&f.b);
	is_int(ingest_plan_subject_horizon(f.p), T0 - DAY - 30 * DAY,
	    "subject: horizon is a window before the oldest message");
	a = parse(ingest_plan_lookup_subjects(f.p), "subject: lookup");
	ok(json_array_size(a) == 3 &&
		strcmp(json_string_value(json_array_get(a, 0)), key) == 0 &&
		strcmp(json_string_value(json_array_get(a, 1)), key) == 0,
	    "subject: normalized subject and counterparty, both ways");
	json_decref(a);
	ingest_plan_place(f.p, NULL, 0);
	is_str(ingest_plan_conv_id(f.p, 1), ingest_plan_conv_id(f.p, 0),
	    "subject: our answer joins the customer's conversation");
	ok(strcmp(ingest_plan_conv_id(f.p, 2), ingest_plan_conv_id(f.p, 0)) !=
		0,
	    "subject: another counterparty starts its own");
	a = parse(ingest_plan_new_convs(f.p), "subject: conversations");
	o = find(a, "id", ingest_plan_conv_id(f.p, 0));
	ok(json_array_size(a) == 2 && o != NULL &&
		strcmp(field(o, "subject_key"), key) == 0,
	    "subject: the new conversation keeps its key");
	json_decref(a);
	a = parse(ingest_plan_conv_updates(f.p), "subject: updates");
	o = find(a, "id", ingest_plan_conv_id(f.p, 0));
	ok(o && strcmp(field(o, "status"), "waiting") == 0 &&
		strcmp(field(o, "last_human_direction"), "outbound") == 0,
	    "subject: our answer leaves it waiting");
	json_decref(a);
	fixture_free(&f);
}

static const char *const labels[] = {"INBOX", "IMPORTANT", NULL};

/* Gmail: ids, labels and a thread the database knows. */
static void
test_gmail(void)
{
	static const struct spec s[] = {
	    {"g1@x", {NULL}, "bob@example.org", "sales@example.com", "Hi",
		"one", T0},
	};
	static const struct ingest_known rows[] = {
	    {"gmail-thread:T1", CONV_A, NULL, 1, "waiting", T0, true, T0, NULL,
		0},
	};
	struct fixture f;
	json_t *a, *o;

	fixture_init(&f, s, 1);
	f.b.mailbox = "gmail";
	f.b.uidvalidity = 0;
	f.items[0].uid = 0;
	f.items[0].gmail_message_id = "G1";
	f.items[0].gmail_thread_id = "T1";
	f.items[0].gmail_labels = labels;
	f.p = ingest_plan_new(&f.b);
	is_text(ingest_plan_lookup_threads(f.p), "[\"T1\"]",
	    "gmail: the thread id is looked up");
	ok(ingest_plan_has_gmail(f.p), "gmail: Gmail locations are written");
	ingest_plan_place(f.p, rows, 1);
	is_str(ingest_plan_conv_id(f.p, 0), CONV_A,
	    "gmail: joins the stored conversation of its thread");
	a = parse(ingest_plan_gmail_locations(f.p), "gmail: locations");
	o = json_array_get(a, 0);
	ok(json_array_size(a) == 1 && strcmp(field(o, "gid"), "G1") == 0 &&
		strcmp(field(o, "row"), ingest_plan_row_id(f.p, 0)) == 0,
	    "gmail: location of the message");
	ok(json_array_size(json_object_get(o, "flags")) == 2 &&
		strcmp(json_string_value(
			   json_array_get(json_object_get(o, "flags"), 1)),
		    "IMPORTANT") == 0,
	    "gmail: the location's flags are the labels");
	json_decref(a);
	is_text(ingest_plan_locations(f.p), "[]", "gmail: no IMAP location");
	a = parse(ingest_plan_messages(f.p), "gmail: messages");
	o = json_array_get(a, 0);
	ok(strcmp(field(o, "gmail_message_id"), "G1") == 0 &&
		strcmp(field(o, "gmail_thread_id"), "T1") == 0,
	    "gmail: ids");
	ok(json_array_size(json_object_get(o, "gmail_labels")) == 2 &&
		strcmp(json_string_value(json_array_get(
			   json_object_get(o, "gmail_labels"), 1)),
		    "IMPORTANT") == 0,
	    "gmail: labels");
	ok(json_is_null(json_object_get(o, "uidvalidity")) &&
		json_is_null(json_object_get(o, "imap_uid")),
	    "gmail: no IMAP numbers");
	json_decref(a);
	fixture_free(&f);
}

/*
 * Gmail: a message whose Gmail id is stored is that row, even under
 * another Message-ID or with other content (Gmail over IMAP finds one
 * message in several folders).
 */
static void
test_gmail_copy(void)
{
	static const struct spec s[] = {
	    {"other@x", {NULL}, "bob@example.org", "sales@example.com", "Hi",
		"changed", T0},
	    {"g2@x", {NULL}, "bob@example.org", "sales@example.com", "Hi",
		"two", T0},
	};
	static const struct ingest_known rows[] = {
	    {"gmail-message:G1", CONV_A, ROW_A, 1, "needs_reply", T0, false, T0,
		NULL, 0},
	};
	struct fixture f;
	json_t *a;

	fixture_init(&f, s, 2);
	f.items[0].gmail_message_id = "G1";
	f.items[1].gmail_message_id = "G2";
	f.p = ingest_plan_new(&f.b);
	is_text(ingest_plan_lookup_keys(f.p),
	    "[\"other@x\",\"gmail-message:G1\",\"g2@x\","
	    "\"gmail-message:G2\"]",
	    "gmail copy: the Gmail ids are looked up");
	ingest_plan_place(f.p, rows, 1);
	ok(ingest_plan_duplicate(f.p, 0), "gmail copy: a duplicate");
	is_str(ingest_plan_row_id(f.p, 0), ROW_A, "gmail copy: its stored row");
	ok(!ingest_plan_duplicate(f.p, 1),
	    "gmail copy: another Gmail id is a new row");
	a = parse(ingest_plan_messages(f.p), "gmail copy: messages");
	ok(json_array_size(a) == 1 &&
		strcmp(field(json_array_get(a, 0), "gmail_message_id"), "G2") ==
		    0,
	    "gmail copy: only the new message is inserted");
	json_decref(a);
	a = parse(ingest_plan_gmail_locations(f.p), "gmail copy: locations");
	ok(json_array_size(a) == 2 &&
		strcmp(field(find(a, "gid", "G1"), "row"), ROW_A) == 0,
	    "gmail copy: the copy's Gmail location points at the stored row");
	json_decref(a);
	fixture_free(&f);
}

/* Automated mail queues no suggestion; our own mail makes us wait. */
static void
test_automated_and_outbound(void)
{
	static const struct spec s[] = {
	    {"a1@x", {NULL}, "robot@example.org", "sales@example.com",
		"Out of office", "away", T0},
	    {"o1@x", {NULL}, "sales@example.com", "dan@example.org", NULL,
		"offer", T0},
	};
	struct fixture f;
	json_t *a, *o, *pl;
	size_t n;

	fixture_init(&f, s, 2);
	f.items[0].automated = "auto-submitted";
	f.items[1].outbound = true;
	fixture_plan(&f, NULL, 0);
	a = parse(ingest_plan_messages(f.p), "auto: messages");
	o = find(a, "rfc_message_id", "a1@x");
	ok(json_is_true(json_object_get(o, "is_automated")) &&
		strcmp(field(o, "automated_reason"), "auto-submitted") == 0,
	    "auto: flagged with its reason");
	o = find(a, "rfc_message_id", "o1@x");
	is_str(field(o, "direction"), "outbound", "outbound: direction");
	json_decref(a);
	a = parse(ingest_plan_jobs(f.p, &n), "auto: jobs");
	ok(n == 2 && find(a, "kind", "suggest_reply") == NULL,
	    "auto: embeddings only, no suggestion");
	json_decref(a);
	a = parse(ingest_plan_new_convs(f.p), "outbound: conversations");
	o = find(a, "id", ingest_plan_conv_id(f.p, 1));
	ok(o && strcmp(field(o, "counterparty"), "dan@example.org") == 0 &&
		strcmp(field(o, "status"), "waiting") == 0,
	    "outbound: counterparty is the recipient; we wait");
	json_decref(a);
	a = parse(ingest_plan_new_convs(f.p), "auto: conversations");
	o = find(a, "id", ingest_plan_conv_id(f.p, 0));
	ok(o && json_is_null(json_object_get(o, "lead")),
	    "auto: a conversation of automated mail only has no lead");
	o = find(a, "id", ingest_plan_conv_id(f.p, 1));
	ok(o && strcmp(field(o, "lead"), "dan@example.org") == 0,
	    "outbound: the recipient is the lead");
	json_decref(a);
	a = parse(ingest_plan_leads(f.p), "outbound: leads");
	ok(json_array_size(a) == 1 &&
		strcmp(json_string_value(json_array_get(a, 0)),
		    "dan@example.org") == 0,
	    "leads: the person only, not the automated sender");
	json_decref(a);
	a = parse(ingest_plan_events(f.p, &n), "auto: events");
	o = find(a, "message_id", ingest_plan_row_id(f.p, 0));
	pl = json_object_get(o, "payload");
	ok(json_is_true(json_object_get(pl, "automated")),
	    "auto: the event says automated");
	o = find(a, "message_id", ingest_plan_row_id(f.p, 1));
	pl = json_object_get(o, "payload");
	ok(strcmp(field(pl, "direction"), "outbound") == 0 &&
		json_object_get(pl, "subject") == NULL,
	    "outbound: no subject, no subject member");
	json_decref(a);
	fixture_free(&f);
}

/*
 * The transaction reports (and the batch's owner frees the batch)
 * before the plan is freed; freeing it must not read the batch. Under
 * valgrind or ASan a read here fails the suite.
 */
static void
test_free_after_batch(void)
{
	static const struct spec s[] = {
	    {"m1@x", {NULL}, "bob@example.org", "sales@example.com", "Hi",
		"one", T0},
	};
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct ingest_plan *p;

	fixture_init(f, s, 1);
	f->ac.thread_by_subject = true;
	fixture_plan(f, NULL, 0);
	p = f->p;
	f->p = NULL;
	fixture_free(f);
	memset(f, 0xff, sizeof(*f));
	free(f);
	ingest_plan_free(p);
	ok(1, "the plan is freed after its batch");
}

/* The flags of a location's JSON, joined with "|". */
static char *
location_flags(const json_t *loc)
{
	const json_t *flags = json_object_get(loc, "flags");
	struct buf o;
	size_t i;
	json_t *f;

	buf_init(&o);
	json_array_foreach(flags, i, f) {
		if (i > 0)
			buf_append(&o, "|", 1);
		buf_appends(&o, json_string_value(f));
	}
	return buf_steal(&o);
}

/*
 * The flags of a copy, as the server sent them inside FLAGS (...),
 * become a JSON array for its location: split on spaces, \Recent
 * dropped in any case, keywords kept as sent.
 */
static void
test_location_flags(void)
{
	static const struct spec s[] = {
	    {"f1@x", {NULL}, "bob@example.org", "sales@example.com", "A", "one",
		T0},
	    {"f2@x", {NULL}, "bob@example.org", "sales@example.com", "B", "two",
		T0 + 1},
	    {"f3@x", {NULL}, "bob@example.org", "sales@example.com", "C",
		"three", T0 + 2},
	    {"f4@x", {NULL}, "bob@example.org", "sales@example.com", "D",
		"four", T0 + 3},
	};
	static const struct {
		const char *sent;
		const char *want;
	} cases[] = {
	    {"\\Seen \\Answered", "\\Seen|\\Answered"},
	    {"  \\Recent\t$Label1   \\Flagged \\RECENT ", "$Label1|\\Flagged"},
	    {"", ""},
	    {"\\Recent", ""},
	};
	struct fixture f;
	json_t *a;
	char *got;

	fixture_init(&f, s, nitems(s));
	for (size_t i = 0; i < nitems(cases); i++)
		f.items[i].flags = cases[i].sent;
	fixture_plan(&f, NULL, 0);
	a = parse(ingest_plan_locations(f.p), "flags: locations");
	ok(json_array_size(a) == nitems(cases), "flags: one location each");
	for (size_t i = 0; i < nitems(cases); i++) {
		got = location_flags(json_array_get(a, i));
		is_str(got, cases[i].want, "flags: \"%s\"", cases[i].sent);
		free(got);
	}
	json_decref(a);
	fixture_free(&f);
}

/* The content hash of a mail the test builds, malloc'd. */
static char *
hash_of(const struct spec *s, bool date_valid)
{
	struct mail *m = new_mail(s);
	char *h;

	m->date_valid = date_valid;
	h = ingest_plan_content_hash(m);
	mail_free(m);
	return h;
}

/*
 * What copies of one message may differ in does not change the hash:
 * line endings, blanks, a list's subject tag, footer and rewritten
 * From; with a Date, the time and the subject tell messages apart, and
 * without one the sender, the attachments and the text do.
 */
static void
test_content_hash(void)
{
	static const struct spec base = {"m1@x", {NULL}, "bob@example.org",
	    "sales@example.com", "Quote", "Hello,\nthe price is 5.\n", T0};
	static const struct spec same[] = {
	    {"m1@x", {NULL}, "Bob@Example.org", "sales@example.com", "Quote",
		"Hello,\r\nthe price is 5.\r\n", T0},
	    {"m1@x", {NULL}, "bob@example.org", "sales@example.com",
		"[sales-list] Quote", "Hello, \n  the price  is 5.", T0},
	    {"m1@x", {NULL}, "bob@example.org", "other@example.com", "quote",
		"Hello,\nthe price is 5.\n\n", T0},
	    /* A list's copy: a footer, and From rewritten for DMARC. */
	    {"m1@x", {NULL}, "sales-list@lists.example.org",
		"sales@example.com", "[sales-list] Quote",
		"Hello,\nthe price is 5.\n--\nsales-list, unsubscribe at ...\n",
		T0},
	};
	static const struct spec other[] = {
	    {"m1@x", {NULL}, "bob@example.org", "sales@example.com", "Invoice",
		"Hello,\nthe price is 5.\n", T0},
	    {"m1@x", {NULL}, "bob@example.org", "sales@example.com", "Quote",
		"Hello,\nthe price is 5.\n", T0 + 1},
	};
	static const struct spec undated_other[] = {
	    {"m1@x", {NULL}, "bob@example.org", "sales@example.com", "Quote",
		"Hello,\nthe price is 50.\n", T0},
	    {"m1@x", {NULL}, "eve@example.org", "sales@example.com", "Quote",
		"Hello,\nthe price is 5.\n", T0},
	};
	static const struct spec from_line[] = {
	    {"m1@x", {NULL}, "bob@example.org", "sales@example.com", "Quote",
		"Hello,\nFrom the catalogue: the oak table.\n", T0},
	    {"m1@x", {NULL}, "bob@example.org", "sales@example.com", "Quote",
		"Hello,\n>From the catalogue: the oak table.\n", T0},
	};
	char *want = hash_of(&base, true), *got;
	bool hex = strlen(want) == 64;

	for (size_t i = 0; hex && i < 64; i++)
		hex = strchr("0123456789abcdef", want[i]) != NULL;
	ok(hex, "hash: 64 hex digits");
	for (size_t i = 0; i < nitems(same); i++) {
		got = hash_of(&same[i], true);
		is_str(got, want, "hash: copy %zu hashes the same", i);
		free(got);
	}
	for (size_t i = 0; i < nitems(other); i++) {
		got = hash_of(&other[i], true);
		ok(strcmp(got, want) != 0, "hash: other message %zu differs",
		    i);
		free(got);
	}
	/* Without a Date header the time is a fallback (the server's
	 * arrival time), not the sender's: it is left out, and what the
	 * sender wrote tells messages apart. */
	free(want);
	want = hash_of(&base, false);
	for (size_t i = 0; i < nitems(undated_other); i++) {
		got = hash_of(&undated_other[i], false);
		ok(strcmp(got, want) != 0,
		    "hash: undated, other message %zu differs", i);
		free(got);
	}
	got = hash_of(&other[1], false);
	is_str(got, want, "hash: without a Date, the fallback time is ignored");
	free(got);
	free(want);
	want = hash_of(&from_line[0], false);
	got = hash_of(&from_line[1], false);
	is_str(got, want, "hash: mbox's >From quoting is not content");
	free(got);
	free(want);
}

/* The copy of a stored message: the stored row's hash is its own. */
static void
test_same_id_same_content(void)
{
	static const struct spec s[] = {
	    {"m1@x", {NULL}, "bob@example.org", "sales@example.com", "Hi",
		"one", T0},
	};
	struct ingest_known rows[] = {
	    {"m1@x", CONV_A, ROW_A, 1, "needs_reply", T0, false, T0, NULL, 0},
	};
	struct fixture f;
	struct store_result r = {0};
	char *h;

	fixture_init(&f, s, 1);
	f.items[0].mail->date_valid = true;
	h = ingest_plan_content_hash(f.items[0].mail);
	rows[0].content_hash = h;
	fixture_plan(&f, rows, 1);
	ingest_plan_count(f.p, &r);
	ok(ingest_plan_duplicate(f.p, 0) && !ingest_plan_reused_id(f.p, 0),
	    "same content: a copy, not a reused id");
	is_str(
	    ingest_plan_row_id(f.p, 0), ROW_A, "same content: the stored row");
	ok(r.inserted == 0 && r.duplicates == 1, "same content: counted");
	is_text(ingest_plan_messages(f.p), "[]", "same content: no new row");
	fixture_free(&f);
	free(h);
}

/*
 * A message reusing the Message-ID of a stored one with other content
 * (here after we answered, so the conversation was waiting): a row of
 * its own in the id's conversation, which it reopens as a new inbound
 * message would.
 */
static void
test_same_id_other_content(void)
{
	static const struct spec s[] = {
	    {"m1@x", {NULL}, "eve@example.org", "sales@example.com", "Hi",
		"pay to this account instead", T0 + 2 * DAY},
	};
	static const struct ingest_known rows[] = {
	    {"m1@x", CONV_A, ROW_A, 1, "waiting", T0 + DAY, true, T0 + DAY,
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
		"ef",
		0},
	};
	struct fixture f;
	struct store_result r = {0};
	json_t *a, *o;
	const char *row;
	char *h;
	size_t n;

	fixture_init(&f, s, 1);
	fixture_plan(&f, rows, 1);
	ingest_plan_count(f.p, &r);
	row = ingest_plan_row_id(f.p, 0);
	ok(!ingest_plan_duplicate(f.p, 0) && ingest_plan_reused_id(f.p, 0),
	    "other content: not a copy; the id is reused");
	ok(is_uuid(row) && strcmp(row, ROW_A) != 0,
	    "other content: a row of its own");
	is_str(ingest_plan_conv_id(f.p, 0), CONV_A,
	    "other content: in the conversation of its Message-ID");
	ok(r.inserted == 1 && r.duplicates == 0 && r.conversations_created == 0,
	    "other content: counted as new, no new conversation");
	a = parse(ingest_plan_messages(f.p), "other content: messages");
	o = json_array_get(a, 0);
	h = ingest_plan_content_hash(f.items[0].mail);
	ok(json_array_size(a) == 1 && strcmp(field(o, "id"), row) == 0 &&
		strcmp(field(o, "rfc_message_id"), "m1@x") == 0 &&
		strcmp(field(o, "content_hash"), h) == 0,
	    "other content: stored under its Message-ID, with its hash");
	free(h);
	json_decref(a);
	a = parse(ingest_plan_locations(f.p), "other content: locations");
	is_str(field(json_array_get(a, 0), "row"), row,
	    "other content: its location points at the new row");
	json_decref(a);
	a = parse(ingest_plan_conv_updates(f.p), "other content: updates");
	o = find(a, "id", CONV_A);
	ok(o && strcmp(field(o, "status"), "needs_reply") == 0 &&
		json_integer_value(json_object_get(o, "last_human_at")) ==
		    T0 + 2 * DAY,
	    "other content: the latest human message is inbound now");
	json_decref(a);
	a = parse(ingest_plan_jobs(f.p, &n), "other content: jobs");
	ok(n == 2 && find(a, "kind", "suggest_reply") != NULL,
	    "other content: embedded, and a reply is suggested");
	json_decref(a);
	fixture_free(&f);
}

/* Inside one batch: a copy is one row, another message two. */
static void
test_same_id_in_batch(void)
{
	static const struct spec s[] = {
	    {"m1@x", {NULL}, "bob@example.org", "sales@example.com", "Hi",
		"the real one", T0},
	    {"m1@x", {NULL}, "eve@example.org", "sales@example.com", "Hi",
		"the other one", T0 + 60},
	    {"m1@x", {NULL}, "bob@example.org", "sales@example.com", "Hi",
		"the  real\r\none", T0},
	};
	struct fixture f;
	struct store_result r = {0};
	json_t *a;

	fixture_init(&f, s, 3);
	fixture_plan(&f, NULL, 0);
	ingest_plan_count(f.p, &r);
	ok(!ingest_plan_duplicate(f.p, 0) && !ingest_plan_reused_id(f.p, 0),
	    "batch: the first message is new");
	ok(!ingest_plan_duplicate(f.p, 1) && ingest_plan_reused_id(f.p, 1),
	    "batch: the other content under the same id is new, id reused");
	ok(strcmp(ingest_plan_row_id(f.p, 1), ingest_plan_row_id(f.p, 0)) != 0,
	    "batch: two rows");
	ok(ingest_plan_duplicate(f.p, 2), "batch: the copy is a duplicate");
	is_str(ingest_plan_row_id(f.p, 2), ingest_plan_row_id(f.p, 0),
	    "batch: the copy shares the first row");
	is_str(ingest_plan_conv_id(f.p, 1), ingest_plan_conv_id(f.p, 0),
	    "batch: one conversation");
	ok(r.inserted == 2 && r.duplicates == 1 && r.conversations_created == 1,
	    "batch: counted");
	a = parse(ingest_plan_messages(f.p), "batch: messages");
	is_int(json_array_size(a), 2, "batch: two rows inserted");
	json_decref(a);
	a = parse(ingest_plan_locations(f.p), "batch: locations");
	ok(json_array_size(a) == 3 &&
		strcmp(field(json_array_get(a, 2), "row"),
		    ingest_plan_row_id(f.p, 0)) == 0,
	    "batch: every copy has a location, the copy's at the first row");
	json_decref(a);
	fixture_free(&f);
}

/*
 * Our own reply, Cc'd to ourselves: the INBOX copy is stored first
 * (as the MTA delivered it: CRLF, a list tag on the subject), then
 * the Sent copy arrives. One row.
 */
static void
test_sent_copy_of_reply(void)
{
	static const struct spec in[] = {
	    {"r1@example.com", {"m1@x"}, "sales@example.com", "bob@example.org",
		"[team] Re: Hi", "Thanks Bob,\r\nwe will ship today. \r\n",
		T0 + DAY},
	};
	static const struct spec sent[] = {
	    {"r1@example.com", {"m1@x"}, "sales@example.com", "bob@example.org",
		"Re: Hi", "Thanks Bob,\nwe will ship today.\n", T0 + DAY},
	};
	struct ingest_known rows[] = {
	    {"r1@example.com", CONV_A, NULL, 1, "waiting", T0 + DAY, true,
		T0 + DAY, NULL, 0},
	    {"m1@x", CONV_A, ROW_A, 1, "waiting", T0 + DAY, true, T0 + DAY,
		NULL, 0},
	};
	struct fixture f;
	struct store_result r = {0};
	char row[37];
	char *h;

	fixture_init(&f, in, 1);
	f.items[0].outbound = true;
	f.items[0].mail->date_valid = true;
	fixture_plan(&f, NULL, 0);
	snprintf(row, sizeof(row), "%s", ingest_plan_row_id(f.p, 0));
	h = ingest_plan_content_hash(f.items[0].mail);
	fixture_free(&f);

	rows[0].row_id = row;
	rows[0].content_hash = h;
	fixture_init(&f, sent, 1);
	f.b.mailbox = "Sent";
	f.items[0].outbound = true;
	f.items[0].mail->date_valid = true;
	fixture_plan(&f, rows, 2);
	ingest_plan_count(f.p, &r);
	ok(ingest_plan_duplicate(f.p, 0) && !ingest_plan_reused_id(f.p, 0),
	    "sent copy: a copy of the INBOX one");
	is_str(
	    ingest_plan_row_id(f.p, 0), row, "sent copy: the INBOX copy's row");
	ok(r.inserted == 0 && r.duplicates == 1, "sent copy: nothing new");
	is_text(ingest_plan_messages(f.p), "[]", "sent copy: no new row");
	fixture_free(&f);
	free(h);
}

int
main(void)
{
	test_empty_batch();
	test_new_conversation();
	test_duplicates_in_batch();
	test_duplicate_of_stored();
	test_existing_conversation();
	test_merge();
	test_subject_keys();
	test_gmail();
	test_gmail_copy();
	test_automated_and_outbound();
	test_free_after_batch();
	test_location_flags();
	test_content_hash();
	test_same_id_same_content();
	test_same_id_other_content();
	test_same_id_in_batch();
	test_sent_copy_of_reply();
	return tap_done();
}
