/*
 * Which messages of a folder are new: UID SEARCH over ranges of UIDs,
 * from the cursor up to UIDNEXT, or up to the highest UID in use when
 * the server leaves UIDNEXT out. Every answer is checked; one that is
 * not understood, or names a UID outside the range asked for, ends the
 * listing with an error, so that the cursor never moves on a guess.
 */
#ifndef INBOXD_IMAP_LIST_H
#define INBOXD_IMAP_LIST_H

#include <stddef.h>
#include <stdint.h>

struct imap_list;
struct imap_session;

/* Either error is set, or uids holds the n new UIDs in ascending order
 * (malloc'd; the callee owns it). The listing is over when it is
 * called. */
typedef void imap_listed_fn(
    const char *error, uint32_t *uids, size_t n, void *arg);

/*
 * Lists the UIDs from..(uidnext - 1) of the mailbox the session has
 * open, or from.. the highest when uidnext is 0; since is "" or
 * " SINCE d-Mon-yyyy", and since_t that day's start (0 without). A
 * range that UID SEARCH answers empty is asked again with UID FETCH
 * (some servers answer nothing for a range across an expunged UID),
 * INTERNALDATE standing in for SINCE.
 */
struct imap_list *imap_list_start(struct imap_session *sess, uint32_t from,
    uint32_t uidnext, const char *since, int64_t since_t, imap_listed_fn *done,
    void *arg);
/* Which of the n UIDs (ascending) are still in the open mailbox: one
 * UID SEARCH, checked as strictly. */
struct imap_list *imap_list_present(struct imap_session *sess,
    const uint32_t *uids, size_t n, imap_listed_fn *done, void *arg);
/* Abandons a listing in flight; done is not called. */
void imap_list_cancel(struct imap_list *l);

#endif
