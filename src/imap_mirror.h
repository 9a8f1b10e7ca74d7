/*
 * What changed in a folder since the last pass, for the copies already
 * stored: flags another client set or cleared, and copies expunged or
 * moved away. With CONDSTORE (RFC 7162) only what changed since the
 * stored HIGHESTMODSEQ is fetched:
 *   UID FETCH 1:last (UID FLAGS) (CHANGEDSINCE m [VANISHED])
 * With QRESYNC the server names the vanished UIDs itself; without it
 * they are the stored ones a fresh UID SEARCH no longer lists. Then
 * the host stores the changes with the new HIGHESTMODSEQ, in one
 * transaction with their events.
 */
#ifndef INBOXD_IMAP_MIRROR_H
#define INBOXD_IMAP_MIRROR_H

#include <stdbool.h>
#include <stdint.h>

struct imap_mirror;
struct imap_session;
struct source_env;

struct imap_mirror_params {
	const struct source_env *env;
	const char *mailbox; /* the one the session has open */
	uint32_t uidvalidity;
	uint32_t last_uid; /* the copies 1..last_uid are stored */
	uint64_t since; /* the stored HIGHESTMODSEQ; 0: flags never read */
	uint64_t highestmodseq; /* the server's, from EXAMINE */
	bool qresync; /* enabled on the session */
};

/* error is NULL when the changes are stored. */
typedef void imap_mirror_fn(const char *error, void *arg);

struct imap_mirror *imap_mirror_start(struct imap_session *sess,
    const struct imap_mirror_params *p, imap_mirror_fn *done, void *arg);
/* Abandons the work; done is not called. */
void imap_mirror_cancel(struct imap_mirror *m);

#endif
