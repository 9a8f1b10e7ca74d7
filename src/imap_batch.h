/*
 * One batch of new messages, fetched over the account's session:
 *   UID FETCH set (UID RFC822.SIZE) -> the batch is cut to batch_size
 *   messages and batch_bytes bytes -> UID FETCH chunk (UID FLAGS
 *   INTERNALDATE BODY.PEEK[], and Gmail's X-GM-MSGID X-GM-THRID
 *   X-GM-LABELS where it offers X-GM-EXT-1), several in flight, each
 *   message parsed into the ingest batch the moment it is in -> the
 *   messages the server answered without are looked for again
 *   (imap_list_present): gone, or an error.
 * BODY.PEEK[] leaves \Seen alone: fetching changes nothing.
 */
#ifndef INBOXD_IMAP_BATCH_H
#define INBOXD_IMAP_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct account_conf;
struct imap_batch;
struct imap_session;
struct ingest_batch;

struct imap_batch_params {
	const struct account_conf *conf;
	const char *mailbox; /* the one the session has open */
	bool outbound; /* the Sent folder */
	const uint32_t *uids; /* the new UIDs from here on, ascending */
	size_t n;
};

/*
 * The first n of the UIDs are in b, or were expunged before they could
 * be fetched; or error says why not, and b is NULL. news: the server
 * announced new mail meanwhile. The batch is over when it is called.
 */
typedef void imap_batch_fn(
    struct ingest_batch *b, size_t n, bool news, const char *error, void *arg);

struct imap_batch *imap_batch_start(struct imap_session *sess,
    const struct imap_batch_params *p, imap_batch_fn *done, void *arg);
/* Abandons the batch: done is not called. */
void imap_batch_cancel(struct imap_batch *fb);

#endif
