/*
 * Gmail push for the whole daemon: one Pub/Sub pull loop on [gmail]
 * pubsub_subscription, shared by every Gmail account, routes each
 * notice by its emailAddress to the account's wake callback, and
 * acknowledges it once a pass of that account that started after it
 * arrived has committed. Notices for a mailbox this daemon does not run
 * are handed back at once, for another daemon on the subscription.
 *
 * The driver (source_gmail.c) registers its account, renews the
 * account's users.watch through its own API calls when this module
 * says it is due, and tells this module where its passes stand.
 * Without push configured nothing runs, and polling does the work.
 */
#ifndef INBOXD_GMAIL_PUSH_H
#define INBOXD_GMAIL_PUSH_H

#include <stdbool.h>
#include <stdint.h>

#include "source.h"

struct account_conf;
struct config;
struct event_base;
struct gmail_result;
struct http;

/* Starts the pull loop when c configures push (never in --once mode);
 * the keys are read at start only. */
void gmail_push_setup(
    struct event_base *base, struct http *http, const struct config *c);
/* After every account is gone. */
void gmail_push_teardown(void);

struct gmail_push;

/* Registers an account; NULL when push is off for it. conf must
 * outlive the registration. */
struct gmail_push *gmail_push_add(
    const struct account_conf *conf, source_wake_fn *wake, void *arg);
/* Hands the account's notices back, and forgets it. NULL is fine. */
void gmail_push_remove(struct gmail_push *r);

/* Whether users.watch is to be called (again) now. */
bool gmail_push_watch_due(const struct gmail_push *r);
/* The users.watch request's body, malloc'd. */
char *gmail_push_watch_body(void);
/* The answer of users.watch: when to renew, or to try again. */
void gmail_push_watched(struct gmail_push *r, const struct gmail_result *res);

/* A pass of the account starts, and ended; committed: the whole pass
 * was stored. */
void gmail_push_pass_started(struct gmail_push *r);
void gmail_push_pass_ended(struct gmail_push *r, bool committed);
/* Between passes, the account is let go (another daemon holds it, or
 * it stops): its notices are handed back until its next pass. */
void gmail_push_away(struct gmail_push *r);

/* The pure pieces, for tests ---------------------------------------------- */

/*
 * Milliseconds from now until a watch that expires in lifetime_ms is
 * renewed: when less than a day is left, or after half its life when it
 * was given less than two days; at least a second.
 */
int64_t gmail_push_renew_in(int64_t lifetime_ms);

#endif
