/*
 * The daemon's asynchronous database connection, driven by the libevent
 * loop. A batch of parsed mail becomes ONE transaction: rows,
 * threading, status, jobs, events, the sync cursor and at most one
 * NOTIFY per channel.
 *
 * The store layer (db.c, store*.c) is the only libpq user; db.h is its
 * synchronous face, and reads the rows store_exec() hands back.
 */
#ifndef INBOXD_STORE_H
#define INBOXD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

struct event_base;
struct mail;
struct account_conf;
struct bounce;

struct store;

/* One message of a batch, with what the source knows about it. */
struct store_item {
	struct mail *mail; /* owned by the caller */
	bool outbound;
	const char *automated; /* classify_automated() reason or NULL */
	struct bounce *bounce; /* an automated notice that delivery of
	                              our mail failed or is delayed (bounce.h),
	                              or NULL; owned with the mail */
	uint32_t uid; /* IMAP UID, 0 for other sources */
	const char *gmail_message_id;
	const char *gmail_thread_id;
	const char *const *gmail_labels; /* NULL-terminated, or NULL */
	const char *flags; /* IMAP flags, space-separated, or NULL */
};

/* How far the run a batch belongs to has got, written with its cursor
 * (sql/013_sync_progress.sql). */
struct store_progress {
	int64_t started_us; /* epoch; 0: the source tells nothing */
	int64_t total; /* messages listed in the run; 0 unknown */
	int64_t done; /* messages of the run done, this batch's too */
	int64_t bytes_total; /* bytes of the run; 0 unknown */
	int64_t bytes_done; /* of bytes_total; 0: the stored sizes count */
};

/* A batch: messages of one account and mailbox, and the cursor that
 * covers them (committed with them). */
struct store_batch {
	const struct account_conf *account;
	int account_id; /* from store_account_id() */
	const char *mailbox; /* "INBOX", "Sent", "gmail", ... */
	uint32_t uidvalidity; /* IMAP; 0 otherwise */
	uint32_t last_uid; /* cursor after this batch */
	const char *history_id; /* Gmail cursor, or NULL */
	uint64_t highestmodseq; /* IMAP CONDSTORE, 0 when not offered */
	struct store_progress progress;
	/* Written by inboxctl import, fenced by the import's hold rather
	 * than the daemon's. */
	bool import;
	struct store_item *items;
	size_t n_items;
};

struct store_result {
	bool ok;
	const char *error; /* when !ok */
	size_t inserted; /* new message rows */
	size_t duplicates; /* copies of messages already stored */
	size_t conversations_created;
	size_t merges;
	size_t jobs_queued;
	size_t events_written;
	size_t group; /* batches that shared its transaction, itself too */
};

struct store_cursor {
	bool found;
	uint32_t uidvalidity;
	uint32_t last_uid;
	uint64_t highestmodseq; /* 0 when none is stored */
	char *history_id; /* malloc'd or NULL */
};

typedef void store_ready_fn(bool ok, const char *error, void *arg);
typedef void store_ingest_fn(const struct store_result *res, void *arg);
typedef void store_id_fn(bool ok, int id, void *arg);
typedef void store_cursor_fn(
    bool ok, const struct store_cursor *cur, void *arg);

/*
 * Creates the daemon's connection. store_start() connects, applies
 * migrations and calls ready once; after a lost connection the store
 * reconnects by itself with backoff, and queued work resumes: a batch
 * whose transaction was cut is retried from the start.
 */
struct store *store_new(struct event_base *base, const char *conninfo);
void store_start(struct store *s, store_ready_fn *ready, void *arg);
void store_free(struct store *s);
/*
 * Calls done once every queued operation has ended, or timeout_ms
 * later, whichever comes first: what the daemon recorded on its way
 * out (an error, a state, a release) reaches the database before it
 * exits.
 */
void store_flush(
    struct store *s, unsigned timeout_ms, void (*done)(void *), void *arg);
/*
 * after_ms from now, the batches and changes that wait in the queue
 * are not stored: each is answered with a failure whose error contains
 * STORE_ABANDONED, and so is any queued later. Their cursors stay where
 * they were, so their mail is fetched again at the next start. What
 * would start an account or a pass (its registration, its hold, a
 * cursor read) is answered with a failure too. The transaction in flight ends as it would. For a
 * stop that must not wait for a long queue; nothing else is dropped.
 */
void store_abandon(struct store *s, unsigned after_ms);
#define STORE_ABANDONED "not stored: the daemon is stopping"
/* True when error (a source's words may wrap the store's) says that. */
bool stop_abandoned(const char *error);

bool store_connected(const struct store *s);
/* The process id of the connection's server session, 0 while it is
 * down: the session that holds this store's accounts. */
int store_backend_pid(const struct store *s);
size_t store_pending(const struct store *s); /* queued operations */

void store_account_id(struct store *s, const char *name, const char *type,
    store_id_fn *done, void *arg);
void store_get_cursor(struct store *s, int account_id, const char *mailbox,
    store_cursor_fn *done, void *arg);
/*
 * Each account is held by one daemon at a time: a session advisory lock
 * on the store's connection, checked again inside every ingest
 * transaction, so that a daemon that lost its connection (and with it
 * the lock) cannot write for an account another daemon took over.
 */
typedef void store_held_fn(bool ok, bool held, void *arg);
void store_hold_account(struct store *s, int account_id, const char *holder,
    store_held_fn *done, void *arg);

/*
 * An import holds the account in a class of its own (IMPORT_CLASS),
 * beside the daemon's hold, so that it runs beside a daemon but never
 * beside another import of the account; its batches are fenced by it
 * (store_batch.import). holder names this session while it holds the
 * account; when another session holds it, other is that session's
 * holder name (or NULL when it gave none), valid during the call.
 */
/* The advisory lock class of the import's hold, an arbitrary constant
 * beside HOLD_CLASS (store_int.h); inboxctl status looks for it in
 * pg_locks to tell a running import. */
#define IMPORT_CLASS "1768843877"
typedef void store_import_held_fn(
    bool ok, bool held, const char *other, void *arg);
void store_hold_import(struct store *s, int account_id, const char *holder,
    store_import_held_fn *done, void *arg);

/* Calls fn for every notification on channel (a constant identifier),
 * LISTENing again after each reconnect, and then calls fn with a NULL
 * payload: notifications sent while the connection was down are lost,
 * and fn must read afresh what they would have told. At most
 * STORE_CHANNELS channels per store; listening again on one replaces
 * its fn. */
#define STORE_CHANNELS 4
typedef void store_notify_fn(const char *payload, void *arg);
void store_listen(
    struct store *s, const char *channel, store_notify_fn *fn, void *arg);

/* Runs one statement; done gets the rows (valid during the call). */
typedef void store_exec_fn(
    bool ok, const char *error, const struct db_res *res, void *arg);
void store_exec(struct store *s, const char *sql, int nparams,
    const char *const *params, store_exec_fn *done, void *arg);

/* store_exec(), ahead of every queued operation (after the one in
 * progress): for the instance heartbeat, which waits for nothing. */
void store_exec_first(struct store *s, const char *sql, int nparams,
    const char *const *params, store_exec_fn *done, void *arg);

/* The instance heartbeat (sql/008_instances.sql), ahead of queued
 * work: writes this instance's row (the session pid that holds its
 * accounts, and how many it holds), deletes the rows of dead instances,
 * ending a dead instance's session when it is still there (that frees
 * its accounts). done gets
 * one row per instance found dead: its name, and "ended" (its session
 * was ended), "gone" (it had none left) or "not ended" (its session
 * belongs to a role this one may not signal); and a row (name, "twin")
 * when another live session had written this instance's row: two
 * daemons share one instance_name. */
void store_instance_beat(struct store *s, const char *name, int pid,
    int lease_s, store_exec_fn *done, void *arg);
/* What the accounts are shared by, ahead of queued work: rows ('i',
 * name) for every live instance, ('m', id) for every account session
 * pid holds, ('o', id) for every account another session holds. */
void store_instance_view(
    struct store *s, int pid, int lease_s, store_exec_fn *done, void *arg);
/* Deletes this instance's row (a clean exit). */
void store_instance_leave(
    struct store *s, const char *name, store_exec_fn *done, void *arg);

/* Gives the account up (an account removed from the configuration),
 * so that another instance can take it at once;
 * done (may be NULL) runs once held_by is cleared. */
void store_release_account(struct store *s, int account_id, const char *holder,
    store_exec_fn *done, void *arg);

/* The newest sent_at (seconds) among the account's stored messages, or
 * 0 when it has none: where a Gmail catch-up starts. */
typedef void store_time_fn(bool ok, int64_t t, void *arg);
void store_newest_message(
    struct store *s, int account_id, store_time_fn *done, void *arg);

/* Which of these Gmail message ids the account already has (a
 * NULL-terminated array of the known ones is passed to done). */
typedef void store_known_fn(bool ok, const char *const *known, void *arg);
void store_known_gmail_ids(struct store *s, int account_id,
    const char *const *ids, size_t n, store_known_fn *done, void *arg);

/* One copy's flags, space-separated as the server sent them. */
struct store_flags {
	uint32_t uid;
	const char *flags;
};

/* What changed in one folder generation (see source.h), and the cursor
 * that covers it. */
struct store_changes {
	const char *account; /* its name, for the log */
	int account_id;
	const char *mailbox;
	uint32_t uidvalidity;
	const struct store_flags *changed;
	size_t n_changed;
	const uint32_t *removed;
	size_t n_removed;
	bool mirror_archive; /* archive conversations gone from INBOX */
	bool cursor; /* false: the cursor stays as it is */
	uint32_t last_uid; /* 0: the stored one stays */
	uint64_t highestmodseq; /* 0: the stored one stays */
};

/*
 * Applies the changes (inboxd.apply_location_changes(), with its events
 * and NOTIFY) and the cursor in one transaction, fenced by the account's
 * hold. c is read during the call only.
 */
typedef void store_done_fn(bool ok, const char *error, void *arg);
void store_apply_changes(struct store *s, const struct store_changes *c,
    store_done_fn *done, void *arg);

/* One change of a Gmail message's labels (see source.h): add or
 * remove is set, or deleted. */
struct store_label_change {
	const char *id; /* the Gmail message id */
	const char *const *add; /* NULL-terminated, or NULL */
	const char *const *remove; /* NULL-terminated, or NULL */
	bool deleted;
};

/* The label changes of a Gmail history span, in order, and the cursor
 * that covers them. */
struct store_label_changes {
	const char *account; /* its name, for the log */
	int account_id;
	const struct store_label_change *changes;
	size_t n;
	bool mirror_archive; /* archive conversations gone from INBOX */
	const char *history_id; /* NULL: the cursor stays as it is */
};

/*
 * Applies them (inboxd.apply_gmail_changes(), with its events and
 * NOTIFY) and the cursor in one transaction, fenced by the account's
 * hold. c is read during the call only.
 */
void store_apply_label_changes(struct store *s,
    const struct store_label_changes *c, store_done_fn *done, void *arg);

/* The UIDs stored for a folder generation, ascending. */
typedef void store_uids_fn(bool ok, const uint32_t *uids, size_t n, void *arg);
void store_known_uids(struct store *s, int account_id, const char *mailbox,
    uint32_t uidvalidity, store_uids_fn *done, void *arg);

/* Shows an account's live state in mail_accounts (state, last_error;
 * "idle" sets last_success_at). Best effort, own transaction. */
void store_account_state(
    struct store *s, int account_id, const char *state, const char *error);

/* Records a sync failure in sync_state (best effort, own transaction). */
void store_note_error(
    struct store *s, int account_id, const char *mailbox, const char *error);
/* The batch must stay valid until done is called. */
void store_ingest(struct store *s, const struct store_batch *b,
    store_ingest_fn *done, void *arg);

#endif
