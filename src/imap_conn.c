/*
 * The IMAP driver's way to its server: URLs and libcurl options.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "imap_conn.h"
#include "log.h"
#include "util.h"

void
imap_conn_init(
    struct imap_conn *c, struct http *http, const struct account_conf *conf)
{
	memset(c, 0, sizeof(*c));
	c->http = http;
	c->conf = conf;
	c->base_url = xasprintf("%s://%s:%d",
	    conf->tls == TLS_IMPLICIT ? "imaps" : "imap", conf->host,
	    conf->port);
	if (conf->tls == TLS_NONE)
		log_warnx("account=%s: tls = none: the password and all mail "
			  "cross the network in clear text",
		    conf->name);
}

void
imap_conn_clear(struct imap_conn *c)
{
	free(c->base_url);
	free(c->bearer);
	c->base_url = c->bearer = NULL;
}

void
imap_conn_set_bearer(struct imap_conn *c, const char *token)
{
	free(c->bearer);
	c->bearer = xstrdup(token);
}

void
imap_conn_opts(const struct imap_conn *c, struct xfer_opts *o, const char *url)
{
	const struct account_conf *a = c->conf;

	memset(o, 0, sizeof(*o));
	o->url = url;
	o->username = a->username;
	o->password = a->auth == AUTH_PASSWORD ? a->password : NULL;
	o->bearer = a->auth == AUTH_XOAUTH2 ? c->bearer : NULL;
	o->tls = a->tls == TLS_IMPLICIT ? XFER_TLS_IMPLICIT
	    : a->tls == TLS_STARTTLS	? XFER_TLS_STARTTLS
					: XFER_TLS_NONE;
	o->verify = a->tls_verify;
	o->ca_file = a->ca_file;
	o->connect_timeout_ms = 15000;
	o->low_speed_secs = 60;
}

struct xfer *
imap_conn_command(const struct imap_conn *c, const char *mailbox,
    const char *cmd, xfer_done_fn *done, void *arg)
{
	struct xfer_opts o;
	struct xfer *x;
	char *url, *esc = mailbox ? http_escape(mailbox) : NULL;

	url = esc ? xasprintf("%s/%s", c->base_url, esc)
		  : xasprintf("%s/", c->base_url);
	imap_conn_opts(c, &o, url);
	o.custom_request = cmd;
	o.max_body = 64 * 1024 * 1024;
	x = http_start(c->http, &o, done, arg);
	free(url);
	free(esc);
	return x;
}

struct xfer *
imap_conn_fetch(const struct imap_conn *c, const char *mailbox,
    uint32_t uidvalidity, uint32_t uid, size_t max_body, xfer_done_fn *done,
    void *arg)
{
	struct xfer_opts o;
	struct xfer *x;
	char *esc = http_escape(mailbox);
	char *url = xasprintf(
	    "%s/%s;UIDVALIDITY=%u/;UID=%u", c->base_url, esc, uidvalidity, uid);

	imap_conn_opts(c, &o, url);
	o.max_body = max_body;
	x = http_start(c->http, &o, done, arg);
	free(url);
	free(esc);
	return x;
}

void
imap_conn_since(char *buf, size_t size, int days)
{
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = time(NULL) - (time_t)days * 86400;
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, size, " SINCE %d-%s-%d", tm.tm_mday, mon[tm.tm_mon],
	    tm.tm_year + 1900);
}

const char *
imap_conn_why(const struct imap_conn *c, const struct xfer_result *r)
{
	static char why[512];

	if (r->auth_failed)
		snprintf(why, sizeof(why), "login failed for user %s",
		    c->conf->username);
	else
		snprintf(why, sizeof(why), "%s", r->error);
	return why;
}
