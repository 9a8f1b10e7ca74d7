/*
 * Per-account scheduling. An account's life:
 *   account_start -> id_known -> sync_now -> held -> (the source's pass)
 *     -> sync_done -> (timer: poll_interval, or backoff after a failure)
 *     -> sync_now ...
 * In --once mode an account stops after its first pass.
 *
 * With several daemons on one database the accounts are shared (see
 * accounts_share() and doc/accounts.md, "Several daemons"): after each
 * instance heartbeat this daemon hands the accounts it holds beyond its
 * fair share over at their next batch boundary (hand_over), and invites
 * free accounts while it holds fewer; a standing-by account tries to
 * hold its account only when this daemon is below its share.
 *
 * The accounts own the store they are given: their sources reach it
 * only through a host (host.c), and a failed pass is recorded here,
 * against the mailbox the source names.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "account.h"
#include "config.h"
#include "host.h"
#include "instances.h"
#include "log.h"
#include "metrics.h"
#include "share.h"
#include "source.h"
#include "store.h"
#include "util.h"

enum account_state {
	ACC_STARTING,
	ACC_IDLE,
	ACC_SYNCING,
	ACC_DONE,
};

struct account {
	TAILQ_ENTRY(account) entry;
	struct config *cfg; /* a reference, for conf's life */
	const struct account_conf *conf;
	int id;
	const struct source_ops *ops;
	struct store_host host; /* what src sees of the store */
	struct source *src;
	struct event *timer;
	enum account_state state;
	unsigned failures;
	bool last_failed;
	bool stopping;
	bool resync; /* push arrived during a pass */
	bool standing_by; /* another instance holds it */
	bool released; /* its hold was given up */
	bool holding; /* this daemon holds it, as far as it knows */
	bool hold_asked; /* a hold is asked for: sync_now -> held */
	bool invited; /* the share woke it to take the account */
	bool handover; /* to be given up at the end of the pass */
	bool sticky; /* taken because nobody else would: kept */
	bool blocked; /* credentials refused: waits for a change */
	unsigned long held_seq; /* instances_seq() when the hold was had */
	int64_t free_since; /* mono_msec() since views show it held by none,
			     * 0 when the last did not */
	struct event *retry; /* registering again */
	const char *shown; /* the state last written to mail_accounts */
};
TAILQ_HEAD(account_list, account);

static struct {
	struct event_base *base;
	struct http *http;
	struct store *store;
	bool once;
	char *instance;
	struct account_list list;
	bool shutting_down; /* accounts_stop_all ran: nothing starts */
	accounts_idle_fn *idle;
	void *idle_arg;
	accounts_idle_fn *done;
	void *done_arg;
	/* The share (several daemons): the last view's live instances,
	 * the fair share of this daemon, the accounts it holds. */
	bool have_view;
	size_t n_live;
	size_t target;
	size_t n_holding;
} A;

/* A free account that no instance took for this long is taken by
 * whoever runs it, above its share if need be (an account that only
 * this daemon's configuration file names, for example). */
#define STALE_FREE_MS (3 * SHARE_HEARTBEAT_MS)

static void sync_now(struct account *a);

/*
 * Shows the account's state to the apps (mail_accounts.state). A
 * success is always written, for its time; the rest on a change.
 */
static void
show_state(struct account *a, const char *state, const char *error)
{
	if (a->id == 0 || A.once)
		return;
	if (error == NULL && a->shown != NULL && strcmp(state, "idle") != 0 &&
	    strcmp(a->shown, state) == 0)
		return;
	a->shown = state;
	store_account_state(A.store, a->id, state, error);
}

static void
set_holding(struct account *a, bool on)
{
	if (a->holding == on)
		return;
	a->holding = on;
	if (on)
		A.n_holding++;
	else {
		A.n_holding--;
		a->sticky = false;
	}
	metrics_accounts_held(A.n_holding);
}

static struct account *find_running(const char *name);
static void wake(void *arg);

/*
 * "NOTIFY inboxd_sync, 'NAME'" (inboxctl sync NAME, or a Gmail push
 * handler) asks for a pass now; only the instance holding the account
 * will run it. A request lost while the database was away (NULL) is
 * left to the account's next poll.
 */
static void
sync_requested(const char *payload, void *arg)
{
	struct account *a;

	if (payload == NULL)
		return;
	if ((a = find_running(payload)) != NULL) {
		log_info("account=%s: sync requested", a->conf->name);
		wake(a);
	}
}

void
accounts_setup(struct event_base *base, struct http *http, struct store *store,
    bool once, const char *instance)
{
	A.base = base;
	A.http = http;
	A.store = store;
	A.once = once;
	A.instance = xstrdup(instance);
	if (!once)
		store_listen(A.store, "inboxd_sync", sync_requested, NULL);
	TAILQ_INIT(&A.list);
}

static const struct source_ops *
ops_for(const struct account_conf *c)
{
	switch (c->type) {
	case ACCOUNT_IMAP:
		return &source_imap_ops;
	case ACCOUNT_GMAIL:
		return &source_gmail_ops;
	}
	return NULL;
}

static bool
busy(const struct account *a)
{
	return a->state == ACC_STARTING || a->state == ACC_SYNCING;
}

/*
 * A stopped account is given up at once so that another instance can
 * take it; not while this instance runs the same account again (a
 * changed configuration), whose hold it would drop.
 */
static void
account_release(struct account *a)
{
	struct account *b;

	if (a->id == 0 || A.once || a->released)
		return;
	a->released = true;
	set_holding(a, false);
	TAILQ_FOREACH(b, &A.list, entry)
		if (b != a && !b->stopping &&
		    strcmp(b->conf->name, a->conf->name) == 0)
			return;
	store_release_account(A.store, a->id, A.instance, NULL, NULL);
}

static void
account_free(struct account *a)
{
	set_holding(a, false);
	TAILQ_REMOVE(&A.list, a, entry);
	if (a->src)
		a->ops->destroy(a->src);
	if (a->timer)
		event_free(a->timer);
	if (a->retry)
		event_free(a->retry);
	config_free(a->cfg);
	free(a);
}

/* Tells waiters when nothing is busy any more. */
static void
check_quiet(void)
{
	struct account *a;
	accounts_idle_fn *fn;

	TAILQ_FOREACH(a, &A.list, entry)
		if (busy(a))
			return;
	if (A.idle) {
		fn = A.idle;
		A.idle = NULL;
		fn(A.idle_arg);
	}
	if (A.once && A.done) {
		fn = A.done;
		A.done = NULL;
		fn(A.done_arg);
	}
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	sync_now(arg);
}

static void
schedule(struct account *a, unsigned ms)
{
	if (a->timer == NULL)
		a->timer = evtimer_new(A.base, timer_cb, a);
	timer_add_ms(a->timer, ms);
}

/* The account's last pass is over and it was asked to stop. */
static void
stopped(struct account *a)
{
	a->state = ACC_DONE;
	if (!A.idle)
		account_release(a);
	check_quiet();
}

/*
 * The server or the token endpoint refused the account's credentials:
 * the IMAP login failed, or a refresh token or client was refused
 * (invalid_grant, invalid_client). These are the sources' own words.
 */
static bool
auth_refused(const char *error)
{
	return error != NULL &&
	    (strstr(error, ": login failed for user ") != NULL ||
		(strstr(error, "the token endpoint ") != NULL &&
		    strstr(error, " refused ") != NULL));
}

/* The fencing check of an ingest transaction found another instance
 * holding the account (store_ingest.c, store_changes.c). */
static bool
lost_hold(const char *error)
{
	return error != NULL &&
	    strstr(error, "held by another instance") != NULL;
}

/* Between passes, not holding the account: lets go of what the source
 * waits on (an IDLE session), and tries again at the poll interval, or
 * sooner when a view invites it. */
static void
stand_by(struct account *a)
{
	set_holding(a, false);
	a->handover = false;
	a->state = ACC_IDLE;
	if (a->src != NULL)
		a->ops->stop(a->src);
	metrics_account_state(a->conf->name, METRICS_ACCOUNT_STANDING_BY);
	schedule(a, (unsigned)a->conf->poll_interval * 1000u);
}

/* Gives the account up between passes, for an instance below its
 * share to take it. */
static void
hand_over(struct account *a)
{
	log_info("account=%s: handed over (this instance holds %zu, its share "
		 "is %zu)",
	    a->conf->name, A.n_holding, A.target);
	store_release_account(A.store, a->id, A.instance, NULL, NULL);
	a->standing_by = true;
	stand_by(a);
}

/* Accounts whose hold is being asked for, or about to be. */
static size_t
n_asking(void)
{
	struct account *a;
	size_t n = 0;

	TAILQ_FOREACH(a, &A.list, entry)
		if (!a->stopping && (a->hold_asked || a->invited))
			n++;
	return n;
}

/*
 * Whether a pass may ask for the account's hold: always while this
 * daemon holds it (the hold is checked again), and in --once mode or
 * before the first view; otherwise only while this daemon holds fewer
 * than its share, or when the account has been free for a while.
 */
static bool
may_try_hold(const struct account *a)
{
	if (A.once || !A.have_view || a->holding || a->invited)
		return true;
	if (a->free_since != 0 && mono_msec() - a->free_since >= STALE_FREE_MS)
		return true;
	/* At its share (the usual case) without counting. */
	if (A.n_holding >= A.target)
		return false;
	return A.n_holding + n_asking() < A.target;
}

/* mailbox: the one that failed; NULL when the pass did not get to one
 * (the account's hold could not be had), and nothing is recorded. */
static void
sync_done(bool ok, const char *mailbox, const char *error, void *arg)
{
	struct account *a = arg;

	/* A stop ends a pass early, and the source calls that a success
	 * (or says that the store let its last batches go): it says
	 * nothing about the account, so nothing is recorded. */
	if (a->stopping && (ok || stop_abandoned(error))) {
		stopped(a);
		return;
	}
	/* Handed over: the pass was cut at a batch boundary (or ended),
	 * and says nothing about the account either. */
	if (a->handover && !a->stopping) {
		hand_over(a);
		check_quiet();
		return;
	}
	/* The same words as when the hold is checked before a pass. */
	if (!ok && !a->stopping && lost_hold(error)) {
		log_info("account=%s: held by another instance; standing by",
		    a->conf->name);
		a->standing_by = true;
		stand_by(a);
		check_quiet();
		return;
	}
	a->state = ACC_IDLE;
	a->last_failed = !ok;
	metrics_sync_result(a->conf->name, ok, error);
	if (ok)
		metrics_account_state(a->conf->name, METRICS_ACCOUNT_IDLE);
	else if (auth_refused(error))
		metrics_account_state(
		    a->conf->name, METRICS_ACCOUNT_AUTH_FAILED);
	else
		metrics_account_state(a->conf->name, METRICS_ACCOUNT_FAILING);
	if (!ok)
		metrics_error(auth_refused(error) ? "auth" : "sync");
	if (ok) {
		if (a->failures > 0)
			log_info("account=%s: sync works again", a->conf->name);
		a->failures = 0;
		show_state(a, "idle", NULL);
	} else {
		show_state(a, auth_refused(error) ? "auth_failed" : "failing",
		    error ? error : "unknown error");
		a->failures++;
		log_error("account=%s: sync failed: %s", a->conf->name,
		    error ? error : "unknown error");
		if (mailbox != NULL)
			store_note_error(A.store, a->id, mailbox,
			    error ? error : "unknown error");
	}
	if (a->stopping || A.once) {
		a->state = ACC_DONE;
		if (a->stopping && !A.idle)
			account_release(a);
		check_quiet();
		return;
	}
	/* Retrying a refused secret is useless and may lock the user
	 * out; a database account waits for its row or secret to
	 * change, which restarts it. */
	if (!ok && a->conf->from_database && auth_refused(error)) {
		log_warnx("account=%s: credentials refused; not retrying until "
			  "its secret or settings change",
		    a->conf->name);
		a->blocked = true;
		check_quiet();
		return;
	}
	if (!ok) {
		unsigned ms = backoff_msec(a->failures, 1000,
		    (unsigned)a->conf->poll_interval * 1000u);

		log_info("account=%s: retrying in %u ms", a->conf->name, ms);
		schedule(a, ms);
	} else if (a->resync) {
		a->resync = false;
		schedule(a, 0);
	} else
		schedule(a, (unsigned)a->conf->poll_interval * 1000u);
	check_quiet();
}

/* A pass starts only while this instance holds the account. */
static void
held(bool ok, bool is_held, void *arg)
{
	struct account *a = arg;

	a->hold_asked = false;
	a->invited = false;
	if (ok && !is_held)
		set_holding(a, false);
	if (ok && is_held) {
		set_holding(a, true);
		a->held_seq = instances_seq();
		a->free_since = 0;
	}
	/* Stopped before the pass began: no pass, so no result. */
	if (a->stopping) {
		stopped(a);
		return;
	}
	if (ok && is_held && a->handover) {
		hand_over(a);
		check_quiet();
		return;
	}
	if (!ok) {
		sync_done(false, NULL, "cannot check who holds the account", a);
		return;
	}
	if (!is_held) {
		if (!a->standing_by)
			log_info("account=%s: held by another instance; "
				 "standing by",
			    a->conf->name);
		a->standing_by = true;
		metrics_account_state(
		    a->conf->name, METRICS_ACCOUNT_STANDING_BY);
		if (A.once) {
			sync_done(false, NULL, "held by another instance", a);
			return;
		}
		stand_by(a);
		check_quiet();
		return;
	}
	if (a->standing_by)
		log_info(
		    "account=%s: taken over by this instance", a->conf->name);
	a->standing_by = false;
	log_debug("account=%s: sync pass starting", a->conf->name);
	a->ops->sync(a->src, sync_done, a);
}

static void
sync_now(struct account *a)
{
	if (a->stopping || a->state == ACC_SYNCING || a->src == NULL)
		return;
	/* Quietly: the account may be free, and is only not this
	 * instance's turn. */
	if (!may_try_hold(a)) {
		stand_by(a);
		return;
	}
	a->state = ACC_SYNCING;
	metrics_account_state(a->conf->name, METRICS_ACCOUNT_SYNCING);
	/* The first pass shows "syncing"; later ones keep "idle" or
	 * "failing" until they end: one write a pass, and a failing
	 * account recovers (or fails) once, not once a retry. */
	if (a->shown == NULL)
		show_state(a, "syncing", NULL);
	a->hold_asked = true;
	store_hold_account(A.store, a->id, A.instance, held, a);
}

static void
wake(void *arg)
{
	struct account *a = arg;

	if (a->state == ACC_SYNCING)
		a->resync = true;
	else if (a->state == ACC_IDLE)
		schedule(a, 0);
}

static void id_known(bool ok, int id, void *arg);

static void
register_again(evutil_socket_t fd, short what, void *arg)
{
	struct account *a = arg;

	event_free(a->retry);
	a->retry = NULL;
	if (a->stopping) {
		a->state = ACC_DONE;
		check_quiet();
		return;
	}
	store_account_id(A.store, a->conf->name, a->ops->type, id_known, a);
}

static void
id_known(bool ok, int id, void *arg)
{
	struct account *a = arg;
	struct source_env env;

	/* A stop answers a registration it will not run: nothing to say. */
	if (!ok && a->stopping) {
		a->state = ACC_DONE;
		check_quiet();
		return;
	}
	if (!ok) {
		unsigned ms;

		a->last_failed = true;
		a->failures++;
		log_error("account=%s: cannot register the account in the "
			  "database",
		    a->conf->name);
		if (A.once || a->stopping) {
			a->state = ACC_DONE;
			check_quiet();
			return;
		}
		/* Try again later, like after a failed pass. */
		ms = backoff_msec(a->failures, 1000,
		    (unsigned)a->conf->poll_interval * 1000u);
		a->retry = evtimer_new(A.base, register_again, a);
		timer_add_ms(a->retry, ms);
		return;
	}
	a->id = id;
	memset(&env, 0, sizeof(env));
	env.base = A.base;
	env.http = A.http;
	env.conf = a->conf;
	env.host = store_host(&a->host, A.store, id, a->conf);
	a->src = a->ops->create(&env);
	if (a->ops->watch && !A.once)
		a->ops->watch(a->src, wake, a);
	a->state = ACC_IDLE;
	if (a->stopping) {
		a->state = ACC_DONE;
		check_quiet();
		return;
	}
	sync_now(a);
}

static void
account_start(struct config *c, const struct account_conf *ac)
{
	struct account *a;
	const struct source_ops *ops = ops_for(ac);

	if (ops == NULL) {
		log_error(
		    "account=%s: type not supported by this build", ac->name);
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->cfg = config_ref(c);
	a->conf = ac;
	a->ops = ops;
	a->state = ACC_STARTING;
	TAILQ_INSERT_TAIL(&A.list, a, entry);
	metrics_account_enabled(ac->name, ac->poll_interval);
	log_info("account=%s: starting (%s %s)", ac->name, ops->type,
	    ac->host ? ac->host : "");
	store_account_id(A.store, ac->name, ops->type, id_known, a);
}

/* Stops an account; it is freed once its pass has ended. */
static void
account_stop(struct account *a)
{
	a->stopping = true;
	metrics_account_disabled(a->conf->name);
	if (a->timer)
		evtimer_del(a->timer);
	if (a->state == ACC_SYNCING)
		a->ops->stop(a->src);
	else if (a->state == ACC_IDLE) {
		/* Between passes: the source lets go of what it waits on
		 * (an IDLE session), and starts nothing new. */
		a->ops->stop(a->src);
		a->state = ACC_DONE;
		if (!A.idle)
			account_release(a);
	}
}

static void
reap_stopped(void)
{
	struct account *a, *next;

	for (a = TAILQ_FIRST(&A.list); a != NULL; a = next) {
		next = TAILQ_NEXT(a, entry);
		if (a->stopping && a->state == ACC_DONE)
			account_free(a);
	}
}

static struct account *
find_running(const char *name)
{
	struct account *a;

	TAILQ_FOREACH(a, &A.list, entry)
		if (!a->stopping && strcmp(a->conf->name, name) == 0)
			return a;
	return NULL;
}

static int
conf_by_name(const void *x, const void *y)
{
	const struct account_conf *const *a = x, *const *b = y;

	return strcmp((*a)->name, (*b)->name);
}

static int
running_by_name(const void *x, const void *y)
{
	const struct account *const *a = x, *const *b = y;

	return strcmp((*a)->conf->name, (*b)->conf->name);
}

/*
 * The accounts are matched by name through sorted arrays: with tens of
 * thousands of accounts, and an apply on every change to a database
 * account, a search of both lists for each would cost seconds.
 */
void
accounts_apply(struct config *c)
{
	const struct account_conf **confs, *key_conf;
	struct account **running, key, *a, *next;
	size_t n_running = 0;

	/* A change that arrives while the daemon stops starts nothing. */
	if (A.shutting_down)
		return;
	reap_stopped();
	confs = xreallocarray(NULL, c->n_accounts + 1, sizeof(*confs));
	for (size_t i = 0; i < c->n_accounts; i++)
		confs[i] = &c->accounts[i];
	qsort(confs, c->n_accounts, sizeof(*confs), conf_by_name);
	TAILQ_FOREACH(a, &A.list, entry)
		n_running++;
	running = xreallocarray(NULL, n_running + 1, sizeof(*running));
	n_running = 0;
	for (a = TAILQ_FIRST(&A.list); a != NULL; a = next) {
		const struct account_conf *nc, **found;

		next = TAILQ_NEXT(a, entry);
		if (a->stopping)
			continue;
		key_conf = a->conf;
		found = bsearch(&key_conf, confs, c->n_accounts, sizeof(*confs),
		    conf_by_name);
		nc = found != NULL ? *found : NULL;
		if (nc == NULL) {
			log_info("account=%s: removed from the configuration; "
				 "stopping",
			    a->conf->name);
			account_stop(a);
		} else if (!account_conf_equal(a->conf, nc)) {
			log_info(
			    "account=%s: configuration changed; restarting",
			    a->conf->name);
			account_stop(a);
		} else
			running[n_running++] = a;
	}
	qsort(running, n_running, sizeof(*running), running_by_name);
	for (size_t i = 0; i < c->n_accounts; i++) {
		struct account *const *found, *kp = &key;

		key.conf = &c->accounts[i];
		found = bsearch(
		    &kp, running, n_running, sizeof(*running), running_by_name);
		if (found == NULL)
			account_start(c, &c->accounts[i]);
	}
	free(running);
	free(confs);
	reap_stopped();
}

void
accounts_stop_all(accounts_idle_fn *idle, void *arg)
{
	struct account *a;

	A.shutting_down = true;
	A.idle = idle;
	A.idle_arg = arg;
	TAILQ_FOREACH(a, &A.list, entry)
		account_stop(a);
	check_quiet();
}

void
accounts_when_done(accounts_idle_fn *done, void *arg)
{
	A.done = done;
	A.done_arg = arg;
	check_quiet();
}

void
accounts_summary(struct accounts_summary *s)
{
	struct account *a;

	memset(s, 0, sizeof(*s));
	TAILQ_FOREACH(a, &A.list, entry) {
		if (a->stopping)
			continue;
		s->total++;
		if (a->state == ACC_SYNCING)
			s->syncing++;
		if (a->last_failed)
			s->failing++;
		else
			s->ok++;
	}
}

size_t
accounts_failed(void)
{
	struct account *a;
	size_t n = 0;

	TAILQ_FOREACH(a, &A.list, entry)
		if (a->last_failed)
			n++;
	return n;
}

static bool
has_id(const int *ids, size_t n, int id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ids[mid] == id)
			return true;
		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* The view's instance that prefers the account is this one. */
static bool
preferred(const struct instances_view *v, const struct account *a)
{
	if (v->n_names == 0)
		return true;
	return strcmp(v->names[share_owner(v->names, v->n_names, a->id)],
		   A.instance) == 0;
}

/* An account this daemon runs, registered, not being stopped. */
static bool
shared(const struct account *a)
{
	return !a->stopping && a->id != 0 && a->src != NULL;
}

/*
 * Gives up to n held accounts over, those another live instance
 * prefers first, and of those the ones between passes first: they go
 * at once. An account in a pass goes at its batch boundary (the
 * source's stop ends the pass after the batch in flight), one whose
 * hold is being checked as soon as the check answers.
 */
static void
give_excess(const struct instances_view *v, size_t n)
{
	struct account *a;

	/* Rounds: bit 1, any preference; bit 0, in a pass too. */
	for (int round = 0; round < 4 && n > 0; round++)
		TAILQ_FOREACH(a, &A.list, entry) {
			if (n == 0)
				break;
			if (!shared(a) || !a->holding || a->handover ||
			    a->sticky || a->blocked ||
			    (!(round & 2) && preferred(v, a)) ||
			    (!(round & 1) && a->state != ACC_IDLE))
				continue;
			n--;
			a->handover = true;
			if (a->state == ACC_IDLE) {
				hand_over(a);
				continue;
			}
			if (a->state == ACC_SYNCING && !a->hold_asked)
				a->ops->stop(a->src);
		}
}

/* Wakes up to n free accounts, those this instance prefers first, each
 * within a second (with jitter, so that instances do not collide in
 * step). */
static size_t
take_free(const struct instances_view *v, size_t n)
{
	struct account *a;
	size_t taken = 0;

	for (int round = 0; round < 2 && n > 0; round++)
		TAILQ_FOREACH(a, &A.list, entry) {
			if (n == 0)
				break;
			if (!shared(a) || a->holding || a->hold_asked ||
			    a->invited || a->blocked || a->free_since == 0 ||
			    a->state != ACC_IDLE ||
			    (round == 0 && !preferred(v, a)))
				continue;
			n--;
			taken++;
			a->invited = true;
			schedule(a, backoff_msec(0, 1000, 1000));
		}
	return taken;
}

bool
accounts_share(const struct instances_view *v, void *arg)
{
	struct account *a;
	size_t n_accounts = 0, handing = 0, asking = 0, invited = 0;
	int64_t now = mono_msec();

	if (A.once)
		return false;
	A.have_view = true;
	A.n_live = v->n_names > 0 ? v->n_names : 1;
	TAILQ_FOREACH(a, &A.list, entry) {
		bool mine, other;

		if (a->stopping)
			continue;
		/* Those still being registered count in the share too. */
		n_accounts++;
		if (!shared(a))
			continue;
		mine = has_id(v->mine, v->n_mine, a->id);
		other = has_id(v->others, v->n_others, a->id);
		if (mine || other)
			a->free_since = 0;
		else if (a->free_since == 0)
			a->free_since = now;
		/* A hold had before this view was asked for is in it,
		 * unless this daemon's session ended since (it was taken
		 * for dead, or the connection was lost). */
		if (a->holding && !mine && !a->hold_asked &&
		    v->seq > a->held_seq) {
			log_info("account=%s: no longer held by this instance "
				 "(its database session ended); standing by",
			    a->conf->name);
			if (a->state == ACC_IDLE)
				stand_by(a);
			else
				set_holding(a, false);
		}
		/* Held by this session, yet not run: a pass that was
		 * under way when the hold was found lost takes the hold
		 * again in its ingest transaction when the account is
		 * free (the fencing check). Let it go, or nobody runs it. */
		if (mine && !a->holding && !a->hold_asked &&
		    a->state == ACC_IDLE) {
			store_release_account(
			    A.store, a->id, A.instance, NULL, NULL);
			stand_by(a);
		}
		/* Nobody else takes it: this daemon keeps it. */
		if (a->free_since != 0 &&
		    now - a->free_since >= STALE_FREE_MS && !a->holding &&
		    !a->hold_asked && !a->invited && !a->blocked &&
		    a->state == ACC_IDLE) {
			a->invited = true;
			a->sticky = true;
			invited++;
			schedule(a, backoff_msec(0, 1000, 1000));
		}
		if (a->handover)
			handing++;
		if (a->hold_asked || a->invited)
			asking++;
	}
	A.target = share_target(n_accounts, A.n_live);
	metrics_share(A.n_live, A.target);
	if (A.n_holding > A.target + handing) {
		log_info("share: %zu live instances, %zu accounts, a share of "
			 "%zu; this instance holds %zu: handing %zu over",
		    A.n_live, n_accounts, A.target, A.n_holding,
		    A.n_holding - handing - A.target);
		give_excess(v, A.n_holding - handing - A.target);
	} else if (A.n_holding + asking < A.target)
		invited += take_free(v, A.target - A.n_holding - asking);
	return invited > 0;
}

void
accounts_teardown(void)
{
	struct account *a;

	while ((a = TAILQ_FIRST(&A.list)) != NULL)
		account_free(a);
	free(A.instance);
	A.instance = NULL;
}
