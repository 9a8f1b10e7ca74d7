/*
 * The Gmail driver: a sync pass over the Gmail REST API, whose calls
 * go through gmail_api.c.
 *
 * A sync pass reads as a story. With push on, a pass begins by renewing
 * the account's users.watch when gmail_push.c says it is due:
 *   gmail_sync [-> watch_next -> watched] -> load_cursor
 * With a stored historyId:
 *   load_cursor -> cursor_loaded -> history_next -> history_listed ...
 * the first time, or when that history has expired (HTTP 404):
 *   ... -> newest_known -> profile_next -> profile_loaded
 *     -> list_next -> page_listed ...
 * and then, for the message ids found:
 *   batch_next -> known_checked -> fetch_more -> message_fetched ...
 *     -> batch_committed -> batch_next ... -> pass_end
 * and when the history changed labels or deleted messages, after the
 * last batch:
 *   ... -> batch_committed -> changes_apply -> changes_applied -> pass_end
 *
 * The cursor to commit is read before listing (users.getProfile, or the
 * historyId of history.list), so that mail arriving meanwhile is seen
 * again next time rather than skipped; it is committed with the last
 * batch only, or with the label changes after it, so that an
 * interrupted pass starts over from the old cursor and skips what it
 * already stored. Label changes applied twice leave what they left
 * once (the last change of a label wins), so such a pass does them
 * again without harm. An answer that cannot be true is refused
 * (gmail_check.c): the pass fails, keeping the cursor.
 *
 * Every API request is a call of gmail_api.c, which takes care of
 * quota, tokens and retries; the driver sees each call's final answer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>
#include <jansson.h>

#include "config.h"
#include "gmail_api.h"
#include "gmail_changes.h"
#include "gmail_check.h"
#include "gmail_message.h"
#include "gmail_push.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "oauth.h"
#include "source.h"
#include "util.h"

#define PAGE_SIZE 500 /* messages.list and history.list */
/* The most pages of one listing: a server that hands out a nextPageToken
 * on every page would keep a pass going for ever. history.list: 500,000
 * records, more than a week of any mailbox; messages.list: the mailbox's
 * messagesTotal, and some slack for mail arriving while it is listed. */
#define HISTORY_MAX_PAGES 1000
#define LIST_SLACK_PAGES 10
#define GMAIL_MAILBOX "gmail" /* the cursor's name in sync_state */

struct source {
	struct source_env env;
	struct gmail_api *api;
	struct gmail_push *push; /* NULL: push is off */

	/* The pass in progress. */
	source_done_fn *done;
	void *done_arg;
	bool running;
	bool stopping;
	bool failed;
	bool host_wait; /* a look-up in the host is under way */
	char *error;
	char *start_history; /* the stored cursor, or NULL */
	char *next_cursor; /* committed with the last batch */
	char *page_token;
	unsigned pages, max_pages; /* of the listing under way */
	int64_t after; /* listing: epoch seconds; 0 for all */
	char **ids; /* messages to store, each once */
	size_t n_ids, cap_ids;
	GHashTable *seen; /* ids already in ids[] */
	struct gmail_changes *changes; /* of the history read, or NULL */
	size_t next; /* first id not yet checked */
	size_t n_known, n_fetched, n_gone;
	char *refused; /* why the first message refused was */
	size_t n_refused;

	/* The batch in progress. */
	struct ingest_batch *batch;
	char **b_ids; /* ids to fetch: not stored yet */
	size_t b_n;
	size_t b_issued; /* b_ids[0 .. b_issued) requested */
	size_t b_outstanding; /* requested, not yet answered */
	bool committing;
	bool last; /* this batch carries the cursor */
};

static void batch_next(struct source *s);
static void profile_next(struct source *s);
static void pass_fail(struct source *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const struct account_conf *
conf(const struct source *s)
{
	return s->env.conf;
}

static const char *
name(const struct source *s)
{
	return s->env.conf->name;
}

static gmail_delay_fn fetch_delayed;

static struct source *
gmail_create(const struct source_env *env)
{
	struct source *s = xcalloc(1, sizeof(*s));

	s->env = *env;
	s->api = gmail_api_new(env->base, env->http, env->conf);
	gmail_api_on_delay(s->api, fetch_delayed, s);
	return s;
}

/* The pass ------------------------------------------------------------------ */

static void
clear_ids(struct source *s)
{
	for (size_t i = 0; i < s->n_ids; i++)
		free(s->ids[i]);
	free(s->ids);
	s->ids = NULL;
	s->n_ids = s->cap_ids = s->next = 0;
	if (s->seen)
		g_hash_table_destroy(s->seen);
	s->seen = NULL;
}

static void
clear_changes(struct source *s)
{
	gmail_changes_free(s->changes);
	s->changes = NULL;
}

static bool
has_changes(const struct source *s)
{
	return s->changes != NULL && gmail_changes_list(s->changes)->n > 0;
}

static void
clear_batch(struct source *s)
{
	ingest_batch_discard(s->batch);
	s->batch = NULL;
	free(s->b_ids); /* they point into ids[] */
	s->b_ids = NULL;
	s->b_n = s->b_issued = s->b_outstanding = 0;
}

static void
pass_end(struct source *s)
{
	source_done_fn *done = s->done;
	char *error;
	bool ok;

	/* Messages refused fail the pass, which then keeps the cursor. */
	if (s->refused != NULL && !s->failed) {
		s->failed = true;
		s->error = s->n_refused > 1
		    ? xasprintf(
			  "%s (%zu messages refused)", s->refused, s->n_refused)
		    : xstrdup(s->refused);
	}
	free(s->refused);
	s->refused = NULL;
	error = s->error;
	ok = !s->failed;
	gmail_api_cancel(s->api);
	clear_batch(s);
	clear_ids(s);
	clear_changes(s);
	free(s->start_history);
	free(s->next_cursor);
	free(s->page_token);
	s->start_history = s->next_cursor = s->page_token = NULL;
	s->running = false;
	s->failed = false;
	s->error = NULL;
	gmail_push_pass_ended(s->push, ok && !s->stopping);
	done(ok, ok ? NULL : GMAIL_MAILBOX, error, s->done_arg);
	free(error);
}

static void
pass_fail(struct source *s, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (s->failed) {
		free(msg);
		return;
	}
	s->failed = true;
	free(s->error);
	s->error = msg;
	gmail_api_cancel(s->api);
	/* A commit in flight reports back first; then the pass ends. */
	if (!s->committing)
		pass_end(s);
}

/* Fails the pass with a call's error; true when it did. */
static bool
failed_call(struct source *s, const struct gmail_result *res)
{
	char *why;

	if (gmail_result_ok(res))
		return false;
	why = gmail_result_why(res);
	pass_fail(s, "%s", why);
	free(why);
	return true;
}

/* Takes a message id of a listing, once. */
static void
add_id(const char *id, void *arg)
{
	struct source *s = arg;

	if (s->seen == NULL)
		s->seen = g_hash_table_new(g_str_hash, g_str_equal);
	if (g_hash_table_contains(s->seen, id))
		return;
	if (s->n_ids == s->cap_ids) {
		s->cap_ids = s->cap_ids ? s->cap_ids * 2 : 256;
		s->ids = xreallocarray(s->ids, s->cap_ids, sizeof(char *));
	}
	s->ids[s->n_ids] = xstrdup(id);
	g_hash_table_add(s->seen, s->ids[s->n_ids]);
	s->n_ids++;
}

/*
 * The next cursor from an answer of method, when it is one: a decimal
 * number, and not lower than the stored cursor. Storing anything else
 * would fail every later pass (history.list answers 400), or read the
 * same history again; so the pass fails, and the cursor is kept.
 */
static bool
take_cursor(struct source *s, json_t *j, const char *method)
{
	char *h = gmail_history_id_of(j);

	if (h != NULL && !gmail_history_id_valid(h)) {
		pass_fail(s,
		    "%s: the historyId \"%.40s\" is not a decimal number "
		    "of at most %d digits; the cursor is kept",
		    method, h, GMAIL_HISTORY_ID_MAX);
		free(h);
		return false;
	}
	if (h != NULL && s->start_history != NULL &&
	    gmail_history_id_cmp(h, s->start_history) < 0) {
		pass_fail(s,
		    "%s: the historyId %s is lower than the stored cursor "
		    "%s; the cursor is kept",
		    method, h, s->start_history);
		free(h);
		return false;
	}
	free(s->next_cursor);
	s->next_cursor = h;
	return true;
}

/* A listing starts from its first page, and ends after max_pages. */
static void
listing_start(struct source *s, unsigned max_pages)
{
	free(s->page_token);
	s->page_token = NULL;
	s->pages = 0;
	s->max_pages = max_pages;
}

/*
 * Takes the next page's token from an answer; false, with the pass
 * failed, when the server leads the listing on for ever (the same token
 * again, or more pages than the listing can have).
 */
static bool
next_page(struct source *s, json_t *j, const char *method)
{
	const char *t = json_string_value(json_object_get(j, "nextPageToken"));

	if (t != NULL && s->page_token != NULL &&
	    strcmp(t, s->page_token) == 0) {
		pass_fail(s,
		    "%s: the server answered the same nextPageToken "
		    "twice",
		    method);
		return false;
	}
	free(s->page_token);
	s->page_token = t && *t ? xstrdup(t) : NULL;
	if (s->page_token != NULL && ++s->pages >= s->max_pages) {
		pass_fail(s,
		    "%s: still a nextPageToken after %u pages; "
		    "giving up the pass",
		    method, s->pages);
		return false;
	}
	return true;
}

static void history_next(struct source *s);
static void newest_known(bool ok, int64_t t, void *arg);

static void
cursor_loaded(bool ok, const struct source_cursor *cur, void *arg)
{
	struct source *s = arg;

	s->host_wait = false;
	if (s->stopping) {
		pass_end(s);
		return;
	}
	if (!ok) {
		pass_fail(s, "cannot read the Gmail sync cursor");
		return;
	}
	if (cur != NULL && cur->history_id != NULL && *cur->history_id &&
	    !gmail_history_id_valid(cur->history_id)) {
		/* Stored by an older inboxd; history.list would answer 400
		 * to it on every pass. */
		log_warnx("account=%s: the stored cursor \"%.40s\" is not a "
			  "historyId; catching up by date",
		    name(s), cur->history_id);
		s->host_wait = true;
		source_newest_message(&s->env, newest_known, s);
		return;
	}
	if (cur != NULL && cur->history_id != NULL && *cur->history_id) {
		s->start_history = xstrdup(cur->history_id);
		listing_start(s, HISTORY_MAX_PAGES);
		history_next(s);
		return;
	}
	s->after = 0;
	if (conf(s)->initial_sync_days > 0)
		s->after = now_usec() / 1000000 -
		    (int64_t)conf(s)->initial_sync_days * 86400;
	log_info("account=%s: first sync%s", name(s),
	    s->after ? " (limited by initial_sync)" : "");
	profile_next(s);
}

static void
load_cursor(struct source *s)
{
	s->host_wait = true;
	source_load_cursor(&s->env, GMAIL_MAILBOX, cursor_loaded, s);
}

static gmail_done_fn watched;

/* users.watch, through the account's own quota and token. */
static void
watch_next(struct source *s)
{
	char *body = gmail_push_watch_body();

	gmail_api_post(s->api, GMAIL_WATCH, body, watched, s, "watch");
	free(body);
}

/* A failed watch leaves the pass to go on: polling still works. */
static void
watched(const struct gmail_result *res, void *arg)
{
	struct source *s = arg;

	gmail_push_watched(s->push, res);
	if (s->stopping) {
		pass_end(s);
		return;
	}
	load_cursor(s);
}

static void
gmail_sync(struct source *s, source_done_fn *done, void *arg)
{
	s->done = done;
	s->done_arg = arg;
	s->running = true;
	s->stopping = false;
	s->failed = false;
	s->n_known = s->n_fetched = s->n_gone = s->n_refused = 0;
	gmail_push_pass_started(s->push);
	if (gmail_push_watch_due(s->push))
		watch_next(s);
	else
		load_cursor(s);
}

/* History ------------------------------------------------------------------- */

static gmail_done_fn history_listed;

static void
history_next(struct source *s)
{
	char *start = http_escape(s->start_history);
	char *page = s->page_token ? http_escape(s->page_token) : NULL;

	gmail_api_call(s->api, GMAIL_HISTORY, NULL, history_listed, s,
	    "history?startHistoryId=%s"
	    "&historyTypes=messageAdded&historyTypes=labelAdded"
	    "&historyTypes=labelRemoved&historyTypes=messageDeleted"
	    "&maxResults=%d%s%s",
	    start, PAGE_SIZE, page ? "&pageToken=" : "", page ? page : "");
	free(start);
	free(page);
}

static void
history_listed(const struct gmail_result *res, void *arg)
{
	struct source *s = arg;

	if (res->status == 404) {
		/* Too old: Google keeps history for a week or so. Catch up
		 * by date from the newest message stored; never jump. */
		log_warnx(
		    "account=%s: history since %s is no longer available; "
		    "catching up by date",
		    name(s), s->start_history);
		listing_start(s, 0);
		clear_ids(s);
		clear_changes(s);
		s->host_wait = true;
		source_newest_message(&s->env, newest_known, s);
		return;
	}
	if (failed_call(s, res))
		return;
	gmail_history_ids(res->json, add_id, s);
	if (s->changes == NULL)
		s->changes = gmail_changes_new();
	gmail_changes_read(s->changes, res->json);
	if (!next_page(s, res->json, "history.list"))
		return;
	if (s->page_token != NULL && !s->stopping) {
		history_next(s);
		return;
	}
	if (s->stopping) {
		pass_end(s);
		return;
	}
	if (!take_cursor(s, res->json, "history.list"))
		return;
	if (s->next_cursor == NULL)
		s->next_cursor = xstrdup(s->start_history);
	if (s->n_ids > 0)
		log_info("account=%s: %zu new messages since history %s",
		    name(s), s->n_ids, s->start_history);
	if (has_changes(s))
		log_info("account=%s: %zu label changes since history %s",
		    name(s), gmail_changes_list(s->changes)->n,
		    s->start_history);
	batch_next(s);
}

static void
newest_known(bool ok, int64_t t, void *arg)
{
	struct source *s = arg;
	int64_t margin = conf(s)->history_margin;

	s->host_wait = false;
	if (s->stopping) {
		pass_end(s);
		return;
	}
	if (!ok) {
		pass_fail(s, "cannot read the newest stored message's date");
		return;
	}
	if (t > 0) {
		s->after = t > margin ? t - margin : 1;
	} else if (conf(s)->initial_sync_days > 0) {
		s->after = now_usec() / 1000000 -
		    (int64_t)conf(s)->initial_sync_days * 86400;
	} else
		s->after = 0;
	if (s->after > 0) {
		char when[32];
		time_t tt = (time_t)s->after;
		struct tm tm;

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC",
		    gmtime_r(&tt, &tm));
		log_info(
		    "account=%s: catching up on mail since %s", name(s), when);
	}
	profile_next(s);
}

/* Listing ------------------------------------------------------------------- */

static gmail_done_fn profile_loaded;
static gmail_done_fn page_listed;

static void
profile_next(struct source *s)
{
	gmail_api_call(
	    s->api, GMAIL_PROFILE, NULL, profile_loaded, s, "profile");
}

static void
list_next(struct source *s)
{
	char *q, *eq, *page = s->page_token ? http_escape(s->page_token) : NULL;

	if (s->after > 0)
		q = xasprintf(
		    "after:%lld (in:inbox OR in:sent)", (long long)s->after);
	else
		q = xstrdup("in:inbox OR in:sent");
	eq = http_escape(q);
	gmail_api_call(s->api, GMAIL_LIST, NULL, page_listed, s,
	    "messages?maxResults=%d&q=%s%s%s", PAGE_SIZE, eq,
	    page ? "&pageToken=" : "", page ? page : "");
	free(q);
	free(eq);
	free(page);
}

/* The pages messages.list may take: the profile's messagesTotal. */
static unsigned
list_max_pages(json_t *profile)
{
	json_t *t = json_object_get(profile, "messagesTotal");
	json_int_t total, most = (json_int_t)PAGE_SIZE * 1000000;

	/* Without a total, a bound all the same. */
	total = json_is_integer(t) ? json_integer_value(t) : most;
	if (total < 0 || total > most)
		total = most;
	return (unsigned)(total / PAGE_SIZE) + LIST_SLACK_PAGES;
}

static void
profile_loaded(const struct gmail_result *res, void *arg)
{
	struct source *s = arg;

	if (failed_call(s, res))
		return;
	/* Read before listing: whatever arrives from now on is in the
	 * history after this id. */
	if (!take_cursor(s, res->json, "users.getProfile"))
		return;
	if (s->next_cursor == NULL) {
		pass_fail(s, "users.getProfile: the answer has no historyId");
		return;
	}
	listing_start(s, list_max_pages(res->json));
	list_next(s);
}

static void
page_listed(const struct gmail_result *res, void *arg)
{
	struct source *s = arg;

	if (failed_call(s, res))
		return;
	gmail_list_ids(res->json, add_id, s);
	if (!next_page(s, res->json, "messages.list"))
		return;
	if (s->stopping) {
		pass_end(s);
		return;
	}
	if (s->page_token != NULL) {
		list_next(s);
		return;
	}
	log_info("account=%s: %zu messages listed", name(s), s->n_ids);
	batch_next(s);
}

/* Batches ------------------------------------------------------------------- */

static void known_checked(bool ok, const char *const *known, void *arg);
static void batch_commit(struct source *s);
static void fetch_more(struct source *s);

static void
batch_next(struct source *s)
{
	size_t n;

	if (s->failed) {
		pass_end(s);
		return;
	}
	if (s->stopping) {
		pass_end(s);
		return;
	}
	s->batch = ingest_batch_new(conf(s), GMAIL_MAILBOX);
	/* Ids left over when the previous batch filled up by size. */
	if (s->b_issued < s->b_n) {
		memmove(s->b_ids, s->b_ids + s->b_issued,
		    (s->b_n - s->b_issued) * sizeof(char *));
		s->b_n -= s->b_issued;
		s->b_issued = 0;
		fetch_more(s);
		return;
	}
	free(s->b_ids);
	s->b_ids = NULL;
	s->b_n = s->b_issued = 0;
	n = s->n_ids - s->next;
	if (n > (size_t)conf(s)->batch_size)
		n = (size_t)conf(s)->batch_size;
	if (n == 0) {
		/* Nothing (more) to fetch: commit the cursor. */
		batch_commit(s);
		return;
	}
	s->host_wait = true;
	source_known_gmail_ids(&s->env, (const char *const *)s->ids + s->next,
	    n, known_checked, s);
}

static void
known_checked(bool ok, const char *const *known, void *arg)
{
	struct source *s = arg;
	GHashTable *k;
	size_t n = s->n_ids - s->next;

	s->host_wait = false;
	if (s->stopping) {
		pass_end(s);
		return;
	}
	if (!ok) {
		pass_fail(s, "cannot look up the stored Gmail message ids");
		return;
	}
	if (n > (size_t)conf(s)->batch_size)
		n = (size_t)conf(s)->batch_size;
	k = g_hash_table_new(g_str_hash, g_str_equal);
	for (const char *const *p = known; *p; p++)
		g_hash_table_add(k, (gpointer)*p);
	s->b_ids = xcalloc(n, sizeof(char *));
	for (size_t i = s->next; i < s->next + n; i++) {
		if (g_hash_table_contains(k, s->ids[i]))
			s->n_known++;
		else if (s->changes != NULL &&
		    gmail_changes_deleted(s->changes, s->ids[i]))
			s->n_gone++; /* added and deleted since the cursor */
		else
			s->b_ids[s->b_n++] = s->ids[i];
	}
	g_hash_table_destroy(k);
	s->next += n;
	if (s->b_n == 0 && s->next < s->n_ids) {
		/* All of these are stored already. */
		ingest_batch_discard(s->batch);
		s->batch = NULL;
		batch_next(s);
		return;
	}
	fetch_more(s);
}

static gmail_done_fn message_fetched;

static bool
batch_full(const struct source *s)
{
	return ingest_batch_bytes(s->batch) >= conf(s)->batch_bytes;
}

/*
 * The batch has nothing left but requests waiting to be tried again
 * (after a 429's Retry-After, say). Rather than hold the batch, and the
 * account with it, for them, the batch is committed and they are fetched
 * with the next one. Not the last batch: the cursor goes with it, after
 * every message.
 */
static bool
batch_waits_on_retries(struct source *s)
{
	return !s->stopping && s->b_issued == s->b_n && s->b_outstanding > 0 &&
	    s->next < s->n_ids &&
	    gmail_api_delayed(s->api, GMAIL_GET) == s->b_outstanding;
}

/* Puts a message of the batch back first among the ids not checked. */
static void
batch_defer(const char *id, void *arg)
{
	struct source *s = arg;
	size_t i, j;
	char *tmp;

	for (j = 0; j < s->b_n && strcmp(s->b_ids[j], id) != 0; j++)
		;
	for (i = s->next; i > 0 && s->ids[i - 1] != s->b_ids[j]; i--)
		;
	if (j == s->b_n || i == 0)
		fatalx("gmail: a deferred message is not in the batch");
	tmp = s->ids[i - 1];
	s->ids[i - 1] = s->ids[s->next - 1];
	s->ids[s->next - 1] = tmp;
	s->next--;
	s->b_ids[j] = s->b_ids[s->b_n - 1];
	s->b_n--;
	s->b_issued--;
	s->b_outstanding--;
}

/* A message of the batch may be the last one left, waiting for a retry. */
static void
fetch_delayed(void *arg)
{
	struct source *s = arg;

	if (s->b_ids != NULL && s->b_outstanding > 0)
		fetch_more(s);
}

static void
fetch_more(struct source *s)
{
	while (s->b_issued < s->b_n && s->b_outstanding < GMAIL_MAX_IN_FLIGHT &&
	    !s->stopping && !batch_full(s)) {
		const char *id = s->b_ids[s->b_issued++];
		char *esc = http_escape(id);

		s->b_outstanding++;
		gmail_api_call(s->api, GMAIL_GET, id, message_fetched, s,
		    "messages/%s?format=raw", esc);
		free(esc);
	}
	if (batch_waits_on_retries(s)) {
		size_t n =
		    gmail_api_drop_delayed(s->api, GMAIL_GET, batch_defer, s);

		log_info("account=%s: %zu messages wait to be tried again; "
			 "they go with the next batch",
		    name(s), n);
	}
	if (s->b_outstanding == 0)
		batch_commit(s);
}

/*
 * A message whose answer is unfit is not stored: stored empty, it would
 * never be fetched again. The rest of the pass goes on, and then fails
 * without moving the cursor, so that the next pass asks for it again.
 */
static bool
refused_message(struct source *s, const char *id, json_t *j)
{
	char *why = gmail_message_problem(j);

	if (why == NULL)
		return false;
	log_warnx(
	    "account=%s: messages.get %s: %s; not stored", name(s), id, why);
	if (s->refused == NULL)
		s->refused =
		    xasprintf("messages.get %s: %s; not stored", id, why);
	s->n_refused++;
	free(why);
	return true;
}

/* Adds a message found fit to the batch, cut to the size the store
 * takes. */
static void
message_add(struct source *s, const char *id, json_t *j)
{
	struct gmail_message m;
	size_t max = ingest_max_message_size(), len;

	if (!gmail_message_read(j, id, &m))
		fatalx("gmail: messages.get %s: raw checked, yet not base64url",
		    id);
	len = max > 0 && m.len > max ? max : m.len;
	ingest_batch_add(s->batch, m.data, len, len < m.len, &m.meta);
	gmail_message_clear(&m);
}

static void
message_fetched(const struct gmail_result *res, void *arg)
{
	struct source *s = arg;

	s->b_outstanding--;
	if (res->status == 404) {
		log_info("account=%s: message %s was deleted before it could "
			 "be fetched",
		    name(s), res->id);
		s->n_gone++;
	} else if (failed_call(s, res))
		return;
	else if (!refused_message(s, res->id, res->json)) {
		message_add(s, res->id, res->json);
		s->n_fetched++;
	}
	fetch_more(s);
}

static void batch_committed(bool ok, const char *error, void *arg);
static void changes_apply(struct source *s);

static void
batch_commit(struct source *s)
{
	struct ingest_batch *b = s->batch;
	struct source_cursor cur;

	s->batch = NULL;
	/* The cursor goes with the last batch of a complete pass only. */
	s->last = !s->stopping && s->b_issued == s->b_n && s->next == s->n_ids;
	memset(&cur, 0, sizeof(cur));
	/* Not past a message refused: the next pass fetches it again. The
	 * label changes, when there are any, carry the cursor instead. */
	cur.history_id = s->last && s->refused == NULL && !has_changes(s)
	    ? s->next_cursor
	    : NULL;
	s->committing = true;
	source_commit(&s->env, b, &cur, batch_committed, s);
}

static void
batch_committed(bool ok, const char *error, void *arg)
{
	struct source *s = arg;

	s->committing = false;
	if (s->failed) {
		pass_end(s);
		return;
	}
	if (!ok) {
		pass_fail(s, "cannot store Gmail messages: %s",
		    error ? error : "database error");
		return;
	}
	if (s->last && has_changes(s)) {
		changes_apply(s);
		return;
	}
	if (s->last) {
		if (s->refused == NULL &&
		    s->n_fetched + s->n_known + s->n_gone > 0)
			log_info(
			    "account=%s: %zu messages fetched, %zu already "
			    "stored, %zu gone; history now at %s",
			    name(s), s->n_fetched, s->n_known, s->n_gone,
			    s->next_cursor);
		pass_end(s);
		return;
	}
	batch_next(s);
}

/* Label changes ------------------------------------------------------------- */

static void changes_applied(bool ok, const char *error, void *arg);

/*
 * After the messages they may name are stored: a message new in this
 * span gets the changes again, which leave it as messages.get gave it.
 * The cursor comes with them, as with the last batch.
 */
static void
changes_apply(struct source *s)
{
	struct source_cursor cur;

	memset(&cur, 0, sizeof(cur));
	cur.history_id = s->refused == NULL ? s->next_cursor : NULL;
	s->committing = true;
	source_apply_label_changes(
	    &s->env, gmail_changes_list(s->changes), &cur, changes_applied, s);
}

static void
changes_applied(bool ok, const char *error, void *arg)
{
	struct source *s = arg;

	s->committing = false;
	if (s->failed) {
		pass_end(s);
		return;
	}
	if (!ok) {
		pass_fail(s, "cannot apply Gmail label changes: %s",
		    error ? error : "database error");
		return;
	}
	if (s->refused == NULL)
		log_info("account=%s: %zu messages fetched, %zu already "
			 "stored, %zu gone, %zu label changes; history now "
			 "at %s",
		    name(s), s->n_fetched, s->n_known, s->n_gone,
		    gmail_changes_list(s->changes)->n, s->next_cursor);
	pass_end(s);
}

/* Control ------------------------------------------------------------------- */

static void
gmail_stop(struct source *s)
{
	s->stopping = true;
	/* Between passes: the notices for this mailbox go to whoever
	 * runs it now. */
	if (!s->running)
		gmail_push_away(s->push);
	/* A commit or a host look-up reports back, and ends the pass. */
	if (!s->running || s->committing || s->host_wait)
		return;
	if (s->b_ids == NULL) {
		/* Listing: nothing to finish. */
		pass_end(s);
		return;
	}
	/* Requests not yet sent are dropped; those in flight are awaited. */
	s->b_outstanding -= gmail_api_drop_unsent(s->api, GMAIL_GET);
	if (s->b_outstanding == 0)
		batch_commit(s);
}

/* Push through Pub/Sub (gmail_push.c) when [gmail] sets it up and the
 * account has not turned it off; polling goes on either way. */
static void
gmail_watch(struct source *s, source_wake_fn *wake, void *arg)
{
	s->push = gmail_push_add(conf(s), wake, arg);
}

static void
gmail_destroy(struct source *s)
{
	if (s == NULL)
		return;
	gmail_push_remove(s->push);
	gmail_api_free(s->api);
	clear_batch(s);
	clear_ids(s);
	clear_changes(s);
	free(s->start_history);
	free(s->next_cursor);
	free(s->page_token);
	free(s->error);
	free(s->refused);
	free(s);
}

const struct source_ops source_gmail_ops = {
    .type = "gmail",
    .create = gmail_create,
    .sync = gmail_sync,
    .stop = gmail_stop,
    .watch = gmail_watch,
    .destroy = gmail_destroy,
};
