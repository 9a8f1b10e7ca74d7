/*
 * The daemon's asynchronous connection: one non-blocking libpq
 * connection driven by the libevent loop runs a queue of operations
 * one at a time (store_int.h). When the connection drops, the server
 * rolls any open transaction back; the store reconnects with backoff
 * and runs the interrupted operation again from its first statement,
 * so a batch is stored exactly once. LISTEN is renewed after every
 * reconnect, before any other work.
 *
 * The operations' statements are prepared once per connection, on
 * first use (PREPARE, then EXECUTE with the same parameters): an ingest
 * transaction runs a dozen statements per batch, each with a plan the
 * server would otherwise make afresh every time.
 *
 * The operations themselves live in store_account.c, store_ingest.c
 * and store_changes.c.
 */

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "idset.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

TAILQ_HEAD(op_queue, op);

/* More statements than the store has: the rest go unprepared. */
#define STORE_PREPARED 64

enum conn_state {
	CONN_DOWN,
	CONN_CONNECTING,
	CONN_READY,
};

struct store {
	struct event_base *base;
	char *conninfo;
	PGconn *conn;
	enum conn_state state;
	struct event *ev_io;
	struct event *ev_retry;
	unsigned attempt;
	struct op_queue ops;
	bool busy; /* the head op has a statement in flight */
	struct op *current; /* the op that has started, until it ends */
	store_ready_fn *ready;
	void *ready_arg;
	bool ready_called;
	bool listen_again; /* a reconnect: notifications may be lost */
	char *listen_sql; /* "LISTEN a; LISTEN b", or NULL */
	/* Statements prepared on this connection, named "s<index>". */
	const char *prepared[STORE_PREPARED];
	size_t n_prepared;
	/* The statement whose PREPARE is in flight, and its parameters,
	 * which libpq has not taken yet. */
	struct {
		const char *sql;
		int n;
		char **params;
		bool on;
	} preparing;
	struct listener {
		char *channel;
		store_notify_fn *fn;
		void *arg;
	} listeners[STORE_CHANNELS];
	size_t n_listeners;
	/* store_flush: who waits for the queue to empty, until when. */
	void (*flushed)(void *);
	void *flushed_arg;
	struct event *ev_flush;
	/*
	 * The accounts this connection holds (session advisory locks).
	 * A hold goes only with its session or with an unlock this store
	 * sends, so the copy is exact, and spares every transaction a look
	 * at pg_locks, which lists every lock of the server each time.
	 */
	struct idset held;
	/* store_states_op() */
	struct op *states_op;
	/* store_abandon: queued batches are answered, not run. */
	bool abandoning;
	struct event *ev_abandon;
};

static void store_connect(struct store *s);
static void prepared(struct store *s, PGresult *res);
static void store_run(struct store *s);
static op_run_fn run_exec;

struct store *
store_new(struct event_base *base, const char *conninfo)
{
	struct store *s = xcalloc(1, sizeof(*s));

	s->base = base;
	s->conninfo = xstrdup(conninfo);
	TAILQ_INIT(&s->ops);
	return s;
}

struct op **
store_states_op(struct store *s)
{
	return &s->states_op;
}

bool
store_holds(const struct store *s, int account_id)
{
	return idset_has(&s->held, account_id);
}

void
store_set_held(struct store *s, int account_id, bool held)
{
	if (held)
		idset_add(&s->held, account_id);
	else
		idset_del(&s->held, account_id);
}

bool
store_connected(const struct store *s)
{
	return s->state == CONN_READY;
}

int
store_backend_pid(const struct store *s)
{
	return s->state == CONN_READY ? PQbackendPID(s->conn) : 0;
}

size_t
store_pending(const struct store *s)
{
	size_t n = 0;
	struct op *op;

	TAILQ_FOREACH(op, &s->ops, entry)
		n++;
	return n;
}

struct op *
store_op_new(op_run_fn *run, void *done, void *arg)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->run = run;
	op->done = done;
	op->arg = arg;
	return op;
}

static void
op_free(struct op *op)
{
	free(op->name);
	free(op->type);
	free(op->mailbox);
	free(op->error);
	free(op->ids_json);
	free(op->sql);
	for (int i = 0; i < op->nparams; i++)
		free(op->params[i]);
	free(op->params);
	if (op->state_free != NULL)
		op->state_free(op->state);
	free(op);
}

/* Without a result, the operation (re)starts from its first statement. */
static void
op_run(struct store *s, struct op *op, PGresult *res)
{
	if (res == NULL)
		op->step = 0;
	op->run(s, op, res);
}

static void
preparing_clear(struct store *s)
{
	for (int i = 0; i < s->preparing.n; i++)
		free(s->preparing.params[i]);
	free(s->preparing.params);
	memset(&s->preparing, 0, sizeof(s->preparing));
}

static void
conn_drop(struct store *s)
{
	if (s->ev_io) {
		event_free(s->ev_io);
		s->ev_io = NULL;
	}
	if (s->conn) {
		PQfinish(s->conn);
		s->conn = NULL;
	}
	s->state = CONN_DOWN;
	s->busy = false;
	/* A new session has no prepared statements, and holds nothing. */
	s->n_prepared = 0;
	preparing_clear(s);
	idset_clear(&s->held);
}

void
store_free(struct store *s)
{
	struct op *op;

	if (s == NULL)
		return;
	conn_drop(s);
	if (s->ev_retry)
		event_free(s->ev_retry);
	if (s->ev_flush)
		event_free(s->ev_flush);
	if (s->ev_abandon)
		event_free(s->ev_abandon);
	while ((op = TAILQ_FIRST(&s->ops)) != NULL) {
		TAILQ_REMOVE(&s->ops, op, entry);
		op_free(op);
	}
	free(s->conninfo);
	free(s->listen_sql);
	for (size_t i = 0; i < s->n_listeners; i++)
		free(s->listeners[i].channel);
	free(s);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	store_connect(arg);
}

static void
schedule_reconnect(struct store *s, const char *why)
{
	unsigned ms = backoff_msec(s->attempt++, 250, 30000);

	conn_drop(s);
	metrics_error("database");
	log_warnx("database: %s; reconnecting in %u ms", why, ms);
	if (s->ev_retry == NULL)
		s->ev_retry = evtimer_new(s->base, retry_cb, s);
	timer_add_ms(s->ev_retry, ms);
}

static void set_io(struct store *s, short what);

static void io_cb(evutil_socket_t fd, short what, void *arg);

static void queue_listen(struct store *s);

static void
connect_poll(struct store *s)
{
	switch (PQconnectPoll(s->conn)) {
	case PGRES_POLLING_READING:
		set_io(s, EV_READ);
		return;
	case PGRES_POLLING_WRITING:
		set_io(s, EV_WRITE);
		return;
	case PGRES_POLLING_FAILED: {
		char *why = db_error_text(PQerrorMessage(s->conn));

		schedule_reconnect(s, why);
		free(why);
		return;
	}
	case PGRES_POLLING_OK:
		break;
	default:
		return;
	}
	PQsetnonblocking(s->conn, 1);
	PQsetNoticeProcessor(s->conn, db_notice_quiet, NULL);
	if (s->attempt > 0)
		log_info("database: connection restored");
	s->attempt = 0;
	s->state = CONN_READY;
	set_io(s, EV_READ);
	s->listen_again = s->ready_called;
	if (s->listen_sql != NULL)
		queue_listen(s);
	if (!s->ready_called) {
		s->ready_called = true;
		if (s->ready)
			s->ready(true, NULL, s->ready_arg);
	}
	store_run(s);
}

static void
store_connect(struct store *s)
{
	conn_drop(s);
	s->conn = PQconnectStart(s->conninfo);
	if (s->conn == NULL || PQstatus(s->conn) == CONNECTION_BAD) {
		char *why = db_error_text(
		    s->conn ? PQerrorMessage(s->conn) : "out of memory");

		schedule_reconnect(s, why);
		free(why);
		return;
	}
	s->state = CONN_CONNECTING;
	connect_poll(s);
}

void
store_start(struct store *s, store_ready_fn *ready, void *arg)
{
	s->ready = ready;
	s->ready_arg = arg;
	store_connect(s);
}

/* Watches the socket for what libpq waits on; the fd may change. */
static void
set_io(struct store *s, short what)
{
	int fd = PQsocket(s->conn);

	if (s->ev_io && event_get_fd(s->ev_io) != fd) {
		event_free(s->ev_io);
		s->ev_io = NULL;
	}
	if (s->ev_io == NULL)
		s->ev_io = event_new(s->base, fd, what | EV_PERSIST, io_cb, s);
	else {
		event_del(s->ev_io);
		event_assign(
		    s->ev_io, s->base, fd, what | EV_PERSIST, io_cb, s);
	}
	event_add(s->ev_io, NULL);
}

static void
connection_lost(struct store *s)
{
	char *why = db_error_text(PQerrorMessage(s->conn));
	struct op *op = TAILQ_FIRST(&s->ops);

	/* The server rolled back; the operation starts over. */
	if (op != NULL)
		op->step = 0;
	s->current = NULL;
	schedule_reconnect(s, why);
	free(why);
}

static void
deliver_notifications(struct store *s)
{
	PGnotify *n;

	while ((n = PQnotifies(s->conn)) != NULL) {
		for (size_t i = 0; i < s->n_listeners; i++)
			if (strcmp(s->listeners[i].channel, n->relname) == 0)
				s->listeners[i].fn(
				    n->extra, s->listeners[i].arg);
		PQfreemem(n);
	}
}

static void
read_results(struct store *s)
{
	PGresult *res;

	if (PQconsumeInput(s->conn) == 0) {
		connection_lost(s);
		return;
	}
	deliver_notifications(s);
	while (s->busy && !PQisBusy(s->conn)) {
		PGresult *last = NULL;

		/* A statement yields its result, then NULL. */
		while ((res = PQgetResult(s->conn)) != NULL) {
			if (last)
				PQclear(last);
			last = res;
		}
		s->busy = false;
		if (PQstatus(s->conn) == CONNECTION_BAD) {
			PQclear(last);
			connection_lost(s);
			return;
		}
		if (s->preparing.on) {
			prepared(s, last);
			PQclear(last);
			if (s->state != CONN_READY)
				return;
			continue;
		}
		op_run(s, TAILQ_FIRST(&s->ops), last);
		PQclear(last);
		if (s->state != CONN_READY)
			return;
	}
	/* Drain notices and stray results, such as the server's FATAL
	 * message when it shuts down while we are idle. */
	while (!s->busy && PQisBusy(s->conn) == 0 &&
	    (res = PQgetResult(s->conn)) != NULL)
		PQclear(res);
	if (PQstatus(s->conn) == CONNECTION_BAD)
		connection_lost(s);
}

static void
io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;

	if (s->state == CONN_CONNECTING) {
		connect_poll(s);
		return;
	}
	if (s->state != CONN_READY)
		return;
	if (what & EV_WRITE) {
		int r = PQflush(s->conn);

		if (r == -1) {
			connection_lost(s);
			return;
		}
		if (r == 0)
			set_io(s, EV_READ);
	}
	if (what & EV_READ)
		read_results(s);
}

/* What was handed to libpq goes; the answer comes to read_results. */
static void
sent(struct store *s, int r)
{
	if (r == 0) {
		connection_lost(s);
		return;
	}
	s->busy = true;
	r = PQflush(s->conn);
	if (r == -1) {
		connection_lost(s);
		return;
	}
	set_io(s, r == 1 ? EV_READ | EV_WRITE : EV_READ);
}

static void
send_unprepared(
    struct store *s, const char *sql, int n, const char *const *params)
{
	if (n == 0 && params == NULL)
		sent(s, PQsendQuery(s->conn, sql));
	else
		sent(s,
		    PQsendQueryParams(
			s->conn, sql, n, NULL, params, NULL, NULL, 0));
}

static int
prepared_index(const struct store *s, const char *sql)
{
	for (size_t i = 0; i < s->n_prepared; i++)
		if (s->prepared[i] == sql)
			return (int)i;
	return -1;
}

static void
send_prepared(struct store *s, int i, int n, const char *const *params)
{
	char name[16];

	snprintf(name, sizeof(name), "s%d", i);
	sent(s, PQsendQueryPrepared(s->conn, name, n, params, NULL, NULL, 0));
}

void
store_send(struct store *s, const char *sql, int n, const char *const *params)
{
	char name[16];
	int i;

	if (n == 0 && params == NULL) {
		send_unprepared(s, sql, 0, NULL);
		return;
	}
	if ((i = prepared_index(s, sql)) != -1) {
		send_prepared(s, i, n, params);
		return;
	}
	if (s->n_prepared == STORE_PREPARED) {
		send_unprepared(s, sql, n, params);
		return;
	}
	/* PREPARE first; the parameters wait for its answer. */
	s->preparing.sql = sql;
	s->preparing.n = n;
	s->preparing.params = xcalloc((size_t)n + 1, sizeof(char *));
	for (int k = 0; k < n; k++)
		s->preparing.params[k] =
		    params[k] != NULL ? xstrdup(params[k]) : NULL;
	s->preparing.on = true;
	snprintf(name, sizeof(name), "s%zu", s->n_prepared);
	sent(s, PQsendPrepare(s->conn, name, sql, n, NULL));
}

/*
 * The answer to a PREPARE: the statement runs now, prepared, or
 * unprepared when the server refused to prepare it, so that the
 * operation hears the statement's own error.
 */
static void
prepared(struct store *s, PGresult *res)
{
	const char *sql = s->preparing.sql;
	int n = s->preparing.n;
	char **params = s->preparing.params;

	memset(&s->preparing, 0, sizeof(s->preparing));
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		s->prepared[s->n_prepared] = sql;
		send_prepared(
		    s, (int)s->n_prepared++, n, (const char *const *)params);
	} else
		send_unprepared(s, sql, n, (const char *const *)params);
	for (int k = 0; k < n; k++)
		free(params[k]);
	free(params);
}

static void
store_run(struct store *s)
{
	struct op *op = TAILQ_FIRST(&s->ops);

	/* An op whose callback is running enqueues more work; that
	 * work waits until the op has ended. */
	if (op == NULL || s->busy || s->current != NULL)
		return;
	if (s->state == CONN_DOWN &&
	    (s->ev_retry == NULL || !evtimer_pending(s->ev_retry, NULL)))
		store_connect(s);
	if (s->state != CONN_READY)
		return;
	/* Left for the sweep, which answers it instead. */
	if (s->abandoning && op->abandon != NULL)
		return;
	s->current = op;
	op_run(s, op, NULL);
}

void
store_enqueue(struct store *s, struct op *op)
{
	TAILQ_INSERT_TAIL(&s->ops, op, entry);
	if (s->abandoning && op->abandon != NULL)
		event_active(s->ev_abandon, EV_TIMEOUT, 0);
	store_run(s);
}

struct op *
store_waiting_op(struct store *s)
{
	struct op *op = TAILQ_LAST(&s->ops, op_queue);

	return op == s->current ? NULL : op;
}

/* The flush ends: the queue is empty, or its time is up. */
static void
flush_end(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;
	void (*done)(void *) = s->flushed;

	if (done == NULL)
		return;
	if (TAILQ_FIRST(&s->ops) != NULL)
		log_warnx("database: %zu operations not done at exit",
		    store_pending(s));
	s->flushed = NULL;
	evtimer_del(s->ev_flush);
	done(s->flushed_arg);
}

void
store_flush(
    struct store *s, unsigned timeout_ms, void (*done)(void *), void *arg)
{
	s->flushed = done;
	s->flushed_arg = arg;
	if (s->ev_flush == NULL)
		s->ev_flush = evtimer_new(s->base, flush_end, s);
	timer_add_ms(s->ev_flush, TAILQ_EMPTY(&s->ops) ? 0 : timeout_ms);
}

/*
 * Takes every abandonable operation that has not started out of the
 * queue first, then answers them: their callbacks may queue more work,
 * which the next sweep (or store_run) sees.
 */
static void
abandon_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;
	struct op_queue gone = TAILQ_HEAD_INITIALIZER(gone);
	struct op *op, *next;
	size_t batches = 0;

	s->abandoning = true;
	for (op = TAILQ_FIRST(&s->ops); op != NULL; op = next) {
		next = TAILQ_NEXT(op, entry);
		if (op != s->current && op->abandon != NULL) {
			TAILQ_REMOVE(&s->ops, op, entry);
			TAILQ_INSERT_TAIL(&gone, op, entry);
		}
	}
	while ((op = TAILQ_FIRST(&gone)) != NULL) {
		TAILQ_REMOVE(&gone, op, entry);
		batches += op->abandon(op);
		op_free(op);
	}
	if (batches > 0)
		log_info("database: %zu batches not stored at the stop; their "
			 "mail is fetched again at the next start",
		    batches);
	store_run(s);
	if (s->flushed != NULL && TAILQ_EMPTY(&s->ops))
		timer_add_ms(s->ev_flush, 0);
}

bool
stop_abandoned(const char *error)
{
	return error != NULL && strstr(error, STORE_ABANDONED) != NULL;
}

void
store_abandon(struct store *s, unsigned after_ms)
{
	if (s->ev_abandon == NULL)
		s->ev_abandon = evtimer_new(s->base, abandon_sweep, s);
	timer_add_ms(s->ev_abandon, after_ms);
}

void
store_op_finish(struct store *s, struct op *op)
{
	TAILQ_REMOVE(&s->ops, op, entry);
	op_free(op);
	s->current = NULL;
	store_run(s);
	if (s->flushed != NULL && TAILQ_EMPTY(&s->ops))
		timer_add_ms(s->ev_flush, 0);
}

void
store_listen(
    struct store *s, const char *channel, store_notify_fn *fn, void *arg)
{
	struct buf b;
	size_t i;

	for (i = 0; i < s->n_listeners; i++)
		if (strcmp(s->listeners[i].channel, channel) == 0)
			break;
	if (i == s->n_listeners) {
		if (i == STORE_CHANNELS)
			fatalx("store: more than %d channels", STORE_CHANNELS);
		s->listeners[i].channel = xstrdup(channel);
		s->n_listeners++;
	}
	s->listeners[i].fn = fn;
	s->listeners[i].arg = arg;
	buf_init(&b);
	for (i = 0; i < s->n_listeners; i++)
		buf_printf(
		    &b, "%sLISTEN %s", i ? "; " : "", s->listeners[i].channel);
	free(s->listen_sql);
	s->listen_sql = buf_steal(&b);
	if (s->state == CONN_READY)
		queue_listen(s);
}

/*
 * Once listening again after a reconnect, every listener hears NULL: a
 * notification sent while the connection was down is lost, so what it
 * would have told must be read afresh.
 */
static void
listening(bool ok, const char *error, const struct db_res *res, void *arg)
{
	struct store *s = arg;

	if (!ok || !s->listen_again)
		return;
	s->listen_again = false;
	for (size_t i = 0; i < s->n_listeners; i++)
		s->listeners[i].fn(NULL, s->listeners[i].arg);
}

/* LISTEN goes first after a reconnect, before any interrupted work. */
static void
queue_listen(struct store *s)
{
	struct op *op = store_op_new(run_exec, (void *)listening, s);

	/* No parameters: the simple protocol, which takes several
	 * statements. */
	op->sql = xstrdup(s->listen_sql);
	if (s->current == NULL)
		TAILQ_INSERT_HEAD(&s->ops, op, entry);
	else
		TAILQ_INSERT_AFTER(&s->ops, s->current, op, entry);
}

/* One statement and copies of its parameters, as an operation. */
static struct op *
exec_op_new(const char *sql, int nparams, const char *const *params,
    store_exec_fn *done, void *arg)
{
	struct op *op = store_op_new(run_exec, (void *)done, arg);

	op->sql = xstrdup(sql);
	op->nparams = nparams;
	op->params = xcalloc((size_t)nparams + 1, sizeof(char *));
	for (int i = 0; i < nparams; i++)
		op->params[i] = params[i] ? xstrdup(params[i]) : NULL;
	return op;
}

void
store_exec(struct store *s, const char *sql, int nparams,
    const char *const *params, store_exec_fn *done, void *arg)
{
	store_enqueue(s, exec_op_new(sql, nparams, params, done, arg));
}

void
store_exec_first(struct store *s, const char *sql, int nparams,
    const char *const *params, store_exec_fn *done, void *arg)
{
	struct op *op = exec_op_new(sql, nparams, params, done, arg);

	/* Never inside another operation: after the one in progress. */
	if (s->current == NULL)
		TAILQ_INSERT_HEAD(&s->ops, op, entry);
	else
		TAILQ_INSERT_AFTER(&s->ops, s->current, op, entry);
	store_run(s);
}

static void
run_exec(struct store *s, struct op *op, PGresult *res)
{
	store_exec_fn *done = (store_exec_fn *)op->done;
	struct db_res r;
	char *why;

	if (op->step == 0) {
		op->step = 1;
		/* Statements of the application's kind vary: not kept. */
		send_unprepared(
		    s, op->sql, op->nparams, (const char *const *)op->params);
		return;
	}
	if (done != NULL) {
		if (db_result_ok(res)) {
			r.res = res;
			done(true, NULL, &r, op->arg);
		} else {
			why = db_error_text(PQresultErrorMessage(res));
			done(false, why, NULL, op->arg);
			free(why);
		}
	}
	store_op_finish(s, op);
}
