/*
 * The daemon's asynchronous database connection (the synchronous API is
 * db.c, migrations are migrate.c): one non-blocking
 * connection driven by the libevent loop runs a queue of operations one
 * at a time. An operation is a short script of statements; a batch of
 * mail is one transaction:
 *
 *   BEGIN -> look up known ids -> lock their conversations
 *     -> (thread_plan in C) -> leads -> new conversations -> merges
 *     -> messages -> id graph -> locations -> conversation status
 *     -> jobs + NOTIFY -> events + NOTIFY -> cursor -> COMMIT
 *
 * When the connection drops, the server rolls the transaction back; the
 * store reconnects with backoff and runs the interrupted operation again
 * from its first statement, so a batch is stored exactly once.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "config.h"
#include "db_int.h"
#include "jsonw.h"
#include "log.h"
#include "mail.h"
#include "store.h"
#include "thread.h"
#include "util.h"

/* Asynchronous API ----------------------------------------------------------- */

enum op_kind {
	OP_HOLD,
	OP_EXEC,
	OP_NEWEST,
	OP_KNOWN_GMAIL,
	OP_ACCOUNT_ID,
	OP_CURSOR,
	OP_NOTE_ERROR,
	OP_INGEST,
};

struct ingest_state;

struct op {
	TAILQ_ENTRY(op) entry;
	enum op_kind kind;
	int step;
	void *done;
	void *arg;
	/* Parameters, by kind. */
	char *name;
	char *type;
	int account_id;
	char *mailbox;
	char *error;
	const struct store_batch *batch;
	struct ingest_state *ingest;
	char *ids_json;
	char *sql;
	char **params;
	int nparams;
};
TAILQ_HEAD(op_queue, op);

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
	char *listen_sql; /* "LISTEN channel", or NULL */
	store_notify_fn *notify;
	void *notify_arg;
};

static void store_connect(struct store *s);
static void store_run(struct store *s);
static void op_step(struct store *s, struct op *op, PGresult *res);

struct store *
store_new(struct event_base *base, const char *conninfo)
{
	struct store *s = xcalloc(1, sizeof(*s));

	s->base = base;
	s->conninfo = xstrdup(conninfo);
	TAILQ_INIT(&s->ops);
	return s;
}

bool
store_connected(const struct store *s)
{
	return s->state == CONN_READY;
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

static void ingest_state_free(struct ingest_state *st);

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
	ingest_state_free(op->ingest);
	free(op);
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
	while ((op = TAILQ_FIRST(&s->ops)) != NULL) {
		TAILQ_REMOVE(&s->ops, op, entry);
		op_free(op);
	}
	free(s->conninfo);
	free(s->listen_sql);
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
		if (s->notify)
			s->notify(n->extra, s->notify_arg);
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
		op_step(s, TAILQ_FIRST(&s->ops), last);
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

/* Sends one statement of the head operation. */
static void
send_stmt(struct store *s, const char *sql, int n, const char *const *params)
{
	int r;

	if (n == 0 && params == NULL)
		r = PQsendQuery(s->conn, sql);
	else
		r = PQsendQueryParams(
		    s->conn, sql, n, NULL, params, NULL, NULL, 0);
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
	s->current = op;
	op_step(s, op, NULL);
}

static void
enqueue(struct store *s, struct op *op)
{
	TAILQ_INSERT_TAIL(&s->ops, op, entry);
	store_run(s);
}

static void
op_finish(struct store *s, struct op *op)
{
	TAILQ_REMOVE(&s->ops, op, entry);
	op_free(op);
	s->current = NULL;
	store_run(s);
}

static bool
res_ok(PGresult *res)
{
	return db_result_ok(res);
}

/* Small operations ------------------------------------------------------------ */

void
store_account_id(struct store *s, const char *name, const char *type,
    store_id_fn *done, void *arg)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->kind = OP_ACCOUNT_ID;
	op->name = xstrdup(name);
	op->type = xstrdup(type);
	op->done = (void *)done;
	op->arg = arg;
	enqueue(s, op);
}

void
store_get_cursor(struct store *s, int account_id, const char *mailbox,
    store_cursor_fn *done, void *arg)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->kind = OP_CURSOR;
	op->account_id = account_id;
	op->mailbox = xstrdup(mailbox);
	op->done = (void *)done;
	op->arg = arg;
	enqueue(s, op);
}

void
store_note_error(
    struct store *s, int account_id, const char *mailbox, const char *error)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->kind = OP_NOTE_ERROR;
	op->account_id = account_id;
	op->mailbox = xstrdup(mailbox);
	op->error = xstrdup(error);
	enqueue(s, op);
}

/* The advisory lock class of account holds: an arbitrary constant. */
#define HOLD_CLASS "1768843876"
#define SQL_HOLD \
	"SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks" \
	" WHERE locktype = 'advisory' AND pid = pg_backend_pid()" \
	"  AND classid = " HOLD_CLASS " AND objid = $1::int AND objsubid = 2" \
	"  AND granted) THEN true" \
	" ELSE pg_try_advisory_lock(" HOLD_CLASS ", $1::int) END"

void
store_hold_account(struct store *s, int account_id, const char *holder,
    store_held_fn *done, void *arg)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->kind = OP_HOLD;
	op->account_id = account_id;
	op->name = xstrdup(holder);
	op->done = (void *)done;
	op->arg = arg;
	enqueue(s, op);
}

/* Check (or take) the lock, then show who holds the account. */
static void
step_hold(struct store *s, struct op *op, PGresult *res)
{
	store_held_fn *done = (store_held_fn *)op->done;
	char idbuf[16];
	const char *params[2] = {idbuf, op->name};

	snprintf(idbuf, sizeof(idbuf), "%d", op->account_id);
	if (op->step == 0) {
		op->step = 1;
		send_stmt(s, SQL_HOLD, 1, params);
		return;
	}
	if (op->step == 1) {
		if (!res_ok(res) || strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
			done(res_ok(res), false, op->arg);
			op_finish(s, op);
			return;
		}
		op->step = 2;
		send_stmt(s,
		    "UPDATE mail_accounts SET held_by = $2,"
		    " held_since = CASE WHEN held_by IS DISTINCT FROM $2"
		    "  THEN now() ELSE held_since END WHERE id = $1",
		    2, params);
		return;
	}
	done(res_ok(res), res_ok(res), op->arg);
	op_finish(s, op);
}

void
store_release_account(struct store *s, int account_id, const char *holder)
{
	char idbuf[16];
	const char *params[2] = {idbuf, holder};

	snprintf(idbuf, sizeof(idbuf), "%d", account_id);
	store_exec(s, "SELECT pg_advisory_unlock(" HOLD_CLASS ", $1::int)", 1,
	    params, NULL, NULL);
	store_exec(s,
	    "UPDATE mail_accounts SET held_by = NULL, held_since = NULL"
	    " WHERE id = $1 AND held_by = $2",
	    2, params, NULL, NULL);
}

void
store_listen(
    struct store *s, const char *channel, store_notify_fn *fn, void *arg)
{
	free(s->listen_sql);
	s->listen_sql = xasprintf("LISTEN %s", channel);
	s->notify = fn;
	s->notify_arg = arg;
	if (s->state == CONN_READY)
		queue_listen(s);
}

/* LISTEN goes first after a reconnect, before any interrupted work. */
static void
queue_listen(struct store *s)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->kind = OP_EXEC;
	op->sql = xstrdup(s->listen_sql);
	op->params = xcalloc(1, sizeof(char *));
	if (s->current == NULL)
		TAILQ_INSERT_HEAD(&s->ops, op, entry);
	else
		TAILQ_INSERT_AFTER(&s->ops, s->current, op, entry);
}

void
store_exec(struct store *s, const char *sql, int nparams,
    const char *const *params, store_exec_fn *done, void *arg)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->kind = OP_EXEC;
	op->sql = xstrdup(sql);
	op->nparams = nparams;
	op->params = xcalloc((size_t)nparams + 1, sizeof(char *));
	for (int i = 0; i < nparams; i++)
		op->params[i] = params[i] ? xstrdup(params[i]) : NULL;
	op->done = (void *)done;
	op->arg = arg;
	enqueue(s, op);
}

static void
step_exec(struct store *s, struct op *op, PGresult *res)
{
	store_exec_fn *done = (store_exec_fn *)op->done;
	struct db_res r;
	char *why;

	if (op->step == 0) {
		op->step = 1;
		send_stmt(
		    s, op->sql, op->nparams, (const char *const *)op->params);
		return;
	}
	if (done != NULL) {
		if (res_ok(res)) {
			r.res = res;
			done(true, NULL, &r, op->arg);
		} else {
			why = db_error_text(PQresultErrorMessage(res));
			done(false, why, NULL, op->arg);
			free(why);
		}
	}
	op_finish(s, op);
}

void
store_newest_message(
    struct store *s, int account_id, store_time_fn *done, void *arg)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->kind = OP_NEWEST;
	op->account_id = account_id;
	op->done = (void *)done;
	op->arg = arg;
	enqueue(s, op);
}

void
store_known_gmail_ids(struct store *s, int account_id, const char *const *ids,
    size_t n, store_known_fn *done, void *arg)
{
	struct op *op = xcalloc(1, sizeof(*op));
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(ids[i]));
	op->kind = OP_KNOWN_GMAIL;
	op->account_id = account_id;
	op->ids_json = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	op->done = (void *)done;
	op->arg = arg;
	enqueue(s, op);
}

static void
step_newest(struct store *s, struct op *op, PGresult *res)
{
	char idbuf[16];
	const char *params[1] = {idbuf};
	store_time_fn *done = (store_time_fn *)op->done;

	if (op->step == 0) {
		op->step = 1;
		snprintf(idbuf, sizeof(idbuf), "%d", op->account_id);
		send_stmt(s,
		    "SELECT coalesce(extract(epoch FROM max(sent_at)),"
		    " 0)::bigint FROM conversation_messages WHERE account_id = "
		    "$1",
		    1, params);
		return;
	}
	if (!res_ok(res) || PQntuples(res) != 1)
		done(false, 0, op->arg);
	else
		done(true, strtoll(PQgetvalue(res, 0, 0), NULL, 10), op->arg);
	op_finish(s, op);
}

static void
step_known_gmail(struct store *s, struct op *op, PGresult *res)
{
	char idbuf[16];
	const char *params[2] = {idbuf, op->ids_json};
	store_known_fn *done = (store_known_fn *)op->done;
	const char **known;
	int n;

	if (op->step == 0) {
		op->step = 1;
		snprintf(idbuf, sizeof(idbuf), "%d", op->account_id);
		send_stmt(s,
		    "SELECT g.gmail_message_id FROM gmail_locations g"
		    " JOIN json_array_elements_text($2::json) k"
		    "  ON g.gmail_message_id = k"
		    " WHERE g.account_id = $1",
		    2, params);
		return;
	}
	if (!res_ok(res)) {
		done(false, NULL, op->arg);
		op_finish(s, op);
		return;
	}
	n = PQntuples(res);
	known = xcalloc((size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++)
		known[i] = PQgetvalue(res, i, 0);
	done(true, known, op->arg);
	free(known);
	op_finish(s, op);
}

static void
step_account_id(struct store *s, struct op *op, PGresult *res)
{
	const char *params[2] = {op->name, op->type};
	store_id_fn *done = (store_id_fn *)op->done;

	if (op->step == 0) {
		op->step = 1;
		/* DO UPDATE (not NOTHING) so that the row comes back even
		 * when another instance inserted it concurrently. */
		send_stmt(s,
		    "INSERT INTO mail_accounts (name, type) VALUES ($1, $2)"
		    " ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name"
		    " RETURNING id",
		    2, params);
		return;
	}
	if (!res_ok(res) || PQntuples(res) < 1) {
		log_warnx("database: account %s: %s", op->name,
		    res_ok(res) ? "no row returned"
				: PQresultErrorMessage(res));
		done(false, 0, op->arg);
	} else
		done(true, atoi(PQgetvalue(res, 0, 0)), op->arg);
	op_finish(s, op);
}

static void
step_cursor(struct store *s, struct op *op, PGresult *res)
{
	char idbuf[16];
	const char *params[2] = {idbuf, op->mailbox};
	store_cursor_fn *done = (store_cursor_fn *)op->done;
	struct store_cursor cur = {0};

	if (op->step == 0) {
		op->step = 1;
		snprintf(idbuf, sizeof(idbuf), "%d", op->account_id);
		send_stmt(s,
		    "SELECT uidvalidity, last_uid, history_id "
		    "FROM sync_state WHERE account_id = $1 AND mailbox = $2",
		    2, params);
		return;
	}
	if (!res_ok(res)) {
		done(false, NULL, op->arg);
	} else {
		if (PQntuples(res) > 0) {
			cur.found = true;
			cur.uidvalidity =
			    (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
			cur.last_uid =
			    (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
			if (!PQgetisnull(res, 0, 2))
				cur.history_id = xstrdup(PQgetvalue(res, 0, 2));
		}
		done(true, &cur, op->arg);
		free(cur.history_id);
	}
	op_finish(s, op);
}

static void
step_note_error(struct store *s, struct op *op, PGresult *res)
{
	char idbuf[16];
	const char *params[3] = {idbuf, op->mailbox, op->error};

	if (op->step == 0) {
		op->step = 1;
		snprintf(idbuf, sizeof(idbuf), "%d", op->account_id);
		send_stmt(s,
		    "INSERT INTO sync_state (account_id, mailbox, "
		    "last_error, last_error_at) VALUES ($1, $2, $3, now()) "
		    "ON CONFLICT (account_id, mailbox) DO UPDATE SET "
		    "last_error = EXCLUDED.last_error, last_error_at = now(), "
		    "updated_at = now()",
		    3, params);
		return;
	}
	if (!res_ok(res))
		log_warnx("database: cannot record error: %s",
		    PQresultErrorMessage(res));
	op_finish(s, op);
}

/* Ingest ------------------------------------------------------------------------ */

/* Where a message of the batch goes. */
struct ingest_msg {
	char row_id[37]; /* its row, new or existing */
	bool duplicate;
	const char *const *refs;
};

struct ingest_state {
	struct thr_msg *tmsgs;
	struct ingest_msg *imsgs;
	struct thr_conv *convs; /* stored conversations looked up */
	size_t n_convs;
	struct thr_link *links;
	size_t n_links;
	char **link_keys; /* owned copies of link keys */
	char **subject_keys; /* per message (entries may be NULL),
	                                or NULL when subject threading is off */
	size_t n_subject_keys;
	struct thr_plan *plan;
	char (*conv_ids)[37]; /* plan index -> UUID */
	struct store_result result;
	json_t *known_rows; /* message id -> existing row id */
};

static void
ingest_state_free(struct ingest_state *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->n_links; i++)
		free(st->link_keys[i]);
	free(st->link_keys);
	free(st->links);
	free(st->convs);
	free(st->tmsgs);
	free(st->imsgs);
	for (size_t i = 0; i < st->n_subject_keys; i++)
		free(st->subject_keys[i]);
	free(st->subject_keys);
	thread_plan_free(st->plan);
	free(st->conv_ids);
	json_decref(st->known_rows);
	free(st);
}

static void ingest_reset(struct op *op);

void
store_ingest(struct store *s, const struct store_batch *b,
    store_ingest_fn *done, void *arg)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->kind = OP_INGEST;
	op->batch = b;
	op->done = (void *)done;
	op->arg = arg;
	enqueue(s, op);
}

static const char *
direction_of(const struct store_item *it)
{
	return it->outbound ? "outbound" : "inbound";
}

static char *
json_text(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	if (s == NULL)
		fatalx("json_dumps failed");
	return s;
}

static json_t *
jstr(const char *s)
{
	json_t *j;

	if (s == NULL)
		return json_null();
	j = json_string(s);
	/* Inputs are sanitized UTF-8; a failure here would be a bug, but
	 * losing one field beats losing the message. */
	return j ? j : json_string("");
}

/* Every key the batch mentions, for the lookup. */
/* Every id the batch carries or references, for the lookup: written
 * with the fast writer, as this runs for every reference of every
 * message. */
static char *
batch_keys(const struct store_batch *b)
{
	struct buf o;
	bool first = true;

	buf_init(&o);
	buf_append(&o, "[", 1);
	for (size_t i = 0; i < b->n_items; i++) {
		const struct mail *m = b->items[i].mail;

		for (size_t j = 0; j <= m->n_references; j++) {
			if (!first)
				buf_append(&o, ",", 1);
			first = false;
			jsonw_str(
			    &o, j == 0 ? m->message_id : m->references[j - 1]);
		}
	}
	buf_append(&o, "]", 1);
	return buf_steal(&o);
}

static json_t *
batch_thread_ids(const struct store_batch *b)
{
	json_t *a = json_array();

	for (size_t i = 0; i < b->n_items; i++)
		if (b->items[i].gmail_thread_id)
			json_array_append_new(
			    a, jstr(b->items[i].gmail_thread_id));
	return a;
}

/* The counterparty of a message: who we talk with. */
static const char *
counterparty(const struct store_item *it)
{
	return it->outbound ? it->mail->to_email : it->mail->from_email;
}

/*
 * With thread_by_subject, messages with the same normalized subject and
 * the same counterparty within subject_window days share a key.
 */
static void
ingest_subject_keys(struct ingest_state *st, const struct store_batch *b)
{
	if (!b->account->thread_by_subject)
		return;
	st->subject_keys = xcalloc(b->n_items, sizeof(char *));
	st->n_subject_keys = b->n_items;
	for (size_t i = 0; i < b->n_items; i++) {
		const struct store_item *it = &b->items[i];
		const char *cp = counterparty(it);
		char *norm;

		if (it->mail->subject == NULL || cp == NULL)
			continue;
		norm = thread_subject_normalize(it->mail->subject);
		if (*norm != '\0')
			st->subject_keys[i] = xasprintf("%s\x1f%s", norm, cp);
		free(norm);
	}
}

static json_t *
batch_subject_keys(struct ingest_state *st)
{
	json_t *a = json_array();

	for (size_t i = 0; i < st->n_subject_keys; i++)
		if (st->subject_keys[i])
			json_array_append_new(a, jstr(st->subject_keys[i]));
	return a;
}

/* Subject links reach back one window before the batch's oldest mail. */
static int64_t
subject_horizon(const struct store_batch *b)
{
	int64_t oldest = INT64_MAX;

	for (size_t i = 0; i < b->n_items; i++)
		if (b->items[i].mail->sent_at < oldest)
			oldest = b->items[i].mail->sent_at;
	if (oldest == INT64_MAX)
		oldest = now_usec() / 1000000;
	return oldest - (int64_t)b->account->subject_window * 86400;
}

static int
conv_index(struct ingest_state *st, const char *id)
{
	for (size_t i = 0; i < st->n_convs; i++)
		if (strcmp(st->convs[i].id, id) == 0)
			return (int)i;
	return -1;
}

static int64_t
parse_i64(PGresult *res, int row, int col, int64_t null_value)
{
	if (PQgetisnull(res, row, col))
		return null_value;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/*
 * Lookup result rows: (key, conversation id, existing row id or NULL,
 * created_at usec, status, last_human_at sec, last_human_outbound,
 * last_message_at sec).
 */
static void
ingest_read_lookup(struct ingest_state *st, PGresult *res)
{
	int n = PQntuples(res);

	st->convs = xcalloc((size_t)n + 1, sizeof(*st->convs));
	st->links = xcalloc((size_t)n + 1, sizeof(*st->links));
	st->link_keys = xcalloc((size_t)n + 1, sizeof(char *));
	st->known_rows = json_object();
	for (int r = 0; r < n; r++) {
		const char *key = PQgetvalue(res, r, 0);
		const char *cid = PQgetvalue(res, r, 1);
		int ci = conv_index(st, cid);

		if (ci < 0) {
			struct thr_conv *c = &st->convs[st->n_convs];

			snprintf(c->id, sizeof(c->id), "%s", cid);
			c->created_at = parse_i64(res, r, 3, 0);
			if (conv_status_parse(
				PQgetvalue(res, r, 4), &c->status))
				c->status = CONV_ACTIVE;
			c->last_human_at = parse_i64(res, r, 5, INT64_MIN);
			c->last_human_outbound =
			    strcmp(PQgetvalue(res, r, 6), "t") == 0;
			c->last_message_at = parse_i64(res, r, 7, INT64_MIN);
			ci = (int)st->n_convs++;
		}
		st->link_keys[st->n_links] = xstrdup(key);
		st->links[st->n_links].key = st->link_keys[st->n_links];
		st->links[st->n_links].conv = ci;
		st->n_links++;
		if (!PQgetisnull(res, r, 2))
			json_object_set_new(st->known_rows, key,
			    json_string(PQgetvalue(res, r, 2)));
	}
}

/* Marks copies already stored, and second copies inside the batch. */
static void
ingest_mark_duplicates(struct ingest_state *st, const struct store_batch *b)
{
	json_t *seen = json_object();

	for (size_t i = 0; i < b->n_items; i++) {
		const char *mid = b->items[i].mail->message_id;
		json_t *row = json_object_get(st->known_rows, mid);
		json_t *first = json_object_get(seen, mid);

		if (row != NULL) {
			st->imsgs[i].duplicate = true;
			snprintf(st->imsgs[i].row_id, 37, "%s",
			    json_string_value(row));
		} else if (first != NULL) {
			st->imsgs[i].duplicate = true;
			snprintf(st->imsgs[i].row_id, 37, "%s",
			    st->imsgs[json_integer_value(first)].row_id);
		} else {
			uuid_generate_text(st->imsgs[i].row_id);
			json_object_set_new(
			    seen, mid, json_integer((json_int_t)i));
		}
	}
	json_decref(seen);
}

static void
ingest_plan(struct ingest_state *st, const struct store_batch *b)
{
	const struct account_conf *ac = b->account;
	int64_t window =
	    ac->thread_by_subject ? (int64_t)ac->subject_window * 86400 : 0;

	st->tmsgs = xcalloc(b->n_items, sizeof(*st->tmsgs));
	st->imsgs = xcalloc(b->n_items, sizeof(*st->imsgs));
	ingest_mark_duplicates(st, b);
	for (size_t i = 0; i < b->n_items; i++) {
		const struct store_item *it = &b->items[i];
		struct thr_msg *t = &st->tmsgs[i];

		t->message_id = it->mail->message_id;
		t->refs = (const char *const *)it->mail->references;
		t->n_refs = it->mail->n_references;
		t->gmail_thread_id = it->gmail_thread_id;
		t->subject_key = st->subject_keys ? st->subject_keys[i] : NULL;
		t->sent_at = it->mail->sent_at;
		t->outbound = it->outbound;
		t->automated = it->automated != NULL;
		t->duplicate = st->imsgs[i].duplicate;
	}
	st->plan = thread_plan(st->tmsgs, b->n_items, st->convs, st->n_convs,
	    st->links, st->n_links, window);
	st->conv_ids = xcalloc(st->plan->n_convs, sizeof(*st->conv_ids));
	for (size_t i = 0; i < st->plan->n_convs; i++) {
		if (st->plan->convs[i].is_new)
			uuid_generate_text(st->conv_ids[i]);
		else
			snprintf(
			    st->conv_ids[i], 37, "%s", st->plan->convs[i].id);
	}
}

static const char *
conv_id_of_msg(struct ingest_state *st, size_t i)
{
	return st->conv_ids[st->tmsgs[i].conv];
}

static char *
json_leads(struct ingest_state *st, const struct store_batch *b)
{
	json_t *a = json_array();

	for (size_t i = 0; i < st->plan->n_convs; i++) {
		const struct thr_conv *c = &st->plan->convs[i];
		const char *cp;

		if (!c->is_new || c->merged_into >= 0)
			continue;
		cp = counterparty(&b->items[c->first_msg]);
		if (cp != NULL)
			json_array_append_new(a, jstr(cp));
	}
	char *s = json_text(a);
	json_decref(a);
	return s;
}

static char *
json_new_convs(struct ingest_state *st, const struct store_batch *b)
{
	json_t *a = json_array();

	for (size_t i = 0; i < st->plan->n_convs; i++) {
		const struct thr_conv *c = &st->plan->convs[i];
		const struct store_item *it;
		json_t *o;

		if (!c->is_new)
			continue;
		it = &b->items[c->first_msg];
		o = json_object();
		json_object_set_new(o, "id", json_string(st->conv_ids[i]));
		json_object_set_new(o, "subject", jstr(it->mail->subject));
		json_object_set_new(o, "counterparty", jstr(counterparty(it)));
		json_object_set_new(
		    o, "gmail_thread_id", jstr(it->gmail_thread_id));
		json_object_set_new(o, "subject_key",
		    jstr(st->subject_keys ? st->subject_keys[c->first_msg]
					  : NULL));
		json_object_set_new(
		    o, "status", json_string(conv_status_name(c->new_status)));
		json_array_append_new(a, o);
	}
	char *s = json_text(a);
	json_decref(a);
	return s;
}

static char *
json_merges(struct ingest_state *st)
{
	json_t *a = json_array();

	for (size_t i = 0; i < st->plan->n_merges; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "loser",
		    json_string(st->conv_ids[st->plan->merges[i].from]));
		json_object_set_new(o, "survivor",
		    json_string(st->conv_ids[st->plan->merges[i].into]));
		json_array_append_new(a, o);
	}
	char *s = json_text(a);
	json_decref(a);
	return s;
}

/* Messages carry the bodies: written with the fast writer. */
static void
jw_strv(struct buf *o, char **v, size_t n)
{
	buf_append(o, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_append(o, ",", 1);
		jsonw_str(o, v[i]);
	}
	buf_append(o, "]", 1);
}

static void
jw_labels(struct buf *o, const char *const *labels)
{
	if (labels == NULL) {
		buf_append(o, "null", 4);
		return;
	}
	buf_append(o, "[", 1);
	for (size_t i = 0; labels[i]; i++) {
		if (i)
			buf_append(o, ",", 1);
		jsonw_str(o, labels[i]);
	}
	buf_append(o, "]", 1);
}

static void
jw_message(struct buf *o, struct ingest_state *st, const struct store_batch *b,
    size_t i)
{
	const struct store_item *it = &b->items[i];
	const struct mail *m = it->mail;
	char *hs = mail_headers_json(m), *as = mail_attachments_json(m);

	buf_append(o, "{", 1);
	jsonw_key(o, "id");
	jsonw_str(o, st->imsgs[i].row_id);
	jsonw_key(o, "conversation_id");
	jsonw_str(o, conv_id_of_msg(st, i));
	jsonw_key(o, "direction");
	jsonw_str(o, direction_of(it));
	jsonw_key(o, "content");
	jsonw_str(o, m->text);
	jsonw_key(o, "html_content");
	jsonw_str(o, m->html);
	jsonw_key(o, "sent_at");
	jsonw_int(o, m->sent_at);
	jsonw_key(o, "sender_email");
	jsonw_str(o, m->from_email);
	jsonw_key(o, "recipient_email");
	jsonw_str(o, m->to_email);
	jsonw_key(o, "gmail_message_id");
	jsonw_str(o, it->gmail_message_id);
	jsonw_key(o, "gmail_thread_id");
	jsonw_str(o, it->gmail_thread_id);
	jsonw_key(o, "gmail_labels");
	jw_labels(o, it->gmail_labels);
	jsonw_key(o, "headers");
	jsonw_raw(o, hs);
	jsonw_key(o, "attachments");
	jsonw_raw(o, as);
	jsonw_key(o, "mailbox");
	jsonw_str(o, b->mailbox);
	jsonw_key(o, "uidvalidity");
	if (b->uidvalidity)
		jsonw_int(o, b->uidvalidity);
	else
		jsonw_raw(o, NULL);
	jsonw_key(o, "imap_uid");
	if (it->uid)
		jsonw_int(o, it->uid);
	else
		jsonw_raw(o, NULL);
	jsonw_key(o, "rfc_message_id");
	jsonw_str(o, m->message_id);
	jsonw_key(o, "in_reply_to");
	jsonw_str(o, m->in_reply_to);
	jsonw_key(o, "reference_ids");
	jw_strv(o, m->references, m->n_references);
	jsonw_key(o, "subject");
	jsonw_str(o, m->subject);
	jsonw_key(o, "cc");
	jsonw_str(o, m->cc_list);
	jsonw_key(o, "is_automated");
	jsonw_bool(o, it->automated != NULL);
	jsonw_key(o, "automated_reason");
	jsonw_str(o, it->automated);
	jsonw_key(o, "size_bytes");
	jsonw_int(o, (int64_t)m->size_bytes);
	jsonw_key(o, "truncated");
	jsonw_bool(o, m->truncated);
	buf_append(o, "}", 1);
	free(hs);
	free(as);
}

static char *
json_messages(struct ingest_state *st, const struct store_batch *b)
{
	struct buf o;
	bool first = true;

	buf_init(&o);
	buf_append(&o, "[", 1);
	for (size_t i = 0; i < b->n_items; i++) {
		if (st->imsgs[i].duplicate)
			continue;
		if (!first)
			buf_append(&o, ",", 1);
		first = false;
		jw_message(&o, st, b, i);
	}
	buf_append(&o, "]", 1);
	return buf_steal(&o);
}

/* Every id a message carries or references now points at its
 * conversation; an own id also points at its row. */
static void
jw_thread_id(struct buf *o, const char *key, const char *conv, const char *row,
    bool first)
{
	if (!first)
		buf_append(o, ",", 1);
	buf_append(o, "{", 1);
	jsonw_key(o, "k");
	jsonw_str(o, key);
	jsonw_key(o, "c");
	jsonw_str(o, conv);
	jsonw_key(o, "r");
	jsonw_str(o, row);
	buf_append(o, "}", 1);
}

static char *
json_thread_ids(struct ingest_state *st, const struct store_batch *b)
{
	struct buf o;
	bool first = true;

	buf_init(&o);
	buf_append(&o, "[", 1);
	for (size_t i = 0; i < b->n_items; i++) {
		const struct mail *m = b->items[i].mail;
		const char *cid = conv_id_of_msg(st, i);

		jw_thread_id(
		    &o, m->message_id, cid, st->imsgs[i].row_id, first);
		first = false;
		for (size_t j = 0; j < m->n_references; j++)
			jw_thread_id(&o, m->references[j], cid, NULL, false);
	}
	buf_append(&o, "]", 1);
	return buf_steal(&o);
}

static char *
json_locations(struct ingest_state *st, const struct store_batch *b)
{
	json_t *a = json_array();

	for (size_t i = 0; i < b->n_items; i++) {
		json_t *o;

		if (b->items[i].uid == 0)
			continue;
		o = json_object();
		json_object_set_new(o, "uid", json_integer(b->items[i].uid));
		json_object_set_new(o, "row", json_string(st->imsgs[i].row_id));
		json_array_append_new(a, o);
	}
	char *s = json_text(a);
	json_decref(a);
	return s;
}

/* NULL when no message of the batch came through the Gmail API. */
static char *
json_gmail_locations(struct ingest_state *st, const struct store_batch *b)
{
	json_t *a = json_array();
	char *s = NULL;

	for (size_t i = 0; i < b->n_items; i++) {
		json_t *o;

		if (b->items[i].gmail_message_id == NULL)
			continue;
		o = json_object();
		json_object_set_new(
		    o, "gid", jstr(b->items[i].gmail_message_id));
		json_object_set_new(o, "row", json_string(st->imsgs[i].row_id));
		json_array_append_new(a, o);
	}
	if (json_array_size(a) > 0)
		s = json_text(a);
	json_decref(a);
	return s;
}

static const char *
direction_name(bool outbound)
{
	return outbound ? "outbound" : "inbound";
}

static char *
json_conv_updates(struct ingest_state *st)
{
	json_t *a = json_array();

	for (size_t i = 0; i < st->plan->n_convs; i++) {
		const struct thr_conv *c = &st->plan->convs[i];
		json_t *o;

		if (!c->touched || c->merged_into >= 0)
			continue;
		o = json_object();
		json_object_set_new(o, "id", json_string(st->conv_ids[i]));
		json_object_set_new(
		    o, "status", json_string(conv_status_name(c->new_status)));
		json_object_set_new(o, "reason", jstr(c->new_reason));
		json_object_set_new(o, "last_message_at",
		    c->new_last_message_at == INT64_MIN
			? json_null()
			: json_integer(c->new_last_message_at));
		json_object_set_new(o, "last_human_at",
		    c->new_last_human_at == INT64_MIN
			? json_null()
			: json_integer(c->new_last_human_at));
		json_object_set_new(o, "last_human_direction",
		    c->new_last_human_at == INT64_MIN
			? json_null()
			: json_string(
			      direction_name(c->new_last_human_outbound)));
		json_array_append_new(a, o);
	}
	char *s = json_text(a);
	json_decref(a);
	return s;
}

/*
 * Conversations whose latest human message now comes from this batch:
 * their earlier, still waiting suggestions are withdrawn, so that the
 * queue ends the same whatever the batch boundaries were.
 */
static char *
json_superseded(struct ingest_state *st, const struct store_batch *b)
{
	json_t *a = json_array();
	bool *seen = xcalloc(st->plan->n_convs, sizeof(bool));
	char *s = NULL;

	for (size_t i = 0; i < b->n_items; i++) {
		const struct thr_msg *t = &st->tmsgs[i];
		const struct thr_conv *c = &st->plan->convs[t->conv];

		if (t->duplicate || t->automated || seen[t->conv] || c->is_new)
			continue;
		if (t->sent_at != c->new_last_human_at ||
		    t->outbound != c->new_last_human_outbound)
			continue;
		seen[t->conv] = true;
		json_array_append_new(a, json_string(st->conv_ids[t->conv]));
	}
	if (json_array_size(a) > 0)
		s = json_text(a);
	json_decref(a);
	free(seen);
	return s;
}

static json_t *
job_payload(struct ingest_state *st, const struct store_batch *b, size_t i)
{
	json_t *p = json_object();

	json_object_set_new(p, "message_id", json_string(st->imsgs[i].row_id));
	json_object_set_new(
	    p, "conversation_id", json_string(conv_id_of_msg(st, i)));
	json_object_set_new(p, "account", json_string(b->account->name));
	return p;
}

static void
add_job(json_t *a, const char *kind, const char *row, json_t *payload)
{
	json_t *o = json_object();

	json_object_set_new(o, "kind", json_string(kind));
	json_object_set_new(o, "message_id", json_string(row));
	json_object_set_new(o, "payload", payload);
	json_array_append_new(a, o);
}

static char *
json_jobs(struct ingest_state *st, const struct store_batch *b)
{
	json_t *a = json_array();

	for (size_t i = 0; i < b->n_items; i++) {
		const struct mail *m = b->items[i].mail;

		if (st->imsgs[i].duplicate)
			continue;
		if (m->text != NULL && *m->text != '\0')
			add_job(a, "embed_message", st->imsgs[i].row_id,
			    job_payload(st, b, i));
		if (st->tmsgs[i].suggest_reply)
			add_job(a, "suggest_reply", st->imsgs[i].row_id,
			    job_payload(st, b, i));
	}
	st->result.jobs_queued = json_array_size(a);
	char *s = json_text(a);
	json_decref(a);
	return s;
}

static void
add_event(json_t *a, const char *type, const char *conv, const char *msg,
    json_t *payload)
{
	json_t *o = json_object();

	json_object_set_new(o, "type", json_string(type));
	json_object_set_new(o, "conversation_id", jstr(conv));
	json_object_set_new(o, "message_id", jstr(msg));
	json_object_set_new(o, "payload", payload);
	json_array_append_new(a, o);
}

static char *
json_events(struct ingest_state *st, const struct store_batch *b)
{
	json_t *a = json_array();

	for (size_t i = 0; i < st->plan->n_convs; i++) {
		const struct thr_conv *c = &st->plan->convs[i];

		if (c->is_new && c->merged_into < 0)
			add_event(a, "conversation.created", st->conv_ids[i],
			    NULL,
			    json_pack("{s:s, s:s*}", "status",
				conv_status_name(c->new_status), "reason",
				c->new_reason));
	}
	for (size_t i = 0; i < st->plan->n_merges; i++) {
		const struct thr_merge *mg = &st->plan->merges[i];

		add_event(a, "conversation.merged", st->conv_ids[mg->into],
		    NULL,
		    json_pack("{s:s, s:s}", "from", st->conv_ids[mg->from],
			"into", st->conv_ids[mg->into]));
	}
	for (size_t i = 0; i < b->n_items; i++) {
		const struct store_item *it = &b->items[i];

		if (st->imsgs[i].duplicate)
			continue;
		add_event(a, "message.received", conv_id_of_msg(st, i),
		    st->imsgs[i].row_id,
		    json_pack("{s:s, s:s*, s:s*, s:b}", "direction",
			direction_of(it), "sender", it->mail->from_email,
			"subject", it->mail->subject, "automated",
			it->automated != NULL));
	}
	for (size_t i = 0; i < st->plan->n_convs; i++) {
		const struct thr_conv *c = &st->plan->convs[i];

		if (c->is_new || !c->touched || c->merged_into >= 0 ||
		    c->new_status == c->status)
			continue;
		add_event(a, "conversation.status_changed", st->conv_ids[i],
		    NULL,
		    json_pack("{s:s, s:s, s:s*}", "old",
			conv_status_name(c->status), "new",
			conv_status_name(c->new_status), "reason",
			c->new_reason));
	}
	st->result.events_written = json_array_size(a);
	char *s = json_text(a);
	json_decref(a);
	return s;
}

/* The statements of an ingest transaction, in order. */
enum ingest_step {
	IS_BEGIN = 0,
	IS_HOLD,
	IS_LOOKUP,
	IS_LEADS,
	IS_NEW_CONVS,
	IS_MERGE_MESSAGES,
	IS_MERGE_SUGGESTIONS,
	IS_MERGE_IDS,
	IS_MERGE_JOBS,
	IS_MERGE_DELETE,
	IS_MESSAGES,
	IS_THREAD_IDS,
	IS_LOCATIONS,
	IS_GMAIL_LOCATIONS,
	IS_CONV_UPDATES,
	IS_CANCEL_SUGGESTIONS,
	IS_JOBS,
	IS_EVENTS,
	IS_CURSOR,
	IS_COMMIT,
	IS_ROLLBACK,
};

static const char sql_lookup[] =
    "WITH keys AS (SELECT DISTINCT k FROM json_array_elements_text($2::json) "
    "k),"
    " tids AS (SELECT DISTINCT t FROM json_array_elements_text($3::json) t),"
    " skeys AS (SELECT DISTINCT s FROM json_array_elements_text($4::json) s),"
    " hits AS ("
    "  SELECT t.message_id AS key, t.conversation_id, t.message_row_id AS "
    "row_id"
    "    FROM thread_ids t JOIN keys ON t.message_id = keys.k"
    "   WHERE t.account_id = $1"
    "  UNION ALL"
    "  SELECT m.rfc_message_id, m.conversation_id, m.id"
    "    FROM conversation_messages m JOIN keys ON m.rfc_message_id = keys.k"
    "   WHERE (m.account_id = $1 OR m.account_id IS NULL)"
    "  UNION ALL"
    "  SELECT 'gmail-thread:' || c.gmail_thread_id, c.id, NULL"
    "    FROM conversations c JOIN tids ON c.gmail_thread_id = tids.t"
    "   WHERE c.account_id = $1"
    "  UNION ALL"
    "  SELECT 'subject:' || c.subject_key, c.id, NULL"
    "    FROM conversations c JOIN skeys ON c.subject_key = skeys.s"
    "   WHERE c.account_id = $1 AND c.last_message_at >= to_timestamp($5)),"
    " best AS (SELECT DISTINCT ON (h.key) h.key, h.conversation_id, h.row_id"
    "   FROM hits h ORDER BY h.key, h.row_id IS NULL)"
    " SELECT b.key, b.conversation_id, b.row_id,"
    "   (extract(epoch FROM c.created_at) * 1000000)::bigint,"
    "   c.status, extract(epoch FROM c.last_human_at)::bigint,"
    "   c.last_human_direction = 'outbound',"
    "   extract(epoch FROM c.last_message_at)::bigint"
    "  FROM best b JOIN conversations c ON c.id = b.conversation_id"
    " FOR UPDATE OF c";

static const char sql_leads[] =
    "INSERT INTO leads (email)"
    " SELECT DISTINCT ON (lower(e)) e FROM json_array_elements_text($1::json) e"
    "  WHERE NOT EXISTS (SELECT 1 FROM leads l WHERE lower(l.email) = lower(e))"
    " ON CONFLICT DO NOTHING";

static const char sql_new_convs[] =
    "INSERT INTO conversations (id, account_id, lead_id, subject, status,"
    "  counterparty_email, gmail_thread_id, subject_key)"
    " SELECT x.id, $2, (SELECT l.id FROM leads l"
    "   WHERE lower(l.email) = lower(x.counterparty) ORDER BY l.id LIMIT 1),"
    "  x.subject, x.status::conversation_status, x.counterparty,"
    "  x.gmail_thread_id, x.subject_key"
    " FROM json_to_recordset($1::json) AS x(id uuid, subject text,"
    "  counterparty text, gmail_thread_id text, subject_key text,"
    "  status text)";

#define MERGE_FROM \
	" FROM json_to_recordset($1::json) AS m(loser uuid, survivor uuid)"

static const char sql_merge_messages[] =
    "UPDATE conversation_messages t SET conversation_id = m.survivor" MERGE_FROM
    " WHERE t.conversation_id = m.loser";
static const char sql_merge_suggestions[] =
    "UPDATE ai_suggestions t SET conversation_id = m.survivor" MERGE_FROM
    " WHERE t.conversation_id = m.loser";
static const char sql_merge_ids[] =
    "UPDATE thread_ids t SET conversation_id = m.survivor" MERGE_FROM
    " WHERE t.conversation_id = m.loser";
static const char sql_merge_jobs[] =
    "UPDATE jobs t SET payload = jsonb_set(t.payload, '{conversation_id}',"
    "  to_jsonb(m.survivor::text)), updated_at = now()" MERGE_FROM
    " WHERE t.payload->>'conversation_id' = m.loser::text";
static const char sql_merge_delete[] =
    "DELETE FROM conversations t USING (SELECT m.loser" MERGE_FROM ") d"
    " WHERE t.id = d.loser";

static const char sql_messages[] =
    "INSERT INTO conversation_messages (id, conversation_id, direction,"
    "  content, html_content, sent_at, sender_email, recipient_email,"
    "  gmail_message_id, gmail_thread_id, gmail_labels, headers, attachments,"
    "  account_id, mailbox, uidvalidity, imap_uid, rfc_message_id,"
    "  in_reply_to, reference_ids, subject, cc, is_automated,"
    "  automated_reason, size_bytes, truncated)"
    " SELECT x.id, x.conversation_id, x.direction::message_direction,"
    "  x.content, x.html_content, to_timestamp(x.sent_at), x.sender_email,"
    "  x.recipient_email, x.gmail_message_id, x.gmail_thread_id,"
    "  x.gmail_labels, x.headers, x.attachments, $2, x.mailbox,"
    "  x.uidvalidity, x.imap_uid, x.rfc_message_id, x.in_reply_to,"
    "  x.reference_ids, x.subject, x.cc, x.is_automated,"
    "  x.automated_reason, x.size_bytes, x.truncated"
    " FROM json_to_recordset($1::json) AS x(id uuid, conversation_id uuid,"
    "  direction text, content text, html_content text, sent_at bigint,"
    "  sender_email text, recipient_email text, gmail_message_id text,"
    "  gmail_thread_id text, gmail_labels text[], headers jsonb,"
    "  attachments jsonb, mailbox text, uidvalidity bigint, imap_uid bigint,"
    "  rfc_message_id text, in_reply_to text, reference_ids text[],"
    "  subject text, cc text, is_automated boolean, automated_reason text,"
    "  size_bytes bigint, truncated boolean)";

static const char sql_thread_ids[] =
    "INSERT INTO thread_ids (account_id, message_id, conversation_id,"
    "  message_row_id)"
    " SELECT DISTINCT ON (x.k) $2, x.k, x.c, x.r"
    "  FROM json_to_recordset($1::json) AS x(k text, c uuid, r uuid)"
    "  ORDER BY x.k, x.r IS NULL"
    " ON CONFLICT (account_id, message_id) DO UPDATE SET"
    "  conversation_id = EXCLUDED.conversation_id,"
    "  message_row_id = coalesce(thread_ids.message_row_id,"
    "   EXCLUDED.message_row_id)";

static const char sql_locations[] =
    "INSERT INTO message_locations (account_id, mailbox, uidvalidity, uid,"
    "  message_id)"
    " SELECT $2, $3, $4, x.uid, x.row"
    "  FROM json_to_recordset($1::json) AS x(uid bigint, row uuid)"
    " ON CONFLICT DO NOTHING";

static const char sql_gmail_locations[] =
    "INSERT INTO gmail_locations (account_id, gmail_message_id, message_id)"
    " SELECT $2, x.gid, x.row"
    "  FROM json_to_recordset($1::json) AS x(gid text, row uuid)"
    " ON CONFLICT DO NOTHING";

/* A suggestion for a message that is no longer the latest human one
 * is moot; only waiting ones are withdrawn, never one being worked on. */
static const char sql_cancel_suggestions[] =
    "DELETE FROM jobs j USING json_array_elements_text($1::json) c(id)"
    " WHERE j.kind = 'suggest_reply' AND j.state IN ('queued', 'failed')"
    "  AND j.payload->>'conversation_id' = c.id";

static const char sql_conv_updates[] =
    "UPDATE conversations c SET status = x.status::conversation_status,"
    "  status_reason = coalesce(x.reason, c.status_reason),"
    "  last_message_at = to_timestamp(x.last_message_at),"
    "  last_human_at = to_timestamp(x.last_human_at),"
    "  last_human_direction = x.last_human_direction::message_direction,"
    /* The subject is the earliest human message's, whatever arrived
     * first; conversations other apps made keep theirs. */
    "  subject = CASE WHEN c.account_id IS NULL THEN c.subject ELSE"
    "   coalesce((SELECT m.subject FROM conversation_messages m"
    "    WHERE m.conversation_id = c.id"
    "    ORDER BY m.is_automated, m.sent_at, m.id LIMIT 1), c.subject) END,"
    "  updated_at = now()"
    " FROM json_to_recordset($1::json) AS x(id uuid, status text,"
    "  reason text, last_message_at bigint, last_human_at bigint,"
    "  last_human_direction text)"
    " WHERE c.id = x.id";

/* At most one NOTIFY per channel per transaction, from the same
 * statement that writes the rows it announces. */
static const char sql_jobs[] =
    "WITH ins AS ("
    " INSERT INTO jobs (kind, payload, message_id)"
    "  SELECT x.kind, x.payload, x.message_id"
    "   FROM json_to_recordset($1::json) AS x(kind text, payload jsonb,"
    "    message_id uuid)"
    "  ON CONFLICT (kind, message_id, dedup_key)"
    "   WHERE state IN ('queued', 'running', 'failed') DO NOTHING"
    "  RETURNING kind)"
    " SELECT pg_notify('inboxd_jobs', string_agg(DISTINCT kind, ',')),"
    "  count(*) FROM ins HAVING count(*) > 0";

static const char sql_events[] =
    "WITH ins AS ("
    " INSERT INTO events (type, conversation_id, message_id, account,"
    "  payload)"
    "  SELECT x.type, x.conversation_id, x.message_id, $2, x.payload"
    "   FROM json_to_recordset($1::json) AS x(type text,"
    "    conversation_id uuid, message_id uuid, payload jsonb)"
    "  RETURNING id)"
    " SELECT pg_notify('inboxd_events', min(id) || '-' || max(id)),"
    "  count(*) FROM ins HAVING count(*) > 0";

static const char sql_cursor[] =
    "INSERT INTO sync_state (account_id, mailbox, uidvalidity, last_uid,"
    "  history_id, highest_modseq, last_success_at, last_error,"
    "  updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, now(), NULL, now())"
    " ON CONFLICT (account_id, mailbox) DO UPDATE SET"
    "  uidvalidity = EXCLUDED.uidvalidity,"
    "  last_uid = greatest(CASE WHEN sync_state.uidvalidity"
    "   IS DISTINCT FROM EXCLUDED.uidvalidity THEN 0"
    "   ELSE sync_state.last_uid END, EXCLUDED.last_uid),"
    "  history_id = coalesce(EXCLUDED.history_id, sync_state.history_id),"
    "  highest_modseq = coalesce(EXCLUDED.highest_modseq,"
    "   sync_state.highest_modseq),"
    "  last_success_at = now(), last_error = NULL, updated_at = now()";

static void
ingest_reset(struct op *op)
{
	ingest_state_free(op->ingest);
	op->ingest = xcalloc(1, sizeof(*op->ingest));
}

/*
 * A statement failed: roll back (asynchronously, the connection is
 * non-blocking) and report once the server has answered.
 */
static void
ingest_fail(struct store *s, struct op *op, PGresult *res)
{
	free(op->error);
	op->error = db_error_text(res ? PQresultErrorMessage(res) : NULL);
	op->step = IS_ROLLBACK;
	send_stmt(s, "ROLLBACK", 0, NULL);
}

static void
ingest_report_failure(struct store *s, struct op *op)
{
	store_ingest_fn *done = (store_ingest_fn *)op->done;
	struct store_result r = {0};

	r.ok = false;
	r.error = op->error;
	log_warnx("account=%s mailbox=%s: batch not stored: %s",
	    op->batch->account->name, op->batch->mailbox, op->error);
	done(&r, op->arg);
	op_finish(s, op);
}

/* Sends the statement for the current step, skipping empty ones. */
static void
ingest_send(struct store *s, struct op *op)
{
	const struct store_batch *b = op->batch;
	struct ingest_state *st = op->ingest;
	char acct[16], uv[16], lu[16], ms[24];
	char *json = NULL;
	const char *p[6];
	const char *sql = NULL;
	int n = 2;

	snprintf(acct, sizeof(acct), "%d", b->account_id);
	for (;;) {
		switch (op->step) {
		case IS_BEGIN:
			send_stmt(s, "BEGIN", 0, NULL);
			return;
		case IS_HOLD:
			p[0] = acct;
			send_stmt(s, SQL_HOLD, 1, p);
			return;
		case IS_LOOKUP: {
			json_t *t = batch_thread_ids(b), *sk;
			char *ks, *ts, *sks, horizon[24];

			ingest_subject_keys(st, b);
			sk = batch_subject_keys(st);
			ks = batch_keys(b);
			ts = json_text(t);
			sks = json_text(sk);
			json_decref(t);
			json_decref(sk);
			snprintf(horizon, sizeof(horizon), "%lld",
			    (long long)subject_horizon(b));
			p[0] = acct;
			p[1] = ks;
			p[2] = ts;
			p[3] = sks;
			p[4] = horizon;
			send_stmt(s, sql_lookup, 5, p);
			free(ks);
			free(ts);
			free(sks);
			return;
		}
		case IS_LEADS:
			if (!b->account->create_leads)
				break;
			json = json_leads(st, b);
			sql = sql_leads;
			n = 1;
			break;
		case IS_NEW_CONVS:
			json = json_new_convs(st, b);
			sql = sql_new_convs;
			break;
		case IS_MERGE_MESSAGES:
		case IS_MERGE_SUGGESTIONS:
		case IS_MERGE_IDS:
		case IS_MERGE_JOBS:
		case IS_MERGE_DELETE:
			if (st->plan->n_merges == 0)
				break;
			json = json_merges(st);
			n = 1;
			sql = op->step == IS_MERGE_MESSAGES ? sql_merge_messages
			    : op->step == IS_MERGE_SUGGESTIONS
			    ? sql_merge_suggestions
			    : op->step == IS_MERGE_IDS	? sql_merge_ids
			    : op->step == IS_MERGE_JOBS ? sql_merge_jobs
							: sql_merge_delete;
			break;
		case IS_MESSAGES:
			json = json_messages(st, b);
			sql = sql_messages;
			break;
		case IS_THREAD_IDS:
			json = json_thread_ids(st, b);
			sql = sql_thread_ids;
			break;
		case IS_LOCATIONS:
			if (b->uidvalidity == 0)
				break;
			json = json_locations(st, b);
			sql = sql_locations;
			snprintf(uv, sizeof(uv), "%u", b->uidvalidity);
			p[2] = b->mailbox;
			p[3] = uv;
			n = 4;
			break;
		case IS_GMAIL_LOCATIONS:
			json = json_gmail_locations(st, b);
			if (json == NULL)
				break;
			sql = sql_gmail_locations;
			break;
		case IS_CONV_UPDATES:
			json = json_conv_updates(st);
			sql = sql_conv_updates;
			n = 1;
			break;
		case IS_CANCEL_SUGGESTIONS:
			json = json_superseded(st, b);
			if (json == NULL)
				break;
			sql = sql_cancel_suggestions;
			n = 1;
			break;
		case IS_JOBS:
			json = json_jobs(st, b);
			sql = sql_jobs;
			n = 1;
			break;
		case IS_EVENTS:
			json = json_events(st, b);
			sql = sql_events;
			p[1] = b->account->name;
			p[0] = json;
			send_stmt(s, sql, 2, p);
			free(json);
			return;
		case IS_CURSOR:
			snprintf(uv, sizeof(uv), "%u", b->uidvalidity);
			snprintf(lu, sizeof(lu), "%u", b->last_uid);
			p[0] = acct;
			p[1] = b->mailbox;
			p[2] = b->uidvalidity ? uv : NULL;
			p[3] = lu;
			p[4] = b->history_id;
			if (b->highestmodseq)
				snprintf(ms, sizeof(ms), "%llu",
				    (unsigned long long)b->highestmodseq);
			p[5] = b->highestmodseq ? ms : NULL;
			send_stmt(s, sql_cursor, 6, p);
			return;
		case IS_COMMIT:
			send_stmt(s, "COMMIT", 0, NULL);
			return;
		default:
			fatalx("ingest: bad step %d", op->step);
		}
		if (sql != NULL) {
			p[0] = json;
			if (n >= 2)
				p[1] = acct;
			send_stmt(s, sql, n, p);
			free(json);
			return;
		}
		op->step++;
	}
}

static void
ingest_count(struct ingest_state *st, const struct store_batch *b)
{
	for (size_t i = 0; i < b->n_items; i++) {
		if (st->imsgs[i].duplicate)
			st->result.duplicates++;
		else
			st->result.inserted++;
	}
	for (size_t i = 0; i < st->plan->n_convs; i++)
		if (st->plan->convs[i].is_new &&
		    st->plan->convs[i].merged_into < 0)
			st->result.conversations_created++;
	st->result.merges = st->plan->n_merges;
}

static void
step_ingest(struct store *s, struct op *op, PGresult *res)
{
	store_ingest_fn *done = (store_ingest_fn *)op->done;

	if (res == NULL) {
		/* First call, or a restart after reconnecting. */
		op->step = IS_BEGIN;
		ingest_reset(op);
		ingest_send(s, op);
		return;
	}
	if (op->step == IS_ROLLBACK) {
		ingest_report_failure(s, op);
		return;
	}
	if (!res_ok(res)) {
		ingest_fail(s, op, res);
		return;
	}
	if (op->step == IS_HOLD &&
	    (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0)) {
		free(op->error);
		op->error = xstrdup("the account is held by another instance");
		op->step = IS_ROLLBACK;
		send_stmt(s, "ROLLBACK", 0, NULL);
		return;
	}
	if (op->step == IS_LOOKUP) {
		ingest_read_lookup(op->ingest, res);
		ingest_plan(op->ingest, op->batch);
		ingest_count(op->ingest, op->batch);
	}
	if (op->step == IS_COMMIT) {
		op->ingest->result.ok = true;
		done(&op->ingest->result, op->arg);
		op_finish(s, op);
		return;
	}
	op->step++;
	ingest_send(s, op);
}

static void
op_step(struct store *s, struct op *op, PGresult *res)
{
	if (res == NULL && op->kind != OP_INGEST)
		op->step = 0;
	switch (op->kind) {
	case OP_HOLD:
		step_hold(s, op, res);
		break;
	case OP_EXEC:
		step_exec(s, op, res);
		break;
	case OP_NEWEST:
		step_newest(s, op, res);
		break;
	case OP_KNOWN_GMAIL:
		step_known_gmail(s, op, res);
		break;
	case OP_ACCOUNT_ID:
		step_account_id(s, op, res);
		break;
	case OP_CURSOR:
		step_cursor(s, op, res);
		break;
	case OP_NOTE_ERROR:
		step_note_error(s, op, res);
		break;
	case OP_INGEST:
		step_ingest(s, op, res);
		break;
	}
}
