/*
 * The ingest transaction: a batch of mail becomes ONE transaction.
 *
 *   BEGIN -> the account's write lock and the writer's hold -> look up
 *     known ids, locking their
 *     conversations -> (the plan, in C) -> leads -> new conversations
 *     -> merges -> messages -> id graph -> locations -> conversation
 *     status -> withdrawn suggestions -> jobs + NOTIFY
 *     -> events + NOTIFY -> cursor -> COMMIT
 *
 * The statements are a table; a small loop sends them in order, skips
 * those with nothing to do, and reads the two results that matter. The
 * plan (ingest_plan_params.c) builds their JSON parameters. After a
 * reconnect the store runs the operation again from BEGIN with a fresh
 * plan.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ingest_plan.h"
#include "log.h"
#include "mail.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

/* The state of one attempt at one batch's part of the transaction. */
struct tx {
	struct ingest_plan *plan;
	struct store_result result;
};

/* The text parameters of one statement and the storage behind them. */
struct tx_params {
	const char *v[12];
	char *json[3]; /* malloc'd, freed once sent */
	char account[16];
	char num[9][24];
};

/* Fills p and returns the number of parameters. */
typedef int tx_build_fn(
    struct tx *tx, const struct store_batch *b, struct tx_params *p);
/* True when the statement has nothing to do. */
typedef bool tx_skip_fn(
    struct store *s, const struct tx *tx, const struct store_batch *b);
/* Reads the rows; NULL, or why the transaction must roll back. */
typedef const char *tx_read_fn(
    struct store *s, struct tx *tx, const struct store_batch *b, PGresult *res);

struct tx_step {
	const char *sql;
	tx_build_fn *build; /* NULL: the simple protocol, no parameters */
	tx_skip_fn *skip; /* NULL: always sent */
	tx_read_fn *read; /* NULL: success is enough */
};

/*
 * Every key the batch names, with its conversation: one row per key
 * (a stored message's row before a bare id), then the other stored
 * messages of that conversation with the same Message-ID, so that the
 * plan can tell a copy from a different message reusing the id. A
 * "gmail-message:" key finds the row of that Gmail message id.
 *
 * Keys are normalized ids (msgid.h). Stored rows are compared in the
 * same form, whatever other applications wrote, and a row an
 * application recorded with only Postmark's id answers to the
 * Message-ID Postmark sent it under (sql/010_msgid_lookup.sql); both
 * comparisons use an expression index of that migration.
 */
static const char sql_lookup[] =
    "WITH keys AS ("
    "  SELECT DISTINCT k FROM json_array_elements_text($2::json) k),"
    " tids AS (SELECT DISTINCT t FROM json_array_elements_text($3::json) t),"
    " skeys AS (SELECT DISTINCT s FROM json_array_elements_text($4::json) s),"
    " msgs AS ("
    "  SELECT keys.k AS key, m.conversation_id, m.id AS row_id,"
    "    m.content_hash"
    "    FROM conversation_messages m"
    "    JOIN keys ON inboxd.msgid_norm(m.rfc_message_id) = keys.k"
    "   WHERE (m.account_id = $1 OR m.account_id IS NULL)"
    "  UNION ALL"
    "  SELECT keys.k, m.conversation_id, m.id, m.content_hash"
    "    FROM conversation_messages m"
    "    JOIN keys ON inboxd.postmark_msgid(m.postmark_message_id) = keys.k"
    "   WHERE (m.account_id = $1 OR m.account_id IS NULL)),"
    " hits AS ("
    "  SELECT t.message_id AS key, t.conversation_id, NULL::uuid AS row_id,"
    "    NULL::text AS content_hash"
    "    FROM thread_ids t JOIN keys ON t.message_id = keys.k"
    "   WHERE t.account_id = $1"
    "  UNION ALL"
    "  SELECT * FROM msgs"
    "  UNION ALL"
    "  SELECT keys.k, m.conversation_id, m.id, NULL"
    "    FROM keys JOIN gmail_locations g ON g.account_id = $1"
    "     AND keys.k LIKE 'gmail-message:%'"
    "     AND g.gmail_message_id = substr(keys.k, 15)"
    "    JOIN conversation_messages m ON m.id = g.message_id"
    "  UNION ALL"
    "  SELECT 'gmail-thread:' || c.gmail_thread_id, c.id, NULL, NULL"
    "    FROM conversations c JOIN tids ON c.gmail_thread_id = tids.t"
    "   WHERE c.account_id = $1"
    "  UNION ALL"
    "  SELECT 'subject:' || c.subject_key, c.id, NULL, NULL"
    "    FROM conversations c JOIN skeys ON c.subject_key = skeys.s"
    "   WHERE c.account_id = $1 AND c.last_message_at >= to_timestamp($5)),"
    " best AS (SELECT DISTINCT ON (h.key) h.key, h.conversation_id, h.row_id,"
    "   h.content_hash"
    "   FROM hits h ORDER BY h.key, h.row_id IS NULL, h.row_id),"
    " found AS ("
    "  SELECT * FROM best"
    "  UNION ALL"
    "  SELECT m.* FROM msgs m JOIN best b ON b.key = m.key"
    "   AND b.conversation_id = m.conversation_id AND b.row_id <> m.row_id)"
    " SELECT b.key, b.conversation_id, b.row_id,"
    "   (extract(epoch FROM c.created_at) * 1000000)::bigint,"
    "   c.status, extract(epoch FROM c.last_human_at)::bigint,"
    "   c.last_human_direction = 'outbound',"
    "   extract(epoch FROM c.last_message_at)::bigint, b.content_hash,"
    "   extract(epoch FROM c.last_bounce_at)::bigint"
    "  FROM found b JOIN conversations c ON c.id = b.conversation_id"
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
    "   WHERE lower(l.email) = lower(x.lead) ORDER BY l.id LIMIT 1),"
    "  x.subject, x.status::conversation_status, x.counterparty,"
    "  x.gmail_thread_id, x.subject_key"
    " FROM json_to_recordset($1::json) AS x(id uuid, subject text,"
    "  counterparty text, gmail_thread_id text, subject_key text,"
    "  status text, lead text)";

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
    "  content_hash, in_reply_to, reference_ids, subject, cc, is_automated,"
    "  automated_reason, size_bytes, truncated, reply_text, bounce_kind,"
    "  bounce_recipients, bounce_status, bounce_diagnostic,"
    "  bounce_original_id)"
    " SELECT x.id, x.conversation_id, x.direction::message_direction,"
    "  x.content, x.html_content, to_timestamp(x.sent_at), x.sender_email,"
    "  x.recipient_email, x.gmail_message_id, x.gmail_thread_id,"
    "  x.gmail_labels, x.headers, x.attachments, $2, x.mailbox,"
    "  x.uidvalidity, x.imap_uid, x.rfc_message_id, x.content_hash,"
    "  x.in_reply_to,"
    "  x.reference_ids, x.subject, x.cc, x.is_automated,"
    "  x.automated_reason, x.size_bytes, x.truncated, x.reply_text,"
    "  x.bounce_kind, x.bounce_recipients, x.bounce_status,"
    "  x.bounce_diagnostic, x.bounce_original_id"
    " FROM json_to_recordset($1::json) AS x(id uuid, conversation_id uuid,"
    "  direction text, content text, html_content text, sent_at bigint,"
    "  sender_email text, recipient_email text, gmail_message_id text,"
    "  gmail_thread_id text, gmail_labels text[], headers jsonb,"
    "  attachments jsonb, mailbox text, uidvalidity bigint, imap_uid bigint,"
    "  rfc_message_id text, content_hash text, in_reply_to text,"
    "  reference_ids text[],"
    "  subject text, cc text, is_automated boolean, automated_reason text,"
    "  size_bytes bigint, truncated boolean, reply_text text,"
    "  bounce_kind text, bounce_recipients text[], bounce_status text,"
    "  bounce_diagnostic text, bounce_original_id text)";

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

/* A copy stored before keeps its flags: their changes are the mirror's
 * (store_changes.c), with events. */
static const char sql_locations[] =
    "INSERT INTO message_locations (account_id, mailbox, uidvalidity, uid,"
    "  message_id, flags)"
    " SELECT $2, $3, $4, x.uid, x.row, inboxd.normalize_flags(x.flags)"
    "  FROM json_to_recordset($1::json) AS x(uid bigint, row uuid,"
    "   flags text[])"
    " ON CONFLICT DO NOTHING";

/* A Gmail copy's flags are its labels (sql/012_gmail_labels.sql); one
 * stored before keeps them, as an IMAP copy keeps its flags. */
static const char sql_gmail_locations[] =
    "INSERT INTO gmail_locations (account_id, gmail_message_id, message_id,"
    "  flags)"
    " SELECT $2, x.gid, x.row, inboxd.normalize_flags(x.flags)"
    "  FROM json_to_recordset($1::json) AS x(gid text, row uuid,"
    "   flags text[])"
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
    "  last_bounce_at = to_timestamp(x.last_bounce_at),"
    /* The subject is the earliest human message's, whatever arrived
     * first; conversations other apps made keep theirs. */
    "  subject = CASE WHEN c.account_id IS NULL THEN c.subject ELSE"
    "   coalesce((SELECT m.subject FROM conversation_messages m"
    "    WHERE m.conversation_id = c.id"
    "    ORDER BY m.is_automated, m.sent_at, m.id LIMIT 1), c.subject) END,"
    /* A conversation gets its lead with its first human message; one
     * it has is kept. */
    "  lead_id = coalesce(c.lead_id, (SELECT l.id FROM leads l"
    "   WHERE lower(l.email) = lower(x.lead) ORDER BY l.id LIMIT 1)),"
    "  updated_at = now()"
    " FROM json_to_recordset($1::json) AS x(id uuid, status text,"
    "  reason text, last_message_at bigint, last_human_at bigint,"
    "  last_bounce_at bigint,"
    "  last_human_direction text, lead text)"
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

/* Parameters -------------------------------------------------------------- */

static const char *
account_param(struct tx_params *p, const struct store_batch *b)
{
	snprintf(p->account, sizeof(p->account), "%d", b->account_id);
	return p->account;
}

static int
json_param(struct tx_params *p, char *json)
{
	p->json[0] = json;
	p->v[0] = json;
	return 1;
}

/* The shape of most statements: $1 the JSON, $2 the account. */
static int
json_account_params(
    struct tx_params *p, const struct store_batch *b, char *json)
{
	json_param(p, json);
	p->v[1] = account_param(p, b);
	return 2;
}

static int
build_hold(struct tx *tx, const struct store_batch *b, struct tx_params *p)
{
	p->v[0] = account_param(p, b);
	return 1;
}

static int
build_lookup(struct tx *tx, const struct store_batch *b, struct tx_params *p)
{
	p->v[0] = account_param(p, b);
	p->v[1] = p->json[0] = ingest_plan_lookup_keys(tx->plan);
	p->v[2] = p->json[1] = ingest_plan_lookup_threads(tx->plan);
	p->v[3] = p->json[2] = ingest_plan_lookup_subjects(tx->plan);
	snprintf(p->num[0], sizeof(p->num[0]), "%lld",
	    (long long)ingest_plan_subject_horizon(tx->plan));
	p->v[4] = p->num[0];
	return 5;
}

static int
build_leads(struct tx *tx, const struct store_batch *b, struct tx_params *p)
{
	return json_param(p, ingest_plan_leads(tx->plan));
}

static int
build_new_convs(struct tx *tx, const struct store_batch *b, struct tx_params *p)
{
	return json_account_params(p, b, ingest_plan_new_convs(tx->plan));
}

static int
build_merges(struct tx *tx, const struct store_batch *b, struct tx_params *p)
{
	return json_param(p, ingest_plan_merges(tx->plan));
}

static int
build_messages(struct tx *tx, const struct store_batch *b, struct tx_params *p)
{
	return json_account_params(p, b, ingest_plan_messages(tx->plan));
}

static int
build_thread_ids(
    struct tx *tx, const struct store_batch *b, struct tx_params *p)
{
	return json_account_params(p, b, ingest_plan_thread_ids(tx->plan));
}

static int
build_locations(struct tx *tx, const struct store_batch *b, struct tx_params *p)
{
	json_account_params(p, b, ingest_plan_locations(tx->plan));
	snprintf(p->num[0], sizeof(p->num[0]), "%u", b->uidvalidity);
	p->v[2] = b->mailbox;
	p->v[3] = p->num[0];
	return 4;
}

static int
build_gmail_locations(
    struct tx *tx, const struct store_batch *b, struct tx_params *p)
{
	return json_account_params(p, b, ingest_plan_gmail_locations(tx->plan));
}

static int
build_conv_updates(
    struct tx *tx, const struct store_batch *b, struct tx_params *p)
{
	return json_param(p, ingest_plan_conv_updates(tx->plan));
}

static int
build_superseded(
    struct tx *tx, const struct store_batch *b, struct tx_params *p)
{
	return json_param(p, ingest_plan_superseded(tx->plan));
}

static int
build_jobs(struct tx *tx, const struct store_batch *b, struct tx_params *p)
{
	return json_param(
	    p, ingest_plan_jobs(tx->plan, &tx->result.jobs_queued));
}

static int
build_events(struct tx *tx, const struct store_batch *b, struct tx_params *p)
{
	json_param(p, ingest_plan_events(tx->plan, &tx->result.events_written));
	p->v[1] = b->account->name;
	return 2;
}

/* The sizes of the batch's messages, as fetched. */
static long long
batch_bytes(const struct store_batch *b)
{
	long long n = 0;

	for (size_t i = 0; i < b->n_items; i++)
		n += (long long)b->items[i].mail->size_bytes;
	return n;
}

/* A count for SQL_CURSOR's progress: NULL when unknown (0). */
static const char *
count_param(char *num, size_t size, int64_t v)
{
	if (v == 0)
		return NULL;
	snprintf(num, size, "%lld", (long long)v);
	return num;
}

/* The run's progress: all NULL when the source tells nothing. */
static void
build_progress(const struct store_batch *b, struct tx_params *p)
{
	const struct store_progress *g = &b->progress;

	if (g->started_us == 0)
		return;
	p->v[6] = count_param(p->num[3], sizeof(p->num[3]), g->started_us);
	p->v[7] = count_param(p->num[4], sizeof(p->num[4]), g->total);
	snprintf(p->num[5], sizeof(p->num[5]), "%lld", (long long)g->done);
	p->v[8] = p->num[5];
	p->v[9] = count_param(p->num[6], sizeof(p->num[6]), g->bytes_done);
	p->v[10] = count_param(p->num[7], sizeof(p->num[7]), g->bytes_total);
	snprintf(p->num[8], sizeof(p->num[8]), "%lld", batch_bytes(b));
	p->v[11] = p->num[8];
}

/* The cursor: NULL for what this kind of source does not have. */
static int
build_cursor(struct tx *tx, const struct store_batch *b, struct tx_params *p)
{
	p->v[0] = account_param(p, b);
	p->v[1] = b->mailbox;
	snprintf(p->num[0], sizeof(p->num[0]), "%u", b->uidvalidity);
	p->v[2] = b->uidvalidity ? p->num[0] : NULL;
	snprintf(p->num[1], sizeof(p->num[1]), "%u", b->last_uid);
	p->v[3] = p->num[1];
	p->v[4] = b->history_id;
	snprintf(p->num[2], sizeof(p->num[2]), "%llu",
	    (unsigned long long)b->highestmodseq);
	p->v[5] = b->highestmodseq ? p->num[2] : NULL;
	build_progress(b, p);
	return 12;
}

/* Skips and reads ---------------------------------------------------------- */

static bool
skip_leads(struct store *s, const struct tx *tx, const struct store_batch *b)
{
	return !b->account->create_leads;
}

static bool
skip_merges(struct store *s, const struct tx *tx, const struct store_batch *b)
{
	return ingest_plan_n_merges(tx->plan) == 0;
}

static bool
skip_locations(
    struct store *s, const struct tx *tx, const struct store_batch *b)
{
	return b->uidvalidity == 0;
}

static bool
skip_gmail_locations(
    struct store *s, const struct tx *tx, const struct store_batch *b)
{
	return !ingest_plan_has_gmail(tx->plan);
}

static bool
skip_superseded(
    struct store *s, const struct tx *tx, const struct store_batch *b)
{
	return !ingest_plan_has_superseded(tx->plan);
}

/*
 * Inside the transaction, so that a writer that lost the account (with
 * its connection) cannot write for it: a daemon to another daemon, an
 * import to another import. A new connection holds nothing: its first
 * transaction for the account takes the hold again, or finds another
 * writer holding it and writes nothing.
 */
static const char *
read_hold(
    struct store *s, struct tx *tx, const struct store_batch *b, PGresult *res)
{
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		return b->import
		    ? "the account is imported into by another inboxctl"
		    : "the account is held by another instance";
	store_set_held(s, b->account_id, true);
	return NULL;
}

static int64_t
int64_or(PGresult *res, int row, int col, int64_t null_value)
{
	if (PQgetisnull(res, row, col))
		return null_value;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* The lookup's rows, as sql_lookup lists them, then the plan. */
static const char *
read_lookup(
    struct store *s, struct tx *tx, const struct store_batch *b, PGresult *res)
{
	int n = PQntuples(res);
	struct ingest_known *rows = xcalloc((size_t)n + 1, sizeof(*rows));

	for (int r = 0; r < n; r++) {
		struct ingest_known *k = &rows[r];

		k->key = PQgetvalue(res, r, 0);
		k->conv_id = PQgetvalue(res, r, 1);
		k->row_id =
		    PQgetisnull(res, r, 2) ? NULL : PQgetvalue(res, r, 2);
		k->created_at = int64_or(res, r, 3, 0);
		k->status = PQgetvalue(res, r, 4);
		k->last_human_at = int64_or(res, r, 5, INT64_MIN);
		k->last_human_outbound =
		    strcmp(PQgetvalue(res, r, 6), "t") == 0;
		k->last_message_at = int64_or(res, r, 7, INT64_MIN);
		k->content_hash =
		    PQgetisnull(res, r, 8) ? NULL : PQgetvalue(res, r, 8);
		k->last_bounce_at = int64_or(res, r, 9, 0);
	}
	ingest_plan_place(tx->plan, rows, (size_t)n);
	ingest_plan_count(tx->plan, &tx->result);
	free(rows);
	return NULL;
}

/* The transaction ------------------------------------------------------------ */

/*
 * The fence. A daemon's batch checks the daemon's hold, an import's the
 * import's; both take the account's write lock first, so that a daemon
 * and an import storing the same message store it once (the second
 * finds the first's row and records a copy).
 *
 * The write locks cannot deadlock in the usual case: an import's or a
 * mirror's transaction takes one account's lock, and a group takes its
 * members' locks in order, of accounts its daemon holds, which no other
 * daemon's group holds too. In the rare case (a hold moving between
 * daemons while both have a group in flight; a group that inserted a
 * lead waiting for an import's account while the import inserts the
 * same lead) Postgres ends one side with a deadlock error. A group
 * that loses rolls back and its batches run again one transaction
 * each, each taking one lock; a lone transaction that loses runs
 * again, up to DEADLOCK_RETRIES times, as the other side has then
 * gone on.
 */
static const char sql_fence_hold[] = SQL_FENCE_HOLD;
static const char sql_fence_import[] = SQL_FENCE_IMPORT;
static const char sql_fence_held[] = SQL_FENCE_HELD;

static const struct tx_step tx_steps[] = {
    {"BEGIN", NULL, NULL, NULL},
    {sql_fence_hold, build_hold, NULL, read_hold},
    {sql_lookup, build_lookup, NULL, read_lookup},
    {sql_leads, build_leads, skip_leads, NULL},
    {sql_new_convs, build_new_convs, NULL, NULL},
    {sql_merge_messages, build_merges, skip_merges, NULL},
    {sql_merge_suggestions, build_merges, skip_merges, NULL},
    {sql_merge_ids, build_merges, skip_merges, NULL},
    {sql_merge_jobs, build_merges, skip_merges, NULL},
    {sql_merge_delete, build_merges, skip_merges, NULL},
    {sql_messages, build_messages, NULL, NULL},
    {sql_thread_ids, build_thread_ids, NULL, NULL},
    {sql_locations, build_locations, skip_locations, NULL},
    {sql_gmail_locations, build_gmail_locations, skip_gmail_locations, NULL},
    {sql_conv_updates, build_conv_updates, NULL, NULL},
    {sql_cancel_suggestions, build_superseded, skip_superseded, NULL},
    {sql_jobs, build_jobs, NULL, NULL},
    {sql_events, build_events, NULL, NULL},
    {SQL_CURSOR, build_cursor, NULL, NULL},
    {"COMMIT", NULL, NULL, NULL},
};

#define TX_LAST ((int)nitems(tx_steps) - 1)

/*
 * Group commit: batches that wait in the queue while the store is busy
 * join the last waiting ingest, up to GROUP_MAX, and share its
 * transaction: BEGIN, the steps of each batch in turn (each checks its
 * own hold and writes its own cursor), one COMMIT. Many small accounts
 * then cost one commit, not one each. Nothing waits to form a group:
 * an idle store runs a lone batch at once. When any statement of a
 * group fails, the group rolls back and its batches run again one
 * transaction each, so that one bad batch fails alone.
 */
#define GROUP_MAX 32
#define DEADLOCK_RETRIES 3

struct member {
	const struct store_batch *batch;
	store_ingest_fn *done;
	void *arg;
	struct tx *tx;
};

struct group {
	struct member m[GROUP_MAX];
	size_t n;
	size_t cur; /* the member whose statements are sent */
	bool alone; /* a transaction per member, after a failure */
	bool rolling_back;
	char *error; /* why it rolls back */
	bool deadlock; /* it rolls back as a deadlock's loser */
	int retries; /* of the current lone transaction, after deadlocks */
};

static void
tx_free(struct tx *tx)
{
	if (tx == NULL)
		return;
	ingest_plan_free(tx->plan);
	free(tx);
}

static void
group_free(void *arg)
{
	struct group *g = arg;

	for (size_t i = 0; i < g->n; i++)
		tx_free(g->m[i].tx);
	free(g->error);
	free(g);
}

/* Member i from scratch: a fresh plan, nothing counted. */
static void
member_restart(struct group *g, size_t i)
{
	struct member *m = &g->m[i];

	tx_free(m->tx);
	m->tx = xcalloc(1, sizeof(*m->tx));
	m->tx->plan = ingest_plan_new(m->batch);
}

/* A first attempt, or one after a reconnect: from BEGIN, for every
 * member not yet reported (in a group, all; alone, from the current
 * one on). */
static void
group_restart(struct op *op)
{
	struct group *g = op->state;

	if (!g->alone)
		g->cur = 0;
	for (size_t i = g->cur; i < g->n; i++)
		member_restart(g, i);
	op->step = 0;
}

/* Sends the statement of the current step, or of the next one that has
 * something to do. */
static void
tx_send(struct store *s, struct op *op)
{
	struct group *g = op->state;
	struct member *m = &g->m[g->cur];
	const struct tx_step *st = &tx_steps[op->step];
	struct tx_params p = {0};
	const char *sql;
	int n = 0;

	while (st->skip != NULL && st->skip(s, m->tx, m->batch))
		st = &tx_steps[++op->step];
	if (st->build != NULL)
		n = st->build(m->tx, m->batch, &p);
	/* The one statement whose text depends on the writer, and on
	 * whether this connection holds the account already. */
	sql = st->sql;
	if (sql == sql_fence_hold && store_holds(s, m->batch->account_id))
		sql = sql_fence_held;
	else if (sql == sql_fence_hold && m->batch->import)
		sql = sql_fence_import;
	store_send(s, sql, n, st->build != NULL ? p.v : NULL);
	for (size_t i = 0; i < nitems(p.json); i++)
		free(p.json[i]);
}

/*
 * A statement failed: roll back (asynchronously, the connection is
 * non-blocking) and carry on once the server has answered.
 */
static void
tx_rollback(struct store *s, struct op *op, char *why)
{
	struct group *g = op->state;

	free(g->error);
	g->error = why;
	g->rolling_back = true;
	g->deadlock = false;
	store_send(s, "ROLLBACK", 0, NULL);
}

static void
member_failed(struct group *g, size_t i)
{
	struct member *m = &g->m[i];
	struct store_result r = {0};

	r.ok = false;
	r.error = g->error;
	log_warnx("account=%s mailbox=%s: batch not stored: %s",
	    m->batch->account->name, m->batch->mailbox, g->error);
	m->done(&r, m->arg);
}

/* A Message-ID that names two different messages is worth knowing: a
 * broken mailer, or someone trying to hide a message behind another. */
static void
log_reused_ids(const struct tx *tx, const struct store_batch *b)
{
	for (size_t i = 0; i < b->n_items; i++) {
		if (!ingest_plan_reused_id(tx->plan, i))
			continue;
		log_info("account=%s mailbox=%s uid=%u: Message-ID <%s> already"
			 " names a message with other content; stored as"
			 " message %s of its own",
		    b->account->name, b->mailbox, b->items[i].uid,
		    b->items[i].mail->message_id,
		    ingest_plan_row_id(tx->plan, i));
	}
}

static void
member_committed(struct group *g, size_t i)
{
	struct member *m = &g->m[i];

	log_reused_ids(m->tx, m->batch);
	m->tx->result.ok = true;
	m->tx->result.group = g->alone ? 1 : g->n;
	m->done(&m->tx->result, m->arg);
}

/* The next member runs its own transaction, or the operation ends. */
static void
next_alone(struct store *s, struct op *op)
{
	struct group *g = op->state;

	g->retries = 0;
	if (++g->cur == g->n) {
		store_op_finish(s, op);
		return;
	}
	member_restart(g, g->cur);
	op->step = 0;
	tx_send(s, op);
}

/* The server has answered the ROLLBACK. */
static void
rolled_back(struct store *s, struct op *op)
{
	struct group *g = op->state;

	g->rolling_back = false;
	if ((g->alone || g->n == 1) && g->deadlock &&
	    g->retries < DEADLOCK_RETRIES) {
		g->retries++;
		log_info(
		    "account=%s mailbox=%s: the batch lost a deadlock (%s); "
		    "storing it again",
		    g->m[g->cur].batch->account->name,
		    g->m[g->cur].batch->mailbox, g->error);
		member_restart(g, g->cur);
		op->step = 0;
		tx_send(s, op);
		return;
	}
	if (!g->alone && g->n > 1) {
		log_info("database: a group of %zu batches rolled back (%s); "
			 "storing them one by one",
		    g->n, g->error);
		g->alone = true;
		g->cur = 0;
		group_restart(op);
		tx_send(s, op);
		return;
	}
	member_failed(g, g->cur);
	next_alone(s, op);
}

/* The server has answered the COMMIT. */
static void
committed(struct store *s, struct op *op)
{
	struct group *g = op->state;

	if (g->alone) {
		member_committed(g, g->cur);
		next_alone(s, op);
		return;
	}
	for (size_t i = 0; i < g->n; i++)
		member_committed(g, i);
	store_op_finish(s, op);
}

static void
run_ingest(struct store *s, struct op *op, PGresult *res)
{
	struct group *g = op->state;
	struct member *m;
	tx_read_fn *read;
	const char *why;

	if (res == NULL) {
		group_restart(op);
		tx_send(s, op);
		return;
	}
	if (g->rolling_back) {
		rolled_back(s, op);
		return;
	}
	if (!db_result_ok(res)) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		tx_rollback(s, op, db_error_text(PQresultErrorMessage(res)));
		g->deadlock = state != NULL && strcmp(state, "40P01") == 0;
		return;
	}
	m = &g->m[g->cur];
	read = tx_steps[op->step].read;
	if (read != NULL && (why = read(s, m->tx, m->batch, res)) != NULL) {
		tx_rollback(s, op, xstrdup(why));
		return;
	}
	if (op->step == TX_LAST) {
		committed(s, op);
		return;
	}
	/* In a group, the last member's cursor is followed by COMMIT, the
	 * others' by the next member's first step after BEGIN. */
	if (++op->step == TX_LAST && !g->alone && g->cur + 1 < g->n) {
		g->cur++;
		op->step = 1;
	}
	tx_send(s, op);
}

/* A group that never started: each member hears that it is not
 * stored, and why. */
static size_t
abandon_ingest(struct op *op)
{
	struct group *g = op->state;
	struct store_result r = {0};

	r.error = STORE_ABANDONED;
	for (size_t i = 0; i < g->n; i++)
		g->m[i].done(&r, g->m[i].arg);
	return g->n;
}

void
store_ingest(struct store *s, const struct store_batch *b,
    store_ingest_fn *done, void *arg)
{
	struct op *op = store_waiting_op(s);
	struct group *g;

	if (op == NULL || op->run != run_ingest ||
	    (g = op->state)->n == GROUP_MAX) {
		op = store_op_new(run_ingest, NULL, NULL);
		g = xcalloc(1, sizeof(*g));
		op->state = g;
		op->state_free = group_free;
		op->abandon = abandon_ingest;
		g->m[g->n++] = (struct member){b, done, arg, NULL};
		store_enqueue(s, op);
		return;
	}
	g->m[g->n++] = (struct member){b, done, arg, NULL};
}
