/*
 * The Gmail API call engine: a token bucket for the account's quota
 * whose rate the AIMD controller sets, one project bucket shared by all
 * accounts, a queue of calls waiting for quota and a slot, access tokens
 * from oauth.c, and the retries of gmail_api.h. A call's life:
 *   gmail_api_call -> pump [-> project_serve] -> call_start -> token_ready
 *     -> call_answered -> call_finish, or (call_later | requeue) -> pump
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "config.h"
#include "gmail_api.h"
#include "gmail_message.h"
#include "http.h"
#include "log.h"
#include "oauth.h"
#include "util.h"

/*
 * The most an answer may hold, decompressed. Gmail takes messages of up
 * to 50 MB; one as "raw" (base64url, in JSON) is under 70 MB. Anything
 * larger is cut while it streams, never held whole, and refused.
 */
#define MAX_ANSWER (72 * 1024 * 1024)

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
gmail_bucket_ready(struct gmail_bucket *b, int cost, int64_t now)
{
	bucket_refill(b, now);
	return now >= b->paused_until && b->level >= cost;
}

bool
gmail_bucket_take(struct gmail_bucket *b, int cost, int64_t now)
{
	if (!gmail_bucket_ready(b, cost, now))
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

void
gmail_bucket_set_rate(struct gmail_bucket *b, double units_per_sec, int64_t now)
{
	bucket_refill(b, now);
	b->rate = units_per_sec > 1 ? units_per_sec : 1;
	b->burst = b->rate / 2 > 5 ? b->rate / 2 : 5;
	if (b->level > b->burst)
		b->level = b->burst;
}

/* The rate controller ------------------------------------------------------- */

void
gmail_rate_init(struct gmail_rate *r, int ceiling, int64_t now)
{
	r->ceiling = ceiling > 0 ? ceiling : 1;
	r->rate = r->ceiling;
	r->floor = r->ceiling / 16 > 1 ? r->ceiling / 16 : 1;
	r->window_start = now;
	r->answers = 0;
	r->limited = 0;
	r->cut_at = INT64_MIN;
	r->raised_at = now;
}

/* Windows follow one another; a new one starts with the first answer
 * after the last one ended. */
static void
rate_window_roll(struct gmail_rate *r, int64_t now)
{
	if (now - r->window_start < GMAIL_RATE_WINDOW_MS)
		return;
	r->window_start = now;
	r->answers = 0;
	r->limited = 0;
}

void
gmail_rate_ok(struct gmail_rate *r, int64_t now)
{
	rate_window_roll(r, now);
	r->answers++;
	if (now <= r->raised_at)
		return;
	r->rate += r->ceiling / 10 * (double)(now - r->raised_at) / 1000.0;
	if (r->rate > r->ceiling)
		r->rate = r->ceiling;
	r->raised_at = now;
}

/* Whether the 429s of the window are more than Google's spurious ones. */
static bool
rate_limits_repeat(const struct gmail_rate *r)
{
	return r->limited >= GMAIL_RATE_CUT_LIMITED &&
	    r->limited * 10 >= r->answers;
}

bool
gmail_rate_limited(struct gmail_rate *r, int64_t now)
{
	rate_window_roll(r, now);
	r->answers++;
	r->limited++;
	if (!rate_limits_repeat(r))
		return false;
	/* The requests in flight when the rate was cut were sent at the
	 * old rate: their 429s do not cut it again. */
	if (r->cut_at != INT64_MIN && now - r->cut_at < GMAIL_RATE_WINDOW_MS)
		return false;
	r->rate = r->rate / 2 > r->floor ? r->rate / 2 : r->floor;
	r->cut_at = now;
	r->raised_at = now;
	r->window_start = now;
	r->answers = 0;
	r->limited = 0;
	return true;
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
    [GMAIL_WATCH] = {"users.watch", 100},
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
	char *body; /* a POST's, or NULL for a GET */
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
	struct gmail_rate rate; /* sets the bucket's rate */
	struct call_list calls;
	struct call_list queue;
	size_t in_flight; /* calls holding a slot */
	struct event *pump_timer;
	TAILQ_ENTRY(gmail_api) turn; /* in the project's line */
	bool in_line;
	gmail_delay_fn *on_delay; /* told when a call starts to wait */
	void *on_delay_arg;
	bool delay_news; /* a call started to wait in this answer */
};
TAILQ_HEAD(api_list, gmail_api);

/*
 * The OAuth project's quota, shared by every account of the process.
 * While units are there an account takes them at once; when they run
 * out, the accounts that want them queue up in a line and get one
 * request each in turn, so that no account starves the others.
 */
static struct {
	struct gmail_bucket bucket;
	int units_per_sec;
	struct api_list line;
	struct event *timer;
	size_t users; /* live struct gmail_api */
} project = {.units_per_sec = 20000}; /* Google's default, until set */

static void call_answered(struct xfer_result *r, void *arg);
static void pump(struct gmail_api *g);
static void project_serve(evutil_socket_t fd, short what, void *arg);

void
gmail_api_set_project_quota(int units_per_sec)
{
	if (units_per_sec <= 0 || units_per_sec == project.units_per_sec)
		return;
	project.units_per_sec = units_per_sec;
	if (project.users > 0)
		gmail_bucket_set_rate(
		    &project.bucket, units_per_sec, mono_msec());
}

static void
project_join(struct gmail_api *g)
{
	if (project.users++ > 0)
		return;
	gmail_bucket_init(&project.bucket, project.units_per_sec, mono_msec());
	TAILQ_INIT(&project.line);
	project.timer = evtimer_new(g->base, project_serve, NULL);
}

static void
project_leave(struct gmail_api *g)
{
	if (g->in_line) {
		TAILQ_REMOVE(&project.line, g, turn);
		g->in_line = false;
	}
	if (--project.users > 0)
		return;
	event_free(project.timer);
	project.timer = NULL;
}

/* g waits in the project's line; the timer runs while anyone waits. */
static void
project_wait(struct gmail_api *g, int cost, int64_t now)
{
	if (!g->in_line) {
		TAILQ_INSERT_TAIL(&project.line, g, turn);
		g->in_line = true;
	}
	if (!evtimer_pending(project.timer, NULL))
		timer_add_ms(project.timer,
		    gmail_bucket_wait(&project.bucket, cost, now));
}

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
	gmail_rate_init(&g->rate, c->quota_units, mono_msec());
	project_join(g);
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
	project_leave(g);
	if (g->pump_timer)
		event_free(g->pump_timer);
	oauth_free(g->oauth);
	free(g->users_url);
	free(g);
}

static void
call_queue(struct gmail_api *g, enum gmail_method m, const char *id,
    const char *body, gmail_done_fn *done, void *arg, const char *fmt,
    va_list ap)
{
	struct call *c = xcalloc(1, sizeof(*c));
	char *path = xvasprintf(fmt, ap);

	c->g = g;
	c->m = m;
	c->url = xasprintf("%s/%s", g->users_url, path);
	c->id = id ? xstrdup(id) : NULL;
	c->body = body ? xstrdup(body) : NULL;
	c->done = done;
	c->arg = arg;
	c->state = CALL_QUEUED;
	TAILQ_INSERT_TAIL(&g->calls, c, all);
	TAILQ_INSERT_TAIL(&g->queue, c, queue);
	free(path);
	pump(g);
}

void
gmail_api_call(struct gmail_api *g, enum gmail_method m, const char *id,
    gmail_done_fn *done, void *arg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	call_queue(g, m, id, NULL, done, arg, fmt, ap);
	va_end(ap);
}

void
gmail_api_post(struct gmail_api *g, enum gmail_method m, const char *body,
    gmail_done_fn *done, void *arg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	call_queue(g, m, NULL, body, done, arg, fmt, ap);
	va_end(ap);
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
	free(c->body);
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

/* Waits to be sent again, with nothing to report. */
static bool
call_delayed(const struct call *c, enum gmail_method m)
{
	return c->m == m && c->state == CALL_BACKOFF && c->failure == NULL;
}

void
gmail_api_on_delay(struct gmail_api *g, gmail_delay_fn *fn, void *arg)
{
	g->on_delay = fn;
	g->on_delay_arg = arg;
}

size_t
gmail_api_delayed(struct gmail_api *g, enum gmail_method m)
{
	struct call *c;
	size_t n = 0;

	TAILQ_FOREACH(c, &g->calls, all)
		n += call_delayed(c, m);
	return n;
}

size_t
gmail_api_drop_delayed(struct gmail_api *g, enum gmail_method m,
    gmail_dropped_fn *dropped, void *arg)
{
	struct call *c, *next;
	size_t n = 0;

	for (c = TAILQ_FIRST(&g->calls); c != NULL; c = next) {
		next = TAILQ_NEXT(c, all);
		if (!call_delayed(c, m))
			continue;
		dropped(c->id, arg);
		call_free(c);
		n++;
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

static void
pump_later(struct gmail_api *g, int64_t ms)
{
	if (g->pump_timer == NULL)
		g->pump_timer = evtimer_new(g->base, pump_due, g);
	timer_add_ms(g->pump_timer, ms);
}

static void token_ready(const char *token, const char *error, void *arg);
static void call_later(struct call *c, unsigned ms);

/*
 * The next call the account may send as far as its own quota and slots
 * go, or NULL; when its bucket is short, its timer pumps it again.
 */
static struct call *
next_sendable(struct gmail_api *g, int64_t now)
{
	struct call *c = TAILQ_FIRST(&g->queue);
	int cost;

	if (c == NULL || g->in_flight >= GMAIL_MAX_IN_FLIGHT)
		return NULL;
	cost = methods[c->m].cost;
	if (!gmail_bucket_ready(&g->bucket, cost, now)) {
		pump_later(g, gmail_bucket_wait(&g->bucket, cost, now));
		return NULL;
	}
	return c;
}

/* Spends the account's units for c and asks for a token. */
static void
call_start(struct gmail_api *g, struct call *c, int64_t now)
{
	gmail_bucket_take(&g->bucket, methods[c->m].cost, now);
	TAILQ_REMOVE(&g->queue, c, queue);
	c->state = CALL_TOKEN;
	g->in_flight++;
	oauth_get(g->oauth, token_ready, c);
}

/* Starts the queued calls that quota and the slots allow. */
static void
pump(struct gmail_api *g)
{
	struct call *c;
	int64_t now;

	/* May call back at once, and may end the caller's work: the loop
	 * looks at the queue again each time. */
	while ((c = next_sendable(g, now = mono_msec())) != NULL) {
		int cost = methods[c->m].cost;

		/* An account in the line waits for its turn. */
		if (g->in_line)
			return;
		if (!TAILQ_EMPTY(&project.line) ||
		    !gmail_bucket_take(&project.bucket, cost, now)) {
			project_wait(g, cost, now);
			return;
		}
		call_start(g, c, now);
	}
}

/* The project's units are back: one request for each account in line,
 * in turn, for as long as they last. */
static void
project_serve(evutil_socket_t fd, short what, void *arg)
{
	struct gmail_api *g;
	struct call *c;
	int64_t now;

	while ((g = TAILQ_FIRST(&project.line)) != NULL) {
		now = mono_msec();
		TAILQ_REMOVE(&project.line, g, turn);
		g->in_line = false;
		/* Not ready on its own account: its timer or an answer
		 * pumps it again. */
		if ((c = next_sendable(g, now)) == NULL)
			continue;
		if (!gmail_bucket_take(
			&project.bucket, methods[c->m].cost, now)) {
			TAILQ_INSERT_HEAD(&project.line, g, turn);
			g->in_line = true;
			timer_add_ms(project.timer,
			    gmail_bucket_wait(
				&project.bucket, methods[c->m].cost, now));
			return;
		}
		call_start(g, c, now);
		if (!TAILQ_EMPTY(&g->queue)) {
			TAILQ_INSERT_TAIL(&project.line, g, turn);
			g->in_line = true;
		}
	}
}

static void
token_ready(const char *token, const char *error, void *arg)
{
	static const char *const json_body[] = {
	    "Content-Type: application/json", NULL};
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
	o.max_body = MAX_ANSWER;
	if (c->body != NULL) {
		o.custom_request = "POST";
		o.post_fields = c->body;
		o.headers = json_body;
	}
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
	if (c->failure == NULL)
		c->g->delay_news = true;
	c->state = CALL_BACKOFF;
	if (c->timer == NULL)
		c->timer = evtimer_new(c->g->base, backoff_due, c);
	timer_add_ms(c->timer, ms);
}

/* How long the server asked to wait, or backoff when it did not say. */
static unsigned
rate_wait_ms(const struct call *c, const struct xfer_result *r)
{
	if (r->retry_after < 0)
		return backoff_msec(c->rate_attempts, 1000, 64000);
	return r->retry_after > 3600 ? 3600000u
				     : (unsigned)r->retry_after * 1000u;
}

/* The account's bucket follows the controller's rate. */
static void
rate_apply(struct gmail_api *g, int64_t now)
{
	gmail_bucket_set_rate(&g->bucket, g->rate.rate, now);
}

/*
 * A lone 429 delays only the request that got it; 429s that repeat cut
 * the account's rate, and the whole account waits as the server asked.
 */
static void
call_rate_limited(struct call *c, const struct xfer_result *r, json_t *j)
{
	struct gmail_api *g = c->g;
	int64_t now = mono_msec();
	unsigned ms;

	if (++c->rate_attempts >= RATE_ATTEMPTS) {
		call_finish(c, r->status, j, NULL);
		return;
	}
	ms = rate_wait_ms(c, r);
	if (!gmail_rate_limited(&g->rate, now)) {
		log_debug("account=%s: %s rate-limited (HTTP %ld); again in "
			  "%u ms",
		    g->conf->name, methods[c->m].name, r->status, ms);
		call_later(c, ms);
		return;
	}
	log_info("account=%s: %s rate-limited (HTTP %ld); pausing %u ms, "
		 "then %.0f units/s",
	    g->conf->name, methods[c->m].name, r->status, ms, g->rate.rate);
	rate_apply(g, now);
	gmail_bucket_pause(&g->bucket, now + ms);
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

/* Tells the caller that a call started to wait to be tried again; the
 * caller may drop it (gmail_api_drop_delayed). */
static void
delay_told(struct gmail_api *g)
{
	if (!g->delay_news)
		return;
	g->delay_news = false;
	if (g->on_delay != NULL)
		g->on_delay(g->on_delay_arg);
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
		delay_told(g);
		return;
	}
	if (r->truncated) {
		/* A gzip bomb, or a server gone wrong: not read, not retried. */
		buf_free(&r->body);
		why = xasprintf("the answer is larger than %d MB",
		    MAX_ANSWER / (1024 * 1024));
		call_finish(c, 0, NULL, why);
		free(why);
		pump(g);
		delay_told(g);
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
	else if (r->status >= 200 && r->status < 300 && j != NULL) {
		gmail_rate_ok(&g->rate, mono_msec());
		rate_apply(g, mono_msec());
		call_finish(c, r->status, j, NULL);
	} else if (r->status >= 500) {
		why = gmail_error_text(r->status, j);
		call_transient(c, why);
		free(why);
	} else if (r->status >= 200 && r->status < 300 && j == NULL)
		call_finish(c, 0, NULL, "the answer is not JSON");
	else
		call_finish(c, r->status, j, NULL);
	json_decref(j);
	pump(g);
	delay_told(g);
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
