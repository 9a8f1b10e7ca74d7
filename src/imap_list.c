/*
 * Listing a folder's new messages:
 *   imap_list_start -> [UID FETCH * (UID): top_found] -> list_range
 *     -> range_listed -> [empty: UID FETCH range: range_fetched]
 *     -> list_range ... -> finish
 * and whether given messages are still there:
 *   imap_list_present -> range_listed -> finish
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "imap_list.h"
#include "imap_resp.h"
#include "imap_session.h"
#include "util.h"

/*
 * UID SEARCH answers in one line; ranges of LIST_SPAN UIDs keep that
 * line short (at most 2,000 numbers of up to 10 digits, 22 KB), whatever
 * the server says about UIDNEXT, far inside the session's line limit.
 */
#define LIST_SPAN 2000

struct imap_list {
	struct imap_session *sess;
	char *since;
	int64_t since_t; /* the start of since's day, or 0 */
	uint32_t from; /* the range in flight: from..to */
	uint32_t to;
	uint32_t last; /* the last UID to list */
	uint32_t *asked; /* imap_list_present: the UIDs asked about */
	size_t n_asked;
	char *set; /* ... as a UID set */
	bool cancelled; /* freed when the answer in flight comes */
	uint32_t *uids;
	size_t n, cap;
	imap_listed_fn *done;
	void *arg;
};

static void
list_free(struct imap_list *l)
{
	free(l->set);
	free(l->since);
	free(l->asked);
	free(l->uids);
	free(l);
}

/* Ends the listing: the UIDs in order, or an error. */
static void finish(struct imap_list *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
finish(struct imap_list *l, const char *fmt, ...)
{
	imap_listed_fn *done = l->done;
	void *arg = l->arg;
	uint32_t *uids = l->uids;
	size_t n = l->n;
	char *error = NULL;
	va_list ap;

	l->uids = NULL;
	if (fmt != NULL) {
		va_start(ap, fmt);
		error = xvasprintf(fmt, ap);
		va_end(ap);
		free(uids);
		uids = NULL;
		n = 0;
	} else if (n > 0)
		qsort(uids, n, sizeof(*uids), imap_uid_cmp);
	list_free(l);
	done(error, uids, n, arg);
	free(error);
}

static void range_listed(struct imap_answer *a, void *arg);
static void range_fetched(struct imap_answer *a, void *arg);
static void next_range(struct imap_list *l);

static void
list_range(struct imap_list *l)
{
	char *cmd;

	l->to =
	    l->last - l->from >= LIST_SPAN ? l->from + LIST_SPAN - 1 : l->last;
	cmd = xasprintf("UID SEARCH UID %u:%u%s", l->from, l->to, l->since);
	imap_session_command(l->sess, cmd, range_listed, l);
	free(cmd);
}

/*
 * The answer to a command of the listing: 0 when it may be read, -1
 * when the listing is over (cancelled, or the session gone).
 */
static int
answered(struct imap_list *l, const struct imap_answer *a)
{
	if (l->cancelled) {
		list_free(l);
		return -1;
	}
	if (a->status == 0) {
		finish(l, "the connection was lost");
		return -1;
	}
	if (a->status != 'O') {
		finish(l, "the server answered: %s", a->tagged);
		return -1;
	}
	return 0;
}

/* Adds the UIDs of a range's answer; returns the first that lies
 * outside the range, or 0. */
static uint32_t
add_range(struct imap_list *l, const uint32_t *uids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (uids[i] < l->from || uids[i] > l->to ||
		    (l->asked != NULL &&
			bsearch(&uids[i], l->asked, l->n_asked,
			    sizeof(*l->asked), imap_uid_cmp) == NULL))
			return uids[i];
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : LIST_SPAN;
			l->uids =
			    xreallocarray(l->uids, l->cap, sizeof(*l->uids));
		}
		l->uids[l->n++] = uids[i];
	}
	return 0;
}

static void
range_listed(struct imap_answer *a, void *arg)
{
	struct imap_list *l = arg;
	uint32_t *uids, stray;
	size_t n;

	if (answered(l, a) == -1)
		return;
	if (imap_parse_search(a->text.data, a->text.len, &uids, &n) == -1) {
		finish(l,
		    "the answer to UID SEARCH UID %u:%u was not understood",
		    l->from, l->to);
		return;
	}
	if (n == 0) {
		/* An empty answer is not believed: the range is fetched. */
		char *cmd = l->asked != NULL
		    ? xasprintf("UID FETCH %s (UID INTERNALDATE)", l->set)
		    : xasprintf(
			  "UID FETCH %u:%u (UID INTERNALDATE)", l->from, l->to);

		free(uids);
		imap_session_command(l->sess, cmd, range_fetched, l);
		free(cmd);
		return;
	}
	stray = add_range(l, uids, n);
	free(uids);
	if (stray != 0) {
		finish(l, "UID SEARCH UID %u:%u was answered with UID %u",
		    l->from, l->to, stray);
		return;
	}
	next_range(l);
}

/* The range is listed: the next one, or the end. */
static void
next_range(struct imap_list *l)
{
	if (l->asked != NULL || l->to == l->last) {
		finish(l, NULL);
		return;
	}
	l->from = l->to + 1;
	list_range(l);
}

/*
 * UID FETCH names the messages of a range that UID SEARCH said it had
 * none of. A UID FETCH range may name the highest UID even when it lies
 * below the range ("n:*" rules): only those in the range count, and,
 * for a SINCE listing, only mail that arrived on or after that day.
 */
static void
range_fetched(struct imap_answer *a, void *arg)
{
	struct imap_list *l = arg;
	struct imap_msginfo *mi = NULL;
	size_t n;
	uint32_t *uids;
	size_t k = 0;

	if (answered(l, a) == -1)
		return;
	n = imap_parse_fetch(a->text.data, a->text.len, &mi);
	uids = xcalloc(n ? n : 1, sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		if (mi[i].uid >= l->from && mi[i].uid <= l->to &&
		    (l->since_t == 0 || mi[i].internal_date >= l->since_t) &&
		    (l->asked == NULL ||
			bsearch(&mi[i].uid, l->asked, l->n_asked,
			    sizeof(*l->asked), imap_uid_cmp) != NULL))
			uids[k++] = mi[i].uid;
	free(mi);
	if (k > 0)
		qsort(uids, k, sizeof(*uids), imap_uid_cmp);
	/* The same UID twice counts once. */
	size_t w = 0;
	for (size_t i = 0; i < k; i++)
		if (w == 0 || uids[w - 1] != uids[i])
			uids[w++] = uids[i];
	add_range(l, uids, w);
	free(uids);
	next_range(l);
}

/* The server left UIDNEXT out: the highest UID in use bounds the ranges. */
static void
top_found(struct imap_answer *a, void *arg)
{
	struct imap_list *l = arg;
	struct imap_msginfo *mi = NULL;
	size_t n;

	if (answered(l, a) == -1)
		return;
	n = imap_parse_fetch(a->text.data, a->text.len, &mi);
	l->last = 0;
	for (size_t i = 0; i < n; i++)
		if (mi[i].uid > l->last)
			l->last = mi[i].uid;
	free(mi);
	if (l->last == 0) {
		finish(l,
		    "UID FETCH * (UID) named no UID, and EXAMINE no "
		    "UIDNEXT");
		return;
	}
	if (l->last < l->from) {
		finish(l, NULL);
		return;
	}
	list_range(l);
}

struct imap_list *
imap_list_start(struct imap_session *sess, uint32_t from, uint32_t uidnext,
    const char *since, int64_t since_t, imap_listed_fn *done, void *arg)
{
	struct imap_list *l = xcalloc(1, sizeof(*l));

	l->sess = sess;
	l->since = xstrdup(since);
	l->since_t = since_t;
	l->from = from;
	l->done = done;
	l->arg = arg;
	if (uidnext == 0) {
		imap_session_command(sess, "UID FETCH * (UID)", top_found, l);
		return l;
	}
	l->last = uidnext - 1;
	list_range(l);
	return l;
}

struct imap_list *
imap_list_present(struct imap_session *sess, const uint32_t *uids, size_t n,
    imap_listed_fn *done, void *arg)
{
	struct imap_list *l = xcalloc(1, sizeof(*l));
	struct buf set;
	char *cmd;

	l->sess = sess;
	l->since = xstrdup("");
	l->asked = xreallocarray(NULL, n, sizeof(*uids));
	memcpy(l->asked, uids, n * sizeof(*uids));
	l->n_asked = n;
	l->from = uids[0];
	l->to = l->last = uids[n - 1];
	l->done = done;
	l->arg = arg;
	buf_init(&set);
	for (size_t i = 0; i < n; i++)
		buf_printf(&set, "%s%u", i ? "," : "", uids[i]);
	cmd = xasprintf("UID SEARCH UID %s", set.data);
	imap_session_command(sess, cmd, range_listed, l);
	free(cmd);
	l->set = buf_steal(&set);
	return l;
}

void
imap_list_cancel(struct imap_list *l)
{
	/* The session answers every command, if only to say it is gone. */
	if (l != NULL)
		l->cancelled = true;
}
