/*
 * The ingest plan: from a batch and the lookup's rows to the JSON
 * parameter of every statement of the transaction. No I/O; the
 * transaction itself is store_ingest.c.
 *
 * Every parameter is written with the fast writer (jsonw.h): message
 * bodies dominate, but jobs, events and ids are written per message
 * too.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "bounce.h"
#include "config.h"
#include "flags.h"
#include "ingest_plan.h"
#include "jsonw.h"
#include "mail.h"
#include "reply_text.h"
#include "thread.h"
#include "util.h"

/* The lookup key of a Gmail message id: a stored row with this id is
 * the message, whatever its Message-ID or content. */
#define GMAIL_MESSAGE_PREFIX "gmail-message:"

/* Where a message of the batch goes. */
struct plan_msg {
	char row_id[37]; /* its row, new or existing */
	bool duplicate;
	bool reused_id; /* a new row under a Message-ID already used */
};

struct ingest_plan {
	const struct store_batch *b;
	char **subject_keys; /* per message (entries may be NULL), or
	                              NULL when subject threading is off */
	size_t n_subject_keys;
	size_t n_gmail; /* messages with a Gmail message id */
	char **hashes; /* per message, ingest_plan_content_hash() */
	char **bounce_reasons; /* per message: the status_reason of a
	                              failure notice, or NULL */
	size_t n_bounce_reasons; /* freeing must not read the batch */

	/* Known after placing. */
	struct thr_msg *tmsgs;
	struct plan_msg *msgs;
	struct thr_conv *convs; /* stored conversations looked up */
	size_t n_convs;
	struct thr_link *links;
	char **link_keys; /* owned copies of the links' keys */
	size_t n_links;
	struct thr_plan *plan;
	char (*conv_ids)[37]; /* plan index -> UUID */
	int *superseded; /* plan indexes, see find_superseded() */
	size_t n_superseded;
	const char **leads; /* plan index -> its lead, see find_leads() */
};

static const char *
direction_name(bool outbound)
{
	return outbound ? "outbound" : "inbound";
}

/* The counterparty of a message: who we talk with. */
static const char *
counterparty(const struct store_item *it)
{
	return it->outbound ? it->mail->to_email : it->mail->from_email;
}

/*
 * With thread_by_subject, messages with the same normalized subject and
 * the same counterparty within subject_window days share a key.
 */
static char **
subject_keys(const struct store_batch *b)
{
	char **keys;

	if (!b->account->thread_by_subject)
		return NULL;
	keys = xcalloc(b->n_items, sizeof(char *));
	for (size_t i = 0; i < b->n_items; i++) {
		const struct store_item *it = &b->items[i];
		const char *cp = counterparty(it);
		char *norm;

		if (it->mail->subject == NULL || cp == NULL)
			continue;
		norm = thread_subject_normalize(it->mail->subject);
		if (*norm != '\0')
			keys[i] = xasprintf("%s\x1f%s", norm, cp);
		free(norm);
	}
	return keys;
}

/* Content ------------------------------------------------------------------ */

/* A field of the content hash, its length first, so that no two lists
 * of fields hash alike. */
static void
hash_field(GChecksum *ck, const char *s)
{
	char len[24];

	if (s == NULL)
		s = "";
	snprintf(len, sizeof(len), "%zu:", strlen(s));
	g_checksum_update(ck, (const guchar *)len, (gssize)strlen(len));
	g_checksum_update(ck, (const guchar *)s, (gssize)strlen(s));
}

static bool
is_white(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
	    c == '\v';
}

/* Past the '>' that mbox writers put before a line starting "From "
 * (some readers take it away again, others do not). */
static const char *
skip_from_quote(const char *line)
{
	const char *s = line;

	while (*s == '>')
		s++;
	return s > line && strncmp(s, "From ", 5) == 0 ? s : line;
}

/* The body, last and without its white space: line endings, trailing
 * blanks and re-wrapped lines differ between copies of one message,
 * and so does mbox's quoting of "From " lines. */
static void
hash_body(GChecksum *ck, const char *s)
{
	const char *run;
	bool line_start = true;

	while (s != NULL && *s != '\0') {
		if (line_start)
			s = skip_from_quote(s);
		for (run = s; *s != '\0' && !is_white(*s); s++)
			;
		if (s > run)
			g_checksum_update(ck, (const guchar *)run, s - run);
		line_start = false;
		for (; is_white(*s); s++)
			if (*s == '\n' || *s == '\r')
				line_start = true;
	}
}

/*
 * What one message has in all its copies. With a Date header: that
 * time and the subject as threading normalizes it. A mailing list's
 * copy keeps both, whatever it does to the rest (a footer appended, the
 * From rewritten for DMARC, attachments stripped, a [tag] in the
 * subject), and a mailer that reuses a Message-ID for another message
 * does so at another second; someone reusing it on purpose would have
 * to know the time and subject of a message not yet sent. Without a
 * Date (the fallback time differs between copies): the sender's
 * address, the subject, the attachments and the text.
 */
char *
ingest_plan_content_hash(const struct mail *m)
{
	GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
	const char *body;
	char *s, num[48];

	hash_field(ck, "inboxd content 2");
	s = thread_subject_normalize(m->subject);
	hash_field(ck, s);
	free(s);
	if (m->date_valid) {
		snprintf(num, sizeof(num), "%lld", (long long)m->sent_at);
		hash_field(ck, num);
		goto done;
	}
	hash_field(ck, "");
	s = xstrdup(m->from_email ? m->from_email : "");
	for (char *c = s; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	hash_field(ck, s);
	free(s);
	snprintf(num, sizeof(num), "%zu", m->n_attachments);
	hash_field(ck, num);
	for (size_t i = 0; i < m->n_attachments; i++) {
		hash_field(ck, m->attachments[i].content_type);
		snprintf(num, sizeof(num), "%zu", m->attachments[i].size);
		hash_field(ck, num);
	}
	body = m->text != NULL && *m->text != '\0' ? m->text : m->html;
	hash_body(ck, body);
done:
	s = xstrdup(g_checksum_get_string(ck));
	g_checksum_free(ck);
	return s;
}

/*
 * Why a conversation is active after a failure notice: "delivery to
 * ann@a.example failed: 550 5.1.1 User unknown". NULL for anything
 * but an automated inbound notice of failure.
 */
static char *
bounce_reason(const struct store_item *it)
{
	const struct bounce *bn = it->bounce;
	const char *why;

	if (bn == NULL || bn->kind != BOUNCE_FAILED || it->automated == NULL ||
	    it->outbound)
		return NULL;
	why = bn->diagnostic ? bn->diagnostic
	    : bn->status     ? bn->status
			     : "no reason given";
	if (bn->n_recipients == 0)
		return xasprintf("delivery failed: %s", why);
	if (bn->n_recipients == 1)
		return xasprintf(
		    "delivery to %s failed: %s", bn->recipients[0], why);
	return xasprintf("delivery to %s and %zu more failed: %s",
	    bn->recipients[0], bn->n_recipients - 1, why);
}

struct ingest_plan *
ingest_plan_new(const struct store_batch *b)
{
	struct ingest_plan *p = xcalloc(1, sizeof(*p));

	p->b = b;
	p->subject_keys = subject_keys(b);
	p->n_subject_keys = p->subject_keys ? b->n_items : 0;
	p->hashes = xcalloc(b->n_items + 1, sizeof(char *));
	for (size_t i = 0; i < b->n_items; i++) {
		if (b->items[i].gmail_message_id != NULL)
			p->n_gmail++;
		p->hashes[i] = ingest_plan_content_hash(b->items[i].mail);
	}
	p->bounce_reasons = xcalloc(b->n_items + 1, sizeof(char *));
	p->n_bounce_reasons = b->n_items;
	for (size_t i = 0; i < b->n_items; i++)
		p->bounce_reasons[i] = bounce_reason(&b->items[i]);
	return p;
}

void
ingest_plan_free(struct ingest_plan *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_subject_keys; i++)
		free(p->subject_keys[i]);
	free(p->subject_keys);
	for (size_t i = 0; p->hashes != NULL && p->hashes[i] != NULL; i++)
		free(p->hashes[i]);
	free(p->hashes);
	for (size_t i = 0; i < p->n_bounce_reasons; i++)
		free(p->bounce_reasons[i]);
	free(p->bounce_reasons);
	free(p->tmsgs);
	free(p->msgs);
	free(p->convs);
	free(p->links);
	for (size_t i = 0; i < p->n_links; i++)
		free(p->link_keys[i]);
	free(p->link_keys);
	thread_plan_free(p->plan);
	free(p->conv_ids);
	free(p->superseded);
	free(p->leads);
	free(p);
}

/* Lookup ------------------------------------------------------------------- */

char *
ingest_plan_lookup_keys(const struct ingest_plan *p)
{
	struct buf o;

	buf_init(&o);
	buf_append(&o, "[", 1);
	for (size_t i = 0; i < p->b->n_items; i++) {
		const struct mail *m = p->b->items[i].mail;
		const char *gid = p->b->items[i].gmail_message_id;

		jsonw_sep(&o);
		jsonw_str(&o, m->message_id);
		for (size_t j = 0; j < m->n_references; j++) {
			jsonw_sep(&o);
			jsonw_str(&o, m->references[j]);
		}
		if (gid != NULL) {
			char *k = xasprintf(GMAIL_MESSAGE_PREFIX "%s", gid);

			jsonw_sep(&o);
			jsonw_str(&o, k);
			free(k);
		}
	}
	buf_append(&o, "]", 1);
	return buf_steal(&o);
}

char *
ingest_plan_lookup_threads(const struct ingest_plan *p)
{
	struct buf o;

	buf_init(&o);
	buf_append(&o, "[", 1);
	for (size_t i = 0; i < p->b->n_items; i++) {
		if (p->b->items[i].gmail_thread_id == NULL)
			continue;
		jsonw_sep(&o);
		jsonw_str(&o, p->b->items[i].gmail_thread_id);
	}
	buf_append(&o, "]", 1);
	return buf_steal(&o);
}

char *
ingest_plan_lookup_subjects(const struct ingest_plan *p)
{
	struct buf o;

	buf_init(&o);
	buf_append(&o, "[", 1);
	for (size_t i = 0; p->subject_keys && i < p->b->n_items; i++) {
		if (p->subject_keys[i] == NULL)
			continue;
		jsonw_sep(&o);
		jsonw_str(&o, p->subject_keys[i]);
	}
	buf_append(&o, "]", 1);
	return buf_steal(&o);
}

/* Subject links reach back one window before the batch's oldest mail. */
int64_t
ingest_plan_subject_horizon(const struct ingest_plan *p)
{
	const struct store_batch *b = p->b;
	int64_t oldest = INT64_MAX;

	for (size_t i = 0; i < b->n_items; i++)
		if (b->items[i].mail->sent_at < oldest)
			oldest = b->items[i].mail->sent_at;
	if (oldest == INT64_MAX)
		oldest = now_usec() / 1000000;
	return oldest - (int64_t)b->account->subject_window * 86400;
}

/* Placing ------------------------------------------------------------------ */

static int
conv_index(const struct ingest_plan *p, const char *id)
{
	for (size_t i = 0; i < p->n_convs; i++)
		if (strcmp(p->convs[i].id, id) == 0)
			return (int)i;
	return -1;
}

static void
add_stored_conv(struct ingest_plan *p, const struct ingest_known *k)
{
	struct thr_conv *c = &p->convs[p->n_convs++];

	snprintf(c->id, sizeof(c->id), "%s", k->conv_id);
	c->created_at = k->created_at;
	if (conv_status_parse(k->status, &c->status))
		c->status = CONV_ACTIVE;
	c->last_human_at = k->last_human_at;
	c->last_human_outbound = k->last_human_outbound;
	c->last_message_at = k->last_message_at;
	c->last_bounce_at =
	    k->last_bounce_at != 0 ? k->last_bounce_at : INT64_MIN;
}

/*
 * What the stored rows say about a Message-ID, as keys of one object:
 * "c" US id US hash -> the row with this content, "a" US id -> a row
 * without a hash (any copy is it), "i" US id -> some row has the id;
 * and "g" US Gmail message id -> the row of that Gmail message.
 */
static char *
known_key(char kind, const char *mid, const char *hash)
{
	if (hash == NULL)
		return xasprintf("%c\x1f%s", kind, mid);
	return xasprintf("%c\x1f%s\x1f%s", kind, mid, hash);
}

static json_t *
known_get(json_t *o, char kind, const char *mid, const char *hash)
{
	char *k = known_key(kind, mid, hash);
	json_t *v = json_object_get(o, k);

	free(k);
	return v;
}

/* Sets a key once: the first row named wins. The key is not checked
 * for UTF-8: it is never written out as JSON. */
static void
known_set(json_t *o, char kind, const char *mid, const char *hash, json_t *v)
{
	char *k = known_key(kind, mid, hash);

	if (json_object_get(o, k) == NULL)
		json_object_set_new_nocheck(o, k, v);
	else
		json_decref(v);
	free(k);
}

static bool
is_gmail_message_key(const char *key)
{
	return strncmp(key, GMAIL_MESSAGE_PREFIX,
		   strlen(GMAIL_MESSAGE_PREFIX)) == 0;
}

static void
add_stored_row(json_t *stored, const struct ingest_known *k)
{
	if (is_gmail_message_key(k->key)) {
		known_set(stored, 'g', k->key + strlen(GMAIL_MESSAGE_PREFIX),
		    NULL, json_string(k->row_id));
		return;
	}
	if (k->content_hash != NULL)
		known_set(stored, 'c', k->key, k->content_hash,
		    json_string(k->row_id));
	else
		known_set(stored, 'a', k->key, NULL, json_string(k->row_id));
	known_set(stored, 'i', k->key, NULL, json_true());
}

/* The stored conversations and links the rows name; returns what they
 * say about stored messages (known_key()). */
static json_t *
read_known(struct ingest_plan *p, const struct ingest_known *rows, size_t n)
{
	json_t *stored = json_object();

	p->convs = xcalloc(n + 1, sizeof(*p->convs));
	p->links = xcalloc(n + 1, sizeof(*p->links));
	p->link_keys = xcalloc(n + 1, sizeof(char *));
	for (size_t r = 0; r < n; r++) {
		int ci = conv_index(p, rows[r].conv_id);

		if (ci < 0) {
			add_stored_conv(p, &rows[r]);
			ci = (int)p->n_convs - 1;
		}
		if (rows[r].row_id != NULL)
			add_stored_row(stored, &rows[r]);
		/* A Gmail message id names a row, not a conversation's key. */
		if (is_gmail_message_key(rows[r].key))
			continue;
		p->link_keys[p->n_links] = xstrdup(rows[r].key);
		p->links[p->n_links].key = p->link_keys[p->n_links];
		p->links[p->n_links].conv = ci;
		p->n_links++;
	}
	return stored;
}

/* The stored row a message with this id and content is a copy of, or
 * NULL: the one with its content, else one whose content is unknown. */
static const char *
stored_copy(json_t *stored, const char *mid, const char *hash)
{
	json_t *row = known_get(stored, 'c', mid, hash);

	if (row == NULL)
		row = known_get(stored, 'a', mid, NULL);
	return json_string_value(row);
}

/* The stored row of Gmail message gid, or NULL. */
static const char *
stored_gmail_copy(json_t *stored, const char *gid)
{
	return gid ? json_string_value(known_get(stored, 'g', gid, NULL))
		   : NULL;
}

/*
 * Marks copies already stored, and second copies inside the batch: the
 * same Gmail message id, or the same Message-ID with the same content.
 * A message with a known id and other content is a new row; reused_id
 * says so.
 */
static void
mark_duplicates(struct ingest_plan *p, json_t *stored)
{
	json_t *seen = json_object();

	for (size_t i = 0; i < p->b->n_items; i++) {
		const char *mid = p->b->items[i].mail->message_id;
		const char *hash = p->hashes[i];
		const char *row =
		    stored_gmail_copy(stored, p->b->items[i].gmail_message_id);
		json_t *first = known_get(seen, 'c', mid, hash);

		if (row == NULL)
			row = stored_copy(stored, mid, hash);
		if (row != NULL) {
			p->msgs[i].duplicate = true;
			snprintf(p->msgs[i].row_id, 37, "%s", row);
		} else if (first != NULL) {
			p->msgs[i].duplicate = true;
			snprintf(p->msgs[i].row_id, 37, "%s",
			    p->msgs[json_integer_value(first)].row_id);
		} else {
			uuid_generate_text(p->msgs[i].row_id);
			p->msgs[i].reused_id =
			    known_get(stored, 'i', mid, NULL) != NULL ||
			    known_get(seen, 'i', mid, NULL) != NULL;
			known_set(
			    seen, 'c', mid, hash, json_integer((json_int_t)i));
			known_set(seen, 'i', mid, NULL, json_true());
		}
	}
	json_decref(seen);
}

static void
fill_thread_input(struct ingest_plan *p)
{
	for (size_t i = 0; i < p->b->n_items; i++) {
		const struct store_item *it = &p->b->items[i];
		struct thr_msg *t = &p->tmsgs[i];

		t->message_id = it->mail->message_id;
		t->refs = (const char *const *)it->mail->references;
		t->n_refs = it->mail->n_references;
		t->gmail_thread_id = it->gmail_thread_id;
		t->subject_key = p->subject_keys ? p->subject_keys[i] : NULL;
		t->sent_at = it->mail->sent_at;
		t->outbound = it->outbound;
		t->automated = it->automated != NULL;
		t->bounce_reason = p->bounce_reasons[i];
		t->duplicate = p->msgs[i].duplicate;
	}
}

static void
name_conversations(struct ingest_plan *p)
{
	p->conv_ids = xcalloc(p->plan->n_convs, sizeof(*p->conv_ids));
	for (size_t i = 0; i < p->plan->n_convs; i++) {
		if (p->plan->convs[i].is_new)
			uuid_generate_text(p->conv_ids[i]);
		else
			snprintf(
			    p->conv_ids[i], 37, "%s", p->plan->convs[i].id);
	}
}

/*
 * Conversations whose latest human message now comes from this batch:
 * their earlier, still waiting suggestions are withdrawn, so that the
 * queue ends the same whatever the batch boundaries were.
 */
static void
find_superseded(struct ingest_plan *p)
{
	bool *seen = xcalloc(p->plan->n_convs, sizeof(bool));

	p->superseded = xcalloc(p->plan->n_convs, sizeof(int));
	for (size_t i = 0; i < p->b->n_items; i++) {
		const struct thr_msg *t = &p->tmsgs[i];
		const struct thr_conv *c = &p->plan->convs[t->conv];

		if (t->duplicate || t->automated || seen[t->conv] || c->is_new)
			continue;
		if (t->sent_at != c->new_last_human_at ||
		    t->outbound != c->new_last_human_outbound)
			continue;
		seen[t->conv] = true;
		p->superseded[p->n_superseded++] = t->conv;
	}
	free(seen);
}

/* The conversation message i ends in, after merges. */
static int
final_conv(const struct ingest_plan *p, size_t i)
{
	int c = p->tmsgs[i].conv;

	while (p->plan->convs[c].merged_into >= 0)
		c = p->plan->convs[c].merged_into;
	return c;
}

/*
 * The lead of each conversation: the counterparty of its earliest human
 * message in this batch (inbound and not automated, or outbound), or
 * NULL. Leads are for people: a conversation that only automated mail
 * joined gets none, and the lead appears with the first human message.
 */
static void
find_leads(struct ingest_plan *p)
{
	int64_t *when = xcalloc(p->plan->n_convs, sizeof(*when));
	const char *cp;
	int c;

	p->leads = xcalloc(p->plan->n_convs, sizeof(*p->leads));
	for (size_t i = 0; i < p->b->n_items; i++) {
		const struct store_item *it = &p->b->items[i];

		if (p->msgs[i].duplicate || it->automated != NULL ||
		    (cp = counterparty(it)) == NULL || *cp == '\0')
			continue;
		c = final_conv(p, i);
		if (p->leads[c] == NULL || it->mail->sent_at < when[c]) {
			p->leads[c] = cp;
			when[c] = it->mail->sent_at;
		}
	}
	free(when);
}

void
ingest_plan_place(
    struct ingest_plan *p, const struct ingest_known *rows, size_t n)
{
	const struct account_conf *ac = p->b->account;
	int64_t window =
	    ac->thread_by_subject ? (int64_t)ac->subject_window * 86400 : 0;
	json_t *stored = read_known(p, rows, n);

	p->tmsgs = xcalloc(p->b->n_items, sizeof(*p->tmsgs));
	p->msgs = xcalloc(p->b->n_items, sizeof(*p->msgs));
	mark_duplicates(p, stored);
	json_decref(stored);
	fill_thread_input(p);
	p->plan = thread_plan(p->tmsgs, p->b->n_items, p->convs, p->n_convs,
	    p->links, p->n_links, window);
	name_conversations(p);
	find_superseded(p);
	find_leads(p);
}

const char *
ingest_plan_row_id(const struct ingest_plan *p, size_t i)
{
	return p->msgs[i].row_id;
}

const char *
ingest_plan_conv_id(const struct ingest_plan *p, size_t i)
{
	return p->conv_ids[p->tmsgs[i].conv];
}

bool
ingest_plan_duplicate(const struct ingest_plan *p, size_t i)
{
	return p->msgs[i].duplicate;
}

bool
ingest_plan_reused_id(const struct ingest_plan *p, size_t i)
{
	return p->msgs[i].reused_id;
}

void
ingest_plan_count(const struct ingest_plan *p, struct store_result *r)
{
	for (size_t i = 0; i < p->b->n_items; i++) {
		if (p->msgs[i].duplicate)
			r->duplicates++;
		else
			r->inserted++;
	}
	for (size_t i = 0; i < p->plan->n_convs; i++)
		if (p->plan->convs[i].is_new &&
		    p->plan->convs[i].merged_into < 0)
			r->conversations_created++;
	r->merges = p->plan->n_merges;
}

size_t
ingest_plan_n_merges(const struct ingest_plan *p)
{
	return p->plan->n_merges;
}

bool
ingest_plan_has_gmail(const struct ingest_plan *p)
{
	return p->n_gmail > 0;
}

bool
ingest_plan_has_superseded(const struct ingest_plan *p)
{
	return p->n_superseded > 0;
}

/* Statement parameters ----------------------------------------------------- */

/* A member left out when its value is NULL, as consumers of event
 * payloads expect. */
static void
kstr_if(struct buf *o, const char *key, const char *s)
{
	if (s != NULL)
		jsonw_kstr(o, key, s);
}

/* Seconds, or null for INT64_MIN ("none"). */
static void
ktime(struct buf *o, const char *key, int64_t t)
{
	jsonw_key(o, key);
	if (t == INT64_MIN)
		jsonw_null(o);
	else
		jsonw_int(o, t);
}

static void
begin_array(struct buf *o)
{
	buf_init(o);
	buf_append(o, "[", 1);
}

static char *
end_array(struct buf *o)
{
	buf_append(o, "]", 1);
	return buf_steal(o);
}

/* Opens an object as the next element of an array. */
static void
begin_element(struct buf *o)
{
	jsonw_sep(o);
	buf_append(o, "{", 1);
}

static void
end_object(struct buf *o)
{
	buf_append(o, "}", 1);
}

/* The people the batch's human messages are with, for leads. */
char *
ingest_plan_leads(const struct ingest_plan *p)
{
	struct buf o;
	const char *lead;

	begin_array(&o);
	for (size_t i = 0; i < p->plan->n_convs; i++) {
		if (p->plan->convs[i].merged_into >= 0 ||
		    (lead = p->leads[i]) == NULL)
			continue;
		jsonw_sep(&o);
		jsonw_str(&o, lead);
	}
	return end_array(&o);
}

char *
ingest_plan_new_convs(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->plan->n_convs; i++) {
		const struct thr_conv *c = &p->plan->convs[i];
		const struct store_item *it;

		if (!c->is_new)
			continue;
		it = &p->b->items[c->first_msg];
		begin_element(&o);
		jsonw_kstr(&o, "id", p->conv_ids[i]);
		jsonw_kstr(&o, "subject", it->mail->subject);
		jsonw_kstr(&o, "counterparty", counterparty(it));
		jsonw_kstr(&o, "gmail_thread_id", it->gmail_thread_id);
		jsonw_kstr(&o, "subject_key",
		    p->subject_keys ? p->subject_keys[c->first_msg] : NULL);
		jsonw_kstr(&o, "status", conv_status_name(c->new_status));
		jsonw_kstr(
		    &o, "lead", c->merged_into >= 0 ? NULL : p->leads[i]);
		end_object(&o);
	}
	return end_array(&o);
}

char *
ingest_plan_merges(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->plan->n_merges; i++) {
		begin_element(&o);
		jsonw_kstr(&o, "loser", p->conv_ids[p->plan->merges[i].from]);
		jsonw_kstr(
		    &o, "survivor", p->conv_ids[p->plan->merges[i].into]);
		end_object(&o);
	}
	return end_array(&o);
}

/* An IMAP number, or null for 0 (not IMAP). */
static void
kimap(struct buf *o, const char *key, uint32_t v)
{
	jsonw_key(o, key);
	if (v != 0)
		jsonw_int(o, v);
	else
		jsonw_null(o);
}

static const char *
bounce_kind_name(const struct bounce *bn)
{
	if (bn == NULL)
		return NULL;
	return bn->kind == BOUNCE_FAILED ? "failed"
	    : bn->kind == BOUNCE_DELAYED ? "delayed"
					 : NULL;
}

/* What a notice of failure or delay says, in the bounce_* columns. */
static void
write_bounce_fields(struct buf *o, const struct bounce *bn)
{
	jsonw_kstr(o, "bounce_kind", bounce_kind_name(bn));
	jsonw_key(o, "bounce_recipients");
	if (bn != NULL && bn->n_recipients > 0)
		jsonw_strv(
		    o, (const char *const *)bn->recipients, bn->n_recipients);
	else
		jsonw_null(o);
	jsonw_kstr(o, "bounce_status", bn ? bn->status : NULL);
	jsonw_kstr(o, "bounce_diagnostic", bn ? bn->diagnostic : NULL);
	jsonw_kstr(o, "bounce_original_id", bn ? bn->original_id : NULL);
}

static void
write_message(struct buf *o, const struct ingest_plan *p, size_t i)
{
	const struct store_item *it = &p->b->items[i];
	const struct mail *m = it->mail;
	char *hs = mail_headers_json(m), *as = mail_attachments_json(m);
	char *rt =
	    m->text != NULL ? reply_text(m->text, strlen(m->text)) : NULL;

	begin_element(o);
	jsonw_kstr(o, "id", p->msgs[i].row_id);
	jsonw_kstr(o, "conversation_id", ingest_plan_conv_id(p, i));
	jsonw_kstr(o, "direction", direction_name(it->outbound));
	jsonw_kstr(o, "content", m->text);
	jsonw_kstr(o, "html_content", m->html);
	jsonw_kint(o, "sent_at", m->sent_at);
	jsonw_kstr(o, "sender_email", m->from_email);
	jsonw_kstr(o, "recipient_email", m->to_email);
	jsonw_kstr(o, "gmail_message_id", it->gmail_message_id);
	jsonw_kstr(o, "gmail_thread_id", it->gmail_thread_id);
	jsonw_key(o, "gmail_labels");
	jsonw_strz(o, it->gmail_labels);
	jsonw_key(o, "headers");
	jsonw_raw(o, hs);
	jsonw_key(o, "attachments");
	jsonw_raw(o, as);
	jsonw_kstr(o, "mailbox", p->b->mailbox);
	kimap(o, "uidvalidity", p->b->uidvalidity);
	kimap(o, "imap_uid", it->uid);
	jsonw_kstr(o, "rfc_message_id", m->message_id);
	jsonw_kstr(o, "content_hash", p->hashes[i]);
	jsonw_kstr(o, "in_reply_to", m->in_reply_to);
	jsonw_key(o, "reference_ids");
	jsonw_strv(o, (const char *const *)m->references, m->n_references);
	jsonw_kstr(o, "subject", m->subject);
	jsonw_kstr(o, "cc", m->cc_list);
	jsonw_kbool(o, "is_automated", it->automated != NULL);
	jsonw_kstr(o, "automated_reason", it->automated);
	jsonw_kint(o, "size_bytes", (int64_t)m->size_bytes);
	jsonw_kbool(o, "truncated", m->truncated);
	jsonw_kstr(o, "reply_text", rt);
	write_bounce_fields(o, it->bounce);
	end_object(o);
	free(hs);
	free(as);
	free(rt);
}

/* The new rows; duplicates are not inserted again. */
char *
ingest_plan_messages(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->b->n_items; i++)
		if (!p->msgs[i].duplicate)
			write_message(&o, p, i);
	return end_array(&o);
}

static void
write_thread_id(
    struct buf *o, const char *key, const char *conv, const char *row)
{
	begin_element(o);
	jsonw_kstr(o, "k", key);
	jsonw_kstr(o, "c", conv);
	jsonw_kstr(o, "r", row);
	end_object(o);
}

/* Every id a message carries or references now points at its
 * conversation; an own id also points at its row. */
char *
ingest_plan_thread_ids(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->b->n_items; i++) {
		const struct mail *m = p->b->items[i].mail;
		const char *cid = ingest_plan_conv_id(p, i);

		write_thread_id(&o, m->message_id, cid, p->msgs[i].row_id);
		for (size_t j = 0; j < m->n_references; j++)
			write_thread_id(&o, m->references[j], cid, NULL);
	}
	return end_array(&o);
}

char *
ingest_plan_locations(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->b->n_items; i++) {
		if (p->b->items[i].uid == 0)
			continue;
		begin_element(&o);
		jsonw_kint(&o, "uid", p->b->items[i].uid);
		jsonw_kstr(&o, "row", p->msgs[i].row_id);
		jsonw_key(&o, "flags");
		flags_json(&o, p->b->items[i].flags);
		end_object(&o);
	}
	return end_array(&o);
}

char *
ingest_plan_gmail_locations(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->b->n_items; i++) {
		if (p->b->items[i].gmail_message_id == NULL)
			continue;
		begin_element(&o);
		jsonw_kstr(&o, "gid", p->b->items[i].gmail_message_id);
		jsonw_kstr(&o, "row", p->msgs[i].row_id);
		jsonw_key(&o, "flags");
		jsonw_strz(&o, p->b->items[i].gmail_labels);
		end_object(&o);
	}
	return end_array(&o);
}

char *
ingest_plan_conv_updates(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->plan->n_convs; i++) {
		const struct thr_conv *c = &p->plan->convs[i];

		if (!c->touched || c->merged_into >= 0)
			continue;
		begin_element(&o);
		jsonw_kstr(&o, "id", p->conv_ids[i]);
		jsonw_kstr(&o, "status", conv_status_name(c->new_status));
		jsonw_kstr(&o, "reason", c->new_reason);
		ktime(&o, "last_message_at", c->new_last_message_at);
		ktime(&o, "last_human_at", c->new_last_human_at);
		ktime(&o, "last_bounce_at", c->new_last_bounce_at);
		jsonw_kstr(&o, "last_human_direction",
		    c->new_last_human_at == INT64_MIN
			? NULL
			: direction_name(c->new_last_human_outbound));
		jsonw_kstr(&o, "lead", p->leads[i]);
		end_object(&o);
	}
	return end_array(&o);
}

char *
ingest_plan_superseded(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->n_superseded; i++) {
		jsonw_sep(&o);
		jsonw_str(&o, p->conv_ids[p->superseded[i]]);
	}
	return end_array(&o);
}

static void
write_job(
    struct buf *o, const struct ingest_plan *p, size_t i, const char *kind)
{
	begin_element(o);
	jsonw_kstr(o, "kind", kind);
	jsonw_kstr(o, "message_id", p->msgs[i].row_id);
	jsonw_key(o, "payload");
	buf_append(o, "{", 1);
	jsonw_kstr(o, "message_id", p->msgs[i].row_id);
	jsonw_kstr(o, "conversation_id", ingest_plan_conv_id(p, i));
	jsonw_kstr(o, "account", p->b->account->name);
	end_object(o);
	end_object(o);
}

/* An embedding for every new message with text; a reply suggestion
 * where the planner asks for one. */
char *
ingest_plan_jobs(const struct ingest_plan *p, size_t *n_jobs)
{
	struct buf o;

	*n_jobs = 0;
	begin_array(&o);
	for (size_t i = 0; i < p->b->n_items; i++) {
		const struct mail *m = p->b->items[i].mail;

		if (p->msgs[i].duplicate)
			continue;
		if (m->text != NULL && *m->text != '\0') {
			write_job(&o, p, i, "embed_message");
			(*n_jobs)++;
		}
		if (p->tmsgs[i].suggest_reply) {
			write_job(&o, p, i, "suggest_reply");
			(*n_jobs)++;
		}
	}
	return end_array(&o);
}

/* Opens an event; the caller writes its payload's members and closes
 * it with end_event(). */
static void
begin_event(struct buf *o, const char *type, const char *conv, const char *msg)
{
	begin_element(o);
	jsonw_kstr(o, "type", type);
	jsonw_kstr(o, "conversation_id", conv);
	jsonw_kstr(o, "message_id", msg);
	jsonw_key(o, "payload");
	buf_append(o, "{", 1);
}

static void
end_event(struct buf *o, size_t *n_events)
{
	end_object(o);
	end_object(o);
	(*n_events)++;
}

static void
write_conv_events(struct buf *o, const struct ingest_plan *p, size_t *n)
{
	for (size_t i = 0; i < p->plan->n_convs; i++) {
		const struct thr_conv *c = &p->plan->convs[i];

		if (!c->is_new || c->merged_into >= 0)
			continue;
		begin_event(o, "conversation.created", p->conv_ids[i], NULL);
		jsonw_kstr(o, "status", conv_status_name(c->new_status));
		kstr_if(o, "reason", c->new_reason);
		end_event(o, n);
	}
	for (size_t i = 0; i < p->plan->n_merges; i++) {
		const struct thr_merge *mg = &p->plan->merges[i];

		begin_event(
		    o, "conversation.merged", p->conv_ids[mg->into], NULL);
		jsonw_kstr(o, "from", p->conv_ids[mg->from]);
		jsonw_kstr(o, "into", p->conv_ids[mg->into]);
		end_event(o, n);
	}
}

static void
write_message_events(struct buf *o, const struct ingest_plan *p, size_t *n)
{
	for (size_t i = 0; i < p->b->n_items; i++) {
		const struct store_item *it = &p->b->items[i];

		if (p->msgs[i].duplicate)
			continue;
		begin_event(o, "message.received", ingest_plan_conv_id(p, i),
		    p->msgs[i].row_id);
		jsonw_kstr(o, "direction", direction_name(it->outbound));
		kstr_if(o, "sender", it->mail->from_email);
		kstr_if(o, "subject", it->mail->subject);
		jsonw_kbool(o, "automated", it->automated != NULL);
		end_event(o, n);
	}
}

/* A failure notice about our mail, for consumers that act on it (mark
 * the address bad, tell the sender). */
static void
write_bounce_events(struct buf *o, const struct ingest_plan *p, size_t *n)
{
	for (size_t i = 0; i < p->b->n_items; i++) {
		const struct bounce *bn = p->b->items[i].bounce;

		if (p->msgs[i].duplicate || p->bounce_reasons[i] == NULL)
			continue;
		begin_event(o, "message.bounced", ingest_plan_conv_id(p, i),
		    p->msgs[i].row_id);
		jsonw_key(o, "recipients");
		jsonw_strv(
		    o, (const char *const *)bn->recipients, bn->n_recipients);
		kstr_if(o, "status", bn->status);
		kstr_if(o, "diagnostic", bn->diagnostic);
		kstr_if(o, "original_message_id", bn->original_id);
		end_event(o, n);
	}
}

static void
write_status_events(struct buf *o, const struct ingest_plan *p, size_t *n)
{
	for (size_t i = 0; i < p->plan->n_convs; i++) {
		const struct thr_conv *c = &p->plan->convs[i];

		if (c->is_new || !c->touched || c->merged_into >= 0 ||
		    c->new_status == c->status)
			continue;
		begin_event(
		    o, "conversation.status_changed", p->conv_ids[i], NULL);
		jsonw_kstr(o, "old", conv_status_name(c->status));
		jsonw_kstr(o, "new", conv_status_name(c->new_status));
		kstr_if(o, "reason", c->new_reason);
		end_event(o, n);
	}
}

/* Created and merged conversations, received messages, bounces, then
 * status changes: the order consumers read them in. */
char *
ingest_plan_events(const struct ingest_plan *p, size_t *n_events)
{
	struct buf o;

	*n_events = 0;
	begin_array(&o);
	write_conv_events(&o, p, n_events);
	write_message_events(&o, p, n_events);
	write_bounce_events(&o, p, n_events);
	write_status_events(&o, p, n_events);
	return end_array(&o);
}
