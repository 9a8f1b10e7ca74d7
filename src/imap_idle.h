/*
 * IMAP IDLE (RFC 2177) on a connection libcurl opened and logged in:
 * libcurl itself has no IDLE. The watcher keeps one connection per
 * account on INBOX, calls wake when the server announces new mail,
 * re-issues IDLE before servers drop it (29 minutes), and reconnects
 * with backoff when the connection breaks. Polling goes on regardless,
 * so a broken IDLE only delays mail to the next poll.
 */
#ifndef INBOXD_IMAP_IDLE_H
#define INBOXD_IMAP_IDLE_H

struct event_base;
struct http;
struct xfer_opts;
struct imap_idle;

typedef void imap_wake_fn(void *arg);
/* Fills the URL ("imap://host:port/") and credentials for a new
 * connection; called at every (re)connect, so tokens stay fresh. The
 * strings need only live until the call returns to the loop. */
typedef void imap_login_fn(struct xfer_opts *o, void *arg);

struct imap_idle *imap_idle_start(struct event_base *base, struct http *h,
    imap_login_fn *login, const char *account, imap_wake_fn *wake, void *arg);
void imap_idle_stop(struct imap_idle *w);

#endif
