/*
 * The store's small operations: an account's id, its holds, its sync
 * cursor and errors, what the Gmail driver asks before fetching, and
 * the instance heartbeat by which daemons share the accounts.
 * Each is one or two statements on the store's queue (store_int.h).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idset.h"
#include "jsonw.h"
#include "log.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

/* An account id as a statement parameter. */
struct id_text {
	char s[16];
};

static const char *
id_text(struct id_text *t, int id)
{
	snprintf(t->s, sizeof(t->s), "%d", id);
	return t->s;
}

static op_run_fn run_account_id, run_cursor, run_note_error, run_hold;
static op_run_fn run_release;

/* A stopping daemon starts no account, and no pass: what would start
 * one is answered with a failure (store_abandon). */
static size_t
abandon_account_id(struct op *op)
{
	((store_id_fn *)op->done)(false, 0, op->arg);
	return 0;
}

/* A pass that reads its cursor at a stop ends there. */
static size_t
abandon_cursor(struct op *op)
{
	((store_cursor_fn *)op->done)(false, NULL, op->arg);
	return 0;
}

static size_t
abandon_hold(struct op *op)
{
	((store_held_fn *)op->done)(false, false, op->arg);
	return 0;
}
static op_run_fn run_newest, run_known_gmail, run_hold_import;

void
store_account_id(struct store *s, const char *name, const char *type,
    store_id_fn *done, void *arg)
{
	struct op *op = store_op_new(run_account_id, (void *)done, arg);

	op->name = xstrdup(name);
	op->type = xstrdup(type);
	op->abandon = abandon_account_id;
	store_enqueue(s, op);
}

static void
run_account_id(struct store *s, struct op *op, PGresult *res)
{
	const char *params[2] = {op->name, op->type};
	store_id_fn *done = (store_id_fn *)op->done;

	if (op->step == 0) {
		op->step = 1;
		/* DO UPDATE (not NOTHING) so that the row comes back even
		 * when another instance inserted it concurrently. A row
		 * that exists keeps its source: a database account is
		 * registered here too. */
		store_send(s,
		    "INSERT INTO mail_accounts (name, type, source)"
		    " VALUES ($1, $2, 'config')"
		    " ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name"
		    " RETURNING id",
		    2, params);
		return;
	}
	if (!db_result_ok(res) || PQntuples(res) < 1) {
		log_warnx("database: account %s: %s", op->name,
		    db_result_ok(res) ? "no row returned"
				      : PQresultErrorMessage(res));
		done(false, 0, op->arg);
	} else
		done(true, atoi(PQgetvalue(res, 0, 0)), op->arg);
	store_op_finish(s, op);
}

void
store_get_cursor(struct store *s, int account_id, const char *mailbox,
    store_cursor_fn *done, void *arg)
{
	struct op *op = store_op_new(run_cursor, (void *)done, arg);

	op->account_id = account_id;
	op->mailbox = xstrdup(mailbox);
	op->abandon = abandon_cursor;
	store_enqueue(s, op);
}

static void
run_cursor(struct store *s, struct op *op, PGresult *res)
{
	struct id_text id;
	const char *params[2] = {id_text(&id, op->account_id), op->mailbox};
	store_cursor_fn *done = (store_cursor_fn *)op->done;
	struct store_cursor cur = {0};

	if (op->step == 0) {
		op->step = 1;
		store_send(s,
		    "SELECT uidvalidity, last_uid, history_id, highest_modseq"
		    " FROM sync_state"
		    " WHERE account_id = $1 AND mailbox = $2",
		    2, params);
		return;
	}
	if (!db_result_ok(res)) {
		done(false, NULL, op->arg);
		store_op_finish(s, op);
		return;
	}
	if (PQntuples(res) > 0) {
		cur.found = true;
		cur.uidvalidity =
		    (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
		cur.last_uid =
		    (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
		if (!PQgetisnull(res, 0, 2))
			cur.history_id = xstrdup(PQgetvalue(res, 0, 2));
		if (!PQgetisnull(res, 0, 3))
			cur.highestmodseq =
			    strtoull(PQgetvalue(res, 0, 3), NULL, 10);
	}
	done(true, &cur, op->arg);
	free(cur.history_id);
	store_op_finish(s, op);
}

void
store_note_error(
    struct store *s, int account_id, const char *mailbox, const char *error)
{
	struct op *op = store_op_new(run_note_error, NULL, NULL);

	op->account_id = account_id;
	op->mailbox = xstrdup(mailbox);
	op->error = xstrdup(error);
	store_enqueue(s, op);
}

static void
run_note_error(struct store *s, struct op *op, PGresult *res)
{
	struct id_text id;
	const char *params[3] = {
	    id_text(&id, op->account_id), op->mailbox, op->error};

	if (op->step == 0) {
		op->step = 1;
		store_send(s,
		    "INSERT INTO sync_state (account_id, mailbox, last_error,"
		    "  last_error_at)"
		    " VALUES ($1, $2, $3, now())"
		    " ON CONFLICT (account_id, mailbox) DO UPDATE SET"
		    "  last_error = EXCLUDED.last_error, last_error_at = now(),"
		    "  updated_at = now()",
		    3, params);
		return;
	}
	if (!db_result_ok(res))
		log_warnx("database: cannot record error: %s",
		    PQresultErrorMessage(res));
	store_op_finish(s, op);
}

void
store_hold_account(struct store *s, int account_id, const char *holder,
    store_held_fn *done, void *arg)
{
	struct op *op = store_op_new(run_hold, (void *)done, arg);

	op->account_id = account_id;
	op->name = xstrdup(holder);
	op->abandon = abandon_hold;
	store_enqueue(s, op);
}

/* Take the lock unless this connection has it, then show who holds
 * the account. */
static void
run_hold(struct store *s, struct op *op, PGresult *res)
{
	store_held_fn *done = (store_held_fn *)op->done;
	struct id_text id;
	const char *params[2] = {id_text(&id, op->account_id), op->name};

	if (op->step == 0 && !store_holds(s, op->account_id)) {
		op->step = 1;
		store_send(s, SQL_HOLD, 1, params);
		return;
	}
	if (op->step == 1) {
		if (!db_result_ok(res) ||
		    strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
			done(db_result_ok(res), false, op->arg);
			store_op_finish(s, op);
			return;
		}
		store_set_held(s, op->account_id, true);
	}
	if (op->step <= 1) {
		op->step = 2;
		store_send(s,
		    "UPDATE mail_accounts SET held_by = $2,"
		    " held_since = CASE WHEN held_by IS DISTINCT FROM $2"
		    "  THEN now() ELSE held_since END WHERE id = $1",
		    2, params);
		return;
	}
	done(db_result_ok(res), db_result_ok(res), op->arg);
	store_op_finish(s, op);
}

/*
 * The import's hold: taken if free, and then the session is named after
 * the holder so that a second import can say whose it is. When it is
 * taken already, the name of the session that has it comes back.
 */
static const char sql_hold_import[] =
    "SELECT h.held, CASE WHEN h.held"
    "  THEN set_config('application_name', $2, false) END,"
    " (SELECT a.application_name FROM pg_locks l"
    "   JOIN pg_stat_activity a ON a.pid = l.pid"
    "  WHERE l.locktype = 'advisory' AND l.database = (SELECT oid"
    "    FROM pg_database WHERE datname = current_database())"
    "   AND l.classid = " IMPORT_CLASS " AND l.objid = $1::int"
    "   AND l.objsubid = 2 AND l.granted AND l.pid <> pg_backend_pid()"
    "  LIMIT 1)"
    " FROM (SELECT pg_try_advisory_lock(" IMPORT_CLASS ", $1::int)"
    "  AS held) h";

void
store_hold_import(struct store *s, int account_id, const char *holder,
    store_import_held_fn *done, void *arg)
{
	struct op *op = store_op_new(run_hold_import, (void *)done, arg);

	op->account_id = account_id;
	op->name = xstrdup(holder);
	store_enqueue(s, op);
}

static void
run_hold_import(struct store *s, struct op *op, PGresult *res)
{
	store_import_held_fn *done = (store_import_held_fn *)op->done;
	struct id_text id;
	const char *params[2] = {id_text(&id, op->account_id), op->name};

	if (op->step == 0) {
		op->step = 1;
		store_send(s, sql_hold_import, 2, params);
		return;
	}
	if (!db_result_ok(res) || PQntuples(res) != 1) {
		log_warnx("database: the import hold of account %d: %s",
		    op->account_id, PQresultErrorMessage(res));
		done(false, false, NULL, op->arg);
	} else {
		bool held = strcmp(PQgetvalue(res, 0, 0), "t") == 0;

		if (held)
			store_set_held(s, op->account_id, true);
		done(true, held,
		    PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2),
		    op->arg);
	}
	store_op_finish(s, op);
}

void
store_release_account(struct store *s, int account_id, const char *holder,
    store_exec_fn *done, void *arg)
{
	struct op *op = store_op_new(run_release, (void *)done, arg);

	op->account_id = account_id;
	op->name = xstrdup(holder);
	store_enqueue(s, op);
}

/* Unlock, then clear held_by if it still names the holder. The record
 * of what this connection holds changes with the unlock itself, in
 * the queue's order, so that a batch queued before the release still
 * finds the account held. */
static void
run_release(struct store *s, struct op *op, PGresult *res)
{
	store_exec_fn *done = (store_exec_fn *)op->done;
	struct id_text id;
	const char *params[2] = {id_text(&id, op->account_id), op->name};

	if (op->step == 0) {
		op->step = 1;
		store_send(s,
		    "SELECT pg_advisory_unlock(" HOLD_CLASS ", $1::int)", 1,
		    params);
		return;
	}
	if (op->step == 1) {
		if (db_result_ok(res))
			store_set_held(s, op->account_id, false);
		op->step = 2;
		store_send(s,
		    "UPDATE mail_accounts SET held_by = NULL, held_since = NULL"
		    " WHERE id = $1 AND held_by = $2",
		    2, params);
		return;
	}
	if (done != NULL && db_result_ok(res)) {
		struct db_res r = {res};

		done(true, NULL, &r, op->arg);
	} else if (done != NULL) {
		char *why = db_error_text(PQresultErrorMessage(res));

		done(false, why, NULL, op->arg);
		free(why);
	}
	store_op_finish(s, op);
}

void
store_newest_message(
    struct store *s, int account_id, store_time_fn *done, void *arg)
{
	struct op *op = store_op_new(run_newest, (void *)done, arg);

	op->account_id = account_id;
	store_enqueue(s, op);
}

static void
run_newest(struct store *s, struct op *op, PGresult *res)
{
	struct id_text id;
	const char *params[1] = {id_text(&id, op->account_id)};
	store_time_fn *done = (store_time_fn *)op->done;

	if (op->step == 0) {
		op->step = 1;
		store_send(s,
		    "SELECT coalesce(extract(epoch FROM max(sent_at)), 0)::bigint"
		    " FROM conversation_messages WHERE account_id = $1",
		    1, params);
		return;
	}
	if (!db_result_ok(res) || PQntuples(res) != 1)
		done(false, 0, op->arg);
	else
		done(true, strtoll(PQgetvalue(res, 0, 0), NULL, 10), op->arg);
	store_op_finish(s, op);
}

void
store_known_gmail_ids(struct store *s, int account_id, const char *const *ids,
    size_t n, store_known_fn *done, void *arg)
{
	struct op *op = store_op_new(run_known_gmail, (void *)done, arg);
	struct buf b;

	buf_init(&b);
	jsonw_strv(&b, ids, n);
	op->account_id = account_id;
	op->ids_json = buf_steal(&b);
	store_enqueue(s, op);
}

static void
run_known_gmail(struct store *s, struct op *op, PGresult *res)
{
	struct id_text id;
	const char *params[2] = {id_text(&id, op->account_id), op->ids_json};
	store_known_fn *done = (store_known_fn *)op->done;
	const char **known;
	int n;

	if (op->step == 0) {
		op->step = 1;
		store_send(s,
		    "SELECT g.gmail_message_id FROM gmail_locations g"
		    " JOIN json_array_elements_text($2::json) k"
		    "  ON g.gmail_message_id = k"
		    " WHERE g.account_id = $1",
		    2, params);
		return;
	}
	if (!db_result_ok(res)) {
		done(false, NULL, op->arg);
		store_op_finish(s, op);
		return;
	}
	n = PQntuples(res);
	known = xcalloc((size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++)
		known[i] = PQgetvalue(res, i, 0);
	done(true, known, op->arg);
	free(known);
	store_op_finish(s, op);
}

/*
 * Account states. A write that comes while another waits in the queue
 * joins it, and they go as one statement: at start-up thousands of
 * accounts show "syncing" in a few statements, not one each. An
 * account is in one statement at most once, so that every change of
 * its state reaches the trigger that makes events of them (a second
 * write for it starts the next statement).
 */
struct state_row {
	int id;
	char *state;
	char *error;
};

struct states {
	struct state_row *v;
	size_t n, cap;
	struct idset ids; /* the accounts in v */
};

static const char sql_states[] =
    "UPDATE mail_accounts m SET state = x.state, last_error = x.error,"
    " last_success_at = CASE WHEN x.state = 'idle' THEN now()"
    "  ELSE m.last_success_at END"
    " FROM json_to_recordset($1::json) AS x(id int, state text, error text)"
    " WHERE m.id = x.id";

static void
states_free(void *arg)
{
	struct states *st = arg;

	for (size_t i = 0; i < st->n; i++) {
		free(st->v[i].state);
		free(st->v[i].error);
	}
	free(st->v);
	idset_clear(&st->ids);
	free(st);
}

static char *
states_json(const struct states *st)
{
	struct buf b;

	buf_init(&b);
	buf_append(&b, "[", 1);
	for (size_t i = 0; i < st->n; i++) {
		jsonw_sep(&b);
		buf_append(&b, "{", 1);
		jsonw_kint(&b, "id", st->v[i].id);
		jsonw_kstr(&b, "state", st->v[i].state);
		jsonw_kstr(&b, "error", st->v[i].error);
		buf_append(&b, "}", 1);
	}
	buf_append(&b, "]", 1);
	return buf_steal(&b);
}

static void
run_states(struct store *s, struct op *op, PGresult *res)
{
	struct states *st = op->state;
	struct op **waiting = store_states_op(s);
	char *json;

	if (op->step == 0) {
		/* Running: later writes go to the next statement. */
		if (*waiting == op)
			*waiting = NULL;
		op->step = 1;
		json = states_json(st);
		store_send(s, sql_states, 1, (const char *const *)&json);
		free(json);
		return;
	}
	if (!db_result_ok(res))
		log_warnx("database: cannot record the state of %zu accounts: "
			  "%s",
		    st->n, PQresultErrorMessage(res));
	store_op_finish(s, op);
}

static void
states_add(struct states *st, int id, const char *state, const char *error)
{
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 8;
		st->v = xreallocarray(st->v, st->cap, sizeof(*st->v));
	}
	idset_add(&st->ids, id);
	st->v[st->n++] = (struct state_row){
	    id, xstrdup(state), error != NULL ? xstrdup(error) : NULL};
}

void
store_account_state(
    struct store *s, int account_id, const char *state, const char *error)
{
	struct op **waiting = store_states_op(s);
	struct op *op;

	if (*waiting != NULL &&
	    !idset_has(
		&((struct states *)(*waiting)->state)->ids, account_id)) {
		states_add((*waiting)->state, account_id, state, error);
		return;
	}
	op = store_op_new(run_states, NULL, NULL);
	op->state = xcalloc(1, sizeof(struct states));
	op->state_free = states_free;
	states_add(op->state, account_id, state, error);
	/* An idle store starts it at once, and it takes no more. */
	*waiting = op;
	store_enqueue(s, op);
}

/*
 * The heartbeat runs on a connection of its own (instances.c), so that
 * a long transaction of the accounts' connection does not delay it; the
 * row names the accounts' session, pid, whose pg_stat_activity entry
 * gives its start, so that after a reconnect the row names the new
 * session. An instance is dead when its heartbeat is older than the
 * lease, or the session its row names no longer exists (a daemon
 * killed with SIGKILL: its locks went with it). A dead instance's
 * session is ended only when it is the one the row names (same pid and
 * start: a pid can be reused) and this role may signal it. When several
 * instances see the death at once, one deletes the row and ends the
 * session; the others skip the row it has locked, and never wait on
 * each other.
 */
void
store_instance_beat(struct store *s, const char *name, int pid, int lease_s,
    store_exec_fn *done, void *arg)
{
	char lease[16], pid_text[16];
	const char *params[3] = {name, lease, pid_text};

	snprintf(lease, sizeof(lease), "%d", lease_s);
	snprintf(pid_text, sizeof(pid_text), "%d", pid);
	store_exec_first(s,
	    "WITH me AS ("
	    " INSERT INTO inboxd_instances AS i (name, backend_pid,"
	    "  backend_start, accounts_held)"
	    " SELECT $1, a.pid, a.backend_start,"
	    "  (SELECT count(*) FROM " SQL_HOLD_LOCKS " AND l.pid = a.pid)"
	    " FROM pg_stat_activity a WHERE a.pid = $3::int"
	    " ON CONFLICT (name) DO UPDATE SET heartbeat_at = now(),"
	    "  backend_pid = EXCLUDED.backend_pid,"
	    "  backend_start = EXCLUDED.backend_start,"
	    "  accounts_held = EXCLUDED.accounts_held"
	    " RETURNING 1),"
	    " dead AS ("
	    " DELETE FROM inboxd_instances d WHERE d.name IN ("
	    "  SELECT x.name FROM inboxd_instances x WHERE x.name <> $1"
	    "  AND (x.heartbeat_at < now() - make_interval(secs => $2::int)"
	    "   OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a"
	    "    WHERE a.pid = x.backend_pid))"
	    "  FOR UPDATE SKIP LOCKED)"
	    " RETURNING d.name, d.backend_pid, d.backend_start)"
	    " SELECT d.name, CASE"
	    "  WHEN a.pid IS NULL THEN 'gone'"
	    "  WHEN a.backend_start IS NULL THEN 'not ended'"
	    "  WHEN a.backend_start <> d.backend_start THEN 'gone'"
	    "  WHEN NOT pg_has_role(a.usesysid, 'MEMBER') THEN 'not ended'"
	    "  WHEN pg_terminate_backend(a.pid) THEN 'ended'"
	    "  ELSE 'gone' END"
	    " FROM dead d LEFT JOIN pg_stat_activity a"
	    "  ON a.pid = d.backend_pid"
	    /* The row as it was: another live session wrote it last. */
	    " UNION ALL"
	    " SELECT $1::text, 'twin' FROM inboxd_instances o"
	    " JOIN pg_stat_activity a ON a.pid = o.backend_pid"
	    "  AND a.backend_start = o.backend_start"
	    " WHERE o.name = $1 AND o.backend_pid <> $3::int",
	    3, params, done, arg);
}

void
store_instance_view(
    struct store *s, int pid, int lease_s, store_exec_fn *done, void *arg)
{
	char lease[16], pid_text[16];
	const char *params[2] = {lease, pid_text};

	snprintf(lease, sizeof(lease), "%d", lease_s);
	snprintf(pid_text, sizeof(pid_text), "%d", pid);
	store_exec_first(s,
	    "SELECT 'i', name FROM inboxd_instances"
	    " WHERE heartbeat_at >= now() - make_interval(secs => $1::int)"
	    " UNION ALL"
	    " SELECT CASE WHEN l.pid = $2::int THEN 'm' ELSE 'o' END,"
	    "  l.objid::text FROM " SQL_HOLD_LOCKS,
	    2, params, done, arg);
}

void
store_instance_leave(
    struct store *s, const char *name, store_exec_fn *done, void *arg)
{
	const char *params[1] = {name};

	store_exec_first(s,
	    "DELETE FROM inboxd_instances"
	    " WHERE name = $1",
	    1, params, done, arg);
}
