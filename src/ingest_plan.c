/*
 * The ingest plan: from a batch and the lookup's rows to the JSON
 * parameter of every statement of the transaction. No I/O; the
 * transaction itself is store_ingest.c.
 *
 * Every parameter is written with the fast writer (jsonw.h): message
 * bodies dominate, but jobs, events and ids are written per message
 * too.
 *
 * This file holds the plan itself: what is known of each message when
 * the plan is made (subject keys, content hash, bounce reason) and the
 * placing. The lookup and the reading of the rows it returns, with the
 * duplicates they reveal, are in ingest_plan_known.c; the statement
 * parameters are written by ingest_plan_params.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "bounce.h"
#include "config.h"
#include "ingest_plan.h"
#include "ingest_plan_int.h"
#include "mail.h"
#include "thread.h"
#include "util.h"

const char *
ingest_plan_direction_name(bool outbound)
{
	return outbound ? "outbound" : "inbound";
}

/* The counterparty of a message: who we talk with. */
const char *
ingest_plan_counterparty(const struct store_item *it)
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
		const char *cp = ingest_plan_counterparty(it);
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

/* Placing ------------------------------------------------------------------ */

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
		    (cp = ingest_plan_counterparty(it)) == NULL || *cp == '\0')
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
	json_t *stored = ingest_plan_read_known(p, rows, n);

	p->tmsgs = xcalloc(p->b->n_items, sizeof(*p->tmsgs));
	p->msgs = xcalloc(p->b->n_items, sizeof(*p->msgs));
	ingest_plan_mark_duplicates(p, stored);
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
