/*
 * Counters and gauges, served as Prometheus text on /metrics, with
 * /healthz, by libevent's HTTP server on a loopback address.
 */
#ifndef INBOXD_METRICS_H
#define INBOXD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

/* listen: "127.0.0.1:9464", or NULL for off. Returns -1 when it cannot
 * listen (the daemon goes on without metrics). */
int metrics_setup(struct event_base *base, const char *listen);
void metrics_teardown(void);

/* An account runs from now on, polling every poll_interval seconds;
 * /healthz expects a successful pass of it within a few of those. */
void metrics_account_enabled(const char *account, int poll_interval);
enum metrics_account_state {
	METRICS_ACCOUNT_STARTING,
	METRICS_ACCOUNT_IDLE, /* between passes, the last one good */
	METRICS_ACCOUNT_SYNCING,
	METRICS_ACCOUNT_FAILING, /* between passes, the last one failed */
	METRICS_ACCOUNT_AUTH_FAILED, /* the same, its credentials refused */
	METRICS_ACCOUNT_STANDING_BY, /* another instance holds it */
};
void metrics_account_state(
    const char *account, enum metrics_account_state state);
/* A push connection (IMAP IDLE) came up, or one went down (each up is
 * followed by one down): an idle account with one is served as
 * "connected". */
void metrics_account_watching(const char *account, bool up);
/* A batch was committed store_seconds after it went to the store, and
 * since_fetch_seconds after its first message was fetched. */
void metrics_batch_stored(
    double store_seconds, double since_fetch_seconds, size_t group);
/* The oldest due job of kind has waited this long (after
 * metrics_jobs_clear, like metrics_jobs_set). */
void metrics_job_oldest(const char *kind, long seconds);
/* A finished IMAP command or HTTP request; protocol: its URL scheme;
 * received: the bytes of its answer. */
void metrics_transfer(const char *protocol, uint64_t received);
/* The account was stopped (removed from or changed in the
 * configuration); /healthz no longer waits for it. */
void metrics_account_disabled(const char *account);
/* lag: seconds between the server receiving the newest of these
 * messages and their storing, or -1 when the server did not say. */
void metrics_ingested(
    const char *account, size_t messages, size_t bytes, int64_t lag);
/* error: why the pass failed; ignored when ok. */
void metrics_sync_result(const char *account, bool ok, const char *error);
/* kind: "auth" (a pass failed on refused credentials), "sync" (a pass
 * failed otherwise), "store" (a batch was not committed), "database" (the
 * connection failed or was lost, or a queue maintenance query failed). */
void metrics_error(const char *kind);
void metrics_jobs_clear(void);
void metrics_jobs_set(const char *kind, const char *state, long n);
void metrics_db_rtt(double seconds);
void metrics_db_up(bool up);
/* Asked at every scrape: is the database connection up right now? */
void metrics_set_db_probe(bool (*probe)(void *arg), void *arg);
long metrics_queue_depth(void);
/* The accounts this instance holds (their advisory locks). */
void metrics_accounts_held(size_t n);
/* The live instances on the database and this instance's fair share
 * of the accounts, as of the last heartbeat. */
void metrics_share(size_t live, size_t target);

/* Gmail push (served once push is set up): whether the Pub/Sub pull
 * works, each message received, notices acknowledged after a pass. */
void metrics_push_up(bool up);
void metrics_push_received(void);
void metrics_push_acked(size_t n);

#endif
