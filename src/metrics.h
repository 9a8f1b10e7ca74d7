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

void metrics_ingested(
    const char *account, size_t messages, size_t bytes, int64_t newest_sent_at);
void metrics_sync_result(const char *account, bool ok);
void metrics_error(const char *kind);
void metrics_jobs_clear(void);
void metrics_jobs_set(const char *kind, const char *state, long n);
void metrics_db_rtt(double seconds);
void metrics_db_up(bool up);
/* Asked at every scrape: is the database connection up right now? */
void metrics_set_db_probe(bool (*probe)(void *arg), void *arg);
long metrics_queue_depth(void);

#endif
