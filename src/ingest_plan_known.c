/*
 * The ingest plan: the lookup's keys, and what the rows it returns say.
 * The stored conversations and links go to the threading planner; the
 * stored messages decide which messages of the batch are duplicates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "ingest_plan.h"
#include "ingest_plan_int.h"
#include "jsonw.h"
#include "mail.h"
#include "thread.h"
#include "util.h"

/* The lookup key of a Gmail message id: a stored row with this id is
 * the message, whatever its Message-ID or content. */
#define GMAIL_MESSAGE_PREFIX "gmail-message:"

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

/* Known rows --------------------------------------------------------------- */

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
json_t *
ingest_plan_read_known(
    struct ingest_plan *p, const struct ingest_known *rows, size_t n)
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
void
ingest_plan_mark_duplicates(struct ingest_plan *p, json_t *stored)
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
