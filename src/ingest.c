/*
 * The ingest pipeline: parse, classify, direct, batch; and the hand-over
 * of a batch to the store.
 */

#include <stdlib.h>
#include <string.h>

#include "bounce.h"
#include "classify.h"
#include "config.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "mail.h"
#include "mime.h"
#include "msgid.h"
#include "source.h"
#include "store.h"
#include "util.h"

struct ingest_batch {
	const struct account_conf *account;
	struct store_batch sb;
	struct store_item *items;
	size_t n, cap;
	size_t bytes;
	int64_t newest_arrival; /* server's receipt time, seconds; 0 unknown */
	int64_t fetched_ms; /* monotonic, when the first message came */
	int64_t store_ms; /* monotonic, when the batch went to the store */
	char *mailbox;
	char *history_id;
	/* Copies of source metadata the items point at. */
	char **strings;
	size_t n_strings;
	char ***label_sets;
	size_t n_label_sets;
	ingest_done_fn *done;
	void *arg;
};

static size_t max_size;
static struct ingest_stats stats;

void
ingest_setup(size_t max_message_size)
{
	max_size = max_message_size;
}

size_t
ingest_max_message_size(void)
{
	return max_size;
}

const struct ingest_stats *
ingest_stats(void)
{
	return &stats;
}

struct ingest_batch *
ingest_batch_new(const struct account_conf *a, const char *mailbox)
{
	struct ingest_batch *b = xcalloc(1, sizeof(*b));

	b->account = a;
	b->mailbox = xstrdup(mailbox);
	return b;
}

size_t
ingest_batch_count(const struct ingest_batch *b)
{
	return b->n;
}

size_t
ingest_batch_bytes(const struct ingest_batch *b)
{
	return b->bytes;
}

static const char *
keep_string(struct ingest_batch *b, const char *s)
{
	if (s == NULL)
		return NULL;
	b->strings =
	    xreallocarray(b->strings, b->n_strings + 1, sizeof(char *));
	b->strings[b->n_strings] = xstrdup(s);
	return b->strings[b->n_strings++];
}

static const char *const *
keep_labels(struct ingest_batch *b, const char *const *labels)
{
	size_t n = 0;
	char **copy;

	if (labels == NULL)
		return NULL;
	while (labels[n])
		n++;
	copy = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		copy[i] = xstrdup(labels[i]);
	b->label_sets =
	    xreallocarray(b->label_sets, b->n_label_sets + 1, sizeof(char **));
	b->label_sets[b->n_label_sets++] = copy;
	return (const char *const *)copy;
}

/*
 * Mail in Sent (or labelled SENT) is ours; so is mail whose From is one
 * of the account's addresses, wherever it was found.
 */
static bool
is_outbound(const struct account_conf *a, const struct mail *m,
    const struct ingest_meta *meta)
{
	return meta->outbound_hint || account_is_own_address(a, m->from_email);
}

static void
note_arrival(struct ingest_batch *b, int64_t t)
{
	if (t > b->newest_arrival)
		b->newest_arrival = t;
}

/*
 * A notice that our mail failed or is delayed: what it says, and the
 * returned message's id as threading evidence, so that the notice joins
 * the conversation of the message it is about. Only automated mail is
 * read (a person forwarding a bounce is a person), and of that, what
 * the classifier took for a bounce or what carries a delivery report
 * (a report that also says Auto-Submitted may be classified by that).
 */
static struct bounce *
read_bounce(struct mail *m, const char *automated)
{
	struct bounce *bn;
	char **more;

	if (automated == NULL)
		return NULL;
	if (strncmp(automated, "bounce", 6) != 0 && m->dsn_fields == NULL)
		return NULL;
	bn = xcalloc(1, sizeof(*bn));
	bounce_read(m, bn);
	if (bn->kind == BOUNCE_NONE) {
		bounce_clear(bn);
		free(bn);
		return NULL;
	}
	if (bn->original_id != NULL &&
	    strcmp(bn->original_id, m->message_id) != 0) {
		more = xcalloc(1, sizeof(*more));
		more[0] = xstrdup(bn->original_id);
		m->n_references =
		    msgid_list_merge(&m->references, m->n_references, more, 1);
	}
	return bn;
}

void
ingest_batch_add(struct ingest_batch *b, const char *data, size_t len,
    bool truncated, const struct ingest_meta *meta)
{
	struct mime_opts o;
	struct store_item *it;
	struct mail *m;

	o.max_message_size = max_size;
	o.full_size = meta->size;
	o.fallback_date =
	    meta->internal_date ? meta->internal_date : now_usec() / 1000000;
	m = mime_parse(data, len, truncated, &o);
	if (m->truncated) {
		stats.truncated++;
		log_warnx("account=%s mailbox=%s uid=%u: message of %zu bytes "
			  "is over max_message_size; stored truncated",
		    b->account->name, b->mailbox, meta->uid, m->size_bytes);
	}
	if (m->parse_problem) {
		stats.parse_problems++;
		log_info("account=%s mailbox=%s uid=%u: %s", b->account->name,
		    b->mailbox, meta->uid, m->parse_problem);
	}
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->items = xreallocarray(b->items, b->cap, sizeof(*b->items));
	}
	it = &b->items[b->n++];
	memset(it, 0, sizeof(*it));
	it->mail = m;
	it->outbound = is_outbound(b->account, m, meta);
	/* Only inbound mail can be an auto-reply to us. */
	it->automated = it->outbound ? NULL : classify_automated(m);
	it->bounce = read_bounce(m, it->automated);
	it->uid = meta->uid;
	it->gmail_message_id = keep_string(b, meta->gmail_message_id);
	it->gmail_thread_id = keep_string(b, meta->gmail_thread_id);
	it->gmail_labels = keep_labels(b, meta->gmail_labels);
	it->flags = keep_string(b, meta->flags);
	b->bytes += len;
	note_arrival(b, meta->internal_date);
	if (b->n == 1)
		b->fetched_ms = mono_msec();
	stats.messages++;
	stats.bytes += len;
}

static size_t
add_uid(uint32_t **uids, size_t n, uint32_t uid)
{
	*uids = xreallocarray(*uids, n + 1, sizeof(**uids));
	(*uids)[n] = uid;
	return n + 1;
}

size_t
ingest_batch_dates_wanted(const struct ingest_batch *b, uint32_t **uids)
{
	size_t n = 0;
	uint32_t newest = 0;

	*uids = NULL;
	for (size_t i = 0; i < b->n; i++)
		if (b->items[i].uid > newest)
			newest = b->items[i].uid;
	/* First, so that a limit on the number asked keeps it. */
	if (newest != 0 && b->newest_arrival == 0)
		n = add_uid(uids, n, newest);
	for (size_t i = 0; i < b->n; i++) {
		if (b->items[i].mail->date_valid || b->items[i].uid == 0 ||
		    b->items[i].uid == newest)
			continue;
		n = add_uid(uids, n, b->items[i].uid);
	}
	return n;
}

void
ingest_batch_set_date(struct ingest_batch *b, uint32_t uid, int64_t t)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->items[i].uid != uid)
			continue;
		note_arrival(b, t);
		if (!b->items[i].mail->date_valid)
			b->items[i].mail->sent_at = t;
	}
}

static void
batch_free(struct ingest_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		mail_free(b->items[i].mail);
		if (b->items[i].bounce != NULL) {
			bounce_clear(b->items[i].bounce);
			free(b->items[i].bounce);
		}
	}
	for (size_t i = 0; i < b->n_strings; i++)
		free(b->strings[i]);
	for (size_t i = 0; i < b->n_label_sets; i++) {
		for (char **p = b->label_sets[i]; *p; p++)
			free(*p);
		free(b->label_sets[i]);
	}
	free(b->label_sets);
	free(b->strings);
	free(b->items);
	free(b->mailbox);
	free(b->history_id);
	free(b);
}

void
ingest_batch_discard(struct ingest_batch *b)
{
	if (b != NULL)
		batch_free(b);
}

/* Seconds from the server's receipt of the newest message to now, when
 * the server said when that was. */
static int64_t
lag(const struct ingest_batch *b)
{
	int64_t d;

	if (b->newest_arrival == 0)
		return -1;
	d = now_usec() / 1000000 - b->newest_arrival;
	return d > 0 ? d : 0;
}

static void
batch_stored(const struct store_result *r, void *arg)
{
	struct ingest_batch *b = arg;

	if (r->ok) {
		int64_t now = mono_msec();

		metrics_ingested(b->account->name, b->n, b->bytes, lag(b));
		if (b->n > 0)
			metrics_batch_stored((double)(now - b->store_ms) / 1000,
			    (double)(now - b->fetched_ms) / 1000, r->group);
		stats.inserted += r->inserted;
		stats.duplicates += r->duplicates;
		(r->inserted || r->duplicates ? log_info : log_debug)(
		    "account=%s mailbox=%s: stored %zu new, %zu already "
		    "known, %zu conversations created, %zu merged, %zu jobs",
		    b->account->name, b->mailbox, r->inserted, r->duplicates,
		    r->conversations_created, r->merges, r->jobs_queued);
	} else if (!stop_abandoned(r->error))
		metrics_error("store");
	b->done(r->ok, r->error, b->arg);
	batch_free(b);
}

/* The driver's progress in the store's terms. */
static void
progress_copy(struct store_progress *to, const struct source_progress *from)
{
	to->started_us = from->listed_us;
	to->total = from->total;
	to->done = from->done;
	to->bytes_total = from->bytes_total;
	to->bytes_done = from->bytes_done;
}

void
ingest_batch_store(struct ingest_batch *b, struct store *st, int account_id,
    bool import, const struct source_cursor *cur, ingest_done_fn *done,
    void *arg)
{
	b->done = done;
	b->arg = arg;
	b->store_ms = mono_msec();
	b->sb.account = b->account;
	b->sb.account_id = account_id;
	b->sb.mailbox = b->mailbox;
	b->sb.uidvalidity = cur->uidvalidity;
	b->sb.last_uid = cur->last_uid;
	b->sb.highestmodseq = cur->highestmodseq;
	progress_copy(&b->sb.progress, &cur->progress);
	b->sb.import = import;
	/* The store reads the batch until done; the driver's history id
	 * need not live that long. */
	b->history_id = cur->history_id ? xstrdup(cur->history_id) : NULL;
	b->sb.history_id = b->history_id;
	b->sb.items = b->items;
	b->sb.n_items = b->n;
	store_ingest(st, &b->sb, batch_stored, b);
}
