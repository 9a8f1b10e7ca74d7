/*
 * Calls to the Gmail REST API for one account. Every request is a call:
 * it waits for quota units in the account's token bucket and for a free
 * slot (at most GMAIL_MAX_IN_FLIGHT at once), gets an access token, and
 * is retried on 401 (once, with a new token), on 429 or a rate-limit 403
 * (after Retry-After, or backoff) and on 5xx or no answer (backoff). A
 * lone 429 delays only the request that got it; when 429s repeat, the
 * account's rate is cut and then raised again step by step (additive
 * increase, multiplicative decrease). Every account of the process also
 * draws from one project bucket, the OAuth project's quota, which the
 * accounts waiting for it share in turn. A call reports once, always
 * from the loop.
 */
#ifndef INBOXD_GMAIL_API_H
#define INBOXD_GMAIL_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct account_conf;
struct event_base;
struct http;

#define GMAIL_MAX_IN_FLIGHT 10 /* requests at once, per account */

enum gmail_method {
	GMAIL_PROFILE, /* users.getProfile */
	GMAIL_LIST, /* messages.list */
	GMAIL_GET, /* messages.get */
	GMAIL_HISTORY, /* history.list */
	GMAIL_WATCH, /* users.watch: push notifications through Pub/Sub */
};

struct gmail_result {
	enum gmail_method method;
	const char *id; /* as given to gmail_api_call() */
	long status; /* HTTP status; 0 when the call failed */
	json_t *json; /* the answer (or Google's error), or NULL */
	const char *error; /* why, when status is 0 */
};

/* The result is valid during the call only. */
typedef void gmail_done_fn(const struct gmail_result *res, void *arg);

struct gmail_api;

/* The API of account c, at its api_base, with tokens from oauth.c. */
struct gmail_api *gmail_api_new(
    struct event_base *base, struct http *http, const struct account_conf *c);
/* Drops every call without calling back. */
void gmail_api_free(struct gmail_api *g);

/*
 * Queues a request of method m for the path below users/me, made from
 * fmt; done is called once with the answer. id is handed back in the
 * result (a message id, say), or NULL.
 */
void gmail_api_call(struct gmail_api *g, enum gmail_method m, const char *id,
    gmail_done_fn *done, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The same, a POST with the JSON body (copied). */
void gmail_api_post(struct gmail_api *g, enum gmail_method m, const char *body,
    gmail_done_fn *done, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/*
 * The OAuth project's quota in units per second, shared by every Gmail
 * account of the process ([gmail] project_quota); at start and on reload.
 */
void gmail_api_set_project_quota(int units_per_sec);

/* Drops every call without calling back. */
void gmail_api_cancel(struct gmail_api *g);

/* Drops the calls of method m not sent yet (queued, or waiting to be
 * tried again) without calling back; returns how many. */
size_t gmail_api_drop_unsent(struct gmail_api *g, enum gmail_method m);

typedef void gmail_delay_fn(void *arg);

/* fn is called, from the loop, after an answer that made a call wait
 * to be tried again (after a 429, a 5xx or no answer). */
void gmail_api_on_delay(struct gmail_api *g, gmail_delay_fn *fn, void *arg);

/* How many calls of method m wait to be tried again. */
size_t gmail_api_delayed(struct gmail_api *g, enum gmail_method m);

typedef void gmail_dropped_fn(const char *id, void *arg);

/* Drops those calls without calling back, telling dropped their ids;
 * returns how many. */
size_t gmail_api_drop_delayed(struct gmail_api *g, enum gmail_method m,
    gmail_dropped_fn *dropped, void *arg);

/* Whether the answer is a success (2xx). */
bool gmail_result_ok(const struct gmail_result *res);

/* A failure in words, malloc'd: "messages.list: HTTP 400: ...". */
char *gmail_result_why(const struct gmail_result *res);

/* The pure pieces, for tests ---------------------------------------------- */

/*
 * Quota units per second, as Google counts them per user. The bucket
 * saves up at most half a second's worth, so that a burst stays well
 * inside what the server's own accounting allows. Times are monotonic
 * milliseconds.
 */
struct gmail_bucket {
	double level; /* units available */
	double rate; /* units per second */
	double burst; /* most units saved up */
	int64_t at; /* when level was right */
	int64_t paused_until; /* after a 429: nothing before then */
};

void gmail_bucket_init(struct gmail_bucket *b, int units_per_sec, int64_t now);
/* Whether cost units are there and no pause is on; spends nothing. */
bool gmail_bucket_ready(struct gmail_bucket *b, int cost, int64_t now);
/* Spends cost units when they are there and no pause is on. */
bool gmail_bucket_take(struct gmail_bucket *b, int cost, int64_t now);
/* Milliseconds until gmail_bucket_take(cost) can succeed (at least 1). */
int64_t gmail_bucket_wait(struct gmail_bucket *b, int cost, int64_t now);
/* The server said to wait: spend nothing until then, and start again
 * from an empty bucket. */
void gmail_bucket_pause(struct gmail_bucket *b, int64_t until);
/* A new rate from now on, with half a second's worth as the burst. */
void gmail_bucket_set_rate(
    struct gmail_bucket *b, double units_per_sec, int64_t now);

/*
 * The account's rate, additive increase and multiplicative decrease.
 * Google answers a small share of requests with a spurious 429 even
 * under the quota, so one 429 says nothing about the rate: the rate is
 * halved only when at least GMAIL_RATE_CUT_LIMITED of the answers of one
 * window of GMAIL_RATE_WINDOW_MS, and at least a tenth of them, are
 * 429s, and at most once a window. Each successful answer raises the
 * rate by a tenth of the ceiling per second since the last raise, so a
 * halved rate is whole again after five seconds without 429s.
 */
#define GMAIL_RATE_WINDOW_MS 2000
#define GMAIL_RATE_CUT_LIMITED 3

struct gmail_rate {
	double rate; /* units per second now */
	double ceiling; /* the account's quota_units */
	double floor; /* the least it is cut to */
	int64_t window_start;
	unsigned answers; /* in the window */
	unsigned limited; /* 429s in the window */
	int64_t cut_at; /* the last cut, or INT64_MIN */
	int64_t raised_at; /* the last raise */
};

void gmail_rate_init(struct gmail_rate *r, int ceiling, int64_t now);
/* A successful answer: raises the rate towards the ceiling. */
void gmail_rate_ok(struct gmail_rate *r, int64_t now);
/* A 429 or rate-limit 403: true when it cut the rate. */
bool gmail_rate_limited(struct gmail_rate *r, int64_t now);

#endif
