/*
 * The Gmail API call engine: a token bucket for the account's quota, a
 * queue of calls waiting for quota and a slot, access tokens from
 * oauth.c, and the retries of gmail_api.h. A call's life:
 *   gmail_api_call -> pump -> token_ready -> call_answered
 *     -> call_finish, or (call_later | requeue) -> pump ...
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "config.h"
#include "gmail_api.h"
#include "http.h"
#include "log.h"
#include "oauth.h"
#include "util.h"

#define CALL_TIMEOUT_MS 300000
#define RATE_ATTEMPTS 12 /* 429s and rate-limit 403s per request */
#define ERROR_ATTEMPTS 5 /* 5xx and failed transfers per request */

/* Token bucket -------------------------------------------------------------- */

void
gmail_bucket_init(struct gmail_bucket *b, int units_per_sec, int64_t now)
{
	b->rate = units_per_sec > 0 ? units_per_sec : 1;
	b->burst = b->rate / 2 > 5 ? b->rate / 2 : 5;
	b->level = b->burst;
	b->at = now;
	b->paused_until = 0;
}

static void
bucket_refill(struct gmail_bucket *b, int64_t now)
{
	if (now <= b->at)
		return;
	b->level += (double)(now - b->at) * b->rate / 1000.0;
	if (b->level > b->burst)
		b->level = b->burst;
	b->at = now;
}

bool
gmail_bucket_take(struct gmail_bucket *b, int cost, int64_t now)
{
	bucket_refill(b, now);
	if (now < b->paused_until || b->level < cost)
		return false;
	b->level -= cost;
	return true;
}

int64_t
gmail_bucket_wait(struct gmail_bucket *b, int cost, int64_t now)
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

void
gmail_bucket_pause(struct gmail_bucket *b, int64_t until)
{
	if (until > b->paused_until)
		b->paused_until = until;
	b->level = 0;
	b->at = b->paused_until;
}

/* Google's errors ----------------------------------------------------------- */

/* Google's error shape: {"error": {"code", "message", "errors": [{"domain",
 * "reason", "message"}], "status"}}. */
static const char *
error_reason(json_t *j)
{
	json_t *errors = json_object_get(json_object_get(j, "error"), "errors");

	return json_string_value(
	    json_object_get(json_array_get(errors, 0), "reason"));
}

char *
gmail_error_text(long status, json_t *j)
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

bool
gmail_is_rate_limited(long status, json_t *j)
{
	const char *reason = error_reason(j);

	if (status == 429)
		return true;
	return status == 403 && reason != NULL &&
	    (strcmp(reason, "rateLimitExceeded") == 0 ||
		strcmp(reason, "userRateLimitExceeded") == 0);
}

/* Calls --------------------------------------------------------------------- */

static const struct {
	const char *name;
	int cost; /* quota units */
} methods[] = {
    [GMAIL_PROFILE] = {"users.getProfile", 1},
    [GMAIL_LIST] = {"messages.list", 5},
    [GMAIL_GET] = {"messages.get", 5},
    [GMAIL_HISTORY] = {"history.list", 2},
};

enum call_state {
	CALL_QUEUED, /* waiting for quota and a slot */
	CALL_TOKEN, /* waiting for an access token */
	CALL_SENT,
	CALL_BACKOFF, /* waiting after a failure */
};

struct call {
	TAILQ_ENTRY(call) all; /* every live call of the account */
	TAILQ_ENTRY(call) queue; /* CALL_QUEUED only */
	struct gmail_api *g;
	enum gmail_method m;
	enum call_state state;
	char *url;
	char *id; /* handed back in the result */
	unsigned rate_attempts;
	unsigned error_attempts;
	bool reauthed;
	char *token; /* the token of the attempt in flight */
	char *failure; /* reported from the loop, when set */
	struct xfer *x;
	struct event *timer;
	gmail_done_fn *done;
	void *arg;
};
TAILQ_HEAD(call_list, call);

struct gmail_api {
	struct event_base *base;
	struct http *http;
	const struct account_conf *conf;
	struct oauth *oauth;
	char *users_url; /* ".../gmail/v1/users/me" */
	struct gmail_bucket bucket;
	struct call_list calls;
	struct call_list queue;
	size_t in_flight; /* calls holding a slot */
	struct event *pump_timer;
};

static void call_answered(struct xfer_result *r, void *arg);
static void pump(struct gmail_api *g);

struct gmail_api *
gmail_api_new(
    struct event_base *base, struct http *http, const struct account_conf *c)
{
	struct gmail_api *g = xcalloc(1, sizeof(*g));
	size_t len = strlen(c->api_base);

	g->base = base;
	g->http = http;
	g->conf = c;
	while (len > 0 && c->api_base[len - 1] == '/')
		len--;
	g->users_url =
	    xasprintf("%.*s/gmail/v1/users/me", (int)len, c->api_base);
	g->oauth = oauth_new(base, http, c, OAUTH_SCOPE_GMAIL_READONLY);
	TAILQ_INIT(&g->calls);
	TAILQ_INIT(&g->queue);
	gmail_bucket_init(&g->bucket, c->quota_units, mono_msec());
	if (strncmp(c->api_base, "http://", 7) == 0)
		log_warnx("account=%s: api_base is plain http: tokens and mail "
			  "cross the network in clear text",
		    c->name);
	return g;
}

void
gmail_api_free(struct gmail_api *g)
{
	if (g == NULL)
		return;
	gmail_api_cancel(g);
	if (g->pump_timer)
		event_free(g->pump_timer);
	oauth_free(g->oauth);
	free(g->users_url);
	free(g);
}

void
gmail_api_call(struct gmail_api *g, enum gmail_method m, const char *id,
    gmail_done_fn *done, void *arg, const char *fmt, ...)
{
	struct call *c = xcalloc(1, sizeof(*c));
	va_list ap;
	char *path;

	va_start(ap, fmt);
	path = xvasprintf(fmt, ap);
	va_end(ap);
	c->g = g;
	c->m = m;
	c->url = xasprintf("%s/%s", g->users_url, path);
	c->id = id ? xstrdup(id) : NULL;
	c->done = done;
	c->arg = arg;
	c->state = CALL_QUEUED;
	TAILQ_INSERT_TAIL(&g->calls, c, all);
	TAILQ_INSERT_TAIL(&g->queue, c, queue);
	free(path);
	pump(g);
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
	struct gmail_api *g = c->g;

	switch (c->state) {
	case CALL_QUEUED:
		TAILQ_REMOVE(&g->queue, c, queue);
		break;
	case CALL_TOKEN:
		oauth_cancel(g->oauth, c);
		g->in_flight--;
		break;
	case CALL_SENT:
		http_cancel(c->x);
		g->in_flight--;
		break;
	case CALL_BACKOFF:
		break;
	}
	TAILQ_REMOVE(&g->calls, c, all);
	call_release(c);
}

void
gmail_api_cancel(struct gmail_api *g)
{
	struct call *c;

	while ((c = TAILQ_FIRST(&g->calls)) != NULL)
		call_free(c);
}

size_t
gmail_api_drop_unsent(struct gmail_api *g, enum gmail_method m)
{
	struct call *c, *next;
	size_t n = 0;

	for (c = TAILQ_FIRST(&g->calls); c != NULL; c = next) {
		next = TAILQ_NEXT(c, all);
		if (c->m == m &&
		    (c->state == CALL_QUEUED || c->state == CALL_BACKOFF)) {
			call_free(c);
			n++;
		}
	}
	return n;
}

/* Reports the outcome and frees the call. */
static void
call_finish(struct call *c, long status, json_t *json, const char *error)
{
	struct gmail_result res = {c->m, c->id, status, json, error};

	TAILQ_REMOVE(&c->g->calls, c, all);
	c->done(&res, c->arg);
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
pump(struct gmail_api *g)
{
	struct call *c;

	while ((c = TAILQ_FIRST(&g->queue)) != NULL &&
	    g->in_flight < GMAIL_MAX_IN_FLIGHT) {
		int64_t now = mono_msec();
		int cost = methods[c->m].cost;

		if (!gmail_bucket_take(&g->bucket, cost, now)) {
			if (g->pump_timer == NULL)
				g->pump_timer =
				    evtimer_new(g->base, pump_due, g);
			timer_add_ms(g->pump_timer,
			    gmail_bucket_wait(&g->bucket, cost, now));
			return;
		}
		TAILQ_REMOVE(&g->queue, c, queue);
		c->state = CALL_TOKEN;
		g->in_flight++;
		/* May call back at once, and may end the caller's work: the
		 * loop looks at the queue again. */
		oauth_get(g->oauth, token_ready, c);
	}
}

static void
token_ready(const char *token, const char *error, void *arg)
{
	struct call *c = arg;
	struct gmail_api *g = c->g;
	struct xfer_opts o;

	if (token == NULL) {
		/* This may be inside pump(): report from the loop. */
		g->in_flight--;
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
	o.verify = g->conf->tls_verify;
	o.ca_file = g->conf->ca_file;
	o.timeout_ms = CALL_TIMEOUT_MS;
	o.low_speed_secs = 60;
	c->state = CALL_SENT;
	c->x = http_start(g->http, &o, call_answered, c);
}

static void
requeue(struct call *c)
{
	c->state = CALL_QUEUED;
	TAILQ_INSERT_HEAD(&c->g->queue, c, queue);
	pump(c->g);
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
		c->timer = evtimer_new(c->g->base, backoff_due, c);
	timer_add_ms(c->timer, ms);
}

static void
call_rate_limited(struct call *c, const struct xfer_result *r, json_t *j)
{
	struct gmail_api *g = c->g;
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
	    g->conf->name, methods[c->m].name, r->status, ms);
	gmail_bucket_pause(&g->bucket, mono_msec() + ms);
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
	log_info("account=%s: %s: %s; again in %u ms", c->g->conf->name,
	    methods[c->m].name, why, ms);
	call_later(c, ms);
}

static void
call_answered(struct xfer_result *r, void *arg)
{
	struct call *c = arg;
	struct gmail_api *g = c->g;
	json_t *j = NULL;
	char *why;

	c->x = NULL;
	g->in_flight--;
	c->state = CALL_BACKOFF;
	if (!r->ok) {
		call_transient(c, r->error);
		pump(g);
		return;
	}
	if (r->body.len > 0)
		j = json_loadb(r->body.data, r->body.len, 0, NULL);
	/* The answer can be large (raw mail): let it go early. */
	buf_free(&r->body);
	if (r->status == 401 && !c->reauthed) {
		c->reauthed = true;
		oauth_invalidate(g->oauth, c->token);
		requeue(c);
	} else if (r->status == 401) {
		why = gmail_error_text(r->status, j);
		call_finish(c, 0, NULL, why);
		free(why);
	} else if (gmail_is_rate_limited(r->status, j))
		call_rate_limited(c, r, j);
	else if (r->status >= 500) {
		why = gmail_error_text(r->status, j);
		call_transient(c, why);
		free(why);
	} else if (r->status >= 200 && r->status < 300 && j == NULL)
		call_finish(c, 0, NULL, "the answer is not JSON");
	else
		call_finish(c, r->status, j, NULL);
	json_decref(j);
	pump(g);
}

/* Results ------------------------------------------------------------------- */

bool
gmail_result_ok(const struct gmail_result *res)
{
	return res->status >= 200 && res->status < 300;
}

char *
gmail_result_why(const struct gmail_result *res)
{
	const char *method = methods[res->method].name;
	char *detail, *s;

	if (res->status == 0)
		return xasprintf("%s: %s", method, res->error);
	detail = gmail_error_text(res->status, res->json);
	s = xasprintf("%s: %s", method, detail);
	free(detail);
	return s;
}
