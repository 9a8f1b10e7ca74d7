/*
 * The source host on top of the store: each driver request becomes the
 * store call for the host's account, and the driver's batches go to the
 * store through the ingest pipeline.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "host.h"
#include "ingest.h"
#include "log.h"
#include "store.h"
#include "util.h"

static void
cursor_read(bool ok, const struct store_cursor *sc, void *arg)
{
	struct store_host *h = arg;
	source_cursor_fn *done = h->cursor_done;
	struct source_cursor cur;

	h->cursor_done = NULL;
	if (!ok || !sc->found) {
		done(ok, NULL, h->cursor_arg);
		return;
	}
	memset(&cur, 0, sizeof(cur));
	cur.uidvalidity = sc->uidvalidity;
	cur.last_uid = sc->last_uid;
	cur.highestmodseq = sc->highestmodseq;
	cur.history_id = sc->history_id;
	done(true, &cur, h->cursor_arg);
}

/* The store's cursor is not the driver's: the answer is translated here,
 * with the driver's callback kept in h rather than in an allocation a
 * request dropped at shutdown would leak. */
static void
load_cursor(void *ctx, const char *mailbox, source_cursor_fn *done, void *arg)
{
	struct store_host *h = ctx;

	if (h->cursor_done != NULL)
		fatalx("account %d: a second cursor read while one is pending",
		    h->account_id);
	h->cursor_done = done;
	h->cursor_arg = arg;
	store_get_cursor(h->store, h->account_id, mailbox, cursor_read, h);
}

static void
known_gmail_ids(void *ctx, const char *const *ids, size_t n,
    source_known_fn *done, void *arg)
{
	struct store_host *h = ctx;

	store_known_gmail_ids(h->store, h->account_id, ids, n, done, arg);
}

static void
newest_message(void *ctx, source_time_fn *done, void *arg)
{
	struct store_host *h = ctx;

	store_newest_message(h->store, h->account_id, done, arg);
}

static void
commit(void *ctx, struct ingest_batch *b, const struct source_cursor *cur,
    source_committed_fn *done, void *arg)
{
	struct store_host *h = ctx;

	h->progress = cur->progress;
	h->bytes += (int64_t)ingest_batch_bytes(b);
	ingest_batch_store(
	    b, h->store, h->account_id, h->import, cur, done, arg);
}

/* The driver's changes in the store's terms; the store copies what it
 * keeps, so the translation lives for the call only. The cursor is of
 * the changes' generation: its own uidvalidity is not read. */
static void
apply_changes(void *ctx, const char *mailbox, const struct source_changes *ch,
    const struct source_cursor *cur, source_committed_fn *done, void *arg)
{
	struct store_host *h = ctx;
	struct store_flags *flags;
	struct store_changes c;

	flags = xcalloc(ch->n_changed + 1, sizeof(*flags));
	for (size_t i = 0; i < ch->n_changed; i++) {
		flags[i].uid = ch->changed[i].uid;
		flags[i].flags = ch->changed[i].flags;
	}
	memset(&c, 0, sizeof(c));
	c.account = h->conf->name;
	c.account_id = h->account_id;
	c.mailbox = mailbox;
	c.uidvalidity = ch->uidvalidity;
	c.changed = flags;
	c.n_changed = ch->n_changed;
	c.removed = ch->removed;
	c.n_removed = ch->n_removed;
	c.mirror_archive = h->conf->mirror_archive;
	if (cur != NULL) {
		c.cursor = true;
		c.last_uid = cur->last_uid;
		c.highestmodseq = cur->highestmodseq;
	}
	store_apply_changes(h->store, &c, done, arg);
	free(flags);
}

/* Gmail's label changes in the store's terms, for the call only. */
static void
apply_label_changes(void *ctx, const struct source_label_changes *ch,
    const struct source_cursor *cur, source_committed_fn *done, void *arg)
{
	struct store_host *h = ctx;
	struct store_label_change *v;
	struct store_label_changes c;

	v = xcalloc(ch->n + 1, sizeof(*v));
	for (size_t i = 0; i < ch->n; i++) {
		const struct source_label_change *sc = &ch->changes[i];

		v[i].id = sc->id;
		v[i].deleted = sc->op == SOURCE_MESSAGE_DELETED;
		if (sc->op == SOURCE_LABELS_ADDED)
			v[i].add = sc->labels;
		else if (sc->op == SOURCE_LABELS_REMOVED)
			v[i].remove = sc->labels;
	}
	memset(&c, 0, sizeof(c));
	c.account = h->conf->name;
	c.account_id = h->account_id;
	c.changes = v;
	c.n = ch->n;
	c.mirror_archive = h->conf->mirror_archive;
	c.history_id = cur != NULL ? cur->history_id : NULL;
	store_apply_label_changes(h->store, &c, done, arg);
	free(v);
}

static void
known_uids(void *ctx, const char *mailbox, uint32_t uidvalidity,
    source_uids_fn *done, void *arg)
{
	struct store_host *h = ctx;

	store_known_uids(
	    h->store, h->account_id, mailbox, uidvalidity, done, arg);
}

static const struct source_host_ops store_host_ops = {
    .load_cursor = load_cursor,
    .known_gmail_ids = known_gmail_ids,
    .newest_message = newest_message,
    .commit = commit,
    .apply_changes = apply_changes,
    .apply_label_changes = apply_label_changes,
    .known_uids = known_uids,
};

struct source_host
store_host(struct store_host *h, struct store *st, int account_id,
    const struct account_conf *conf)
{
	struct source_host host = {&store_host_ops, h};

	memset(h, 0, sizeof(*h));
	h->store = st;
	h->account_id = account_id;
	h->conf = conf;
	return host;
}
