/*
 * Backfill: imports an mbox file or a Maildir into an account through
 * the daemon's own pipeline (parse, thread, store, jobs, events).
 */
#ifndef INBOXD_IMPORT_H
#define INBOXD_IMPORT_H

struct config;
struct account_conf;

/* Returns 0 on success; errors are logged. */
int import_run(
    const struct config *c, const struct account_conf *a, const char *path);

#endif
