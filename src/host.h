/*
 * The source host on top of the store (see source.h): what a driver may
 * ask of the database about its own account, and where its batches go.
 * The daemon's accounts and inboxctl import both give it to their
 * drivers, so that no driver needs the store.
 */
#ifndef INBOXD_HOST_H
#define INBOXD_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "source.h"

struct account_conf;
struct store;

struct store_host {
	struct store *store;
	int account_id;
	const struct account_conf *conf;
	/* The cursor read in flight: a driver reads one at a time. */
	source_cursor_fn *cursor_done;
	void *cursor_arg;
	/* inboxctl import's host: its batches are fenced by the import's
	 * hold, not the daemon's. Set by the import after store_host(). */
	bool import;
	/* What the batches handed to the store so far say of the run: the
	 * last one's progress and the sum of their sizes, which inboxctl
	 * import reports as it goes. */
	struct source_progress progress;
	int64_t bytes;
};

/* The host of one account. h and conf must outlive every source given
 * it and every request those make. */
struct source_host store_host(struct store_host *h, struct store *st,
    int account_id, const struct account_conf *conf);

#endif
