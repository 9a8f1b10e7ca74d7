/*
 * Config parsing: good files load with the right values and defaults;
 * bad files are refused with a message naming file:line, group and key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"
#include "util.h"

static char dir[] = "/tmp/inboxd-test-config.XXXXXX";

static char *
write_file(const char *name, const char *text, mode_t mode)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

static char *
config_text(const char *account_extra)
{
	char *s;

	if (asprintf(&s,
		"# a comment\n"
		"[database]\n"
		"conninfo = host=127.0.0.1 dbname=inboxd\n"
		"\n"
		"[account sales]\n"
		"type = imap\n"
		"host = imap.example.com\n"
		"username = Sales@Example.com\n"
		"password_file = %s/secret\n"
		"addresses = Sales@Example.com, team@example.com\n"
		"%s",
		dir, account_extra) < 0)
		abort();
	return s;
}

/* Loads text; returns the config or NULL with *err set. */
static struct config *
load(const char *text, char **err)
{
	char *path = write_file("inboxd.conf", text, 0644);
	struct config *c = config_load(path, err);

	free(path);
	return c;
}

static void
expect_error(const char *what, const char *text, const char *needle)
{
	char *err = NULL;
	struct config *c = load(text, &err);

	ok(c == NULL, "%s is refused", what);
	ok(err != NULL && strstr(err, needle) != NULL,
	    "%s: error mentions \"%s\"", what, needle);
	if (err && !strstr(err, needle))
		printf("#   error was: %s\n", err);
	config_free(c);
	free(err);
}

static void
test_good_file(void)
{
	char *text = config_text("");
	char *err = NULL;
	struct config *c = load(text, &err);
	const struct account_conf *a;

	ok(c != NULL, "minimal file loads");
	if (c == NULL) {
		printf("#   %s\n", err);
		free(err);
		free(text);
		return;
	}
	is_str(c->conninfo, "host=127.0.0.1 dbname=inboxd", "conninfo");
	is_int(c->n_accounts, 1, "one account");
	a = config_account(c, "sales");
	ok(a != NULL, "account found by name");
	is_int(a->type, ACCOUNT_IMAP, "type imap");
	is_int(a->tls, TLS_IMPLICIT, "tls defaults to implicit");
	is_int(a->port, 993, "port defaults to 993 with implicit TLS");
	ok(a->tls_verify, "certificates verified by default");
	is_str(a->password, "hunter2", "password read, newline stripped");
	is_int(a->connections, 4, "connections default");
	is_int(a->poll_interval, 60, "poll_interval default");
	is_int(a->initial_sync_days, 0, "initial_sync all");
	ok(a->create_leads, "create_leads default true");
	ok(!a->thread_by_subject, "thread_by_subject default false");
	ok(account_is_own_address(a, "TEAM@example.com"),
	    "addresses compared without case");
	ok(!account_is_own_address(a, "alice@customer.example"),
	    "a customer is not an own address");
	is_int(c->max_message_size, 25 * 1024 * 1024, "max_message_size 25M");
	is_int(c->job_retention, 86400, "job_retention 1d");
	is_str(c->metrics_listen, "127.0.0.1:9464", "metrics_listen default");
	config_free(c);
	free(text);
}

static void
test_values(void)
{
	char *text, *err = NULL;
	struct config *c;
	const struct account_conf *a;

	text = config_text(
	    "tls = starttls ; inline comment\n"
	    "poll_interval = 5m\nbatch_bytes = 4M\ninitial_sync = 30\n"
	    "thread_by_subject = yes\nfolders = Archive, Support\n");
	c = load(text, &err);
	ok(c != NULL, "file with values loads");
	if (c != NULL) {
		a = &c->accounts[0];
		is_int(a->tls, TLS_STARTTLS, "tls starttls, comment stripped");
		is_int(a->port, 143, "port 143 without implicit TLS");
		is_int(a->poll_interval, 300, "5m is 300 s");
		is_int(a->batch_bytes, 4 * 1024 * 1024, "4M");
		is_int(a->initial_sync_days, 30, "initial_sync 30 days");
		ok(a->thread_by_subject, "yes is true");
		is_str(a->folders[0], "Archive", "first folder");
		is_str(a->folders[1], "Support", "second folder");
		ok(a->folders[2] == NULL, "two folders");
	} else
		printf("#   %s\n", err);
	config_free(c);
	free(err);
	free(text);

	err = NULL;
	c = load("[database]\nconninfo = x\n[daemon]\nmetrics_listen = off\n"
		 "log_level = debug\n",
	    &err);
	ok(c != NULL && c->metrics_listen == NULL, "metrics_listen = off");
	ok(c != NULL && c->log_level == LOG_LEVEL_DEBUG, "log_level debug");
	ok(c != NULL && c->n_accounts == 0, "no accounts is valid");
	config_free(c);
	free(err);
}

static void
test_bad_files(void)
{
	char *text;

	text = config_text("colour = blue\n");
	expect_error(
	    "unknown key", text, "[account sales] colour: unknown key");
	expect_error("unknown key names the line", text, "inboxd.conf:11:");
	free(text);
	text = config_text("tls = maybe\n");
	expect_error("bad enum", text, "[account sales] tls");
	free(text);
	text = config_text("port = http\n");
	expect_error("bad integer", text, "[account sales] port");
	free(text);
	text = config_text("port = 70000\n");
	expect_error("port out of range", text, "out of range");
	free(text);
	text = config_text("poll_interval = soon\n");
	expect_error("bad duration", text, "[account sales] poll_interval");
	free(text);
	text = config_text("idle = sometimes\n");
	expect_error("bad boolean", text, "expected true or false");
	free(text);
	expect_error("missing database", "[account x]\ntype = imap\n",
	    "missing [database]");
	expect_error("missing conninfo", "[database]\n", "conninfo");
	expect_error("unknown group", "[database]\nconninfo = x\n[mailboxes]\n",
	    "[mailboxes]");
	expect_error("missing type",
	    "[database]\nconninfo = x\n[account a]\n"
	    "host = h\n",
	    "missing required key \"type\"");
	expect_error("missing host",
	    "[database]\nconninfo = x\n[account a]\ntype = imap\n"
	    "username = u\npassword_file = /nonexistent\n",
	    "missing required key \"host\"");
	expect_error(
	    "syntax error", "[database\nconninfo = x\n", "inboxd.conf");
	expect_error("gmail key on imap",
	    "[database]\nconninfo = x\n[account a]\ntype = imap\nhost = h\n"
	    "username = u\npassword_file = /x\napi_base = http://x\n",
	    "not valid for this account type");
}

static void
test_secrets(void)
{
	char *text = config_text(""), *err = NULL, *path;
	struct config *c;

	path = write_file("secret", "hunter2\n", 0644);
	c = load(text, &err);
	ok(c == NULL, "world-readable password file refused");
	ok(err && strstr(err, "chmod 0640"), "error says which mode to set");
	config_free(c);
	free(err);
	free(path);
	path = write_file("secret", "hunter2\n", 0640);
	err = NULL;
	c = load(text, &err);
	ok(c != NULL, "mode 0640 accepted");
	config_free(c);
	free(err);
	unlink(path);
	err = NULL;
	c = load(text, &err);
	ok(c == NULL && err && strstr(err, "cannot read"),
	    "missing password file is a clear error");
	config_free(c);
	free(err);
	free(path);
	path = write_file("secret", "\n", 0600);
	err = NULL;
	c = load(text, &err);
	ok(c == NULL && err && strstr(err, "is empty"), "empty secret refused");
	config_free(c);
	free(err);
	free(path);
	path = write_file("secret", "hunter2\n", 0600);
	free(path);
	free(text);
}

static void
test_reloadable(void)
{
	ok(!config_key_reloadable("database", "conninfo"),
	    "reloadable: conninfo needs a restart");
	ok(config_key_reloadable("daemon", "log_level"),
	    "reloadable: log_level reloads");
	ok(!config_key_reloadable("daemon", "metrics_listen"),
	    "reloadable: metrics_listen needs a restart");
	ok(!config_key_reloadable("daemon", "max_message_size"),
	    "reloadable: max_message_size needs a restart");
	ok(!config_key_reloadable("daemon", "job_retention"),
	    "reloadable: job_retention needs a restart");
	ok(!config_key_reloadable("daemon", "job_lease_check"),
	    "reloadable: job_lease_check needs a restart");
	ok(!config_key_reloadable("daemon", "instance_name"),
	    "reloadable: instance_name needs a restart");
	ok(config_key_reloadable("account", "poll_interval"),
	    "reloadable: account keys reload");
	ok(config_key_reloadable("account", "host"),
	    "reloadable: an account's host reloads");
	ok(!config_key_reloadable("daemon", "colour"),
	    "reloadable: an unknown key is not");
	ok(!config_key_reloadable("account", "conninfo"),
	    "reloadable: a key of another group is not");
}

static void
test_gmail_group(void)
{
	char *err = NULL;
	struct config *c;

	c = load("[database]\nconninfo = x\n", &err);
	ok(c != NULL && c->gmail_project_quota == 20000,
	    "[gmail] project_quota: 20000 units/s by default");
	config_free(c);
	c = load(
	    "[database]\nconninfo = x\n[gmail]\nproject_quota = 500\n", &err);
	ok(c != NULL && c->gmail_project_quota == 500,
	    "[gmail] project_quota = 500 is read");
	config_free(c);
	free(err);
	expect_error("an unknown [gmail] key",
	    "[database]\nconninfo = x\n[gmail]\nquota = 5\n", "[gmail] quota");
	ok(config_key_reloadable("gmail", "project_quota"),
	    "reloadable: [gmail] project_quota");
}

/* Collects "group key" of every key the reload could not apply. */
static void
note_restart(const char *group, const char *key, void *arg)
{
	struct buf *b = arg;

	buf_printf(b, "%s%s %s", b->len ? ", " : "", group, key);
}

static void
test_keep_restart_keys(void)
{
	char *err = NULL;
	struct config *running, *next;
	struct buf b;
	size_t n;

	running = load("[database]\nconninfo = dbname=old\n"
		       "[daemon]\nlog_level = info\n",
	    &err);
	free(err);
	err = NULL;
	next = load("[database]\nconninfo = dbname=new\n"
		    "[daemon]\nlog_level = debug\nmetrics_listen = off\n"
		    "max_message_size = 1M\njob_retention = 2d\n"
		    "job_lease_check = 30s\ninstance_name = spare\n",
	    &err);
	free(err);
	if (running == NULL || next == NULL) {
		ok(0, "keep: both files load");
		config_free(running);
		config_free(next);
		return;
	}
	buf_init(&b);
	n = config_keep_restart_keys(next, running, note_restart, &b);
	is_int(n, 5, "keep: five keys need a restart");
	is_str(b.data,
	    "database conninfo, daemon metrics_listen, "
	    "daemon max_message_size, daemon job_retention, "
	    "daemon instance_name",
	    "keep: each is named with its group, in table order");
	is_str(next->conninfo, "dbname=old", "keep: conninfo stays");
	is_str(next->metrics_listen, "127.0.0.1:9464",
	    "keep: metrics_listen stays (not off)");
	is_int(next->max_message_size, 25 * 1024 * 1024,
	    "keep: max_message_size stays");
	is_int(next->job_retention, 86400, "keep: job_retention stays");
	ok(next->instance_name == NULL, "keep: instance_name stays unset");
	is_int(next->log_level, LOG_LEVEL_DEBUG, "keep: log_level is new");
	buf_reset(&b);
	n = config_keep_restart_keys(next, running, note_restart, &b);
	is_int(n, 0, "keep: a second pass finds nothing to keep");
	ok(b.len == 0, "keep: and names nothing");
	config_free(next);
	next = load("[database]\nconninfo = dbname=third\n", &err);
	free(err);
	ok(next != NULL &&
		config_keep_restart_keys(next, running, NULL, NULL) == 1 &&
		strcmp(next->conninfo, "dbname=old") == 0,
	    "keep: works without a callback");
	buf_free(&b);
	config_free(running);
	config_free(next);
}

int
main(void)
{
	char *path;

	if (mkdtemp(dir) == NULL)
		tap_skip_all("cannot create a temporary directory");
	path = write_file("secret", "hunter2\n", 0600);
	free(path);
	test_good_file();
	test_values();
	test_bad_files();
	test_secrets();
	test_reloadable();
	test_gmail_group();
	test_keep_restart_keys();
	path = write_file("secret", "", 0600);
	unlink(path);
	free(path);
	path = write_file("inboxd.conf", "", 0600);
	unlink(path);
	free(path);
	rmdir(dir);
	return tap_done();
}
