/*
 * The source interface: where mail comes from. IMAP, Gmail and mailbox
 * import are drivers of this one interface; the account manager and the
 * pipeline never ask which. Every call is asynchronous and reports once
 * through its callback.
 *
 * A driver reaches the database only through its host (struct
 * source_host): it reads its cursors and hands over its batches there,
 * and never sees the store itself. Data flows one way: the driver fills
 * an ingest batch, the host stores it.
 */
#ifndef INBOXD_SOURCE_H
#define INBOXD_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct account_conf;
struct event_base;
struct http;
struct ingest_batch;

/* The host ---------------------------------------------------------------- */

/*
 * What a driver knows of how far its run has got (a run: what one
 * listing of a folder, or one import, has to do), for the progress
 * that inboxctl status shows. Zero is "unknown" throughout.
 */
struct source_progress {
	int64_t listed_us; /* epoch, when the run's listing was made;
	                      0: nothing to tell, the stored one stays */
	int64_t total; /* messages in the run */
	int64_t done; /* messages done, this batch's included */
	int64_t bytes_total; /* bytes of the run (an mbox file's size) */
	int64_t bytes_done; /* of bytes_total, read so far */
};

/*
 * Where the sync of one mailbox stands. It is committed with the batch
 * it covers, so that stored mail and cursor never disagree.
 */
struct source_cursor {
	uint32_t uidvalidity; /* IMAP: the folder's generation; 0 otherwise */
	uint32_t last_uid; /* IMAP: every UID up to this one is stored */
	uint64_t highestmodseq; /* IMAP CONDSTORE; 0 to keep the stored one */
	const char *history_id; /* Gmail; NULL to keep the stored one */
	struct source_progress progress; /* read by commit only */
};

/* One copy's flags: the list inside FLAGS (...) as the server sent it,
 * space-separated ("" for none). */
struct source_flags {
	uint32_t uid;
	const char *flags;
};

/*
 * What changed in one folder generation since the stored cursor, as
 * CONDSTORE/QRESYNC (or a UID diff) tell it: the whole flag set of each
 * copy whose flags changed, and the UIDs the folder no longer holds
 * (expunged or moved away).
 */
struct source_changes {
	uint32_t uidvalidity;
	const struct source_flags *changed;
	size_t n_changed;
	const uint32_t *removed;
	size_t n_removed;
};

/*
 * One change of a Gmail message's labels, as history.list tells it:
 * labels added, labels removed, or the message deleted. Gmail's labels
 * are what IMAP calls a copy's flags and its folder at once.
 */
enum source_label_op {
	SOURCE_LABELS_ADDED,
	SOURCE_LABELS_REMOVED,
	SOURCE_MESSAGE_DELETED,
};

struct source_label_change {
	enum source_label_op op;
	const char *id; /* the Gmail message id */
	const char *const *labels; /* NULL-terminated; NULL when deleted */
};

/* The label changes of a history span, in the order Gmail gave them:
 * the order matters (a label added, then removed). */
struct source_label_changes {
	const struct source_label_change *changes;
	size_t n;
};

/* cur is NULL when the mailbox has never been synced. */
typedef void source_cursor_fn(
    bool ok, const struct source_cursor *cur, void *arg);
/* known: a NULL-terminated array, valid during the call. */
typedef void source_known_fn(bool ok, const char *const *known, void *arg);
typedef void source_time_fn(bool ok, int64_t t, void *arg);
typedef void source_committed_fn(bool ok, const char *error, void *arg);
/* uids: ascending, valid during the call. */
typedef void source_uids_fn(bool ok, const uint32_t *uids, size_t n, void *arg);

struct source_host_ops {
	/* The cursor last committed for mailbox. */
	void (*load_cursor)(
	    void *ctx, const char *mailbox, source_cursor_fn *done, void *arg);
	/* Which of these Gmail message ids are stored already. */
	void (*known_gmail_ids)(void *ctx, const char *const *ids, size_t n,
	    source_known_fn *done, void *arg);
	/* The newest stored message's date (epoch seconds), 0 when none:
	 * where a catch-up by date starts. */
	void (*newest_message)(void *ctx, source_time_fn *done, void *arg);
	/* Stores the batch with the cursor that covers it in one
	 * transaction, then frees the batch and calls done. An empty batch
	 * still advances the cursor. */
	void (*commit)(void *ctx, struct ingest_batch *b,
	    const struct source_cursor *cur, source_committed_fn *done,
	    void *arg);
	/* Applies what changed in mailbox to the stored copies (their
	 * flags, the copies gone; with the account's mirror_archive, the
	 * conversations archived in INBOX), with the cursor that covers
	 * it, in one transaction; then calls done. The cursor is stored
	 * with ch's uidvalidity (cur's is not read), cur->last_uid 0
	 * keeps the stored one, cur NULL leaves the cursor as it is. ch
	 * and cur are read during the call only. */
	void (*apply_changes)(void *ctx, const char *mailbox,
	    const struct source_changes *ch, const struct source_cursor *cur,
	    source_committed_fn *done, void *arg);
	/* Applies Gmail's label changes to the stored Gmail copies (their
	 * labels, the copies deleted or no longer in INBOX or SENT; with
	 * mirror_archive, the conversations archived) with the cursor that
	 * covers them (its history_id; NULL keeps the stored cursor), in
	 * one transaction; then calls done. Copies not stored are passed
	 * over. ch and cur are read during the call only. */
	void (*apply_label_changes)(void *ctx,
	    const struct source_label_changes *ch,
	    const struct source_cursor *cur, source_committed_fn *done,
	    void *arg);
	/* The UIDs stored for mailbox in generation uidvalidity: what a
	 * server without QRESYNC is compared with to find the copies gone. */
	void (*known_uids)(void *ctx, const char *mailbox, uint32_t uidvalidity,
	    source_uids_fn *done, void *arg);
};

/* What the daemon (or inboxctl import) offers a driver, for the
 * driver's own account only. */
struct source_host {
	const struct source_host_ops *ops;
	void *ctx;
};

/* The driver -------------------------------------------------------------- */

struct source_env {
	struct event_base *base;
	struct http *http;
	const struct account_conf *conf;
	struct source_host host;
	const char *path; /* mailbox import: an mbox file or Maildir */
};

struct source;

/* mailbox: the one whose sync failed, when !ok; NULL when the failure
 * was not one mailbox's. */
typedef void source_done_fn(
    bool ok, const char *mailbox, const char *error, void *arg);
typedef void source_wake_fn(void *arg);

struct source_ops {
	const char *type;
	struct source *(*create)(const struct source_env *env);
	/* One pass: every folder, every pending message, committed. */
	void (*sync)(struct source *s, source_done_fn *done, void *arg);
	/* Finish the batch in flight, start nothing new; the pending sync
	 * then reports. Also called between passes: nothing reports then,
	 * and what the source waits on (a push session) is let go. */
	void (*stop)(struct source *s);
	/* Optional push: call wake when new mail may have arrived. */
	void (*watch)(struct source *s, source_wake_fn *wake, void *arg);
	void (*destroy)(struct source *s);
};

extern const struct source_ops source_imap_ops;
extern const struct source_ops source_mbox_ops;
extern const struct source_ops source_gmail_ops;

/* Shorthands for drivers: the host calls of source_env e. */
static inline void
source_load_cursor(const struct source_env *e, const char *mailbox,
    source_cursor_fn *done, void *arg)
{
	e->host.ops->load_cursor(e->host.ctx, mailbox, done, arg);
}

static inline void
source_known_gmail_ids(const struct source_env *e, const char *const *ids,
    size_t n, source_known_fn *done, void *arg)
{
	e->host.ops->known_gmail_ids(e->host.ctx, ids, n, done, arg);
}

static inline void
source_newest_message(
    const struct source_env *e, source_time_fn *done, void *arg)
{
	e->host.ops->newest_message(e->host.ctx, done, arg);
}

static inline void
source_commit(const struct source_env *e, struct ingest_batch *b,
    const struct source_cursor *cur, source_committed_fn *done, void *arg)
{
	e->host.ops->commit(e->host.ctx, b, cur, done, arg);
}

static inline void
source_apply_changes(const struct source_env *e, const char *mailbox,
    const struct source_changes *ch, const struct source_cursor *cur,
    source_committed_fn *done, void *arg)
{
	e->host.ops->apply_changes(e->host.ctx, mailbox, ch, cur, done, arg);
}

static inline void
source_apply_label_changes(const struct source_env *e,
    const struct source_label_changes *ch, const struct source_cursor *cur,
    source_committed_fn *done, void *arg)
{
	e->host.ops->apply_label_changes(e->host.ctx, ch, cur, done, arg);
}

static inline void
source_known_uids(const struct source_env *e, const char *mailbox,
    uint32_t uidvalidity, source_uids_fn *done, void *arg)
{
	e->host.ops->known_uids(e->host.ctx, mailbox, uidvalidity, done, arg);
}

#endif
