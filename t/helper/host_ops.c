/*
 * The host's mirror ops (source.h) driven from the command line, for
 * the integration tests: what the IMAP driver will ask of its host,
 * through the same host.c and store as the daemon.
 *
 *	host_ops CONFIG ACCOUNT apply MAILBOX UIDVALIDITY MODSEQ CHANGE...
 *	    CHANGE is UID=FLAGS (the flag list as a server sends it) or
 *	    -UID (gone); MODSEQ 0 keeps the stored one, "-" leaves the
 *	    cursor alone. Prints "ok", or "failed: why" and exits 1.
 *	host_ops CONFIG ACCOUNT known MAILBOX UIDVALIDITY
 *	    The stored UIDs, one line, space-separated.
 *	host_ops CONFIG ACCOUNT cursor MAILBOX
 *	    "uidvalidity last_uid highestmodseq", or "none".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "host.h"
#include "log.h"
#include "source.h"
#include "store.h"
#include "util.h"

static struct {
	struct event_base *base;
	struct store *store;
	struct store_host host;
	struct source_env env;
	const struct account_conf *conf;
	int argc;
	char **argv;
	int result;
} H;

static void
finish(int result)
{
	H.result = result;
	event_base_loopexit(H.base, NULL);
}

static uint32_t
number(const char *s)
{
	return (uint32_t)strtoul(s, NULL, 10);
}

static void
applied(bool ok, const char *error, void *arg)
{
	if (ok)
		printf("ok\n");
	else
		printf("failed: %s\n", error ? error : "unknown error");
	finish(ok ? 0 : 1);
}

/* argv: MAILBOX UIDVALIDITY MODSEQ CHANGE... */
static void
run_apply(int argc, char **argv)
{
	struct source_flags *changed = xcalloc((size_t)argc, sizeof(*changed));
	uint32_t *removed = xcalloc((size_t)argc, sizeof(*removed));
	struct source_changes ch = {0};
	struct source_cursor cur = {0};
	char *eq;

	ch.uidvalidity = number(argv[1]);
	ch.changed = changed;
	ch.removed = removed;
	for (int i = 3; i < argc; i++) {
		if (argv[i][0] == '-') {
			removed[ch.n_removed++] = number(argv[i] + 1);
		} else if ((eq = strchr(argv[i], '=')) != NULL) {
			changed[ch.n_changed].uid = number(argv[i]);
			changed[ch.n_changed++].flags = eq + 1;
		}
	}
	cur.uidvalidity = ch.uidvalidity;
	cur.highestmodseq = strtoull(argv[2], NULL, 10);
	source_apply_changes(&H.env, argv[0], &ch,
	    strcmp(argv[2], "-") == 0 ? NULL : &cur, applied, NULL);
	/* The host has copied what it keeps. */
	free(changed);
	free(removed);
}

static void
listed(bool ok, const uint32_t *uids, size_t n, void *arg)
{
	if (!ok) {
		printf("failed\n");
		finish(1);
		return;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s%u", i > 0 ? " " : "", uids[i]);
	printf("\n");
	finish(0);
}

static void
cursor_read(bool ok, const struct source_cursor *cur, void *arg)
{
	if (!ok)
		printf("failed\n");
	else if (cur == NULL)
		printf("none\n");
	else
		printf("%u %u %llu\n", cur->uidvalidity, cur->last_uid,
		    (unsigned long long)cur->highestmodseq);
	finish(ok ? 0 : 1);
}

static void
registered(bool ok, int id, void *arg)
{
	const char *cmd = H.argv[0];

	if (!ok) {
		finish(1);
		return;
	}
	H.env.base = H.base;
	H.env.conf = H.conf;
	H.env.host = store_host(&H.host, H.store, id, H.conf);
	if (strcmp(cmd, "apply") == 0 && H.argc >= 4)
		run_apply(H.argc - 1, H.argv + 1);
	else if (strcmp(cmd, "known") == 0 && H.argc == 3)
		source_known_uids(
		    &H.env, H.argv[1], number(H.argv[2]), listed, NULL);
	else if (strcmp(cmd, "cursor") == 0 && H.argc == 2)
		source_load_cursor(&H.env, H.argv[1], cursor_read, NULL);
	else {
		fprintf(stderr, "host_ops: bad command\n");
		finish(2);
	}
}

int
main(int argc, char **argv)
{
	struct config *c;
	char *err = NULL;

	if (argc < 4) {
		fprintf(stderr, "usage: host_ops CONFIG ACCOUNT COMMAND ...\n");
		return 2;
	}
	log_init(LOG_LEVEL_WARN, 0);
	if ((c = config_load(argv[1], &err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if ((H.conf = config_account(c, argv[2])) == NULL) {
		fprintf(stderr, "host_ops: no account %s\n", argv[2]);
		return 1;
	}
	H.argc = argc - 3;
	H.argv = argv + 3;
	H.result = 1;
	H.base = event_base_new();
	H.store = store_new(H.base, c->conninfo);
	store_start(H.store, NULL, NULL);
	store_account_id(H.store, H.conf->name, "imap", registered, NULL);
	event_base_dispatch(H.base);
	store_free(H.store);
	event_base_free(H.base);
	config_free(c);
	return H.result;
}
