/*
 * The insides of the ingest plan, shared by ingest_plan.c (the plan
 * and its placing), ingest_plan_known.c (the lookup and the rows it
 * returns) and ingest_plan_params.c (the statements' parameters).
 * Nothing outside them includes it.
 */
#ifndef INBOXD_INGEST_PLAN_INT_H
#define INBOXD_INGEST_PLAN_INT_H

#include <stdbool.h>

#include <jansson.h>

#include "ingest_plan.h"
#include "thread.h"

/* Where a message of the batch goes. */
struct plan_msg {
	char row_id[37]; /* its row, new or existing */
	bool duplicate;
	bool reused_id; /* a new row under a Message-ID already used */
};

struct ingest_plan {
	const struct store_batch *b;
	char **subject_keys; /* per message (entries may be NULL), or
	                              NULL when subject threading is off */
	size_t n_subject_keys;
	size_t n_gmail; /* messages with a Gmail message id */
	char **hashes; /* per message, ingest_plan_content_hash() */
	char **bounce_reasons; /* per message: the status_reason of a
	                              failure notice, or NULL */
	size_t n_bounce_reasons; /* freeing must not read the batch */

	/* Known after placing. */
	struct thr_msg *tmsgs;
	struct plan_msg *msgs;
	struct thr_conv *convs; /* stored conversations looked up */
	size_t n_convs;
	struct thr_link *links;
	char **link_keys; /* owned copies of the links' keys */
	size_t n_links;
	struct thr_plan *plan;
	char (*conv_ids)[37]; /* plan index -> UUID */
	int *superseded; /* plan indexes, see find_superseded() */
	size_t n_superseded;
	const char **leads; /* plan index -> its lead, see find_leads() */
};

/* ingest_plan.c */
const char *ingest_plan_direction_name(bool outbound);
const char *ingest_plan_counterparty(const struct store_item *it);

/* ingest_plan_known.c */
json_t *ingest_plan_read_known(
    struct ingest_plan *p, const struct ingest_known *rows, size_t n);
void ingest_plan_mark_duplicates(struct ingest_plan *p, json_t *stored);

#endif
