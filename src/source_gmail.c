/*
 * The Gmail driver: the Gmail REST API over http.c, with tokens from
 * oauth.c.
 *
 * A sync pass reads as a story. With a stored historyId:
 *   gmail_sync -> cursor_loaded -> history_next -> history_listed ...
 * the first time, or when that history has expired (HTTP 404):
 *   ... -> newest_known -> profile_next -> profile_loaded
 *     -> list_next -> page_listed ...
 * and then, for the message ids found:
 *   batch_next -> known_checked -> fetch_more -> message_fetched ...
 *     -> batch_committed -> batch_next ... -> pass_end
 *
 * The cursor to commit is read before listing (users.getProfile, or the
 * historyId of history.list), so that mail arriving meanwhile is seen
 * again next time rather than skipped; it is committed with the last
 * batch only, so that an interrupted pass starts over from the old
 * cursor and skips what it already stored.
 *
 * Every API request is a call: it waits for quota units in the account's
 * token bucket and for a free slot (at most MAX_IN_FLIGHT at once), gets
 * an access token, and is retried on 401 (once, with a new token), on
 * 429 or a rate-limit 403 (after Retry-After, or backoff; the whole
 * account pauses) and on 5xx or no answer (backoff).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <glib.h>
#include <jansson.h>

#include "config.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "oauth.h"
#include "source.h"
#include "util.h"

#define MAX_IN_FLIGHT 10 /* requests at once, per account */
#define PAGE_SIZE 500 /* messages.list and history.list */
#define CALL_TIMEOUT_MS 300000
#define RATE_ATTEMPTS 12 /* 429s and rate-limit 403s per request */
#define ERROR_ATTEMPTS 5 /* 5xx and failed transfers per request */
#define GMAIL_MAILBOX "gmail" /* the cursor's name in sync_state */

/* Token bucket -------------------------------------------------------------- */

/*
 * Quota units per second, as Google counts them per user. The bucket
 * saves up at most half a second's worth, so that a burst stays well
 * inside what the server's own accounting allows.
 */
struct bucket {
	double level; /* units available */
	double rate; /* units per second */
	double burst; /* most units saved up */
	int64_t at; /* monotonic ms when level was right */
	int64_t paused_until; /* after a 429: nothing before then */
};

static void
bucket_init(struct bucket *b, int units_per_sec, int64_t now)
{
	b->rate = units_per_sec > 0 ? units_per_sec : 1;
	b->burst = b->rate / 2 > 5 ? b->rate / 2 : 5;
	b->level = b->burst;
	b->at = now;
	b->paused_until = 0;
}

static void
bucket_refill(struct bucket *b, int64_t now)
{
	if (now <= b->at)
		return;
	b->level += (double)(now - b->at) * b->rate / 1000.0;
	if (b->level > b->burst)
		b->level = b->burst;
	b->at = now;
}

/* Spends cost units when they are there and no pause is on. */
static bool
bucket_take(struct bucket *b, int cost, int64_t now)
{
	bucket_refill(b, now);
	if (now < b->paused_until || b->level < cost)
		return false;
	b->level -= cost;
	return true;
}

/* Milliseconds until bucket_take(cost) can succeed (at least 1). */
static int64_t
bucket_wait(struct bucket *b, int cost, int64_t now)
{
	int64_t ms;

	bucket_refill(b, now);
	if (now < b->paused_until)
		return b->paused_until - now;
	if (b->level >= cost)
		return 1;
	ms = (int64_t)ceil((cost - b->level) * 1000.0 / b->rate);
	return ms > 0 ? ms : 1;
}

/* The server said to wait: spend nothing until then, and start again
 * from an empty bucket. */
static void
bucket_pause(struct bucket *b, int64_t until)
{
	if (until > b->paused_until)
		b->paused_until = until;
	b->level = 0;
	b->at = b->paused_until;
}

/* The driver ---------------------------------------------------------------- */

enum method {
	M_PROFILE,
	M_LIST,
	M_GET,
	M_HISTORY,
};

static const struct {
	const char *name;
	int cost; /* quota units */
} methods[] = {
    [M_PROFILE] = {"users.getProfile", 1},
    [M_LIST] = {"messages.list", 5},
    [M_GET] = {"messages.get", 5},
    [M_HISTORY] = {"history.list", 2},
};

struct call;
struct call_result {
	long status; /* HTTP status; 0 when the call failed */
	json_t *json; /* the answer (or Google's error), or NULL */
	const char *error; /* why, when status is 0 */
};
typedef void call_done_fn(
    struct source *s, struct call *c, const struct call_result *res);

enum call_state {
	CALL_QUEUED, /* waiting for quota and a slot */
	CALL_TOKEN, /* waiting for an access token */
	CALL_SENT,
	CALL_BACKOFF, /* waiting after a failure */
};

struct call {
	TAILQ_ENTRY(call) all; /* every live call of the source */
	TAILQ_ENTRY(call) queue; /* CALL_QUEUED only */
	struct source *s;
	enum method m;
	enum call_state state;
	char *url;
	char *id; /* messages.get: the message id */
	unsigned rate_attempts;
	unsigned error_attempts;
	bool reauthed;
	char *token; /* the token of the attempt in flight */
	char *failure; /* reported from the loop, when set */
	struct xfer *x;
	struct event *timer;
	call_done_fn *done;
};
TAILQ_HEAD(call_list, call);

struct source {
	struct source_env env;
	struct oauth *oauth;
	char *users_url; /* ".../gmail/v1/users/me" */
	struct bucket bucket;
	struct call_list calls;
	struct call_list queue;
	size_t in_flight; /* calls holding a slot */
	struct event *pump_timer;
	source_wake_fn *wake; /* for a push hook; not used yet */
	void *wake_arg;

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
	int64_t after; /* listing: epoch seconds; 0 for all */
	char **ids; /* messages to store, each once */
	size_t n_ids, cap_ids;
	GHashTable *seen; /* ids already in ids[] */
	size_t next; /* first id not yet checked */
	size_t n_known, n_fetched, n_gone;

	/* The batch in progress. */
	struct ingest_batch *batch;
	char **b_ids; /* ids to fetch: not stored yet */
	size_t b_n;
	size_t b_issued; /* b_ids[0 .. b_issued) requested */
	size_t b_outstanding; /* requested, not yet answered */
	bool committing;
	bool last; /* this batch carries the cursor */
};

static void call_answered(struct xfer_result *r, void *arg);
static void pump(struct source *s);
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

static struct source *
gmail_create(const struct source_env *env)
{
	struct source *s = xcalloc(1, sizeof(*s));
	const char *base = env->conf->api_base;
	size_t len = strlen(base);

	s->env = *env;
	while (len > 0 && base[len - 1] == '/')
		len--;
	s->users_url = xasprintf("%.*s/gmail/v1/users/me", (int)len, base);
	s->oauth = oauth_new(
	    env->base, env->http, env->conf, OAUTH_SCOPE_GMAIL_READONLY);
	TAILQ_INIT(&s->calls);
	TAILQ_INIT(&s->queue);
	bucket_init(&s->bucket, env->conf->quota_units, mono_msec());
	if (strncmp(base, "http://", 7) == 0)
		log_warnx("account=%s: api_base is plain http: tokens and mail "
			  "cross the network in clear text",
		    env->conf->name);
	return s;
}

/* Calls --------------------------------------------------------------------- */

/* Queues a request (url is taken over); it calls done from the loop. */
static void
call_new(struct source *s, enum method m, char *url, const char *id,
    call_done_fn *done)
{
	struct call *c = xcalloc(1, sizeof(*c));

	c->s = s;
	c->m = m;
	c->url = url;
	c->id = id ? xstrdup(id) : NULL;
	c->done = done;
	c->state = CALL_QUEUED;
	TAILQ_INSERT_TAIL(&s->calls, c, all);
	TAILQ_INSERT_TAIL(&s->queue, c, queue);
	pump(s);
}

static void
clear_token(struct call *c)
{
	if (c->token == NULL)
		return;
	explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	c->token = NULL;
}

static void
call_release(struct call *c)
{
	if (c->timer)
		event_free(c->timer);
	clear_token(c);
	free(c->failure);
	free(c->url);
	free(c->id);
	free(c);
}

/* Drops a call without calling back. */
static void
call_free(struct call *c)
{
	struct source *s = c->s;

	switch (c->state) {
	case CALL_QUEUED:
		TAILQ_REMOVE(&s->queue, c, queue);
		break;
	case CALL_TOKEN:
		oauth_cancel(s->oauth, c);
		s->in_flight--;
		break;
	case CALL_SENT:
		http_cancel(c->x);
		s->in_flight--;
		break;
	case CALL_BACKOFF:
		break;
	}
	TAILQ_REMOVE(&s->calls, c, all);
	call_release(c);
}

static void
cancel_calls(struct source *s)
{
	struct call *c;

	while ((c = TAILQ_FIRST(&s->calls)) != NULL)
		call_free(c);
}

/* Reports the outcome and frees the call. */
static void
call_finish(struct call *c, long status, json_t *json, const char *error)
{
	struct source *s = c->s;
	struct call_result res = {status, json, error};

	TAILQ_REMOVE(&s->calls, c, all);
	c->done(s, c, &res);
	call_release(c);
}

static void
pump_due(evutil_socket_t fd, short what, void *arg)
{
	pump(arg);
}

static void token_ready(const char *token, const char *error, void *arg);
static void call_later(struct call *c, unsigned ms);

/* Starts the queued calls that quota and the slots allow. */
static void
pump(struct source *s)
{
	struct call *c;

	while ((c = TAILQ_FIRST(&s->queue)) != NULL &&
	    s->in_flight < MAX_IN_FLIGHT) {
		int64_t now = mono_msec();

		if (!bucket_take(&s->bucket, methods[c->m].cost, now)) {
			int64_t ms =
			    bucket_wait(&s->bucket, methods[c->m].cost, now);

			if (s->pump_timer == NULL)
				s->pump_timer =
				    evtimer_new(s->env.base, pump_due, s);
			timer_add_ms(s->pump_timer, ms);
			return;
		}
		TAILQ_REMOVE(&s->queue, c, queue);
		c->state = CALL_TOKEN;
		s->in_flight++;
		/* May call back at once, and may end the pass: the loop
		 * looks at the queue again. */
		oauth_get(s->oauth, token_ready, c);
	}
}

static void
token_ready(const char *token, const char *error, void *arg)
{
	struct call *c = arg;
	struct source *s = c->s;
	struct xfer_opts o;

	if (token == NULL) {
		/* This may be inside pump(): report from the loop. */
		s->in_flight--;
		c->failure = xstrdup(error);
		call_later(c, 0);
		return;
	}
	clear_token(c);
	c->token = xstrdup(token);
	memset(&o, 0, sizeof(o));
	o.url = c->url;
	o.bearer = c->token;
	o.tls = XFER_TLS_IMPLICIT;
	o.verify = conf(s)->tls_verify;
	o.ca_file = conf(s)->ca_file;
	o.timeout_ms = CALL_TIMEOUT_MS;
	o.low_speed_secs = 60;
	c->state = CALL_SENT;
	c->x = http_start(s->env.http, &o, call_answered, c);
}

static void
requeue(struct call *c)
{
	c->state = CALL_QUEUED;
	TAILQ_INSERT_HEAD(&c->s->queue, c, queue);
	pump(c->s);
}

static void
backoff_due(evutil_socket_t fd, short what, void *arg)
{
	struct call *c = arg;

	if (c->failure != NULL)
		call_finish(c, 0, NULL, c->failure);
	else
		requeue(c);
}

static void
call_later(struct call *c, unsigned ms)
{
	c->state = CALL_BACKOFF;
	if (c->timer == NULL)
		c->timer = evtimer_new(c->s->env.base, backoff_due, c);
	timer_add_ms(c->timer, ms);
}

/* Google's error shape: {"error": {"code", "message", "errors": [{"domain",
 * "reason", "message"}], "status"}}. */
static const char *
error_reason(json_t *j)
{
	json_t *errors = json_object_get(json_object_get(j, "error"), "errors");

	return json_string_value(
	    json_object_get(json_array_get(errors, 0), "reason"));
}

static char *
error_text(long status, json_t *j)
{
	json_t *e = json_object_get(j, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *reason = error_reason(j);

	if (msg == NULL && json_is_string(e))
		msg = json_string_value(e);
	return xasprintf("HTTP %ld: %s%s%s%s", status,
	    msg ? msg : "no error message", reason ? " (reason " : "",
	    reason ? reason : "", reason ? ")" : "");
}

static bool
is_rate_limited(long status, json_t *j)
{
	const char *reason = error_reason(j);

	if (status == 429)
		return true;
	return status == 403 && reason != NULL &&
	    (strcmp(reason, "rateLimitExceeded") == 0 ||
		strcmp(reason, "userRateLimitExceeded") == 0);
}

static void
call_rate_limited(struct call *c, const struct xfer_result *r, json_t *j)
{
	struct source *s = c->s;
	unsigned ms;

	if (++c->rate_attempts >= RATE_ATTEMPTS) {
		call_finish(c, r->status, j, NULL);
		return;
	}
	if (r->retry_after >= 0)
		ms = r->retry_after > 3600 ? 3600000u
					   : (unsigned)r->retry_after * 1000u;
	else
		ms = backoff_msec(c->rate_attempts, 1000, 64000);
	log_info("account=%s: %s rate-limited (HTTP %ld); pausing %u ms",
	    name(s), methods[c->m].name, r->status, ms);
	bucket_pause(&s->bucket, mono_msec() + ms);
	requeue(c);
}

static void
call_transient(struct call *c, const char *why)
{
	unsigned ms;

	if (++c->error_attempts >= ERROR_ATTEMPTS) {
		char *msg = xasprintf("%s failed %u times, last: %s",
		    methods[c->m].name, c->error_attempts, why);

		call_finish(c, 0, NULL, msg);
		free(msg);
		return;
	}
	ms = backoff_msec(c->error_attempts, 500, 16000);
	log_info("account=%s: %s: %s; again in %u ms", name(c->s),
	    methods[c->m].name, why, ms);
	call_later(c, ms);
}

static void
call_answered(struct xfer_result *r, void *arg)
{
	struct call *c = arg;
	struct source *s = c->s;
	json_t *j = NULL;
	char *why;

	c->x = NULL;
	s->in_flight--;
	c->state = CALL_BACKOFF;
	if (!r->ok) {
		call_transient(c, r->error);
		pump(s);
		return;
	}
	if (r->body.len > 0)
		j = json_loadb(r->body.data, r->body.len, 0, NULL);
	/* The answer can be large (raw mail): let it go early. */
	buf_free(&r->body);
	if (r->status == 401 && !c->reauthed) {
		c->reauthed = true;
		oauth_invalidate(s->oauth, c->token);
		requeue(c);
	} else if (r->status == 401) {
		why = error_text(r->status, j);
		call_finish(c, 0, NULL, why);
		free(why);
	} else if (is_rate_limited(r->status, j))
		call_rate_limited(c, r, j);
	else if (r->status >= 500) {
		why = error_text(r->status, j);
		call_transient(c, why);
		free(why);
	} else if (r->status >= 200 && r->status < 300 && j == NULL)
		call_finish(c, 0, NULL, "the answer is not JSON");
	else
		call_finish(c, r->status, j, NULL);
	json_decref(j);
	pump(s);
}

/* A call's failure in words: "messages.list: HTTP 400: ...". */
static char *
call_why(const struct call *c, const struct call_result *res)
{
	char *detail, *s;

	if (res->status == 0)
		return xasprintf("%s: %s", methods[c->m].name, res->error);
	detail = error_text(res->status, res->json);
	s = xasprintf("%s: %s", methods[c->m].name, detail);
	free(detail);
	return s;
}

static bool
call_ok(const struct call_result *res)
{
	return res->status >= 200 && res->status < 300;
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
	char *error = s->error;
	bool ok = !s->failed;

	cancel_calls(s);
	clear_batch(s);
	clear_ids(s);
	free(s->start_history);
	free(s->next_cursor);
	free(s->page_token);
	s->start_history = s->next_cursor = s->page_token = NULL;
	s->running = false;
	s->failed = false;
	s->error = NULL;
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
	cancel_calls(s);
	/* A commit in flight reports back first; then the pass ends. */
	if (!s->committing)
		pass_end(s);
}

/* Fails the pass with a call's error; true when it did. */
static bool
failed_call(
    struct source *s, const struct call *c, const struct call_result *res)
{
	char *why;

	if (call_ok(res))
		return false;
	why = call_why(c, res);
	pass_fail(s, "%s", why);
	free(why);
	return true;
}

static void
add_id(struct source *s, const char *id)
{
	if (id == NULL || *id == '\0')
		return;
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

/* historyId is a decimal string; tolerate a number too. */
static char *
history_id_of(json_t *j)
{
	json_t *h = json_object_get(j, "historyId");

	if (json_is_string(h) && *json_string_value(h) != '\0')
		return xstrdup(json_string_value(h));
	if (json_is_integer(h))
		return xasprintf("%lld", (long long)json_integer_value(h));
	return NULL;
}

static void
set_page_token(struct source *s, json_t *j)
{
	const char *t = json_string_value(json_object_get(j, "nextPageToken"));

	free(s->page_token);
	s->page_token = t && *t ? xstrdup(t) : NULL;
}

static void history_next(struct source *s);

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
	if (cur != NULL && cur->history_id != NULL && *cur->history_id) {
		s->start_history = xstrdup(cur->history_id);
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
gmail_sync(struct source *s, source_done_fn *done, void *arg)
{
	s->done = done;
	s->done_arg = arg;
	s->running = true;
	s->stopping = false;
	s->failed = false;
	s->n_known = s->n_fetched = s->n_gone = 0;
	s->host_wait = true;
	source_load_cursor(&s->env, GMAIL_MAILBOX, cursor_loaded, s);
}

/* History ------------------------------------------------------------------- */

static void history_listed(
    struct source *s, struct call *c, const struct call_result *res);

static void
history_next(struct source *s)
{
	char *start = http_escape(s->start_history);
	char *page = s->page_token ? http_escape(s->page_token) : NULL;

	call_new(s, M_HISTORY,
	    xasprintf("%s/history?startHistoryId=%s"
		      "&historyTypes=messageAdded&historyTypes=labelAdded"
		      "&maxResults=%d%s%s",
		s->users_url, start, PAGE_SIZE, page ? "&pageToken=" : "",
		page ? page : ""),
	    NULL, history_listed);
	free(start);
	free(page);
}

static bool
has_wanted_label(json_t *labels)
{
	size_t i;
	json_t *l;

	json_array_foreach(labels, i, l) {
		const char *v = json_string_value(l);

		if (v && (strcmp(v, "INBOX") == 0 || strcmp(v, "SENT") == 0))
			return true;
	}
	return false;
}

/* Messages added to the mailbox, or newly labelled INBOX or SENT. */
static void
collect_history(struct source *s, json_t *records)
{
	size_t i, k;
	json_t *rec, *e;

	json_array_foreach(records, i, rec) {
		json_array_foreach(
		    json_object_get(rec, "messagesAdded"), k, e) {
			json_t *m = json_object_get(e, "message");

			if (has_wanted_label(json_object_get(m, "labelIds")))
				add_id(s,
				    json_string_value(
					json_object_get(m, "id")));
		}
		json_array_foreach(json_object_get(rec, "labelsAdded"), k, e) {
			json_t *m = json_object_get(e, "message");

			if (has_wanted_label(json_object_get(e, "labelIds")))
				add_id(s,
				    json_string_value(
					json_object_get(m, "id")));
		}
	}
}

static void newest_known(bool ok, int64_t t, void *arg);

static void
history_listed(struct source *s, struct call *c, const struct call_result *res)
{
	if (res->status == 404) {
		/* Too old: Google keeps history for a week or so. Catch up
		 * by date from the newest message stored; never jump. */
		log_warnx(
		    "account=%s: history since %s is no longer available; "
		    "catching up by date",
		    name(s), s->start_history);
		free(s->page_token);
		s->page_token = NULL;
		clear_ids(s);
		s->host_wait = true;
		source_newest_message(&s->env, newest_known, s);
		return;
	}
	if (failed_call(s, c, res))
		return;
	collect_history(s, json_object_get(res->json, "history"));
	set_page_token(s, res->json);
	if (s->page_token != NULL && !s->stopping) {
		history_next(s);
		return;
	}
	if (s->stopping) {
		pass_end(s);
		return;
	}
	free(s->next_cursor);
	s->next_cursor = history_id_of(res->json);
	if (s->next_cursor == NULL)
		s->next_cursor = xstrdup(s->start_history);
	if (s->n_ids > 0)
		log_info("account=%s: %zu new messages since history %s",
		    name(s), s->n_ids, s->start_history);
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

static void profile_loaded(
    struct source *s, struct call *c, const struct call_result *res);
static void page_listed(
    struct source *s, struct call *c, const struct call_result *res);

static void
profile_next(struct source *s)
{
	call_new(s, M_PROFILE, xasprintf("%s/profile", s->users_url), NULL,
	    profile_loaded);
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
	call_new(s, M_LIST,
	    xasprintf("%s/messages?maxResults=%d&q=%s%s%s", s->users_url,
		PAGE_SIZE, eq, page ? "&pageToken=" : "", page ? page : ""),
	    NULL, page_listed);
	free(q);
	free(eq);
	free(page);
}

static void
profile_loaded(struct source *s, struct call *c, const struct call_result *res)
{
	if (failed_call(s, c, res))
		return;
	free(s->next_cursor);
	/* Read before listing: whatever arrives from now on is in the
	 * history after this id. */
	if ((s->next_cursor = history_id_of(res->json)) == NULL) {
		pass_fail(s, "users.getProfile: the answer has no historyId");
		return;
	}
	free(s->page_token);
	s->page_token = NULL;
	list_next(s);
}

static void
page_listed(struct source *s, struct call *c, const struct call_result *res)
{
	size_t i;
	json_t *m;

	if (failed_call(s, c, res))
		return;
	json_array_foreach(json_object_get(res->json, "messages"), i, m)
		add_id(s, json_string_value(json_object_get(m, "id")));
	set_page_token(s, res->json);
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

static void message_fetched(
    struct source *s, struct call *c, const struct call_result *res);

static bool
batch_full(const struct source *s)
{
	return ingest_batch_bytes(s->batch) >= conf(s)->batch_bytes;
}

static void
fetch_more(struct source *s)
{
	while (s->b_issued < s->b_n && s->b_outstanding < MAX_IN_FLIGHT &&
	    !s->stopping && !batch_full(s)) {
		const char *id = s->b_ids[s->b_issued++];
		char *esc = http_escape(id);

		s->b_outstanding++;
		call_new(s, M_GET,
		    xasprintf("%s/messages/%s?format=raw", s->users_url, esc),
		    id, message_fetched);
		free(esc);
	}
	if (s->b_outstanding == 0)
		batch_commit(s);
}

static void
add_message(struct source *s, const char *id, json_t *j)
{
	const char *raw = json_string_value(json_object_get(j, "raw"));
	const char *date =
	    json_string_value(json_object_get(j, "internalDate"));
	json_t *labels = json_object_get(j, "labelIds"), *l;
	size_t n_labels = json_array_size(labels), i, max;
	const char **lv = xcalloc(n_labels + 1, sizeof(char *));
	struct ingest_meta meta;
	size_t raw_len = raw ? strlen(raw) : 0;
	char *data = xmalloc(raw_len / 4 * 3 + 3);
	long len = base64url_decode(raw ? raw : "", raw_len, data);
	bool truncated = false;

	memset(&meta, 0, sizeof(meta));
	json_array_foreach(labels, i, l) {
		lv[i] = json_string_value(l);
		if (lv[i] == NULL)
			lv[i] = "";
		if (strcmp(lv[i], "SENT") == 0)
			meta.outbound_hint = true;
	}
	meta.gmail_message_id = id;
	meta.gmail_thread_id =
	    json_string_value(json_object_get(j, "threadId"));
	meta.gmail_labels = lv;
	if (date != NULL)
		meta.internal_date = strtoll(date, NULL, 10) / 1000;
	if (raw == NULL || len < 0) {
		log_warnx("account=%s: messages.get %s: no usable raw message; "
			  "storing what there is",
		    name(s), id);
		len = len < 0 ? 0 : len;
	}
	max = ingest_max_message_size();
	if (max > 0 && (size_t)len > max) {
		len = (long)max;
		truncated = true;
	}
	ingest_batch_add(s->batch, data, (size_t)len, truncated, &meta);
	free(data);
	free(lv);
}

static void
message_fetched(struct source *s, struct call *c, const struct call_result *res)
{
	s->b_outstanding--;
	if (res->status == 404) {
		log_info("account=%s: message %s was deleted before it could "
			 "be fetched",
		    name(s), c->id);
		s->n_gone++;
	} else if (failed_call(s, c, res))
		return;
	else {
		add_message(s, c->id, res->json);
		s->n_fetched++;
	}
	fetch_more(s);
}

static void batch_committed(bool ok, const char *error, void *arg);

static void
batch_commit(struct source *s)
{
	struct ingest_batch *b = s->batch;
	struct source_cursor cur;

	s->batch = NULL;
	/* The cursor goes with the last batch of a complete pass only. */
	s->last = !s->stopping && s->b_issued == s->b_n && s->next == s->n_ids;
	memset(&cur, 0, sizeof(cur));
	cur.history_id = s->last ? s->next_cursor : NULL;
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
	if (s->last) {
		if (s->n_fetched + s->n_known + s->n_gone > 0)
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

/* Control ------------------------------------------------------------------- */

/* Requests not yet sent are dropped; those in flight are awaited. */
static void
drop_queued_gets(struct source *s)
{
	struct call *c, *next;

	for (c = TAILQ_FIRST(&s->calls); c != NULL; c = next) {
		next = TAILQ_NEXT(c, all);
		if (c->m == M_GET &&
		    (c->state == CALL_QUEUED || c->state == CALL_BACKOFF)) {
			call_free(c);
			s->b_outstanding--;
		}
	}
}

static void
gmail_stop(struct source *s)
{
	s->stopping = true;
	/* A commit or a host look-up reports back, and ends the pass. */
	if (!s->running || s->committing || s->host_wait)
		return;
	if (s->b_ids == NULL) {
		/* Listing: nothing to finish. */
		pass_end(s);
		return;
	}
	drop_queued_gets(s);
	if (s->b_outstanding == 0)
		batch_commit(s);
}

/*
 * A push hook (Gmail's users.watch through Pub/Sub, relayed by
 * "inboxctl gmail-notify") would call wake; until it exists, polling
 * every poll_interval does the work.
 */
static void
gmail_watch(struct source *s, source_wake_fn *wake, void *arg)
{
	s->wake = wake;
	s->wake_arg = arg;
}

static void
gmail_destroy(struct source *s)
{
	if (s == NULL)
		return;
	cancel_calls(s);
	clear_batch(s);
	clear_ids(s);
	if (s->pump_timer)
		event_free(s->pump_timer);
	oauth_free(s->oauth);
	free(s->start_history);
	free(s->next_cursor);
	free(s->page_token);
	free(s->error);
	free(s->users_url);
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
