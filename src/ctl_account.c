/*
 * inboxctl account: database accounts, the ones apps add with SQL.
 * Each subcommand is one statement; the daemon hears of the change
 * through the table's trigger (NOTIFY inboxd_accounts). Accounts of the
 * configuration file are shown but not changed here: the file owns
 * them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "db.h"
#include "inboxctl.h"
#include "util.h"

/* Longer than any password, token or service account key. */
#define SECRET_MAX 65536

static const char account_help[] =
    "usage: inboxctl account add NAME --type imap|gmail [--host H] "
    "[--port N]\n"
    "           [--tls implicit|starttls|none] [--username U] "
    "[--auth password|xoauth2]\n"
    "           [--addresses A,B] [--folders F,G] [--sent-folder F]\n"
    "           [--poll-interval 60s] [--set KEY=VALUE]... [--disabled]\n"
    "       inboxctl account list\n"
    "       inboxctl account show NAME\n"
    "       inboxctl account enable|disable|remove NAME\n"
    "       inboxctl account purge NAME   (the account and all its rows)\n"
    "       inboxctl account set-secret NAME "
    "password|refresh_token|client_secret|service_account\n"
    "           (the secret is read from standard input)\n";

/* The columns "add" sets, by option, and how the parameter is cast;
 * every other key goes to settings (--set). */
static const struct column {
	const char *opt;
	const char *name;
	const char *pre, *post; /* around "$n" */
} columns[] = {
    {"--host", "host", "", ""},
    {"--port", "port", "", "::integer"},
    {"--tls", "tls", "", ""},
    {"--username", "username", "", ""},
    {"--auth", "auth", "", ""},
    {"--addresses", "addresses", "string_to_array(lower(", "), ',')"},
    {"--folders", "folders", "string_to_array(", ", ',')"},
    {"--sent-folder", "sent_folder", "", ""},
    {"--poll-interval", "poll_interval", "", "::interval"},
};

static int
exec_print(struct db *db, const char *what, const char *sql, int n,
    const char *const *params, long *rows)
{
	struct db_res *r;
	char *err = NULL;

	if ((r = db_query(db, sql, n, params, &err)) == NULL)
		return ctl_db_error(what, err);
	if (rows != NULL)
		*rows = strtol(db_cmd_tuples(r), NULL, 10);
	db_res_free(r);
	return 0;
}

/* Why NAME cannot be changed here, when no database account matched. */
static int
not_changed(struct db *db, const char *name)
{
	const char *params[1] = {name};
	struct db_res *r;
	char *err = NULL;

	if ((r = db_query(db,
		 "SELECT source FROM mail_accounts WHERE name = $1", 1, params,
		 &err)) == NULL)
		return ctl_db_error("account", err);
	if (db_ntuples(r) == 0)
		fprintf(stderr, "inboxctl: no account \"%s\"\n", name);
	else
		fprintf(stderr,
		    "inboxctl: account \"%s\" comes from the configuration "
		    "file; change it there\n",
		    name);
	db_res_free(r);
	return 1;
}

static int
account_add(struct db *db, int argc, char **argv)
{
	const char *params[2 + nitems(columns) + 2];
	struct buf cols, vals;
	json_t *settings = json_object();
	const char *type = NULL;
	bool enabled = true;
	int n = 0, rc;
	char *json;

	if (argc < 2 || argv[1][0] == '-')
		ctl_usage_error("account add NAME --type imap|gmail ...");
	params[n++] = argv[1];
	buf_init(&cols);
	buf_init(&vals);
	buf_appends(&cols, "name, type, source, enabled, settings");
	buf_appends(&vals, "$1, $2, 'database', $3::boolean, $4::jsonb");
	n = 4;
	for (int i = 2; i < argc; i++) {
		size_t c;
		char *eq;

		if (strcmp(argv[i], "--disabled") == 0) {
			enabled = false;
			continue;
		}
		if (i + 1 >= argc)
			ctl_usage_error("%s needs a value", argv[i]);
		if (strcmp(argv[i], "--type") == 0) {
			type = argv[++i];
			continue;
		}
		if (strcmp(argv[i], "--set") == 0) {
			if ((eq = strchr(argv[++i], '=')) == NULL ||
			    eq == argv[i])
				ctl_usage_error("--set KEY=VALUE");
			*eq = '\0';
			json_object_set_new(
			    settings, argv[i], json_string(eq + 1));
			continue;
		}
		for (c = 0; c < nitems(columns); c++)
			if (strcmp(argv[i], columns[c].opt) == 0)
				break;
		if (c == nitems(columns))
			ctl_usage_error(
			    "account add: unknown option \"%s\"", argv[i]);
		params[n] = argv[++i];
		n++;
		buf_printf(&cols, ", %s", columns[c].name);
		buf_printf(
		    &vals, ", %s$%d%s", columns[c].pre, n, columns[c].post);
	}
	if (type == NULL)
		ctl_usage_error("account add NAME --type imap|gmail ...");
	params[1] = type;
	params[2] = enabled ? "true" : "false";
	json = json_dumps(settings, JSON_COMPACT);
	params[3] = json;
	{
		char *sql =
		    xasprintf("INSERT INTO mail_accounts (%s) VALUES (%s)",
			cols.data, vals.data);

		rc = exec_print(db, "account add", sql, n, params, NULL);
		free(sql);
	}
	if (rc == 0)
		printf("account %s added%s\n", argv[1],
		    enabled ? "" : " (disabled)");
	free(json);
	json_decref(settings);
	buf_free(&cols);
	buf_free(&vals);
	return rc;
}

static int
account_list(struct db *db, int argc, char **argv)
{
	if (argc > 1)
		ctl_usage_error("account list");
	return ctl_query_print(db, "account list",
	    "SELECT a.name AS account, a.type, a.source,"
	    " CASE WHEN a.enabled THEN 'yes' ELSE 'no' END AS enabled,"
	    " a.state, a.held_by AS holder,"
	    " extract(epoch FROM now() - a.last_success_at)::bigint"
	    "  AS since_success,"
	    " (SELECT string_agg(kind, ',' ORDER BY kind) FROM account_secrets s"
	    "  WHERE s.account_id = a.id) AS secrets,"
	    " a.last_error"
	    " FROM mail_accounts a ORDER BY a.name",
	    0, NULL, 1u << 6);
}

static int
account_show(struct db *db, int argc, char **argv)
{
	const char *params[1];
	struct db_res *r;
	char *err = NULL;

	if (argc != 2)
		ctl_usage_error("account show NAME");
	params[0] = argv[1];
	if ((r = db_query(db,
		 "SELECT a.name, a.type, a.source, a.enabled, a.host, a.port,"
		 " a.tls, a.tls_verify, a.username, a.auth,"
		 " array_to_string(a.addresses, ', ') AS addresses,"
		 " array_to_string(a.folders, ', ') AS folders, a.sent_folder,"
		 " a.poll_interval, a.settings, a.state, a.last_error,"
		 " a.last_success_at, a.held_by, a.created_at,"
		 " (SELECT string_agg(kind, ', ' ORDER BY kind)"
		 "  FROM account_secrets s WHERE s.account_id = a.id) AS secrets"
		 " FROM mail_accounts a WHERE a.name = $1",
		 1, params, &err)) == NULL)
		return ctl_db_error("account show", err);
	if (db_ntuples(r) == 0) {
		fprintf(stderr, "inboxctl: no account \"%s\"\n", argv[1]);
		db_res_free(r);
		return 1;
	}
	for (int c = 0; c < db_nfields(r); c++) {
		const char *v = db_value(r, 0, c);

		printf("%-16s %s\n", db_fname(r, c), v ? v : "-");
	}
	db_res_free(r);
	return 0;
}

static int
account_set_enabled(struct db *db, int argc, char **argv, bool on)
{
	const char *params[2] = {
	    argc == 2 ? argv[1] : NULL, on ? "true" : "false"};
	long rows = 0;

	if (argc != 2)
		ctl_usage_error("account %s NAME", argv[0]);
	if (exec_print(db, argv[0],
		"UPDATE mail_accounts SET enabled = $2::boolean"
		" WHERE name = $1 AND source = 'database'",
		2, params, &rows) != 0)
		return 1;
	if (rows == 0)
		return not_changed(db, argv[1]);
	printf("account %s %s\n", argv[1], on ? "enabled" : "disabled");
	return 0;
}

static int
account_remove(struct db *db, int argc, char **argv)
{
	const char *params[1];
	long rows = 0;

	if (argc != 2)
		ctl_usage_error("account remove NAME");
	params[0] = argv[1];
	if (exec_print(db, "account remove",
		"DELETE FROM mail_accounts WHERE name = $1"
		" AND source = 'database'",
		1, params, &rows) != 0) {
		fprintf(stderr,
		    "inboxctl: an account whose mail is stored "
		    "cannot be removed; disable it instead\n");
		return 1;
	}
	if (rows == 0)
		return not_changed(db, argv[1]);
	printf("account %s removed\n", argv[1]);
	return 0;
}

/*
 * What purge deletes, in this order; the counts are printed with the
 * labels. The parameters: the account's id ($1) and name ($2), or the
 * name alone ($1, by_name). Leads are shared by every account and stay.
 */
static const struct purge_step {
	const char *label;
	int nparams;
	bool by_name;
	const char *sql;
} purge_steps[] = {
    {"jobs", 1, false,
	"DELETE FROM jobs WHERE message_id IN (SELECT m.id"
	" FROM conversation_messages m WHERE m.account_id = $1"
	"  OR m.conversation_id IN (SELECT c.id FROM conversations c"
	"   WHERE c.account_id = $1))"},
    {"events", 2, false,
	"DELETE FROM events WHERE account = $2::text OR conversation_id IN"
	" (SELECT c.id FROM conversations c WHERE c.account_id = $1::int)"},
    {"messages", 1, false,
	"DELETE FROM conversation_messages WHERE account_id = $1"
	" OR conversation_id IN (SELECT c.id FROM conversations c"
	"  WHERE c.account_id = $1)"},
    {"conversations", 1, false,
	"DELETE FROM conversations WHERE account_id = $1"},
    {"sync states", 1, false, "DELETE FROM sync_state WHERE account_id = $1"},
    {"secrets", 1, false, "DELETE FROM account_secrets WHERE account_id = $1"},
    {"accounts", 1, false, "DELETE FROM mail_accounts WHERE id = $1"},
    /* The account.removed event its deletion wrote. */
    {NULL, 1, true, "DELETE FROM events WHERE account = $1"},
};

static void
rollback(struct db *db)
{
	char *err = NULL;

	db_exec_script(db, "ROLLBACK", &err);
	free(err);
}

static int
account_purge(struct db *db, int argc, char **argv)
{
	const char *params[2];
	char *err = NULL, *id = NULL;
	struct db_res *r;
	struct buf said;
	bool config = false;
	long n;

	if (argc != 2)
		ctl_usage_error("account purge NAME");
	params[1] = argv[1];
	if (db_exec_script(db, "BEGIN", &err) == -1)
		return ctl_db_error("begin", err);
	if ((r = db_query(db,
		 "SELECT id, source FROM mail_accounts WHERE name = $1"
		 " FOR UPDATE",
		 1, params + 1, &err)) == NULL) {
		rollback(db);
		return ctl_db_error("account purge", err);
	}
	if (db_ntuples(r) == 1) {
		id = xstrdup(db_value(r, 0, 0));
		config = strcmp(db_value(r, 0, 1), "config") == 0;
	}
	db_res_free(r);
	if (id == NULL) {
		rollback(db);
		fprintf(stderr, "inboxctl: no account \"%s\"\n", argv[1]);
		return 1;
	}
	params[0] = id;
	buf_init(&said);
	for (size_t i = 0; i < nitems(purge_steps); i++) {
		const struct purge_step *p = &purge_steps[i];

		if (exec_print(db, "account purge", p->sql, p->nparams,
			p->by_name ? params + 1 : params, &n) != 0) {
			rollback(db);
			buf_free(&said);
			free(id);
			return 1;
		}
		if (p->label != NULL)
			buf_printf(&said, "%s%ld %s", said.len ? ", " : "", n,
			    p->label);
	}
	free(id);
	if (db_exec_script(db, "COMMIT", &err) == -1) {
		buf_free(&said);
		return ctl_db_error("commit", err);
	}
	printf("account %s purged: deleted %s\n", argv[1], said.data);
	if (config)
		printf("warning: the configuration file names %s; remove its "
		       "[account] group, or it syncs again from the start\n",
		    argv[1]);
	buf_free(&said);
	return 0;
}

/* All of standard input, less one trailing newline; NULL after saying
 * why. */
static char *
read_stdin_secret(bool one_line)
{
	char *buf = xmalloc(SECRET_MAX + 2);
	size_t len = 0;
	ssize_t n;

	while (len <= SECRET_MAX) {
		n = read(STDIN_FILENO, buf + len, SECRET_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && one_line && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (len == 0 || len > SECRET_MAX || strlen(buf) != len ||
	    (one_line && strpbrk(buf, "\r\n") != NULL)) {
		fprintf(stderr,
		    "inboxctl: the secret on standard input is %s\n",
		    len == 0		     ? "empty"
			: len > SECRET_MAX   ? "too long"
			: strlen(buf) != len ? "holding a NUL byte"
					     : "more than one line");
		explicit_bzero(buf, SECRET_MAX + 2);
		free(buf);
		return NULL;
	}
	return buf;
}

static int
account_set_secret(struct db *db, int argc, char **argv)
{
	const char *params[3];
	char *secret;
	int rc;

	if (argc != 3)
		ctl_usage_error(
		    "account set-secret NAME KIND (secret on stdin)");
	if ((secret = read_stdin_secret(
		 strcmp(argv[2], "service_account") != 0)) == NULL)
		return 1;
	params[0] = argv[1];
	params[1] = argv[2];
	params[2] = secret;
	rc = exec_print(db, "account set-secret",
	    "SELECT inboxd.set_account_secret($1, $2, $3)", 3, params, NULL);
	explicit_bzero(secret, strlen(secret));
	free(secret);
	if (rc == 0)
		printf("account %s: %s set\n", argv[1], argv[2]);
	return rc;
}

int
cmd_account(struct db *db, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "help";

	argc--;
	argv++;
	if (strcmp(sub, "add") == 0)
		return account_add(db, argc, argv);
	if (strcmp(sub, "list") == 0)
		return account_list(db, argc, argv);
	if (strcmp(sub, "show") == 0)
		return account_show(db, argc, argv);
	if (strcmp(sub, "enable") == 0)
		return account_set_enabled(db, argc, argv, true);
	if (strcmp(sub, "disable") == 0)
		return account_set_enabled(db, argc, argv, false);
	if (strcmp(sub, "remove") == 0)
		return account_remove(db, argc, argv);
	if (strcmp(sub, "purge") == 0)
		return account_purge(db, argc, argv);
	if (strcmp(sub, "set-secret") == 0)
		return account_set_secret(db, argc, argv);
	if (strcmp(sub, "help") == 0) {
		fputs(account_help, stdout);
		return 0;
	}
	ctl_usage_error("unknown account command \"%s\"", sub);
}
