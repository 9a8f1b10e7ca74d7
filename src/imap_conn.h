/*
 * How the IMAP driver reaches an account's server: the URL, the login
 * (password or XOAUTH2 token) and the TLS options that libcurl uses to
 * open the session (http_connect); imap_session.c speaks IMAP from there.
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

/* Writes " SINCE d-Mon-yyyy" for mail of the last days, to end a SEARCH;
 * returns the start of that day (UTC), in seconds since the epoch. */
int64_t imap_conn_since(char *buf, size_t size, int days);

#endif
