/*
 * import_run: a small event loop of its own, like the daemon's:
 *   store connected -> account registered -> account held
 *     -> source_mbox sync -> done.
 * The import holds the account the way a daemon does, so it never
 * writes alongside a daemon syncing the same account.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "import.h"
#include "ingest.h"
#include "log.h"
#include "mime.h"
#include "source.h"
#include "store.h"
#include "util.h"

static struct {
	struct event_base *base;
	const struct account_conf *account;
	const char *path;
	struct source *src;
	char holder[64];
	int result;
} I;

static void
finished(bool ok, const char *error, void *arg)
{
	if (!ok)
		log_error("import into %s failed: %s", I.account->name,
		    error ? error : "unknown error");
	I.result = ok ? 0 : 1;
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
	env.base = I.base;
	env.conf = I.account;
	env.account_id = *(int *)arg;
	env.path = I.path;
	I.src = source_mbox_ops.create(&env);
	source_mbox_ops.sync(I.src, finished, NULL);
}

static void
registered(bool ok, int id, void *arg)
{
	static int account_id;

	if (!ok) {
		finished(false, "cannot register the account", NULL);
		return;
	}
	account_id = id;
	store_hold_account(ingest_store(), id, I.holder, held, &account_id);
}

int
import_run(
    const struct config *c, const struct account_conf *a, const char *path)
{
	struct store *s;

	I.account = a;
	I.path = path;
	I.result = 1;
	snprintf(
	    I.holder, sizeof(I.holder), "inboxctl-import:%ld", (long)getpid());
	mime_init();
	if ((I.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	s = store_new(I.base, c->conninfo);
	store_start(s, NULL, NULL);
	ingest_setup(s, c->max_message_size);
	store_account_id(s, a->name, a->type == ACCOUNT_IMAP ? "imap" : "gmail",
	    registered, NULL);
	event_base_dispatch(I.base);
	if (I.src)
		source_mbox_ops.destroy(I.src);
	store_free(s);
	event_base_free(I.base);
	mime_shutdown();
	return I.result;
}
