/*
 * The store's insides, shared by store.c (connection and operation
 * queue), store_account.c (small operations), store_ingest.c (the
 * ingest transaction) and store_changes.c (the mirror of a folder's
 * state). Nothing outside the store layer includes it.
 *
 * An operation is a short script of statements run one at a time on
 * the store's connection. Its run function is called with a NULL result
 * to send its first statement (again after a reconnect, with step reset
 * to 0), then once with the result of every statement it sent; it ends
 * with store_op_finish().
 */
#ifndef INBOXD_STORE_INT_H
#define INBOXD_STORE_INT_H

#include <sys/queue.h>

#include "db_int.h"
#include "store.h"

struct op;

typedef void op_run_fn(struct store *s, struct op *op, PGresult *res);

struct op {
	TAILQ_ENTRY(op) entry;
	op_run_fn *run;
	int step;
	void *done; /* the caller's callback, of the operation's type */
	void *arg;
	/* Parameters, by operation. */
	char *name;
	char *type;
	int account_id;
	char *mailbox;
	uint32_t uidvalidity;
	char *error;
	const struct store_batch *batch;
	char *ids_json;
	char *sql;
	char **params;
	int nparams;
	/* State that lives as long as the operation. */
	void *state;
	void (*state_free)(void *state);
	/* Answers an operation that will not run (store_abandon) and
	 * returns how many batches it carried; NULL: it always runs. */
	size_t (*abandon)(struct op *op);
};

/* A new operation; the caller fills in its parameters, then enqueues. */
struct op *store_op_new(op_run_fn *run, void *done, void *arg);
void store_enqueue(struct store *s, struct op *op);
/* The last operation in the queue if it has not started, else NULL:
 * one that more work may join. */
struct op *store_waiting_op(struct store *s);
/* Sends one statement of the running operation (no parameters and a
 * NULL params: the simple protocol, as for BEGIN and COMMIT). A
 * statement with parameters is prepared on its first use on a
 * connection and known by its address after that: sql must be of
 * static storage (a literal, or a static const array). */
void store_send(
    struct store *s, const char *sql, int n, const char *const *params);
/* Ends the running operation and starts the next. */
void store_op_finish(struct store *s, struct op *op);
/* The account-state operation that waits in the queue, which later
 * state writes join (store_account.c); NULL when none waits. */
struct op **store_states_op(struct store *s);

/* The advisory lock class of account holds: an arbitrary constant. */
#define HOLD_CLASS "1768843876"
/*
 * Takes the account for this session if it is free. Sent only when
 * store_holds() says that this connection lacks it (a lock taken twice
 * would need two unlocks), and its answer recorded with
 * store_set_held().
 */
#define SQL_HOLD "SELECT pg_try_advisory_lock(" HOLD_CLASS ", $1::int)"
/* Whether this connection holds the account's lock (a daemon's store
 * in HOLD_CLASS, an import's in IMPORT_CLASS): the store's own record,
 * which the connection's end clears. */
bool store_holds(const struct store *s, int account_id);
void store_set_held(struct store *s, int account_id, bool held);

/* The transaction lock class of writers: whoever writes an account's
 * mail takes it first, so that one transaction at a time looks up and
 * then inserts that account's rows. */
#define WRITE_CLASS "1768843878"

/*
 * The fence at the start of a transaction that writes an account's
 * mail: the account's write lock, then (in the same statement, so that
 * no round trip is added), when store_holds() says that this connection
 * lacks the account's hold in hold_class (after a reconnect), the hold
 * taken again if it is free; its answer is recorded with
 * store_set_held(). The lock is taken before the lookup that follows:
 * READ COMMITTED gives that lookup a snapshot taken after the lock, so
 * it sees what the writer before committed.
 */
#define SQL_FENCE_HELD \
	"SELECT true FROM pg_advisory_xact_lock(" WRITE_CLASS ", $1::int)"
#define SQL_FENCE_TAKE(hold_class) \
	"SELECT pg_try_advisory_lock(" hold_class ", $1::int)" \
	" FROM pg_advisory_xact_lock(" WRITE_CLASS ", $1::int)"
/* A daemon's batch, fenced by the daemon's hold. */
#define SQL_FENCE_HOLD SQL_FENCE_TAKE(HOLD_CLASS)
/* An import's batch, fenced by the import's hold. */
#define SQL_FENCE_IMPORT SQL_FENCE_TAKE(IMPORT_CLASS)

/* The account holds of sessions on this database, in pg_locks. */
#define SQL_HOLD_LOCKS \
	"pg_locks l WHERE l.locktype = 'advisory'" \
	" AND l.database = (SELECT oid FROM pg_database" \
	"  WHERE datname = current_database())" \
	" AND l.classid = " HOLD_CLASS " AND l.objsubid = 2 AND l.granted"

/*
 * The sync cursor of ($1 account, $2 mailbox), committed with what it
 * covers: $3 uidvalidity, $4 last_uid (never goes back within one
 * UIDVALIDITY), $5 history_id and $6 highest_modseq (NULL keeps the
 * stored one). When the folder's UIDVALIDITY changes, the copies of the
 * older generation go: their UIDs mean nothing now, and the messages
 * are found again under the new one.
 *
 * With it, how far the batch's run has got (sql/013_sync_progress.sql):
 * $7 when the run started (epoch microseconds; NULL: the source tells
 * nothing, the figures stay), $8 messages listed (NULL unknown), $9
 * messages done, $10 bytes done as the source counts them (NULL: the
 * run's stored sizes, to which $12, the batch's, is added), $11 the
 * run's bytes (NULL unknown).
 */
#define SQL_CURSOR \
	"WITH stale AS (DELETE FROM message_locations l" \
	"  WHERE l.account_id = $1 AND l.mailbox = $2" \
	"   AND $3::bigint IS NOT NULL AND l.uidvalidity <> $3::bigint" \
	"   AND EXISTS (SELECT 1 FROM sync_state s WHERE s.account_id = $1" \
	"    AND s.mailbox = $2 AND s.uidvalidity IS DISTINCT FROM $3::bigint))" \
	" INSERT INTO sync_state (account_id, mailbox, uidvalidity, last_uid," \
	"  history_id, highest_modseq, last_success_at, last_error," \
	"  updated_at, backlog_started_at, backlog_total, backlog_done," \
	"  backlog_bytes, backlog_bytes_total)" \
	" VALUES ($1, $2, $3, $4, $5, $6, now(), NULL, now()," \
	"  to_timestamp($7::bigint / 1000000.0), $8::integer, $9::integer," \
	"  coalesce($10::bigint, $12::bigint), $11::bigint)" \
	" ON CONFLICT (account_id, mailbox) DO UPDATE SET" \
	"  uidvalidity = EXCLUDED.uidvalidity," \
	"  last_uid = greatest(CASE WHEN sync_state.uidvalidity" \
	"   IS DISTINCT FROM EXCLUDED.uidvalidity THEN 0" \
	"   ELSE sync_state.last_uid END, EXCLUDED.last_uid)," \
	"  history_id = coalesce(EXCLUDED.history_id, sync_state.history_id)," \
	"  highest_modseq = coalesce(EXCLUDED.highest_modseq," \
	"   sync_state.highest_modseq)," \
	"  last_success_at = now(), last_error = NULL, updated_at = now()," \
	"  backlog_started_at = coalesce(EXCLUDED.backlog_started_at," \
	"   sync_state.backlog_started_at)," \
	"  backlog_total = CASE WHEN $7::bigint IS NULL" \
	"   THEN sync_state.backlog_total ELSE EXCLUDED.backlog_total END," \
	"  backlog_done = CASE WHEN $7::bigint IS NULL" \
	"   THEN sync_state.backlog_done ELSE EXCLUDED.backlog_done END," \
	"  backlog_bytes_total = CASE WHEN $7::bigint IS NULL" \
	"   THEN sync_state.backlog_bytes_total" \
	"   ELSE EXCLUDED.backlog_bytes_total END," \
	"  backlog_bytes = CASE WHEN $7::bigint IS NULL" \
	"   THEN sync_state.backlog_bytes" \
	"   WHEN $10::bigint IS NULL AND EXCLUDED.backlog_started_at" \
	"    = sync_state.backlog_started_at" \
	"   THEN coalesce(sync_state.backlog_bytes, 0)" \
	"    + EXCLUDED.backlog_bytes" \
	"   ELSE EXCLUDED.backlog_bytes END"

#endif
