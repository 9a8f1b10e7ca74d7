/*
 * import_run: a small event loop of its own, like the daemon's:
 *   import_run -> registered -> held -> (source_mbox's pass) -> finished
 * The driver reaches the store through a host (host.c), as the
 * daemon's drivers do.
 * The import holds the account the way a daemon does, so it never
 * writes alongside a daemon syncing the same account.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "host.h"
#include "import.h"
#include "ingest.h"
#include "log.h"
#include "mime.h"
#include "source.h"
#include "store.h"
#include "util.h"

static struct {
	struct event_base *base;
	struct store *store;
	struct store_host host;
	int account_id;
	const struct account_conf *account;
	const char *path;
	struct source *src;
	char holder[64];
	bool held;
	int result;
} I;

static void
released(bool ok, const char *error, const struct db_res *res, void *arg)
{
	if (!ok)
		log_warnx("account %s: cannot clear held_by: %s",
		    I.account->name, error ? error : "unknown error");
	event_base_loopexit(I.base, NULL);
}

/* The account is given back, so that held_by names no import that has
 * ended and a daemon can take it at once. */
static void
finished(bool ok, const char *mailbox, const char *error, void *arg)
{
	if (!ok)
		log_error("import into %s failed: %s", I.account->name,
		    error ? error : "unknown error");
	I.result = ok ? 0 : 1;
	if (I.held)
		store_release_account(
		    I.store, I.account_id, I.holder, released, NULL);
	else
		event_base_loopexit(I.base, NULL);
}

static void
held(bool ok, bool is_held, void *arg)
{
	struct source_env env = {0};

	if (!ok || !is_held) {
		log_error("account %s is held by a running inboxd; stop it "
			  "(or wait for its pass to end) and import again",
		    I.account->name);
		I.result = 1;
		event_base_loopexit(I.base, NULL);
		return;
	}
	I.held = true;
	env.base = I.base;
	env.conf = I.account;
	env.host = store_host(&I.host, I.store, I.account_id, I.account);
	env.path = I.path;
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
	store_hold_account(I.store, id, I.holder, held, NULL);
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
	store_free(I.store);
	event_base_free(I.base);
	mime_shutdown();
	return I.result;
}
