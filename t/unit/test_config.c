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

/* The usual file, with its password in dir/secret_name. */
static char *
config_text_secret(const char *secret_name, const char *account_extra)
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
		"password_file = %s/%s\n"
		"addresses = Sales@Example.com, team@example.com\n"
		"%s",
		dir, secret_name, account_extra) < 0)
		abort();
	return s;
}

static char *
config_text(const char *account_extra)
{
	return config_text_secret("secret", account_extra);
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
	ok(!a->mirror_archive, "mirror_archive default false");
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
	    "thread_by_subject = yes\nfolders = Archive, Support\n"
	    "mirror_archive = true\n");
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
		ok(a->mirror_archive, "mirror_archive = true");
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
	expect_error("idle on gmail",
	    "[database]\nconninfo = x\n[account a]\ntype = gmail\n"
	    "idle = true\n",
	    "[account a] idle: not valid for this account type");
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

/* Loads text from a file of the given mode; returns the error or NULL. */
static char *
load_error(const char *text, mode_t mode)
{
	char *path = write_file("inboxd.conf", text, mode), *err = NULL;
	struct config *c = config_load(path, &err);

	config_free(c);
	free(path);
	return err;
}

static void
expect_loads(const char *what, const char *text)
{
	char *err = load_error(text, 0644);

	ok(err == NULL, "%s loads", what);
	if (err != NULL)
		printf("#   error was: %s\n", err);
	free(err);
}

static void
test_every_error_reported(void)
{
	char *text = config_text("colour = blue\ntls = maybe\n"
				 "batch_size = 0\n");
	char *err = load_error(text, 0644);
	int lines = 0;

	ok(err &&
		strstr(err,
		    "inboxd.conf:11: [account sales] colour: "
		    "unknown key"),
	    "all errors: the first is reported");
	ok(err && strstr(err, "inboxd.conf:12: [account sales] tls: "),
	    "all errors: the second is reported with its line");
	ok(err && strstr(err, "[account sales] batch_size: must be"),
	    "all errors: the third is reported");
	for (const char *p = err; p && *p; p++)
		lines += *p == '\n';
	is_int(lines, 2, "all errors: one line each");
	free(err);
	free(text);
	err = load_error("[database]\nconninfo = x\n[daemon]\n"
			 "log_level = loud\n[account a]\ntype = pop3\n"
			 "[account b]\ntype = imap\n",
	    0644);
	ok(err && strstr(err, "log_level") && strstr(err, "[account a] type") &&
		strstr(err, "[account b]: missing required key \"host\""),
	    "all errors: across groups");
	free(err);
}

static void
test_duplicates(void)
{
	char *text = config_text("poll_interval = 5m\npoll_interval = 10m\n");

	expect_error("duplicate key", text,
	    "inboxd.conf:12: [account sales] poll_interval: given again "
	    "(first on line 11)");
	free(text);
	text = config_text("idle = true\nidle = sometimes\n");
	expect_error("duplicate key with a bad value", text,
	    "inboxd.conf:12: [account sales] idle: expected true or false");
	free(text);
	text = config_text("[account sales]\nidle = false\n");
	expect_error("duplicate group", text,
	    "inboxd.conf:11: [account sales]: given again (first on line 5)");
	free(text);
	expect_error("duplicate key in [database]",
	    "[database]\nconninfo = a\nconninfo = b\n",
	    "inboxd.conf:3: [database] conninfo: given again");
}

static void
test_metrics_listen(void)
{
	expect_error("metrics_listen without an address",
	    "[database]\nconninfo = x\n[daemon]\nmetrics_listen = 21470\n",
	    "inboxd.conf:4: [daemon] metrics_listen: expected ADDRESS:PORT");
	expect_error("metrics_listen without a port",
	    "[database]\nconninfo = x\n[daemon]\nmetrics_listen = 127.0.0.1\n",
	    "metrics_listen: expected ADDRESS:PORT");
	expect_error("metrics_listen with a port out of range",
	    "[database]\nconninfo = x\n[daemon]\n"
	    "metrics_listen = 127.0.0.1:70000\n",
	    "metrics_listen: expected ADDRESS:PORT");
	expect_loads("metrics_listen on IPv6",
	    "[database]\nconninfo = x\n[daemon]\nmetrics_listen = [::1]:9464\n");
	expect_loads("metrics_listen on all addresses",
	    "[database]\nconninfo = x\n[daemon]\n"
	    "metrics_listen = 0.0.0.0:9464\n");
}

/* Loads text and checks its warnings hold needle, or that there are
 * none when needle is NULL. */
static void
expect_warning(const char *what, const char *text, const char *needle)
{
	char *err = NULL;
	struct config *c = load(text, &err);

	ok(c != NULL, "%s loads", what);
	if (c == NULL) {
		printf("#   error was: %s\n", err);
		ok(0, "%s: warnings", what);
	} else if (needle == NULL) {
		ok(c->warnings == NULL, "%s: no warning", what);
		if (c->warnings)
			printf("#   warning was: %s\n", c->warnings);
	} else {
		ok(c->warnings != NULL && strstr(c->warnings, needle) != NULL,
		    "%s: warning mentions \"%s\"", what, needle);
		if (c->warnings == NULL || !strstr(c->warnings, needle))
			printf("#   warnings were: %s\n",
			    c->warnings ? c->warnings : "(none)");
	}
	config_free(c);
	free(err);
}

/* The metrics endpoint has no authentication: an address other hosts
 * can reach loads, with a warning naming file:line and key. */
static void
test_metrics_listen_exposed(void)
{
	static const char *const open_to_all[] = {"0.0.0.0:9464", "[::]:9464",
	    "192.0.2.7:9464", "[2001:db8::1]:9464", "[::ffff:192.0.2.7]:9464"};
	static const char *const loopback[] = {"127.0.0.1:9464",
	    "127.1.2.3:9464", "[::1]:9464", "[::ffff:127.0.0.1]:9464"};
	char *text;

	for (size_t i = 0; i < nitems(open_to_all); i++) {
		if (asprintf(&text,
			"[database]\nconninfo = x\n[daemon]\n"
			"metrics_listen = %s\n",
			open_to_all[i]) < 0)
			abort();
		expect_warning(open_to_all[i], text,
		    "inboxd.conf:4: [daemon] metrics_listen: ");
		expect_warning(open_to_all[i], text, "no authentication");
		ok(!config_listen_is_loopback(open_to_all[i]),
		    "%s is not loopback", open_to_all[i]);
		free(text);
	}
	for (size_t i = 0; i < nitems(loopback); i++) {
		if (asprintf(&text,
			"[database]\nconninfo = x\n[daemon]\n"
			"metrics_listen = %s\n",
			loopback[i]) < 0)
			abort();
		expect_warning(loopback[i], text, NULL);
		ok(config_listen_is_loopback(loopback[i]), "%s is loopback",
		    loopback[i]);
		free(text);
	}
	expect_warning(
	    "the default metrics_listen", "[database]\nconninfo = x\n", NULL);
	expect_warning("metrics_listen = off",
	    "[database]\nconninfo = x\n[daemon]\nmetrics_listen = off\n", NULL);
}

static void
test_token_url(void)
{
	char *text;

	text = config_text("token_url = file:///etc/passwd\n");
	expect_error("token_url of file://", text,
	    "[account sales] token_url: expected an https:// URL");
	free(text);
	text = config_text("token_url = http://auth.example.com/token\n");
	expect_error("token_url of plain http to a remote host", text,
	    "plain http is allowed only on loopback");
	free(text);
	text = config_text("token_url = http://127.0.0.1.example.com/token\n");
	expect_error("token_url of http to a name that looks like loopback",
	    text, "plain http is allowed only on loopback");
	free(text);
	text = config_text("token_url = http://[::1]:8080/token\n");
	expect_loads("token_url of http on IPv6 loopback", text);
	free(text);
	text = config_text("token_url = http://127.0.0.1:8080/token\n");
	expect_loads("token_url of http on loopback", text);
	free(text);
	text = config_text("token_url = https://login.example.com/token\n");
	expect_loads("token_url of https", text);
	free(text);
}

static void
test_conninfo_password(void)
{
	const char *inline_pw = "[database]\nconninfo = host=db.example.com "
				"password = 'se cret' dbname=inboxd\n";
	const char *uri_pw =
	    "[database]\nconninfo = "
	    "postgresql://inboxd:secret@db.example.com/inboxd\n";
	char *err;

	err = load_error(inline_pw, 0644);
	ok(err &&
		strstr(err,
		    "inboxd.conf:2: [database] conninfo: a "
		    "password in a file others can read"),
	    "password in a world-readable config refused");
	free(err);
	err = load_error(uri_pw, 0644);
	ok(err && strstr(err, "password in a file others can read"),
	    "password in a URI in a world-readable config refused");
	free(err);
	err = load_error(inline_pw, 0640);
	ok(err == NULL, "password in a config others cannot read accepted");
	free(err);
	err = load_error("[database]\nconninfo = postgresql://inboxd@db/x\n"
			 "[daemon]\ninstance_name = a:b\n",
	    0644);
	ok(err == NULL, "a URI with a user and no password accepted");
	free(err);
}

static void
test_passfile(void)
{
	char *pass = write_file("pgpass", "*:*:*:inboxd:secret\n", 0640);
	char *text, *err;

	if (asprintf(&text, "[database]\nconninfo = host=db passfile=%s\n",
		pass) < 0)
		abort();
	err = load_error(text, 0644);
	ok(err && strstr(err, "[database] conninfo: libpq ignores passfile") &&
		strstr(err, "chmod 0600"),
	    "passfile group can read is refused, saying what to do");
	free(err);
	chmod(pass, 0600);
	err = load_error(text, 0644);
	ok(err == NULL, "passfile of mode 0600 accepted");
	free(err);
	unlink(pass);
	err = load_error(text, 0644);
	ok(err && strstr(err, "passfile"), "missing passfile reported");
	free(err);
	free(text);
	free(pass);
}

/* Loads the usual file with the secret file holding len bytes of data,
 * in mode; returns the error, or NULL when the file loaded. */
static char *
secret_error(const char *data, size_t len, mode_t mode)
{
	char *text = config_text(""), *err = NULL, *path;
	struct config *c;
	FILE *f;

	if (asprintf(&path, "%s/secret", dir) < 0)
		abort();
	unlink(path);
	f = fopen(path, "w");
	fwrite(data, 1, len, f);
	fclose(f);
	chmod(path, mode);
	c = load(text, &err);
	config_free(c);
	free(path);
	free(text);
	return err;
}

static void
expect_secret_refused(const char *what, const char *data, size_t len,
    mode_t mode, const char *needle)
{
	char *err = secret_error(data, len, mode);

	ok(err != NULL && strstr(err, needle) != NULL, "%s refused", what);
	if (err != NULL && strstr(err, needle) == NULL)
		printf("#   error was: %s\n", err);
	free(err);
}

static void
test_secret_contents(void)
{
	char *err;

	expect_secret_refused("secret with a second line", "hunter2\nmore\n",
	    13, 0600, "more than one line");
	expect_secret_refused(
	    "secret with a CR", "hunter2\r\n", 9, 0600, "more than one line");
	expect_secret_refused(
	    "secret with a NUL", "hun\0ter2\n", 9, 0600, "NUL byte");
	expect_secret_refused(
	    "secret of two newlines", "\n\n", 2, 0600, "more than one line");
	expect_secret_refused("world-writable secret", "hunter2\n", 8, 0602,
	    "writable by others");
	err = secret_error("hunter2", 7, 0600);
	ok(err == NULL, "secret without a trailing newline accepted");
	free(err);
	err = secret_error("hunter2\n", 8, 0640);
	ok(err == NULL, "secret with one trailing newline accepted");
	free(err);
}

static void
test_secret_kinds(void)
{
	char *text, *err = NULL, *target, *link_path;
	struct config *c;

	target = write_file("real-secret", "hunter2\n", 0600);
	if (asprintf(&link_path, "%s/link-secret", dir) < 0)
		abort();
	symlink(target, link_path);
	/* A good secret, but through a link named in password_file. */
	text = config_text_secret("link-secret", "");
	c = load(text, &err);
	ok(c == NULL && err && strstr(err, "symbolic link"),
	    "secret file that is a symlink refused");
	config_free(c);
	free(err);
	unlink(link_path);
	mkfifo(link_path, 0600);
	err = NULL;
	c = load(text, &err);
	ok(c == NULL && err && strstr(err, "not a regular file"),
	    "secret file that is a FIFO refused, without waiting");
	config_free(c);
	free(err);
	unlink(link_path);
	mkdir(link_path, 0700);
	err = NULL;
	c = load(text, &err);
	ok(c == NULL && err && strstr(err, "not a regular file"),
	    "secret file that is a directory refused");
	config_free(c);
	free(err);
	rmdir(link_path);
	unlink(target);
	free(target);
	free(link_path);
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
	ok(config_key_reloadable("account", "mirror_archive"),
	    "reloadable: mirror_archive reloads");
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

#define PUSH_HEAD "[database]\nconninfo = x\n[gmail]\n"
#define PUSH_TOPIC "pubsub_topic = projects/my-project/topics/gmail\n"
#define PUSH_SUB \
	"pubsub_subscription = projects/my-project/subscriptions/inboxd\n"
#define PUSH_KEY "pubsub_service_account_file = /etc/inboxd/secrets/ps.json\n"

static void
test_gmail_push_keys(void)
{
	char *err = NULL;
	struct config *c;

	c = load(PUSH_HEAD PUSH_TOPIC PUSH_SUB PUSH_KEY, &err);
	ok(c != NULL, "push: topic, subscription and key load");
	if (err != NULL)
		printf("#   %s\n", err);
	if (c != NULL) {
		is_str(c->pubsub_topic, "projects/my-project/topics/gmail",
		    "push: the topic");
		is_str(c->pubsub_api_base, "https://pubsub.googleapis.com",
		    "push: Pub/Sub's API by default");
		is_str(c->pubsub_token_url,
		    "https://oauth2.googleapis.com/token",
		    "push: Google's token endpoint by default");
	}
	config_free(c);
	free(err);
	err = NULL;
	c = load("[database]\nconninfo = x\n", &err);
	ok(c != NULL && c->pubsub_topic == NULL &&
		c->pubsub_subscription == NULL,
	    "push: off by default");
	config_free(c);
	free(err);
	ok(!config_key_reloadable("gmail", "pubsub_subscription"),
	    "push: the subscription is read at start only");
	expect_error("a topic without a subscription",
	    PUSH_HEAD PUSH_TOPIC PUSH_KEY,
	    ":4: [gmail] pubsub_topic: push needs pubsub_subscription too");
	expect_error("a subscription without a topic",
	    PUSH_HEAD PUSH_SUB PUSH_KEY,
	    ":4: [gmail] pubsub_subscription: push needs pubsub_topic too");
	expect_error("a subscription without a key",
	    PUSH_HEAD PUSH_TOPIC PUSH_SUB,
	    "[gmail] pubsub_subscription: push needs "
	    "pubsub_service_account_file");
	expect_error("a topic named like a subscription",
	    PUSH_HEAD
	    "pubsub_topic = projects/my-project/subscriptions/x1\n" PUSH_SUB
		PUSH_KEY,
	    ":4: [gmail] pubsub_topic: expected projects/PROJECT/topics/NAME: "
	    "expected .../topics/NAME");
	expect_error("a topic without projects/",
	    PUSH_HEAD "pubsub_topic = gmail\n" PUSH_SUB PUSH_KEY,
	    "does not start with \"projects/\"");
	expect_error("a project id too short",
	    PUSH_HEAD
	    "pubsub_topic = projects/p/topics/gmail\n" PUSH_SUB PUSH_KEY,
	    "the project id is not 6 to 30 characters");
	expect_error("a project id in capitals",
	    PUSH_HEAD
	    "pubsub_topic = projects/My-Project/topics/gmail\n" PUSH_SUB
		PUSH_KEY,
	    "the project id is not 6 to 30 characters");
	expect_error("a subscription name with a slash",
	    PUSH_HEAD PUSH_TOPIC
	    "pubsub_subscription = projects/my-project/subscriptions/a/b\n" PUSH_KEY,
	    "the name holds other characters");
	expect_error("a name starting with goog",
	    PUSH_HEAD PUSH_TOPIC
	    "pubsub_subscription = projects/my-project/subscriptions/google1\n" PUSH_KEY,
	    "and not with \"goog\"");
	expect_error("a Pub/Sub API in plain http elsewhere",
	    PUSH_HEAD PUSH_TOPIC PUSH_SUB PUSH_KEY
	    "pubsub_api_base = http://pubsub.example.com\n",
	    "[gmail] pubsub_api_base: plain http is allowed only on loopback");
	expect_error("push on an IMAP account",
	    "[database]\nconninfo = x\n[account a]\ntype = imap\n"
	    "host = h\nusername = u\npassword_file = /dev/null\npush = true\n",
	    "[account a] push: not valid for this account type");
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
	/* A secret file that blocks must fail the test, not hang it. */
	alarm(60);
	path = write_file("secret", "hunter2\n", 0600);
	free(path);
	test_good_file();
	test_values();
	test_bad_files();
	test_secrets();
	test_every_error_reported();
	test_duplicates();
	test_metrics_listen();
	test_metrics_listen_exposed();
	test_token_url();
	test_conninfo_password();
	test_passfile();
	test_secret_contents();
	test_secret_kinds();
	test_reloadable();
	test_gmail_group();
	test_gmail_push_keys();
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
