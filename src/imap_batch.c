/*
 * Fetching one batch:
 *   imap_batch_start -> (sizes) sized -> fetch_more -> (chunks)
 *     fetch_each ... chunk_done -> fetch_more ... -> all_fetched
 *     -> [(imap_list_present) gone_checked] -> finish
 * Every command holds the batch until its answer comes (the session
 * answers each one, if only with status 0 when it dies); a cancelled
 * batch is freed by the last answer.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "imap_batch.h"
#include "imap_gmail.h"
#include "imap_list.h"
#include "imap_reader.h"
#include "imap_resp.h"
#include "imap_session.h"
#include "ingest.h"
#include "log.h"
#include "util.h"

/* A FETCH command asks for at most this many bytes or messages: small
 * enough that several stay in flight, large enough to fill the wire. */
#define CHUNK_BYTES (512 * 1024)
#define CHUNK_MESSAGES 100

struct item {
	uint32_t uid;
	uint64_t size; /* RFC822.SIZE, when sized */
	bool sized;
	bool got;
};

struct imap_batch {
	struct imap_session *sess;
	const struct account_conf *conf;
	char *mailbox;
	bool outbound;
	struct item *items;
	size_t n; /* items asked about */
	size_t n_batch; /* items of the batch, after sizing */
	size_t issue; /* first item not yet asked for */
	size_t out; /* commands waiting for their answer */
	struct ingest_batch *batch;
	struct imap_list *list; /* the check for gone messages */
	bool news;
	bool cancelled;
	bool lost; /* a command was answered with status 0 */
	imap_batch_fn *done;
	void *arg;
};

static void
batch_free(struct imap_batch *fb)
{
	ingest_batch_discard(fb->batch);
	free(fb->items);
	free(fb->mailbox);
	free(fb);
}

static void finish(struct imap_batch *fb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The batch, or an error; then the batch is gone. */
static void
finish(struct imap_batch *fb, const char *fmt, ...)
{
	struct ingest_batch *b = NULL;
	char *error = NULL;
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		error = xvasprintf(fmt, ap);
		va_end(ap);
	} else {
		b = fb->batch;
		fb->batch = NULL;
	}
	fb->done(b, error ? 0 : fb->n_batch, fb->news, error, fb->arg);
	free(error);
	batch_free(fb);
}

/*
 * An answer came: false when the batch is over for it (cancelled, or
 * the session gone and this was the last answer due).
 */
static bool
answered(struct imap_batch *fb, char status)
{
	fb->out--;
	if (status == 0)
		fb->lost = true;
	if (!fb->cancelled && !fb->lost)
		return true;
	if (fb->out > 0)
		return false;
	if (fb->cancelled)
		batch_free(fb);
	else
		finish(fb, "connection to the server lost");
	return false;
}

static int
item_cmp(const void *key, const void *elem)
{
	uint32_t uid = *(const uint32_t *)key;
	const struct item *it = elem;

	return uid < it->uid ? -1 : uid > it->uid;
}

static struct item *
find(struct imap_batch *fb, uint32_t uid, size_t upto)
{
	return bsearch(&uid, fb->items, upto, sizeof(*fb->items), item_cmp);
}

/* "1:4,7,9:10" for items[from..to), which are ascending. */
static void
uid_set(struct buf *set, const struct item *items, size_t from, size_t to)
{
	for (size_t i = from; i < to;) {
		size_t j = i;

		while (j + 1 < to && items[j + 1].uid == items[j].uid + 1)
			j++;
		if (j > i)
			buf_printf(set, "%s%u:%u", i > from ? "," : "",
			    items[i].uid, items[j].uid);
		else
			buf_printf(
			    set, "%s%u", i > from ? "," : "", items[i].uid);
		i = j + 1;
	}
}

static uint64_t
planned_size(const struct imap_batch *fb, size_t i)
{
	uint64_t max = ingest_max_message_size();

	return fb->items[i].size < max ? fb->items[i].size : max;
}

/* Chunks ------------------------------------------------------------------ */

static void all_fetched(struct imap_batch *fb);

static void
fetch_each(struct imap_response *r, void *arg)
{
	struct imap_batch *fb = arg;
	struct imap_fetch f;
	struct ingest_meta meta;
	struct imap_gmail_ids gm = {"", "", NULL};
	struct item *it;
	uint32_t n;
	int rc;

	if (fb->cancelled || fb->lost)
		return;
	if (imap_count_parse(r, &n) == IMAP_EXISTS) {
		fb->news = true;
		return;
	}
	rc = imap_fetch_parse(r, &f);
	/* Its message, if it was one asked for, is looked for again once
	 * the batch is in, and fails the batch if it is still there. */
	if (rc == -1)
		log_warnx("account=%s mailbox=%s: a FETCH answer was not "
			  "understood (seq %u)",
		    fb->conf->name, fb->mailbox, f.seq);
	/* Flags another client changed come as FETCH too: only the
	 * bodies asked for are taken. */
	if (rc == 1 && f.body != NULL && f.uid != 0 &&
	    (it = find(fb, f.uid, fb->issue)) != NULL && !it->got) {
		it->got = true;
		memset(&meta, 0, sizeof(meta));
		meta.uid = f.uid;
		meta.internal_date = f.internal_date;
		meta.outbound_hint = fb->outbound;
		meta.size = f.body->size;
		meta.flags = f.has_flags ? f.flags : NULL;
		imap_gmail_meta(&f, &meta, &gm);
		ingest_batch_add(fb->batch,
		    f.body->data.data ? f.body->data.data : "",
		    f.body->data.len, f.body->truncated, &meta);
		imap_gmail_ids_clear(&gm);
	}
	imap_fetch_clear(&f);
}

static void chunk_done(char status, const char *text, void *arg);

static void
fetch_more(struct imap_batch *fb)
{
	size_t depth = (size_t)fb->conf->connections;

	while (fb->out < depth && fb->issue < fb->n_batch) {
		size_t end = fb->issue;
		uint64_t bytes = 0;
		struct buf set;
		char *cmd;

		while (end < fb->n_batch && end - fb->issue < CHUNK_MESSAGES &&
		    (end == fb->issue ||
			bytes + planned_size(fb, end) <= CHUNK_BYTES))
			bytes += planned_size(fb, end++);
		buf_init(&set);
		uid_set(&set, fb->items, fb->issue, end);
		/* The literal's own length is the size: no RFC822.SIZE.
		 * Gmail's ids and labels come along where it offers them. */
		cmd = xasprintf("UID FETCH %s (UID FLAGS INTERNALDATE%s "
				"BODY.PEEK[])",
		    set.data,
		    imap_session_has(fb->sess, "X-GM-EXT-1")
			? " " IMAP_GMAIL_ITEMS
			: "");
		fb->issue = end;
		fb->out++;
		imap_session_send(fb->sess, cmd, fetch_each, chunk_done, fb);
		free(cmd);
		buf_free(&set);
	}
}

static void
chunk_done(char status, const char *text, void *arg)
{
	struct imap_batch *fb = arg;

	if (!answered(fb, status))
		return;
	/* What the answer left out is looked for once the batch is in. */
	if (status != 'O')
		log_warnx("account=%s mailbox=%s: UID FETCH answered: %s",
		    fb->conf->name, fb->mailbox, text);
	fetch_more(fb);
	if (fb->out == 0 && fb->issue == fb->n_batch)
		all_fetched(fb);
}

static void
gone_checked(const char *error, uint32_t *present, size_t n, void *arg)
{
	struct imap_batch *fb = arg;

	fb->list = NULL;
	free(present);
	if (error != NULL || n > 0) {
		finish(fb,
		    "cannot fetch mail of %s that the server answered "
		    "without the message: %s",
		    fb->mailbox,
		    error ? error : "a fresh UID SEARCH still lists it");
		return;
	}
	log_info("account=%s mailbox=%s: mail expunged before it could be "
		 "fetched is passed over",
	    fb->conf->name, fb->mailbox);
	finish(fb, NULL);
}

/*
 * A message answered without its body (a tagged NO, BAD or a bare OK)
 * is taken for expunged only when a fresh UID SEARCH no longer lists
 * it: the cursor passes no UID that is neither stored nor gone.
 */
static void
all_fetched(struct imap_batch *fb)
{
	uint32_t *missing = xcalloc(fb->n_batch, sizeof(*missing));
	size_t k = 0;

	for (size_t i = 0; i < fb->n_batch; i++)
		if (!fb->items[i].got)
			missing[k++] = fb->items[i].uid;
	if (k == 0)
		finish(fb, NULL);
	else
		fb->list =
		    imap_list_present(fb->sess, missing, k, gone_checked, fb);
	free(missing);
}

/* Sizes ------------------------------------------------------------------- */

/* The batch takes messages while they fit batch_bytes (one at least). */
static void
plan(struct imap_batch *fb)
{
	uint64_t bytes = 0;

	fb->n_batch = 0;
	while (fb->n_batch < fb->n &&
	    (fb->n_batch == 0 ||
		bytes + planned_size(fb, fb->n_batch) <= fb->conf->batch_bytes))
		bytes += planned_size(fb, fb->n_batch++);
}

static void
sized(struct imap_answer *a, void *arg)
{
	struct imap_batch *fb = arg;
	struct imap_msginfo *mi = NULL;
	struct item *it;
	size_t n;

	if (!answered(fb, a->status))
		return;
	if (a->status != 'O') {
		finish(fb, "cannot read the sizes of new mail in %s: %s",
		    fb->mailbox, a->tagged);
		return;
	}
	n = imap_parse_fetch(a->text.data, a->text.len, &mi);
	for (size_t i = 0; i < n; i++)
		if ((it = find(fb, mi[i].uid, fb->n)) != NULL) {
			it->size = mi[i].size;
			it->sized = true;
		}
	free(mi);
	plan(fb);
	fetch_more(fb);
}

struct imap_batch *
imap_batch_start(struct imap_session *sess, const struct imap_batch_params *p,
    imap_batch_fn *done, void *arg)
{
	struct imap_batch *fb = xcalloc(1, sizeof(*fb));
	size_t max_n = (size_t)p->conf->batch_size;
	struct buf set;
	char *cmd;

	fb->sess = sess;
	fb->conf = p->conf;
	fb->mailbox = xstrdup(p->mailbox);
	fb->outbound = p->outbound;
	fb->done = done;
	fb->arg = arg;
	fb->n = p->n < max_n ? p->n : max_n;
	fb->items = xcalloc(fb->n, sizeof(*fb->items));
	for (size_t i = 0; i < fb->n; i++)
		fb->items[i].uid = p->uids[i];
	fb->batch = ingest_batch_new(p->conf, p->mailbox);
	buf_init(&set);
	uid_set(&set, fb->items, 0, fb->n);
	cmd = xasprintf("UID FETCH %s (UID RFC822.SIZE)", set.data);
	fb->out++;
	imap_session_command(sess, cmd, sized, fb);
	free(cmd);
	buf_free(&set);
	return fb;
}

void
imap_batch_cancel(struct imap_batch *fb)
{
	if (fb == NULL)
		return;
	imap_list_cancel(fb->list);
	fb->list = NULL;
	fb->cancelled = true;
	if (fb->out == 0)
		batch_free(fb);
}
