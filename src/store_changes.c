/*
 * The mirror of a folder's state: what the server says changed among
 * the copies already stored (new flag sets, copies gone) becomes ONE
 * transaction with the cursor that covers it:
 *
 *   BEGIN -> the account's write lock and the daemon's hold
 *     (SQL_FENCE, store_int.h) -> inboxd.apply_location_changes()
 *     (locations, events, NOTIFY; sql/005_location_flags.sql)
 *     -> cursor -> COMMIT
 *
 * and the same for Gmail's label changes, whose form is
 * inboxd.apply_gmail_changes() (sql/012_gmail_labels.sql) and whose
 * cursor is a historyId;
 * and the list of stored UIDs that a server without QRESYNC is compared
 * with. After a reconnect the store runs the transaction again from
 * BEGIN; its parameters are kept, as text, for that.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"
#include "jsonw.h"
#include "log.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

enum {
	STEP_BEGIN,
	STEP_HOLD,
	STEP_APPLY,
	STEP_CURSOR,
	STEP_COMMIT,
	STEP_ROLLBACK,
};

/* The statements' parameters, as text, and the attempt's state. */
struct changes_tx {
	char *account; /* its name, for the log */
	int id;
	char account_id[16];
	char *mailbox;
	char uidvalidity[16];
	char *changes; /* JSON */
	char *removed; /* an SQL array literal */
	bool mirror_archive;
	bool cursor;
	char last_uid[16];
	char highestmodseq[24];
	char *history_id; /* Gmail: the cursor; NULL for IMAP */
	bool gmail; /* label changes, not a folder's */
	size_t n_changed, n_removed;
	int events;
	char *error; /* why it rolls back */
};

static const char sql_fence[] = SQL_FENCE_HOLD;
static const char sql_fence_held[] = SQL_FENCE_HELD;

static const char sql_apply[] =
    "SELECT inboxd.apply_location_changes($1, $2, $3, $4::jsonb,"
    " $5::bigint[], $6::boolean)";

static const char sql_apply_gmail[] =
    "SELECT inboxd.apply_gmail_changes($1, $2::jsonb, $3::boolean)";

static void
changes_tx_free(void *arg)
{
	struct changes_tx *tx = arg;

	free(tx->history_id);
	free(tx->account);
	free(tx->mailbox);
	free(tx->changes);
	free(tx->removed);
	free(tx->error);
	free(tx);
}

static char *
changes_json(const struct store_changes *c)
{
	struct buf o;

	buf_init(&o);
	buf_append(&o, "[", 1);
	for (size_t i = 0; i < c->n_changed; i++) {
		jsonw_sep(&o);
		buf_append(&o, "{", 1);
		jsonw_kint(&o, "uid", c->changed[i].uid);
		jsonw_key(&o, "flags");
		flags_json(&o, c->changed[i].flags);
		buf_append(&o, "}", 1);
	}
	buf_append(&o, "]", 1);
	return buf_steal(&o);
}

static char *
removed_array(const struct store_changes *c)
{
	struct buf o;

	buf_init(&o);
	buf_append(&o, "{", 1);
	for (size_t i = 0; i < c->n_removed; i++)
		buf_printf(&o, "%s%u", i > 0 ? "," : "", c->removed[i]);
	buf_append(&o, "}", 1);
	return buf_steal(&o);
}

static struct changes_tx *
changes_tx_new(const struct store_changes *c)
{
	struct changes_tx *tx = xcalloc(1, sizeof(*tx));

	tx->account = xstrdup(c->account);
	tx->id = c->account_id;
	snprintf(tx->account_id, sizeof(tx->account_id), "%d", c->account_id);
	tx->mailbox = xstrdup(c->mailbox);
	snprintf(
	    tx->uidvalidity, sizeof(tx->uidvalidity), "%u", c->uidvalidity);
	tx->changes = changes_json(c);
	tx->removed = removed_array(c);
	tx->mirror_archive = c->mirror_archive;
	tx->cursor = c->cursor;
	snprintf(tx->last_uid, sizeof(tx->last_uid), "%u", c->last_uid);
	snprintf(tx->highestmodseq, sizeof(tx->highestmodseq), "%llu",
	    (unsigned long long)c->highestmodseq);
	tx->n_changed = c->n_changed;
	tx->n_removed = c->n_removed;
	return tx;
}

static char *
label_changes_json(const struct store_label_changes *c)
{
	struct buf o;

	buf_init(&o);
	buf_append(&o, "[", 1);
	for (size_t i = 0; i < c->n; i++) {
		const struct store_label_change *ch = &c->changes[i];

		jsonw_sep(&o);
		buf_append(&o, "{", 1);
		jsonw_kstr(&o, "id", ch->id);
		if (ch->deleted)
			jsonw_kbool(&o, "deleted", true);
		else {
			jsonw_key(&o, ch->add != NULL ? "add" : "remove");
			jsonw_strz(&o, ch->add != NULL ? ch->add : ch->remove);
		}
		buf_append(&o, "}", 1);
	}
	buf_append(&o, "]", 1);
	return buf_steal(&o);
}

/* The Gmail form: the changes in one statement, the cursor a
 * historyId of the mailbox "gmail" (as the driver names it). */
static struct changes_tx *
label_changes_tx_new(const struct store_label_changes *c)
{
	struct changes_tx *tx = xcalloc(1, sizeof(*tx));

	tx->gmail = true;
	tx->account = xstrdup(c->account);
	tx->id = c->account_id;
	snprintf(tx->account_id, sizeof(tx->account_id), "%d", c->account_id);
	tx->mailbox = xstrdup("gmail");
	tx->changes = label_changes_json(c);
	tx->mirror_archive = c->mirror_archive;
	tx->cursor = c->history_id != NULL;
	tx->history_id = c->history_id ? xstrdup(c->history_id) : NULL;
	snprintf(tx->last_uid, sizeof(tx->last_uid), "0");
	snprintf(tx->highestmodseq, sizeof(tx->highestmodseq), "0");
	tx->n_changed = c->n;
	return tx;
}

/* Sends the apply statement of tx's form. */
static void
changes_send_apply(struct store *s, struct changes_tx *tx)
{
	const char *v[6];

	v[0] = tx->account_id;
	if (tx->gmail) {
		v[1] = tx->changes;
		v[2] = tx->mirror_archive ? "true" : "false";
		store_send(s, sql_apply_gmail, 3, v);
		return;
	}
	v[1] = tx->mailbox;
	v[2] = tx->uidvalidity;
	v[3] = tx->changes;
	v[4] = tx->removed;
	v[5] = tx->mirror_archive ? "true" : "false";
	store_send(s, sql_apply, 6, v);
}

/* Sends the statement of op->step. */
static void
changes_send(struct store *s, struct op *op)
{
	struct changes_tx *tx = op->state;
	const char *v[12] = {0};

	switch (op->step) {
	case STEP_BEGIN:
		store_send(s, "BEGIN", 0, NULL);
		break;
	case STEP_HOLD:
		v[0] = tx->account_id;
		store_send(s,
		    store_holds(s, tx->id) ? sql_fence_held : sql_fence, 1, v);
		break;
	case STEP_APPLY:
		changes_send_apply(s, tx);
		break;
	case STEP_CURSOR:
		v[0] = tx->account_id;
		v[1] = tx->mailbox;
		v[2] = tx->gmail ? NULL : tx->uidvalidity;
		v[3] = tx->last_uid;
		v[4] = tx->history_id;
		v[5] = strcmp(tx->highestmodseq, "0") != 0 ? tx->highestmodseq
							   : NULL;
		/* Mirroring is no run with progress: v[6..11] stay NULL. */
		store_send(s, SQL_CURSOR, 12, v);
		break;
	case STEP_COMMIT:
		store_send(s, "COMMIT", 0, NULL);
		break;
	default:
		store_send(s, "ROLLBACK", 0, NULL);
		break;
	}
}

/* NULL, or why the transaction must roll back. */
static const char *
changes_read(struct changes_tx *tx, int step, PGresult *res)
{
	if (step == STEP_HOLD &&
	    (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0))
		return "the account is held by another instance";
	if (step == STEP_APPLY) {
		if (PQntuples(res) != 1)
			return "no result from the function that applies "
			       "the changes";
		tx->events = atoi(PQgetvalue(res, 0, 0));
	}
	return NULL;
}

static void
changes_report(struct store *s, struct op *op)
{
	store_done_fn *done = (store_done_fn *)op->done;
	struct changes_tx *tx = op->state;

	if (tx->error != NULL) {
		log_warnx("account=%s mailbox=%s: changes not stored: %s",
		    tx->account, tx->mailbox, tx->error);
		done(false, tx->error, op->arg);
	} else if (tx->gmail) {
		(tx->events > 0 ? log_info : log_debug)(
		    "account=%s mailbox=%s: %zu label changes applied, "
		    "%d events",
		    tx->account, tx->mailbox, tx->n_changed, tx->events);
		done(true, NULL, op->arg);
	} else {
		(tx->events > 0 ? log_info : log_debug)(
		    "account=%s mailbox=%s: %zu flag sets and %zu copies gone "
		    "applied, %d events",
		    tx->account, tx->mailbox, tx->n_changed, tx->n_removed,
		    tx->events);
		done(true, NULL, op->arg);
	}
	store_op_finish(s, op);
}

static void
changes_rollback(struct store *s, struct op *op, char *why)
{
	struct changes_tx *tx = op->state;

	free(tx->error);
	tx->error = why;
	op->step = STEP_ROLLBACK;
	changes_send(s, op);
}

static void
run_changes(struct store *s, struct op *op, PGresult *res)
{
	struct changes_tx *tx = op->state;
	const char *why;

	if (res == NULL) {
		free(tx->error);
		tx->error = NULL;
		tx->events = 0;
		changes_send(s, op);
		return;
	}
	if (op->step == STEP_ROLLBACK) {
		changes_report(s, op);
		return;
	}
	if (!db_result_ok(res)) {
		changes_rollback(
		    s, op, db_error_text(PQresultErrorMessage(res)));
		return;
	}
	if ((why = changes_read(tx, op->step, res)) != NULL) {
		changes_rollback(s, op, xstrdup(why));
		return;
	}
	if (op->step == STEP_COMMIT) {
		changes_report(s, op);
		return;
	}
	if (op->step == STEP_HOLD)
		store_set_held(s, tx->id, true);
	op->step++;
	if (op->step == STEP_CURSOR && !tx->cursor)
		op->step++;
	changes_send(s, op);
}

static size_t
abandon_changes(struct op *op)
{
	((store_done_fn *)op->done)(false, STORE_ABANDONED, op->arg);
	return 1;
}

void
store_apply_changes(struct store *s, const struct store_changes *c,
    store_done_fn *done, void *arg)
{
	struct op *op = store_op_new(run_changes, (void *)done, arg);

	op->state = changes_tx_new(c);
	op->state_free = changes_tx_free;
	op->abandon = abandon_changes;
	store_enqueue(s, op);
}

void
store_apply_label_changes(struct store *s, const struct store_label_changes *c,
    store_done_fn *done, void *arg)
{
	struct op *op = store_op_new(run_changes, (void *)done, arg);

	op->state = label_changes_tx_new(c);
	op->state_free = changes_tx_free;
	op->abandon = abandon_changes;
	store_enqueue(s, op);
}

/* Stored UIDs ------------------------------------------------------------ */

static void
run_known_uids(struct store *s, struct op *op, PGresult *res)
{
	store_uids_fn *done = (store_uids_fn *)op->done;
	char id[16];
	char generation[16];
	const char *params[3] = {id, op->mailbox, generation};
	uint32_t *uids;
	int n;

	if (op->step == 0) {
		op->step = 1;
		snprintf(id, sizeof(id), "%d", op->account_id);
		snprintf(generation, sizeof(generation), "%u", op->uidvalidity);
		store_send(s,
		    "SELECT uid FROM message_locations"
		    " WHERE account_id = $1 AND mailbox = $2"
		    "  AND uidvalidity = $3"
		    " ORDER BY uid",
		    3, params);
		return;
	}
	if (!db_result_ok(res)) {
		log_warnx("database: stored UIDs of %s: %s", op->mailbox,
		    PQresultErrorMessage(res));
		done(false, NULL, 0, op->arg);
		store_op_finish(s, op);
		return;
	}
	n = PQntuples(res);
	uids = xcalloc((size_t)n + 1, sizeof(*uids));
	for (int i = 0; i < n; i++)
		uids[i] = (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10);
	done(true, uids, (size_t)n, op->arg);
	free(uids);
	store_op_finish(s, op);
}

void
store_known_uids(struct store *s, int account_id, const char *mailbox,
    uint32_t uidvalidity, store_uids_fn *done, void *arg)
{
	struct op *op = store_op_new(run_known_uids, (void *)done, arg);

	op->account_id = account_id;
	op->mailbox = xstrdup(mailbox);
	op->uidvalidity = uidvalidity;
	store_enqueue(s, op);
}
