/*
 * The only libcurl user: a curl multi handle bridged to the libevent
 * loop (sockets and timers, as in curl's hiperfifo example). Transfers
 * are protocol-neutral: IMAP fetches and commands, HTTPS API calls.
 */
#ifndef INBOXD_HTTP_H
#define INBOXD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util.h"

struct event_base;
struct http;
struct xfer;

enum xfer_tls {
	XFER_TLS_IMPLICIT, /* the URL's scheme says TLS (imaps://, https://) */
	XFER_TLS_STARTTLS, /* upgrade a plain connection; required */
	XFER_TLS_NONE, /* plain text, by explicit configuration only */
};

struct xfer_opts {
	const char *url;
	const char *username;
	const char *password;
	const char *bearer; /* OAuth2 token: XOAUTH2 or HTTP Bearer */
	const char *login_options; /* IMAP: "AUTH=PLAIN", ...; NULL: any */
	enum xfer_tls tls;
	bool verify; /* certificate and host name checks */
	const char *ca_file;
	const char *custom_request; /* IMAP command or HTTP method */
	const char *post_fields; /* HTTP request body (POST) */
	const char *const *headers; /* extra HTTP headers, NULL-terminated */
	long connect_timeout_ms;
	long timeout_ms; /* whole transfer; 0: none */
	long low_speed_secs; /* abort when stalled this long; 0: off */
	size_t max_body; /* keep at most this much; 0: no limit */
	bool fresh_connection; /* do not reuse a cached connection */
	bool connect_only; /* set by http_connect() */
};

struct xfer_result {
	bool ok; /* transport success (any HTTP status) */
	int code; /* library error code, 0 on success */
	const char *error; /* human-readable, when !ok */
	bool auth_failed; /* login refused */
	long status; /* HTTP status or IMAP response code */
	struct buf body; /* the callback may steal it */
	bool truncated; /* body cut at max_body */
	size_t body_size; /* the body's size as sent, before any cut */
	long retry_after; /* HTTP Retry-After in seconds, or -1 */
	double total_secs;
};

typedef void xfer_done_fn(struct xfer_result *r, void *arg);

/*
 * The seconds a Retry-After header value asks to wait: delay-seconds,
 * or an HTTP date (IMF-fixdate, "Wed, 21 Oct 2015 07:28:00 GMT") less
 * now, 0 for a date past; -1 when it is neither.
 */
long http_retry_after(const char *value, time_t now);

struct http *http_new(struct event_base *base);
void http_free(struct http *h);

/* Starts a transfer; done is called exactly once, from the loop, unless
 * the transfer is cancelled first. */
struct xfer *http_start(
    struct http *h, const struct xfer_opts *o, xfer_done_fn *done, void *arg);
void http_cancel(struct xfer *x);

/*
 * A raw connection that libcurl opened, secured and logged in
 * (CURLOPT_CONNECT_ONLY), for protocol exchanges libcurl does not speak
 * itself, such as IMAP IDLE. ready reports once; afterwards data
 * delivers what the server sends, and closed reports the end once.
 * http_conn_close may be called from the data callback: the
 * connection is then freed once that callback has returned.
 */
struct http_conn;
typedef void conn_ready_fn(struct http_conn *c, bool ok, const char *error,
    bool auth_failed, void *arg);
typedef void conn_data_fn(const char *data, size_t len, void *arg);
typedef void conn_closed_fn(const char *why, void *arg);

struct http_conn *http_connect(struct http *h, const struct xfer_opts *o,
    conn_ready_fn *ready, conn_data_fn *data, conn_closed_fn *closed,
    void *arg);
/* Queues data for the server and sends what the socket takes now, the
 * rest when it is writable; returns 0, or -1 when the connection is
 * broken. */
int http_conn_send(struct http_conn *c, const char *data, size_t len);
void http_conn_close(struct http_conn *c);

/* Percent-encodes s for a URL path segment (malloc'd). */
char *http_escape(const char *s);

#endif
