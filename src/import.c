/*
 * import_run: a small event loop of its own, like the daemon's:
 *   import_run -> registered -> import_held -> (source_mbox's pass,
 *     a progress line every PROGRESS_S) -> finished
 * The driver reaches the store through a host (host.c), as the
 * daemon's drivers do.
 *
 * The import runs beside a daemon syncing the same account: it holds
 * the account in a class of its own (store_hold_import), so that only
 * a second import is refused, and its batches go to the mailbox
 * "import", whose cursor is its own. The database keeps the two
 * writers' transactions apart (SQL_FENCE, store_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "host.h"
#include "import.h"
#include "ingest.h"
#include "log.h"
#include "mime.h"
#include "progress.h"
#include "source.h"
#include "store.h"
#include "util.h"

/* Seconds between two progress lines. */
#define PROGRESS_S 2

static struct {
	struct event_base *base;
	struct store *store;
	struct store_host host;
	int account_id;
	const struct account_conf *account;
	const char *path;
	struct source *src;
	char holder[64];
	struct event *tick;
	int64_t started_ms;
	bool tty; /* stderr is a terminal: one line, rewritten */
	size_t line_len; /* of the line shown there */
	int result;
} I;

/* The import's figures so far, as the batches handed to the store tell
 * them: the driver's count of bytes read when it keeps one, else the
 * sizes of the messages. */
static void
progress_show(bool last)
{
	const struct source_progress *g = &I.host.progress;
	struct progress p;
	char *line;
	size_t len;

	memset(&p, 0, sizeof(p));
	p.messages = g->done;
	p.messages_total = g->total;
	p.bytes = g->bytes_done > 0 ? g->bytes_done : I.host.bytes;
	p.bytes_total = g->bytes_total;
	p.elapsed_ms = mono_msec() - I.started_ms;
	line = progress_format(&p);
	if (!I.tty) {
		fprintf(stderr, "import into %s: %s\n", I.account->name, line);
		free(line);
		return;
	}
	/* Spaces cover what is left of a longer line before it. */
	len = strlen(I.account->name) + strlen(line);
	fprintf(stderr, "\rimport into %s: %s%*s%s", I.account->name, line,
	    (int)(I.line_len > len ? I.line_len - len : 0), "",
	    last ? "\n" : "");
	I.line_len = len;
	free(line);
}

static void
progress_tick(evutil_socket_t fd, short what, void *arg)
{
	progress_show(false);
}

/* The import's hold goes with its session, when the store is freed. */
static void
finished(bool ok, const char *mailbox, const char *error, void *arg)
{
	if (I.tick != NULL) {
		event_del(I.tick);
		if (ok || I.host.progress.done > 0)
			progress_show(true);
	}
	if (!ok)
		log_error("import into %s failed: %s", I.account->name,
		    error ? error : "unknown error");
	I.result = ok ? 0 : 1;
	event_base_loopexit(I.base, NULL);
}

/* The pid in another import's holder name ("inboxctl-import:PID"), or
 * 0 when it does not tell. */
static long
holder_pid(const char *other)
{
	static const char prefix[] = "inboxctl-import:";

	if (other == NULL || strncmp(other, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	return strtol(other + sizeof(prefix) - 1, NULL, 10);
}

static void
refused(const char *other)
{
	long pid = holder_pid(other);

	if (pid > 0)
		log_error("an import into %s is running already (pid %ld); "
			  "wait for it to end and import again",
		    I.account->name, pid);
	else
		log_error("an import into %s is running already; wait for it "
			  "to end and import again",
		    I.account->name);
	I.result = 1;
	event_base_loopexit(I.base, NULL);
}

static void
import_held(bool ok, bool held, const char *other, void *arg)
{
	struct source_env env = {0};
	struct timeval every = {PROGRESS_S, 0};

	if (!ok) {
		finished(false, NULL, "cannot take the import's hold", NULL);
		return;
	}
	if (!held) {
		refused(other);
		return;
	}
	env.base = I.base;
	env.conf = I.account;
	env.host = store_host(&I.host, I.store, I.account_id, I.account);
	I.host.import = true;
	env.path = I.path;
	I.started_ms = mono_msec();
	I.tty = isatty(STDERR_FILENO);
	I.tick = event_new(I.base, -1, EV_PERSIST, progress_tick, NULL);
	event_add(I.tick, &every);
	I.src = source_mbox_ops.create(&env);
	source_mbox_ops.sync(I.src, finished, NULL);
}

static void
registered(bool ok, int id, void *arg)
{
	if (!ok) {
		finished(false, NULL, "cannot register the account", NULL);
		return;
	}
	I.account_id = id;
	store_hold_import(I.store, id, I.holder, import_held, NULL);
}

int
import_run(
    const struct config *c, const struct account_conf *a, const char *path)
{
	I.account = a;
	I.path = path;
	I.result = 1;
	snprintf(
	    I.holder, sizeof(I.holder), "inboxctl-import:%ld", (long)getpid());
	mime_init();
	if ((I.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	I.store = store_new(I.base, c->conninfo);
	store_start(I.store, NULL, NULL);
	ingest_setup(c->max_message_size);
	store_account_id(I.store, a->name,
	    a->type == ACCOUNT_IMAP ? "imap" : "gmail", registered, NULL);
	event_base_dispatch(I.base);
	if (I.src)
		source_mbox_ops.destroy(I.src);
	if (I.tick)
		event_free(I.tick);
	store_free(I.store);
	event_base_free(I.base);
	mime_shutdown();
	return I.result;
}
