/*
 * How the IMAP driver reaches an account's server through http.c: the
 * URLs of folders and messages, the login (password or XOAUTH2 token)
 * and TLS options of every transfer, and commands whose answers carry
 * no message bodies.
 *
 * Messages are fetched by URL (".../INBOX;UIDVALIDITY=V/;UID=N"):
 * libcurl hands the literal cleanly to the write callback and reuses
 * the connection. Custom commands are used only for answers without
 * message bodies (LIST, EXAMINE, SEARCH, UID FETCH of dates, STORE).
 */
#ifndef INBOXD_IMAP_CONN_H
#define INBOXD_IMAP_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct account_conf;

struct imap_conn {
	struct http *http;
	const struct account_conf *conf;
	char *base_url; /* "imap://host:port" */
	char *bearer; /* auth = xoauth2: the token in use, or NULL */
};

void imap_conn_init(
    struct imap_conn *c, struct http *http, const struct account_conf *conf);
void imap_conn_clear(struct imap_conn *c);

/* The XOAUTH2 token of the transfers started from now on. */
void imap_conn_set_bearer(struct imap_conn *c, const char *token);

/* The options of a transfer to url, logged in as the account. */
void imap_conn_opts(
    const struct imap_conn *c, struct xfer_opts *o, const char *url);

/* Runs cmd in mailbox (selected first), or outside any when NULL. */
struct xfer *imap_conn_command(const struct imap_conn *c, const char *mailbox,
    const char *cmd, xfer_done_fn *done, void *arg);

/* Fetches one message, keeping at most max_body bytes of it (0: all). */
struct xfer *imap_conn_fetch(const struct imap_conn *c, const char *mailbox,
    uint32_t uidvalidity, uint32_t uid, size_t max_body, xfer_done_fn *done,
    void *arg);

/* Writes " SINCE d-Mon-yyyy" for mail of the last days, to end a SEARCH. */
void imap_conn_since(char *buf, size_t size, int days);

/* Why a transfer failed, in words; valid until the next call. */
const char *imap_conn_why(
    const struct imap_conn *c, const struct xfer_result *r);

#endif
