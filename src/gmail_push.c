/*
 * Gmail push: the pull loop and the routing of notices. The loop:
 *   pull_next -> pulled -> (notice_taken for each) -> answer_others
 *     -> pull_next, or pull_failed -> (backoff) -> pull_next
 * A notice's life:
 *   notice_taken -> pending, the account woken -> its next pass starts
 *     -> gmail_push_pass_ended: acknowledged when the pass committed,
 *        forgotten otherwise (Pub/Sub delivers it again)
 *
 * A notice no account here wants is handed back at once the first few
 * times, for another daemon; when it comes back all the same (no daemon runs
 * that mailbox, whose watch lives on for days), later and later, so
 * that the loop does not spin on it.
 *
 * Whether a pass covers a notice is told by a counter: every notice and
 * every pass start takes the next tick, and a pass covers the notices
 * whose tick is below its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <glib.h>
#include <jansson.h>

#include "config.h"
#include "gmail_api.h"
#include "gmail_push.h"
#include "log.h"
#include "metrics.h"
#include "pubsub.h"
#include "pubsub_notice.h"
#include "util.h"

#define PULL_MAX 100
#define PULL_BACKOFF_MIN_MS 1000
#define PULL_BACKOFF_MAX_MS 60000
/* A pull may come back empty at once; the next one then waits this
 * long, so that the loop never spins. */
#define PULL_EMPTY_PAUSE_MS 500
#define WATCH_BACKOFF_MIN_MS 5000
#define WATCH_BACKOFF_MAX_MS 3600000
#define DAY_MS (24 * 3600 * 1000LL)
/* Messages remembered as handed back; forgotten all at once beyond. */
#define RETURNED_MAX 10000
#define RETURN_AT_ONCE 3
#define RETURN_DELAY_MAX 600 /* seconds, Pub/Sub's longest deadline */

struct pending {
	char *ack_id;
	uint64_t tick;
};

struct gmail_push {
	TAILQ_ENTRY(gmail_push) entry;
	const struct account_conf *conf;
	const char *email; /* the mailbox Gmail names in its notices */
	source_wake_fn *wake;
	void *arg;
	bool away;
	uint64_t pass_tick; /* of the pass running, 0 between passes */
	struct pending *pending;
	size_t n_pending, cap_pending;
	int64_t watch_due; /* mono_msec(); 0: at the next pass */
	unsigned watch_failures;
	bool watching;
	struct event *watch_timer;
};
TAILQ_HEAD(push_list, gmail_push);

enum pull_state {
	PULL_STARTING,
	PULL_UP,
	PULL_FAILING,
};

/* Ids to acknowledge or hand back, gathered from one pull answer. */
struct id_list {
	char **ids;
	size_t n, cap;
};

static struct {
	bool on;
	struct event_base *base;
	struct http *http;
	char *topic;
	char *subscription;
	struct account_conf auth; /* the subscriber's key and token URL */
	struct pubsub *ps;
	struct event *timer; /* the next pull, when it waits */
	int64_t pull_sent; /* mono_msec() */
	enum pull_state state;
	unsigned failures;
	uint64_t tick;
	struct push_list regs;
	struct id_list ack, back; /* to acknowledge, to hand back */
	GHashTable *returned; /* messageId -> times handed back */
} P = {.regs = TAILQ_HEAD_INITIALIZER(P.regs)};

static void pull_next(void);

/* Id lists ------------------------------------------------------------------ */

static void
ids_add(struct id_list *l, const char *id)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->ids = xreallocarray(l->ids, l->cap, sizeof(char *));
	}
	l->ids[l->n++] = xstrdup(id);
}

static void
ids_clear(struct id_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->ids[i]);
	free(l->ids);
	memset(l, 0, sizeof(*l));
}

static pubsub_done_fn answer_sent;

/* Acknowledges (seconds < 0) or hands back the ids, and empties l. */
static void
ids_send(struct id_list *l, int seconds)
{
	if (l->n > 0 && P.ps != NULL) {
		if (seconds < 0)
			pubsub_ack(P.ps, (const char *const *)l->ids, l->n,
			    answer_sent, (void *)"acknowledge");
		else
			pubsub_modify_deadline(P.ps,
			    (const char *const *)l->ids, l->n, seconds,
			    answer_sent, (void *)"modifyAckDeadline");
	}
	ids_clear(l);
}

/* An answer lost only means Pub/Sub delivers the notice again. */
static void
answer_sent(const struct pubsub_result *res, void *arg)
{
	char *why;

	if (pubsub_result_ok(res))
		return;
	why = pubsub_result_why(arg, res);
	log_warnx(
	    "gmail push: %s; Pub/Sub will deliver those notices again", why);
	free(why);
}

/* Setup --------------------------------------------------------------------- */

void
gmail_push_setup(
    struct event_base *base, struct http *http, const struct config *c)
{
	if (c->pubsub_subscription == NULL || c->pubsub_topic == NULL)
		return;
	P.on = true;
	P.base = base;
	P.http = http;
	P.topic = xstrdup(c->pubsub_topic);
	P.subscription = xstrdup(c->pubsub_subscription);
	P.auth.name = xstrdup("gmail-push");
	P.auth.service_account_file = xstrdup(c->pubsub_service_account_file);
	P.auth.token_url = xstrdup(c->pubsub_token_url);
	P.auth.tls_verify = true;
	P.ps = pubsub_new(
	    base, http, c->pubsub_api_base, c->pubsub_subscription, &P.auth);
	P.state = PULL_STARTING;
	metrics_push_up(false);
	log_info("gmail push: pulling %s for notices of %s", P.subscription,
	    P.topic);
	pull_next();
}

void
gmail_push_teardown(void)
{
	if (!P.on)
		return;
	pubsub_free(P.ps);
	P.ps = NULL;
	if (P.timer != NULL)
		event_free(P.timer);
	P.timer = NULL;
	ids_clear(&P.ack);
	ids_clear(&P.back);
	if (P.returned != NULL)
		g_hash_table_destroy(P.returned);
	P.returned = NULL;
	free(P.topic);
	free(P.subscription);
	free(P.auth.name);
	free(P.auth.service_account_file);
	free(P.auth.token_url);
	memset(&P.auth, 0, sizeof(P.auth));
	P.topic = P.subscription = NULL;
	P.on = false;
}

/* The pull loop ------------------------------------------------------------- */

static pubsub_done_fn pulled;

static void
pull_next(void)
{
	P.pull_sent = mono_msec();
	pubsub_pull(P.ps, PULL_MAX, pulled, NULL);
}

static void
pull_due(evutil_socket_t fd, short what, void *arg)
{
	pull_next();
}

static void
pull_later(unsigned ms)
{
	if (P.timer == NULL)
		P.timer = evtimer_new(P.base, pull_due, NULL);
	timer_add_ms(P.timer, ms);
}

/* Logged once per change of state; polling goes on meanwhile. */
static void
pull_failed(const struct pubsub_result *res)
{
	char *why = pubsub_result_why("pull", res);
	unsigned ms;

	P.failures++;
	ms = backoff_msec(P.failures, PULL_BACKOFF_MIN_MS, PULL_BACKOFF_MAX_MS);
	if (P.state != PULL_FAILING)
		log_warnx("gmail push: %s %s; mail still arrives by polling; "
			  "trying again in %u ms, and backing off",
		    P.subscription, why, ms);
	else
		log_debug("gmail push: %s; again in %u ms", why, ms);
	free(why);
	P.state = PULL_FAILING;
	metrics_push_up(false);
	pull_later(ms);
}

static struct gmail_push *
find_account(const char *email)
{
	struct gmail_push *r;

	TAILQ_FOREACH(r, &P.regs, entry)
		if (str_iequal(r->email, email))
			return r;
	return NULL;
}

static void
pending_add(struct gmail_push *r, const char *ack_id)
{
	if (r->n_pending == r->cap_pending) {
		r->cap_pending = r->cap_pending ? r->cap_pending * 2 : 8;
		r->pending = xreallocarray(
		    r->pending, r->cap_pending, sizeof(*r->pending));
	}
	r->pending[r->n_pending].ack_id = xstrdup(ack_id);
	r->pending[r->n_pending].tick = ++P.tick;
	r->n_pending++;
}

/*
 * Seconds before a message not wanted here is offered again: at once
 * the first RETURN_AT_ONCE times (with several daemons on the
 * subscription, Pub/Sub may well offer it to this one again before the
 * one that wants it), then from 10 s doubling to RETURN_DELAY_MAX.
 */
static int
return_delay(const char *message_id)
{
	unsigned n;

	if (*message_id == '\0')
		return 0;
	if (P.returned == NULL)
		P.returned =
		    g_hash_table_new_full(g_str_hash, g_str_equal, free, NULL);
	if (g_hash_table_size(P.returned) >= RETURNED_MAX)
		g_hash_table_remove_all(P.returned);
	n = GPOINTER_TO_UINT(g_hash_table_lookup(P.returned, message_id));
	g_hash_table_insert(
	    P.returned, xstrdup(message_id), GUINT_TO_POINTER(n + 1));
	if (n < RETURN_AT_ONCE)
		return 0;
	n -= RETURN_AT_ONCE;
	return n >= 6 ? RETURN_DELAY_MAX : 10 << n;
}

static void
not_wanted(const char *ack_id, const char *message_id, const char *email)
{
	int delay = return_delay(message_id);

	log_debug("gmail push: %s is not synced here; handed back, offered "
		  "again in %d s",
	    email, delay);
	if (delay == 0) {
		ids_add(&P.back, ack_id);
		return;
	}
	pubsub_modify_deadline(
	    P.ps, &ack_id, 1, delay, answer_sent, (void *)"modifyAckDeadline");
}

static void
notice_taken(
    const char *ack_id, const char *message_id, const char *data, void *arg)
{
	struct pubsub_notice n;
	struct gmail_push *r;
	char *why;

	metrics_push_received();
	if (!pubsub_notice_decode(data, &n, &why)) {
		/* It can never be read: delivered again, it would only
		 * come back for ever. */
		log_warnx("gmail push: a message of %s is no Gmail notice: "
			  "%s; acknowledged and dropped",
		    P.subscription, why);
		free(why);
		ids_add(&P.ack, ack_id);
		return;
	}
	r = find_account(n.email);
	if (r == NULL || r->away)
		not_wanted(ack_id, message_id, n.email);
	else {
		log_debug("account=%s: push notice, history %llu",
		    r->conf->name, (unsigned long long)n.history_id);
		pending_add(r, ack_id);
		r->wake(r->arg);
	}
	pubsub_notice_clear(&n);
}

static void
pulled(const struct pubsub_result *res, void *arg)
{
	json_t *got = json_object_get(res->json, "receivedMessages");
	size_t bad;

	if (!pubsub_result_ok(res)) {
		pull_failed(res);
		return;
	}
	if (P.state != PULL_UP)
		log_info("gmail push: %s %s", P.subscription,
		    P.state == PULL_FAILING ? "works again" : "is pulled");
	P.state = PULL_UP;
	P.failures = 0;
	metrics_push_up(true);
	bad = pubsub_received(res->json, notice_taken, NULL);
	if (bad > 0)
		log_warnx(
		    "gmail push: %zu received messages without an ackId", bad);
	ids_send(&P.ack, -1);
	ids_send(&P.back, 0);
	if (json_array_size(got) == 0 &&
	    mono_msec() - P.pull_sent < PULL_EMPTY_PAUSE_MS)
		pull_later(PULL_EMPTY_PAUSE_MS);
	else
		pull_next();
}

/* Accounts ------------------------------------------------------------------ */

static void
watch_due_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gmail_push *r = arg;

	/* The pass it starts renews the watch first. */
	r->wake(r->arg);
}

struct gmail_push *
gmail_push_add(const struct account_conf *conf, source_wake_fn *wake, void *arg)
{
	struct gmail_push *r;

	if (!P.on || !conf->push)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->conf = conf;
	/* A service account reads the mailbox of its subject. */
	r->email = conf->subject ? conf->subject : conf->username;
	r->wake = wake;
	r->arg = arg;
	r->watch_timer = evtimer_new(P.base, watch_due_cb, r);
	TAILQ_INSERT_TAIL(&P.regs, r, entry);
	return r;
}

/* The notices covered by the pass that ran go to l, and leave r. */
static void
pending_take(struct gmail_push *r, uint64_t before, struct id_list *l)
{
	size_t j = 0;

	for (size_t i = 0; i < r->n_pending; i++) {
		if (r->pending[i].tick < before) {
			if (l != NULL)
				ids_add(l, r->pending[i].ack_id);
			free(r->pending[i].ack_id);
		} else
			r->pending[j++] = r->pending[i];
	}
	r->n_pending = j;
}

void
gmail_push_remove(struct gmail_push *r)
{
	if (r == NULL)
		return;
	pending_take(r, UINT64_MAX, &P.back);
	ids_send(&P.back, 0);
	free(r->pending);
	event_free(r->watch_timer);
	TAILQ_REMOVE(&P.regs, r, entry);
	free(r);
}

void
gmail_push_away(struct gmail_push *r)
{
	if (r == NULL)
		return;
	r->away = true;
	pending_take(r, UINT64_MAX, &P.back);
	ids_send(&P.back, 0);
}

void
gmail_push_pass_started(struct gmail_push *r)
{
	if (r == NULL)
		return;
	r->away = false;
	r->pass_tick = ++P.tick;
}

void
gmail_push_pass_ended(struct gmail_push *r, bool committed)
{
	size_t n;

	if (r == NULL || r->pass_tick == 0)
		return;
	if (committed) {
		pending_take(r, r->pass_tick, &P.ack);
		n = P.ack.n;
		ids_send(&P.ack, -1);
		metrics_push_acked(n);
	} else
		/* Not acknowledged: Pub/Sub delivers them again after
		 * the subscription's ack deadline, and they wake the
		 * account then. */
		pending_take(r, r->pass_tick, NULL);
	r->pass_tick = 0;
}

/* users.watch --------------------------------------------------------------- */

int64_t
gmail_push_renew_in(int64_t lifetime_ms)
{
	int64_t ms =
	    lifetime_ms >= 2 * DAY_MS ? lifetime_ms - DAY_MS : lifetime_ms / 2;

	return ms < 1000 ? 1000 : ms;
}

bool
gmail_push_watch_due(const struct gmail_push *r)
{
	return r != NULL && mono_msec() >= r->watch_due;
}

char *
gmail_push_watch_body(void)
{
	json_t *j = json_pack("{s:s,s:[s,s],s:s}", "topicName", P.topic,
	    "labelIds", "INBOX", "SENT", "labelFilterBehavior", "include");
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	if (s == NULL)
		fatalx("gmail push: cannot encode the users.watch request");
	return s;
}

/* The watch's expiration, in milliseconds since the epoch; 0 when the
 * answer has none (it is an int64, which JSON may carry as a string). */
static int64_t
expiration_of(json_t *j)
{
	json_t *e = json_object_get(j, "expiration");
	const char *s = json_string_value(e);
	char *end;
	long long v;

	if (json_is_integer(e))
		return json_integer_value(e);
	if (s == NULL || *s == '\0' || strlen(s) > 18)
		return 0;
	v = strtoll(s, &end, 10);
	return *end == '\0' && v > 0 ? v : 0;
}

static void
watch_retry(struct gmail_push *r, const char *why)
{
	unsigned ms;

	r->watch_failures++;
	ms = backoff_msec(
	    r->watch_failures, WATCH_BACKOFF_MIN_MS, WATCH_BACKOFF_MAX_MS);
	log_warnx("account=%s: %s; push is off for now, mail arrives by "
		  "polling; trying again in %u s",
	    r->conf->name, why, ms / 1000);
	r->watching = false;
	r->watch_due = mono_msec() + ms;
	timer_add_ms(r->watch_timer, ms);
}

void
gmail_push_watched(struct gmail_push *r, const struct gmail_result *res)
{
	int64_t expires, now = now_usec() / 1000, in;
	char *why;

	if (!gmail_result_ok(res)) {
		why = gmail_result_why(res);
		watch_retry(r, why);
		free(why);
		return;
	}
	expires = expiration_of(res->json);
	if (expires <= now) {
		watch_retry(r,
		    "users.watch: the answer has no expiration "
		    "in the future");
		return;
	}
	in = gmail_push_renew_in(expires - now);
	if (!r->watching || r->watch_failures > 0)
		log_info("account=%s: push on, through %s; renewing the watch "
			 "in %lld s",
		    r->conf->name, P.topic, (long long)(in / 1000));
	else
		log_debug("account=%s: watch renewed; again in %lld s",
		    r->conf->name, (long long)(in / 1000));
	r->watching = true;
	r->watch_failures = 0;
	r->watch_due = mono_msec() + in;
	timer_add_ms(r->watch_timer, in);
}
