/*
 * The plan of an ingest transaction, as a pure function of the batch
 * and of what the database already knows: no I/O here, so every rule is
 * unit-tested without a server (t/unit/test_ingest_plan.c).
 *
 * store_ingest.c runs the transaction:
 *
 *   p = ingest_plan_new(batch);
 *   lookup with ingest_plan_lookup_keys() and friends;
 *   ingest_plan_place(p, rows the lookup returned);
 *   one statement per builder below, each taking one JSON text;
 *   ingest_plan_free(p).
 *
 * Placing marks duplicates (copies already stored, second copies inside
 * the batch), runs the threading planner (thread.h) and gives new rows
 * and conversations their UUIDs. A copy is a message with the same
 * Message-ID AND the same content (ingest_plan_content_hash()): a
 * different message reusing a known Message-ID gets a row of its own,
 * in the conversation of that id.
 */
#ifndef INBOXD_INGEST_PLAN_H
#define INBOXD_INGEST_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* One row of the lookup: a key the database knows and its conversation. */
struct ingest_known {
	const char *key; /* message id, "gmail-thread:" id, "subject:" key
			  * or "gmail-message:" id */
	const char *conv_id;
	const char *row_id; /* the row of a stored message with this id,
	                              or NULL */
	int64_t created_at; /* microseconds */
	const char *status; /* conversation_status */
	int64_t last_human_at; /* seconds; INT64_MIN when it has none */
	bool last_human_outbound;
	int64_t last_message_at; /* seconds; INT64_MIN when it has none */
	const char *content_hash; /* of the stored message row_id names;
	                              NULL when unknown (rows stored before
	                              hashes, or by other applications): any
	                              copy with its Message-ID is it */
	int64_t last_bounce_at; /* seconds, of its latest failure notice
	                              about our mail; 0 when it has none */
};

struct ingest_plan;
struct mail;

/* What makes two messages with one Message-ID the same message: the
 * SHA-256 (64 hex digits) of the sender's address, the Date (when the
 * message has one), the normalized subject, the body without white
 * space and the attachments' types and sizes. Copies from INBOX and
 * Sent, re-fetched, or delivered twice with other Received headers
 * hash the same. malloc'd. */
char *ingest_plan_content_hash(const struct mail *m);

/* The plan reads the batch until its last builder has run; freeing it
 * does not (the batch's owner may be gone by then). */
struct ingest_plan *ingest_plan_new(const struct store_batch *b);
void ingest_plan_free(struct ingest_plan *p);

/* The lookup's parameters: every id the batch carries or references
 * and its Gmail message ids ("gmail-message:" keys), its Gmail thread
 * ids, its subject keys (JSON arrays), and how far back subject links
 * reach (seconds since the epoch). */
char *ingest_plan_lookup_keys(const struct ingest_plan *p);
char *ingest_plan_lookup_threads(const struct ingest_plan *p);
char *ingest_plan_lookup_subjects(const struct ingest_plan *p);
int64_t ingest_plan_subject_horizon(const struct ingest_plan *p);

/* Places the batch; rows are read, not kept. */
void ingest_plan_place(
    struct ingest_plan *p, const struct ingest_known *rows, size_t n);

/* After placing: message i's row, its conversation, and whether it is a
 * copy of a stored message or of an earlier one of the batch. */
const char *ingest_plan_row_id(const struct ingest_plan *p, size_t i);
const char *ingest_plan_conv_id(const struct ingest_plan *p, size_t i);
bool ingest_plan_duplicate(const struct ingest_plan *p, size_t i);
/* Whether message i is a new row under a Message-ID that another
 * message, stored or earlier in the batch, already has. */
bool ingest_plan_reused_id(const struct ingest_plan *p, size_t i);
/* Fills inserted, duplicates, conversations_created and merges. */
void ingest_plan_count(const struct ingest_plan *p, struct store_result *r);

/* What lets the transaction skip a statement. */
size_t ingest_plan_n_merges(const struct ingest_plan *p);
bool ingest_plan_has_gmail(const struct ingest_plan *p);
bool ingest_plan_has_superseded(const struct ingest_plan *p);

/* The JSON parameter of each statement, malloc'd. */
char *ingest_plan_leads(const struct ingest_plan *p);
char *ingest_plan_new_convs(const struct ingest_plan *p);
char *ingest_plan_merges(const struct ingest_plan *p);
char *ingest_plan_messages(const struct ingest_plan *p);
char *ingest_plan_thread_ids(const struct ingest_plan *p);
char *ingest_plan_locations(const struct ingest_plan *p);
char *ingest_plan_gmail_locations(const struct ingest_plan *p);
char *ingest_plan_conv_updates(const struct ingest_plan *p);
char *ingest_plan_superseded(const struct ingest_plan *p);
char *ingest_plan_jobs(const struct ingest_plan *p, size_t *n_jobs);
char *ingest_plan_events(const struct ingest_plan *p, size_t *n_events);

#endif
