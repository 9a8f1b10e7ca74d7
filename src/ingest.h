/*
 * The pipeline every source feeds: raw message bytes are parsed
 * (mime.c), classified (classify.c), given a direction and collected
 * into a batch; the source's host then has the batch stored with its
 * cursor in one transaction (store.c, which threads it with thread.c).
 */
#ifndef INBOXD_INGEST_H
#define INBOXD_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct account_conf;
struct ingest_batch;
struct source_cursor;
struct store;

/* What a source knows about one fetched message besides its bytes. */
struct ingest_meta {
	uint32_t uid; /* IMAP UID, or 0 */
	int64_t internal_date; /* server's arrival time, or 0 */
	const char *gmail_message_id;
	const char *gmail_thread_id;
	const char *const *gmail_labels; /* NULL-terminated, or NULL */
	bool outbound_hint; /* found in Sent, or Gmail's SENT label */
	size_t size; /* the whole message's size, even when cut; or 0 */
	/* IMAP: the copy's flags, space-separated as the server sent them
	 * inside FLAGS (...); NULL when unknown (Gmail, mailbox import). */
	const char *flags;
};

struct ingest_stats {
	size_t messages;
	size_t bytes;
	size_t inserted;
	size_t duplicates;
	size_t truncated;
	size_t parse_problems;
};

typedef void ingest_done_fn(bool ok, const char *error, void *arg);

/* Process-wide settings, from [daemon]. */
void ingest_setup(size_t max_message_size);
const struct ingest_stats *ingest_stats(void);
size_t ingest_max_message_size(void);

struct ingest_batch *ingest_batch_new(
    const struct account_conf *a, const char *mailbox);
size_t ingest_batch_count(const struct ingest_batch *b);
size_t ingest_batch_bytes(const struct ingest_batch *b);

/* Parses the message now; data may be freed on return. */
void ingest_batch_add(struct ingest_batch *b, const char *data, size_t len,
    bool truncated, const struct ingest_meta *meta);

/* The UIDs whose server arrival time (INTERNALDATE) the batch wants
 * (malloc'd): the newest message, whose delay is the account's lag,
 * first, then the undated ones. */
size_t ingest_batch_dates_wanted(const struct ingest_batch *b, uint32_t **uids);
/* The server received message uid at t: its date when it had none, and
 * a sample of the lag. */
void ingest_batch_set_date(struct ingest_batch *b, uint32_t uid, int64_t t);

/* Stores the batch for the account, with the cursor that covers it,
 * then frees it and calls done. An empty batch still advances the
 * cursor. import: the batch is inboxctl import's, fenced by its hold.
 * For a source's host: sources hand their batches to it. */
void ingest_batch_store(struct ingest_batch *b, struct store *st,
    int account_id, bool import, const struct source_cursor *cur,
    ingest_done_fn *done, void *arg);

/* Frees a batch that will not be committed. */
void ingest_batch_discard(struct ingest_batch *b);

#endif
