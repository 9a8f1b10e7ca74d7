/*
 * inboxd: mail ingestion daemon.
 *
 * Startup is a script, in this order:
 *   1. arguments and configuration (errors name file:line, group, key)
 *   2. logging, GMime
 *   3. database: connect and apply migrations (a clear error and exit
 *      when the database cannot be reached); read the database accounts
 *   4. the event loop, and at once the signals and systemd notification
 *      (READY=1 once the store's database connection is up): a SIGTERM
 *      while thousands of accounts are set up is heard, not fatal;
 *      before this step, one ends the process at once, with status 0
 *   5. the asynchronous store, the curl multi handle
 *   6. the ingest pipeline, queue maintenance and metrics
 *   7. the accounts: the file's and the database's, and the
 *      notifications that change the database's; Gmail push's pull
 *      loop, which wakes them; the instance heartbeat, by which
 *      several daemons share them
 * Teardown runs in the opposite order.
 *
 * inboxd never detaches: a service manager or a terminal runs it.
 * --foreground is accepted, and changes nothing, for command lines
 * written for daemons that do.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "autoconf.h"

#include "account.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "dbaccounts.h"
#include "gmail_api.h"
#include "gmail_push.h"
#include "http.h"
#include "ingest.h"
#include "instances.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "mime.h"
#include "store.h"
#include "util.h"

static struct {
	struct config *conf; /* the configuration file, as loaded */
	struct dbaccounts *dbacc; /* the database accounts, last read */
	struct config *running; /* conf with dbacc: what the accounts run */
	const char *conf_path;
	bool once;
	struct event_base *base;
	struct store *store;
	struct http *http;
	int exit_code;
} M;

static __attribute__((noreturn)) void
usage(int code)
{
	fprintf(code ? stderr : stdout,
	    "usage: inboxd --config FILE [--foreground] [--once] "
	    "[--check-config]\n"
	    "       inboxd --version\n");
	exit(code);
}

/* The file changed a key that is read at start only. */
static void
restart_needed(const char *group, const char *key, void *arg)
{
	log_warnx("[%s] %s changed; restart inboxd to use it", group, key);
}

/* A failed load reports every error, one line each, with what follows
 * from it. */
static void
log_config_errors(char *err, const char *consequence)
{
	for (char *line = strtok(err, "\n"); line != NULL;
	     line = strtok(NULL, "\n"))
		log_error("%s%s", line, consequence);
}

/* The accounts run the file's configuration with the database's
 * accounts; the file owns an account it names. */
static void
apply_accounts(void)
{
	struct config *c;

	c = config_merge(M.conf, M.dbacc ? M.dbacc->accounts : NULL,
	    M.dbacc ? M.dbacc->n : 0);
	accounts_apply(c);
	config_free(M.running);
	M.running = c;
}

static void
dbaccounts_changed(struct dbaccounts *d, void *arg)
{
	dbaccounts_free(M.dbacc);
	M.dbacc = d;
	apply_accounts();
}

static void
log_config_warnings(const struct config *c)
{
	char *w;

	if (c->warnings == NULL)
		return;
	w = xstrdup(c->warnings);
	for (char *line = strtok(w, "\n"); line != NULL;
	     line = strtok(NULL, "\n"))
		log_warnx("%s", line);
	free(w);
}

static void
reload(void)
{
	struct config *c;
	char *err = NULL;

	log_info("reloading %s", M.conf_path);
	if ((c = config_load(M.conf_path, &err)) == NULL) {
		log_config_errors(err, "; keeping the running configuration");
		free(err);
		return;
	}
	config_keep_restart_keys(c, M.conf, restart_needed, NULL);
	log_set_level(c->log_level);
	gmail_api_set_project_quota(c->gmail_project_quota);
	config_free(M.conf);
	M.conf = c;
	apply_accounts();
	dbaccounts_configure(c);
	dbaccounts_refresh();
	log_info("configuration reloaded: %zu accounts", c->n_accounts);
}

static void
exit_loop(void *arg)
{
	event_base_loopexit(M.base, NULL);
}

/* What the accounts queued on their way out is stored, 5 s at most. */
static void
left(void *arg)
{
	store_flush(M.store, 5000, exit_loop, NULL);
}

/* The accounts are stopped: the instance leaves the others. */
static void
stopped(void *arg)
{
	instances_leave(left, NULL);
}

/*
 * A stop stores what was fetched before it for this long; batches
 * still queued then are let go (their cursors unmoved, so they are
 * fetched again at the next start), so that a stop takes a few seconds
 * however many accounts were in their first sync.
 */
#define STOP_STORE_MS 2000

static void
shutdown_requested(void)
{
	store_abandon(M.store, STOP_STORE_MS);
	accounts_stop_all(stopped, NULL);
}

static void
status_line(char *buf, int len)
{
	struct accounts_summary s;
	const struct ingest_stats *st = ingest_stats();

	accounts_summary(&s);
	snprintf(buf, (size_t)len,
	    "%zu accounts (%zu ok, %zu failing), %zu messages ingested, "
	    "%zu stored, %zu MB, queue depth %ld, database %s",
	    s.total, s.ok, s.failing, st->messages, st->inserted,
	    st->bytes / (1024 * 1024), metrics_queue_depth(),
	    store_connected(M.store) ? "connected" : "disconnected");
}

static bool
db_probe(void *arg)
{
	return store_connected(M.store);
}

static void
once_done(void *arg)
{
	M.exit_code = accounts_failed() > 0 ? 1 : 0;
	store_flush(M.store, 5000, exit_loop, NULL);
}

/* The daemon is ready for systemd once it can store mail. */
static void
store_ready(bool ok, const char *error, void *arg)
{
	if (!ok) {
		log_error("database: %s", error);
		return;
	}
	daemon_notify("READY=1");
	daemon_status_now();
	log_info("inboxd %s started: %zu accounts%s", PACKAGE_VERSION,
	    M.running->n_accounts, M.once ? ", one pass" : "");
}

/* Migrations run synchronously, before anything else touches the
 * database, so that a bad conninfo fails fast with one clear line. The
 * database accounts are read then too, so that the first pass (and
 * --once) has them. */
static int
migrate(void)
{
	struct db *db;
	char *err = NULL;
	int n;

	if ((db = db_open(M.conf->conninfo, &err)) == NULL) {
		log_error("%s", err);
		free(err);
		return -1;
	}
	n = db_migrate(db, db_sql_dir(), &err);
	if (n >= 0 &&
	    (M.dbacc = dbaccounts_read_sync(db, M.conf, &err)) == NULL)
		n = -1;
	db_close(db);
	if (n < 0) {
		log_error("%s", err);
		free(err);
		return -1;
	}
	if (n > 0)
		log_info("database schema: %d migrations applied", n);
	return 0;
}

/* "host:pid" unless the configuration names the instance. */
static const char *
instance_name(void)
{
	static char name[300];
	char host[256];

	if (M.conf->instance_name)
		return M.conf->instance_name;
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(name, sizeof(name), "%s:%ld", host, (long)getpid());
	return name;
}

static void
parse_args(int argc, char **argv, bool *check_only)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"once", no_argument, NULL, 'o'},
	    {"check-config", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "c:fonhV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			M.conf_path = optarg;
			break;
		case 'f':
			break;
		case 'o':
			M.once = true;
			break;
		case 'n':
			*check_only = true;
			break;
		case 'h':
			usage(0);
		case 'V':
			printf("inboxd %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			usage(2);
		}
	}
	if (optind != argc || M.conf_path == NULL)
		usage(2);
}

int
main(int argc, char **argv)
{
	bool check_only = false;
	char *err = NULL;
	struct daemon_hooks hooks = {reload, shutdown_requested, status_line};

	/* 1. arguments and configuration */
	daemon_early_signals();
	parse_args(argc, argv, &check_only);
	log_init(LOG_LEVEL_INFO, log_stderr_is_journal());
	log_set_timestamps(!log_stderr_is_journal());
	if ((M.conf = config_load(M.conf_path, &err)) == NULL) {
		log_config_errors(err, "");
		free(err);
		return 1;
	}
	if (check_only) {
		log_config_warnings(M.conf);
		printf("%s: configuration OK, %zu accounts\n", M.conf_path,
		    M.conf->n_accounts);
		config_free(M.conf);
		return 0;
	}

	/* 2. logging, GMime */
	log_set_level(M.conf->log_level);
	log_route_libraries();
	mime_init();

	/* 3. database schema */
	if (migrate() == -1) {
		mime_shutdown();
		config_free(M.conf);
		return 1;
	}

	/* 4. loop, signals, systemd */
	if ((M.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	daemon_setup(M.base, &hooks);

	/* 5. store, curl */
	M.store = store_new(M.base, M.conf->conninfo);
	store_start(M.store, store_ready, NULL);
	M.http = http_new(M.base);

	/* 6. pipeline, queue maintenance, metrics */
	ingest_setup(M.conf->max_message_size);
	if (!M.once) {
		jobs_setup(M.base, M.store, M.conf->job_retention,
		    M.conf->job_lease_check);
		metrics_setup(M.base, M.conf->metrics_listen);
		metrics_set_db_probe(db_probe, NULL);
	}

	/* 7. accounts, the Gmail quota they share, and Gmail push, which
	 * wakes them */
	gmail_api_set_project_quota(M.conf->gmail_project_quota);
	if (!M.once)
		gmail_push_setup(M.base, M.http, M.conf);
	accounts_setup(M.base, M.http, M.store, M.once, instance_name());
	if (!M.once)
		instances_setup(M.base, M.store, M.conf->conninfo,
		    instance_name(), accounts_share, NULL);
	apply_accounts();
	if (M.once)
		accounts_when_done(once_done, NULL);
	else
		dbaccounts_setup(
		    M.base, M.store, M.conf, dbaccounts_changed, NULL);

	event_base_dispatch(M.base);

	/* Teardown, in reverse. */
	daemon_teardown();
	dbaccounts_teardown();
	instances_teardown();
	accounts_teardown();
	gmail_push_teardown();
	metrics_teardown();
	jobs_teardown();
	http_free(M.http);
	store_free(M.store);
	event_base_free(M.base);
	mime_shutdown();
	config_free(M.running);
	dbaccounts_free(M.dbacc);
	config_free(M.conf);
	libevent_global_shutdown();
	return M.exit_code;
}
