/*
 * Accounts that live in the database (mail_accounts rows with source
 * 'database'): read at start, and again whenever an app changes one
 * (NOTIFY inboxd_accounts), with their secrets decrypted by the account
 * key. A row that cannot be used is marked failing, with what to fix,
 * and disturbs no other account.
 */
#ifndef INBOXD_DBACCOUNTS_H
#define INBOXD_DBACCOUNTS_H

#include <stddef.h>

struct account_conf;
struct config;
struct db;
struct event_base;
struct store;

/* The usable, enabled accounts of one reading. */
struct dbaccounts {
	struct account_conf *accounts;
	size_t n;
};

void dbaccounts_free(struct dbaccounts *d);

/* Reads the accounts now, synchronously (start-up, --once), with the
 * key in c's secrets_dir and c's default OAuth client. Returns NULL
 * when the database cannot be read (*err malloc'd). */
struct dbaccounts *dbaccounts_read_sync(
    struct db *db, const struct config *c, char **err);

/* Called with each new reading; d belongs to the callee. */
typedef void dbaccounts_fn(struct dbaccounts *d, void *arg);

/*
 * Listens for changes and reads the accounts again after each (and
 * every 30 s, in case a notification was lost with the connection),
 * writing the state of the rows that cannot run; fn gets each reading.
 */
void dbaccounts_setup(struct event_base *base, struct store *store,
    const struct config *c, dbaccounts_fn *fn, void *arg);
/* A reload may change secrets_dir and the default OAuth client. */
void dbaccounts_configure(const struct config *c);
/* Reads again soon. */
void dbaccounts_refresh(void);
void dbaccounts_teardown(void);

#endif
