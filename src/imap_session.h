/*
 * One IMAP session, kept open: libcurl connects, secures and logs in
 * (http_connect), then this module speaks IMAP on the libevent loop.
 * Commands are pipelined: each is sent at once, and its answer comes
 * back through its own callbacks, in order. IDLE is a state of the
 * session: the next command ends it (DONE) by itself.
 *
 * The session never changes a mailbox on its own and knows nothing of
 * mailboxes: which commands are sent is the caller's business.
 */
#ifndef INBOXD_IMAP_SESSION_H
#define INBOXD_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "imap_reader.h"
#include "util.h"

struct event_base;
struct http;
struct xfer_opts;
struct imap_session;

struct imap_session_cbs {
	/* Once: logged in and CAPABILITY read, or not. */
	void (*ready)(bool ok, const char *error, bool auth_failed, void *arg);
	/* Once, after a successful ready: the session is dead (the server
	 * closed it, broke the protocol or stopped answering). Commands
	 * still pending get no answer; the caller frees the session. */
	void (*closed)(const char *why, void *arg);
	/* New mail or changes while idling (EXISTS, EXPUNGE, FETCH). */
	void (*changed)(void *arg);
};

struct imap_session_limits {
	size_t max_line; /* a longer response line is a protocol error */
	size_t max_literal; /* kept of each literal; the rest streams past */
	int answer_timeout_ms; /* silence while an answer is due */
	int idle_renew_ms; /* IDLE is ended and entered again after this */
};

struct imap_session *imap_session_open(struct event_base *base, struct http *h,
    const struct xfer_opts *login, const struct imap_session_limits *lim,
    const char *account, const struct imap_session_cbs *cbs, void *arg);
/* May be called from any callback of the session. */
void imap_session_free(struct imap_session *s);

/* True when the server's CAPABILITY (after login) lists cap. */
bool imap_session_has(const struct imap_session *s, const char *cap);

/*
 * Sends "tag cmd". Every untagged response that arrives while this is
 * the oldest command waiting goes to each (which may steal literals);
 * the tagged answer goes to done with its status ('O'k, 'N'o, 'B'ad)
 * and text. each may be NULL. A command the session cannot answer any
 * more (it died, or is being freed) gets status 0: the callee then
 * frees what it holds for the command and does nothing else.
 */
typedef void imap_each_fn(struct imap_response *r, void *arg);
typedef void imap_tagged_fn(char status, const char *text, void *arg);
void imap_session_send(struct imap_session *s, const char *cmd,
    imap_each_fn *each, imap_tagged_fn *done, void *arg);

/*
 * A command whose answer is text: its untagged lines (literals left
 * out) are collected in text, one per line, for the parsers of
 * imap_resp.h.
 */
struct imap_answer {
	char status; /* 'O', 'N', 'B'; 0: no answer will come */
	const char *tagged; /* the text of the tagged answer */
	struct buf text; /* the callee may steal it */
};
typedef void imap_answer_fn(struct imap_answer *a, void *arg);
void imap_session_command(
    struct imap_session *s, const char *cmd, imap_answer_fn *done, void *arg);

/*
 * Enters IDLE in the mailbox selected last; changed reports what the
 * server announces. done is called when the server refuses IDLE (or
 * when an IDLE ends with anything but OK): status and text.
 */
void imap_session_idle(
    struct imap_session *s, imap_tagged_fn *refused, void *arg);
bool imap_session_idling(const struct imap_session *s);

/* Commands sent and not yet answered. */
size_t imap_session_pending(const struct imap_session *s);

#endif
