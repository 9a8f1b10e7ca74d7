/*
 * Accounts at run time: each configured account syncs through its
 * source on its own schedule (poll interval, push, backoff after
 * failures). A slow or failing account never delays the others.
 */
#ifndef INBOXD_ACCOUNT_H
#define INBOXD_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct event_base;
struct http;
struct instances_view;
struct store;

struct accounts_summary {
	size_t total;
	size_t ok;
	size_t failing;
	size_t syncing;
};

typedef void accounts_idle_fn(void *arg);

/* once: every account syncs one pass and then stays idle. instance
 * names this daemon where others can see who holds an account. The
 * accounts use store from here on; it must outlive them. */
void accounts_setup(struct event_base *base, struct http *http,
    struct store *store, bool once, const char *instance);

/* Starts accounts new in c, stops removed ones, restarts changed ones. */
void accounts_apply(struct config *c);

/* Stops every account after its batch in flight; calls idle when the
 * last one is done (at once when none is busy). */
void accounts_stop_all(accounts_idle_fn *idle, void *arg);

/* In --once mode: calls done when every account finished its pass. */
void accounts_when_done(accounts_idle_fn *done, void *arg);

/* Shares the accounts with the other live instances of the view
 * (an instances_view_fn): hands over what this daemon holds beyond its
 * fair share, and takes free accounts while it holds fewer. True while
 * free accounts are being taken. */
bool accounts_share(const struct instances_view *v, void *arg);

void accounts_summary(struct accounts_summary *s);
/* Number of accounts whose last pass failed. */
size_t accounts_failed(void);
void accounts_teardown(void);

#endif
