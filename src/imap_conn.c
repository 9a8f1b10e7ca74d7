/*
 * The IMAP driver's way to its server: the URL and libcurl options of
 * the login.
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

int64_t
imap_conn_since(char *buf, size_t size, int days)
{
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = time(NULL) - (time_t)days * 86400;
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, size, " SINCE %d-%s-%d", tm.tm_mday, mon[tm.tm_mon],
	    tm.tm_year + 1900);
	/* SEARCH SINCE compares dates, not times: the day from its start. */
	return (int64_t)(t - (tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec));
}
