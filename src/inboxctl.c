/*
 * inboxctl: the admin CLI.
 *
 *	inboxctl --config FILE <command> [args]
 *
 * Each command is one or two parameterized statements through the
 * synchronous db_* API; results print as aligned plain text, one row a
 * line, "-" for NULL, so that people read them and scripts grep them.
 * Exit status: 0 success, 1 configuration or database error, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "import.h"
#include "inboxctl.h"
#include "log.h"
#include "migrate.h"
#include "share.h"
#include "store.h"
#include "util.h"

#define EXIT_USAGE 2

/* Cells longer than this are cut, except in the last column. */
#define CELL_MAX 60

struct command {
	const char *name;
	int (*run)(struct db *db, int argc, char **argv);
	const char *args;
	const char *help;
};

static int cmd_migrate(struct db *, int, char **);
static int cmd_status(struct db *, int, char **);
static int cmd_jobs(struct db *, int, char **);
static int cmd_events(struct db *, int, char **);
static int cmd_conversations(struct db *, int, char **);
static int cmd_sync(struct db *, int, char **);
static int cmd_import(struct db *, int, char **);

/* The loaded configuration, for commands that need accounts. */
static struct config *conf;

const struct config *
ctl_config(void)
{
	return conf;
}

static const struct command commands[] = {
    {"migrate", cmd_migrate, "", "apply pending database migrations"},
    {"status", cmd_status, "",
	"accounts, their sync state, time since sync and message counts"},
    {"jobs", cmd_jobs, "[--kind K] [--state S]",
	"job counts by kind and state, age of the oldest waiting"},
    {"jobs retry", NULL, "ID | --dead [--kind K]",
	"make a failed or dead job (or every dead job) due now"},
    {"events", cmd_events, "[--since ID] [--limit N]",
	"events with an id above ID, oldest first (default 0, 100)"},
    {"conversations", cmd_conversations, "[--status S] [--limit N]",
	"latest conversations first (default limit 20)"},
    {"sync", cmd_sync, "ACCOUNT",
	"ask the daemon holding ACCOUNT for a sync pass now"},
    {"gmail-notify", cmd_sync, "ACCOUNT",
	"the same, for a Gmail push (Pub/Sub) handler"},
    {"import", cmd_import, "--account NAME PATH",
	"import an mbox file or a Maildir into an account (backfill)"},
    {"keygen", cmd_keygen, "[--force] [--bits N]",
	"make the account key: the private key in secrets_dir, the public "
	"key in the database"},
    {"rekey", cmd_rekey, "[--bits N]",
	"replace the account key and encrypt every account secret again"},
    {"account", cmd_account,
	"add|list|show|enable|disable|remove|purge|set-secret ...",
	"database accounts (inboxctl account help)"},
    {"help", NULL, "", "this text"},
};

static const char progname[] = "inboxctl";

static void
usage_to(FILE *f)
{
	fprintf(f, "usage: %s --config FILE <command> [args]\n\ncommands:\n",
	    progname);
	for (size_t i = 0; i < nitems(commands); i++)
		fprintf(f, "  %s%s%s\n      %s\n", commands[i].name,
		    *commands[i].args ? " " : "", commands[i].args,
		    commands[i].help);
}

void
ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(try \"%s help\")\n", progname);
	exit(EXIT_USAGE);
}

int
ctl_db_error(const char *what, char *err)
{
	fprintf(stderr, "%s: %s: %s\n", progname, what, err);
	free(err);
	return 1;
}

/* A whole decimal number within [min, max], or a usage error. */
static long long
parse_number(const char *opt, const char *s, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		ctl_usage_error("%s: not a number in [%lld, %lld]: \"%s\"", opt,
		    min, max, s);
	return v;
}

/* Output ------------------------------------------------------------------- */

/* Characters on screen, roughly: UTF-8 continuation bytes take none. */
static size_t
display_width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* A seconds count as a short age: 42s, 5m03s, 2h07m, 3d04h. */
static char *
format_age(const char *secs)
{
	long long s = strtoll(secs, NULL, 10);

	if (s < 0)
		s = 0;
	if (s < 60)
		return xasprintf("%llds", s);
	if (s < 3600)
		return xasprintf("%lldm%02llds", s / 60, s % 60);
	if (s < 86400)
		return xasprintf("%lldh%02lldm", s / 3600, s % 3600 / 60);
	return xasprintf("%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

/*
 * A printable copy of a value: control characters (newlines in a
 * subject or an error) become spaces so that a row stays one line, and
 * long values are cut unless they are the last column.
 */
static char *
make_cell(const char *v, bool cut)
{
	struct buf b;
	size_t chars = 0;

	if (v == NULL)
		return xstrdup("-");
	buf_init(&b);
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if ((c & 0xc0) != 0x80 && ++chars > CELL_MAX && cut) {
			buf_appends(&b, "...");
			break;
		}
		buf_append(&b, c < 0x20 || c == 0x7f ? " " : v, 1);
	}
	return buf_steal(&b);
}

/*
 * Prints a result as a table with a header line. The columns whose bit
 * is set in age_cols hold seconds and print as ages.
 */
static void
print_table(const struct db_res *r, unsigned age_cols)
{
	int rows = db_ntuples(r), cols = db_nfields(r);
	char **cell =
	    xreallocarray(NULL, (size_t)(rows + 1) * cols, sizeof(*cell));
	size_t *width = xcalloc((size_t)cols, sizeof(*width));

	for (int i = 0; i <= rows; i++) {
		for (int j = 0; j < cols; j++) {
			const char *v =
			    i == 0 ? db_fname(r, j) : db_value(r, i - 1, j);
			char **c = &cell[i * cols + j];

			if (i > 0 && v != NULL && (age_cols & (1u << j)))
				*c = format_age(v);
			else
				*c = make_cell(v, j < cols - 1);
			if (display_width(*c) > width[j])
				width[j] = display_width(*c);
		}
	}
	for (int i = 0; i <= rows; i++) {
		for (int j = 0; j < cols; j++) {
			const char *c = cell[i * cols + j];

			fputs(c, stdout);
			if (j == cols - 1)
				break;
			for (size_t w = display_width(c); w < width[j] + 2; w++)
				putchar(' ');
		}
		putchar('\n');
		for (int j = 0; j < cols; j++)
			free(cell[i * cols + j]);
	}
	free(cell);
	free(width);
}

/* Runs a query and prints its result; 0 or 1 for the exit status. */
int
ctl_query_print(struct db *db, const char *what, const char *sql, int nparams,
    const char *const *params, unsigned age_cols)
{
	struct db_res *r;
	char *err = NULL;

	if ((r = db_query(db, sql, nparams, params, &err)) == NULL)
		return ctl_db_error(what, err);
	print_table(r, age_cols);
	db_res_free(r);
	return 0;
}

/* Commands ----------------------------------------------------------------- */

static void
no_arguments(int argc, char **argv)
{
	if (argc > 1)
		ctl_usage_error("unexpected argument \"%s\"", argv[1]);
}

static int
cmd_migrate(struct db *db, int argc, char **argv)
{
	char *err = NULL;
	int n;

	no_arguments(argc, argv);
	/* db_migrate names each file it applies at the info level. */
	log_set_level(LOG_LEVEL_INFO);
	if ((n = db_migrate(db, db_sql_dir(), &err)) < 0)
		return ctl_db_error("migrate", err);
	printf("applied %d migration%s\n", n, n == 1 ? "" : "s");
	return 0;
}

/*
 * The runs with a backlog (sql/013_sync_progress.sql): a folder's first
 * sync not finished yet, an import while it runs or one cut short.
 * The share and the time left are by bytes when the run's size is
 * known (an mbox), else by messages; the rates are the run's so far, up
 * to its last batch. A folder's run goes on while a daemon holds its
 * account; an import's while its session holds the import lock.
 */
static const char sql_progress[] =
    "SELECT a.name AS account, s.mailbox, s.backlog_done AS done,"
    "  s.backlog_total AS total,"
    "  least(100, CASE WHEN s.backlog_bytes_total > 0"
    "    THEN s.backlog_bytes * 100 / s.backlog_bytes_total"
    "    WHEN s.backlog_total > 0"
    "    THEN s.backlog_done * 100 / s.backlog_total END) AS pct,"
    "  round(s.backlog_bytes / 1e6, 1) AS mb,"
    "  round(s.backlog_bytes_total / 1e6, 1) AS mb_total,"
    "  round(s.backlog_done / e.secs) AS per_s,"
    "  round(s.backlog_bytes / 1e6 / e.secs, 1) AS mb_per_s,"
    "  CASE WHEN NOT r.running THEN NULL"
    "    WHEN s.backlog_bytes_total > 0 AND s.backlog_bytes > 0"
    "    THEN (s.backlog_bytes_total - s.backlog_bytes) * e.secs"
    "     / s.backlog_bytes"
    "    WHEN s.backlog_total > 0 AND s.backlog_done > 0"
    "    THEN (s.backlog_total - s.backlog_done) * e.secs"
    "     / s.backlog_done END::bigint AS eta,"
    "  CASE WHEN r.running THEN 'running' WHEN r.left_over THEN 'stopped'"
    "    ELSE 'done' END AS state "
    "FROM sync_state s JOIN mail_accounts a ON a.id = s.account_id "
    "CROSS JOIN LATERAL (SELECT greatest(extract(epoch FROM"
    "  s.updated_at - s.backlog_started_at), 0.001) AS secs) e "
    "CROSS JOIN LATERAL (SELECT"
    "  coalesce(CASE WHEN s.backlog_bytes_total > 0"
    "    THEN s.backlog_bytes < s.backlog_bytes_total"
    "    ELSE s.backlog_done < s.backlog_total END, false) AS left_over,"
    "  CASE WHEN s.mailbox = 'import' THEN EXISTS (SELECT 1 FROM pg_locks l"
    "    WHERE l.locktype = 'advisory' AND l.database = (SELECT oid"
    "     FROM pg_database WHERE datname = current_database())"
    "    AND l.classid = " IMPORT_CLASS " AND l.objid = a.id"
    "    AND l.objsubid = 2 AND l.granted)"
    "   ELSE a.held_by IS NOT NULL END AS running) r "
    "WHERE s.backlog_started_at IS NOT NULL"
    "  AND (r.left_over OR (s.mailbox = 'import' AND r.running)) "
    "ORDER BY a.name, s.mailbox";

/* The progress table, when some run has a backlog; the eta column holds
 * seconds. */
static int
status_progress(struct db *db)
{
	struct db_res *r;
	char *err = NULL;
	bool migrated;

	/* A database the daemon has not migrated yet has no such columns. */
	r = db_query(db,
	    "SELECT EXISTS (SELECT 1 FROM pg_attribute"
	    " WHERE attrelid = to_regclass('sync_state')"
	    "  AND attname = 'backlog_started_at' AND NOT attisdropped)",
	    0, NULL, &err);
	if (r == NULL)
		return ctl_db_error("status", err);
	migrated = strcmp(db_value(r, 0, 0), "t") == 0;
	db_res_free(r);
	if (!migrated)
		return 0;
	if ((r = db_query(db, sql_progress, 0, NULL, &err)) == NULL)
		return ctl_db_error("status", err);
	if (db_ntuples(r) > 0) {
		printf("\n");
		print_table(r, 1u << 9);
	}
	db_res_free(r);
	return 0;
}

static int
cmd_status(struct db *db, int argc, char **argv)
{
	/*
	 * How long ago each mailbox last synced: the delay of mail from
	 * the server to the database is not in the database; the daemon
	 * serves it as inboxd_sync_lag_seconds. A mailbox's messages are
	 * those found in it under its current UIDVALIDITY; a Gmail account,
	 * or one never synced, has one row, with the account's count.
	 */
	static const char sql[] =
	    "SELECT a.name AS account, a.type, a.held_by AS holder, "
	    "  s.mailbox, s.uidvalidity, s.last_uid, "
	    "  CASE WHEN s.mailbox IS NULL OR a.type = 'gmail' "
	    "    THEN m.messages "
	    "    ELSE (SELECT count(*) FROM message_locations l "
	    "      WHERE l.account_id = a.id AND l.mailbox = s.mailbox "
	    "        AND l.uidvalidity = s.uidvalidity) END AS messages, "
	    "  extract(epoch FROM now() - s.last_success_at)::bigint "
	    "    AS since_sync, "
	    "  to_char(s.last_success_at AT TIME ZONE 'UTC', "
	    "    'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS last_success, "
	    "  s.last_error "
	    "FROM mail_accounts a "
	    "LEFT JOIN sync_state s ON s.account_id = a.id "
	    "CROSS JOIN LATERAL ("
	    "  SELECT count(*) AS messages "
	    "  FROM conversation_messages cm WHERE cm.account_id = a.id) m "
	    "ORDER BY a.name, s.mailbox";

	/*
	 * Then the daemons sharing the accounts (sql/008_instances.sql):
	 * live while their heartbeat is within the lease, with what each
	 * held at its last heartbeat.
	 */
	static const char sql_instances[] =
	    "SELECT i.name AS instance, "
	    "  CASE WHEN i.heartbeat_at >= now() - make_interval(secs => $1::int) "
	    "    THEN 'yes' ELSE 'no' END AS live, "
	    "  extract(epoch FROM now() - i.heartbeat_at)::bigint AS heartbeat, "
	    "  i.accounts_held AS held, "
	    "  to_char(i.started_at AT TIME ZONE 'UTC', "
	    "    'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS started "
	    "FROM inboxd_instances i ORDER BY i.name";
	char lease[16];
	const char *params[1] = {lease};
	struct db_res *r;
	char *err = NULL;
	bool have_instances;

	no_arguments(argc, argv);
	if (ctl_query_print(db, "status", sql, 0, NULL, 1u << 7) != 0 ||
	    status_progress(db) != 0)
		return 1;
	/* A database the daemon has not migrated yet has no such table. */
	r = db_query(db, "SELECT to_regclass('inboxd_instances') IS NOT NULL",
	    0, NULL, &err);
	if (r == NULL)
		return ctl_db_error("status", err);
	have_instances = strcmp(db_value(r, 0, 0), "t") == 0;
	db_res_free(r);
	if (!have_instances)
		return 0;
	snprintf(lease, sizeof(lease), "%d", SHARE_LEASE_S);
	printf("\n");
	return ctl_query_print(db, "status", sql_instances, 1, params, 1u << 2);
}

/* True when s is one of the NULL-terminated names. */
static bool
one_of(const char *s, const char *const *names)
{
	for (; *names != NULL; names++)
		if (strcmp(s, *names) == 0)
			return true;
	return false;
}

/* The values of the jobs.state column. */
static const char *const job_states[] = {
    "queued", "running", "succeeded", "failed", "dead", NULL};

/* The values of the conversation_status type (sql/001_schema.sql). */
static const char *const conversation_statuses[] = {
    "active", "needs_reply", "waiting", "archived", NULL};

/* Explains why inboxd.retry() declined a job. */
static int
explain_no_retry(struct db *db, const char *id)
{
	const char *params[1] = {id};
	struct db_res *r;
	char *err = NULL;
	const char *state;

	r = db_query(db, "SELECT state FROM jobs WHERE id = $1::bigint", 1,
	    params, &err);
	if (r == NULL)
		return ctl_db_error("jobs retry", err);
	if (db_ntuples(r) == 0)
		fprintf(stderr, "%s: no job %s\n", progname, id);
	else if (strcmp(state = db_value(r, 0, 0), "failed") == 0 ||
	    strcmp(state, "dead") == 0)
		fprintf(stderr,
		    "%s: job %s not retried: a live job for the "
		    "same message or key exists\n",
		    progname, id);
	else
		fprintf(stderr,
		    "%s: job %s is %s; only failed or dead jobs "
		    "are retried\n",
		    progname, id, state);
	db_res_free(r);
	return 1;
}

static int
jobs_retry(struct db *db, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dead", no_argument, NULL, 'd'},
	    {"kind", required_argument, NULL, 'k'},
	    {NULL, 0, NULL, 0},
	};
	const char *kind = NULL, *params[1];
	bool dead = false;
	struct db_res *r;
	char *err = NULL;
	int ch, rc = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (ch == 'd')
			dead = true;
		else if (ch == 'k')
			kind = optarg;
		else
			ctl_usage_error("jobs retry: bad option");
	}
	argc -= optind;
	argv += optind;

	if (dead) {
		if (argc > 0)
			ctl_usage_error(
			    "jobs retry --dead takes no job id: \"%s\"",
			    argv[0]);
		params[0] = kind;
		r = db_query(
		    db, "SELECT inboxd.retry_dead($1)", 1, params, &err);
		if (r == NULL)
			return ctl_db_error("jobs retry", err);
		printf("retried %s dead job(s)\n", db_value(r, 0, 0));
		db_res_free(r);
		return 0;
	}
	if (argc != 1 || kind != NULL)
		ctl_usage_error("usage: jobs retry ID | --dead [--kind K]");
	parse_number("job id", argv[0], 1, LLONG_MAX);
	params[0] = argv[0];
	r = db_query(db, "SELECT inboxd.retry($1::bigint)", 1, params, &err);
	if (r == NULL)
		return ctl_db_error("jobs retry", err);
	if (strcmp(db_value(r, 0, 0), "t") == 0)
		printf("job %s queued\n", argv[0]);
	else
		rc = explain_no_retry(db, argv[0]);
	db_res_free(r);
	return rc;
}

/*
 * An option of a listing command (jobs, events, conversations): its
 * value becomes the query parameter of the same index.
 */
struct list_option {
	const char *name; /* "--limit" */
	bool number; /* the value must be a number in [min, max] */
	long long min, max;
};

#define LIST_OPTIONS_MAX 2

/*
 * Reads a listing command's options into params; anything else is a
 * usage error that names the command.
 */
static void
read_list_options(const char *what, int argc, char **argv,
    const struct list_option *lo, size_t n, const char **params)
{
	struct option opts[LIST_OPTIONS_MAX + 1];
	int ch;

	if (n > LIST_OPTIONS_MAX)
		fatalx("%s: too many options", what);
	/* getopt_long() returns the option's index: opts[i].val is i. */
	memset(opts, 0, sizeof(opts));
	for (size_t i = 0; i < n; i++) {
		opts[i].name = lo[i].name + 2;
		opts[i].has_arg = required_argument;
		opts[i].val = (int)i;
	}
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (ch < 0 || (size_t)ch >= n)
			ctl_usage_error("%s: bad option", what);
		if (lo[ch].number)
			parse_number(
			    lo[ch].name, optarg, lo[ch].min, lo[ch].max);
		params[ch] = optarg;
	}
	if (optind < argc)
		ctl_usage_error(
		    "%s: unexpected argument \"%s\"", what, argv[optind]);
}

static int
cmd_jobs(struct db *db, int argc, char **argv)
{
	static const struct list_option opts[] = {
	    {"--kind", false, 0, 0},
	    {"--state", false, 0, 0},
	};
	/* "oldest": how long the oldest due job has waited to be claimed,
	 * or, for running jobs, how long the oldest has been running. */
	static const char sql[] =
	    "SELECT kind, state, count(*) AS jobs, "
	    "       count(*) FILTER (WHERE state IN ('queued', 'failed') "
	    "                        AND run_at <= now()) AS due, "
	    "       extract(epoch FROM now() - CASE "
	    "           WHEN state = 'running' THEN min(locked_at) "
	    "           WHEN state IN ('queued', 'failed') THEN "
	    "               min(run_at) FILTER (WHERE run_at <= now()) "
	    "       END)::bigint AS oldest "
	    "FROM jobs "
	    "WHERE ($1::text IS NULL OR kind = $1) "
	    "  AND ($2::text IS NULL OR state = $2) "
	    "GROUP BY kind, state "
	    "ORDER BY kind, array_position(ARRAY['queued', 'running', "
	    "    'failed', 'dead', 'succeeded'], state)";
	const char *params[2] = {NULL, NULL};

	if (argc > 1 && strcmp(argv[1], "retry") == 0)
		return jobs_retry(db, argc - 1, argv + 1);
	read_list_options("jobs", argc, argv, opts, nitems(opts), params);
	if (params[1] != NULL && !one_of(params[1], job_states))
		ctl_usage_error(
		    "jobs: --state must be queued, running, succeeded, "
		    "failed or dead, not \"%s\"",
		    params[1]);
	return ctl_query_print(db, "jobs", sql, 2, params, 1u << 4);
}

static int
cmd_events(struct db *db, int argc, char **argv)
{
	static const struct list_option opts[] = {
	    {"--since", true, 0, LLONG_MAX},
	    {"--limit", true, 1, 1000000},
	};
	static const char sql[] =
	    "SELECT id, type, conversation_id, message_id, account, "
	    "  to_char(created_at AT TIME ZONE 'UTC', "
	    "    'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at, "
	    "  payload::text AS payload "
	    "FROM events WHERE id > $1::bigint ORDER BY id LIMIT $2::int";
	const char *params[2] = {"0", "100"};

	read_list_options("events", argc, argv, opts, nitems(opts), params);
	return ctl_query_print(db, "events", sql, 2, params, 0);
}

static int
cmd_conversations(struct db *db, int argc, char **argv)
{
	static const struct list_option opts[] = {
	    {"--limit", true, 1, 1000000},
	    {"--status", false, 0, 0},
	};
	/* The subject goes last: it is the longest and has spaces. */
	static const char sql[] =
	    "SELECT c.id, c.status, m.messages, "
	    "  to_char(c.last_message_at AT TIME ZONE 'UTC', "
	    "    'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS last_message_at, "
	    "  l.email AS lead, c.status_reason, c.subject "
	    "FROM conversations c "
	    "LEFT JOIN leads l ON l.id = c.lead_id "
	    "CROSS JOIN LATERAL ("
	    "  SELECT count(*) AS messages FROM conversation_messages cm "
	    "  WHERE cm.conversation_id = c.id) m "
	    "WHERE ($2::text IS NULL OR c.status::text = $2) "
	    "ORDER BY c.last_message_at DESC NULLS LAST, c.id "
	    "LIMIT $1::int";
	const char *params[2] = {"20", NULL};

	read_list_options(
	    "conversations", argc, argv, opts, nitems(opts), params);
	/* A status no conversation can have is a typing mistake, not an
	 * empty answer. */
	if (params[1] != NULL && !one_of(params[1], conversation_statuses))
		ctl_usage_error("conversations: --status must be active, "
				"needs_reply, waiting or archived, not \"%s\"",
		    params[1]);
	return ctl_query_print(db, "conversations", sql, 2, params, 0);
}

/* Main ----------------------------------------------------------------------- */

static const struct command *
find_command(const char *name)
{
	for (size_t i = 0; i < nitems(commands); i++)
		if (commands[i].run != NULL &&
		    strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int
cmd_sync(struct db *db, int argc, char **argv)
{
	struct db_res *r;
	char *err = NULL;
	const char *params[1];

	if (argc != 2)
		ctl_usage_error("%s ACCOUNT", argv[0]);
	if (config_account(conf, argv[1]) == NULL) {
		fprintf(stderr, "%s: no account \"%s\" in %s\n", progname,
		    argv[1], conf->path);
		return 1;
	}
	params[0] = argv[1];
	if ((r = db_query(db, "SELECT pg_notify('inboxd_sync', $1)", 1, params,
		 &err)) == NULL) {
		fprintf(stderr, "%s: %s\n", progname, err);
		free(err);
		return 1;
	}
	db_res_free(r);
	printf("sync requested for %s\n", argv[1]);
	return 0;
}

static int
cmd_import(struct db *db, int argc, char **argv)
{
	const struct account_conf *a;
	const char *name = NULL, *path = NULL;
	char *err = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--account") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (path == NULL && argv[i][0] != '-')
			path = argv[i];
		else
			ctl_usage_error("import --account NAME PATH");
	}
	if (name == NULL || path == NULL)
		ctl_usage_error("import --account NAME PATH");
	if ((a = config_account(conf, name)) == NULL) {
		fprintf(stderr, "%s: no account \"%s\" in %s\n", progname, name,
		    conf->path);
		return 1;
	}
	if (db_migrate(db, db_sql_dir(), &err) < 0) {
		fprintf(stderr, "%s: %s\n", progname, err);
		free(err);
		return 1;
	}
	log_set_level(LOG_LEVEL_INFO);
	return import_run(conf, a, path);
}

/* config_load() reports every error, one line each. */
static void
print_config_errors(char *err)
{
	for (char *line = strtok(err, "\n"); line != NULL;
	     line = strtok(NULL, "\n"))
		fprintf(stderr, "%s: %s\n", progname, line);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct command *cmd;
	const char *conf_path = NULL;
	struct db *db;
	char *err = NULL;
	int ch, rc;

	/* "+": options after the command belong to the command. */
	while ((ch = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'h':
			usage_to(stdout);
			return 0;
		default:
			usage_to(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage_to(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0) {
		usage_to(stdout);
		return 0;
	}
	if ((cmd = find_command(argv[0])) == NULL)
		ctl_usage_error("unknown command \"%s\"", argv[0]);
	if (conf_path == NULL)
		ctl_usage_error("--config FILE is required");

	log_init(LOG_LEVEL_WARN, 0);
	log_set_name(progname);
	if ((conf = config_load(conf_path, &err)) == NULL) {
		print_config_errors(err);
		free(err);
		return 1;
	}
	if ((db = db_open(conf->conninfo, &err)) == NULL) {
		fprintf(stderr, "%s: %s\n", progname, err);
		free(err);
		config_free(conf);
		return 1;
	}
	rc = cmd->run(db, argc, argv);
	db_close(db);
	config_free(conf);
	return rc;
}
