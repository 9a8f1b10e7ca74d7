/*
 * The only libcurl user. Multi handles driven by libevent: curl tells
 * us which sockets to watch and when to wake it up; we tell curl when a
 * socket is ready or the timer fired. HTTP transfers share one multi
 * handle; raw connections (IMAP sessions) fill others, POOL_CONNS to
 * each (struct pool says why).
 */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/queue.h>
#include <unistd.h>
#include <stdio.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

struct xfer;
struct http_conn;
TAILQ_HEAD(xfer_list, xfer);
TAILQ_HEAD(conn_list, http_conn);

/*
 * A multi handle, its timer, and the easy handles in it. libcurl 7.88
 * finds the connection of a connect-only handle, on every
 * curl_easy_send() and curl_easy_recv(), by walking every connection
 * of its multi handle: with thousands of sessions in one, each read
 * and write of each session cost thousands of steps (a fifth of the
 * daemon's CPU with 3,000 accounts). Raw connections therefore go
 * POOL_CONNS to a multi handle. A pool that empties is kept for the
 * next connections: a callback of its own may still be running.
 */
#define POOL_CONNS 64

struct pool {
	TAILQ_ENTRY(pool) entry;
	struct http *h;
	CURLM *multi;
	struct event *timer;
	int running;
	size_t handles;
};
TAILQ_HEAD(pool_list, pool);

/* A server raw connections go to: its set-ups in progress, and the
 * connections waiting for their turn. */
struct server {
	TAILQ_ENTRY(server) entry;
	char *name; /* "scheme://host:port" */
	unsigned connecting;
	unsigned users; /* connections that name it */
	struct conn_list waiting;
};
TAILQ_HEAD(server_list, server);

/*
 * Connection set-ups (TCP, TLS, login) in progress at once, in all and
 * to one server: thousands of accounts starting together, or coming
 * back after a network blip, log in a few at a time, not all at once.
 */
#define CONNECTING_MAX 64
#define CONNECTING_PER_SERVER 16

struct http {
	struct event_base *base;
	struct xfer_list xfers;
	struct server_list servers;
	unsigned connecting; /* set-ups in progress */
	struct pool *web; /* HTTP transfers */
	struct pool_list pools; /* raw connections */
};

struct xfer {
	TAILQ_ENTRY(xfer) entry;
	struct http *h;
	struct pool *pool;
	CURL *easy;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	struct buf body;
	size_t max_body;
	size_t body_size;
	bool truncated;
	long retry_after;
	xfer_done_fn *done;
	void *arg;
	struct http_conn *conn; /* set for CONNECT_ONLY transfers */
};

struct http_conn {
	TAILQ_ENTRY(http_conn) wait_entry; /* while waiting */
	struct http *h;
	struct pool *pool; /* once connected */
	struct xfer_opts *opts; /* kept while waiting for its turn */
	struct server *server;
	bool waiting;
	bool connecting; /* counted in h->connecting */
	struct xfer *x; /* the connect phase, then NULL */
	CURL *easy;
	curl_socket_t fd;
	struct event *ev;
	struct event *wev; /* writable again: the rest of out goes */
	struct buf out; /* written, not yet taken by the socket */
	bool broken; /* a send failed */
	conn_ready_fn *ready;
	conn_data_fn *data;
	conn_closed_fn *closed;
	void *arg;
	bool delivering; /* inside the data callback */
	bool close_asked; /* http_conn_close was called meanwhile */
	/* libcurl's words for a failed send or receive: the easy handle
	 * outlives the transfer that set it up, and writes here. */
	char errbuf[CURL_ERROR_SIZE];
};

/* Per-socket state, attached to curl's socket with multi_assign. */
struct sock {
	curl_socket_t fd;
	struct event *ev;
};

static int curl_refs;

static void check_done(struct pool *p);

static void
event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool *p = arg;
	int flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(p->multi, fd, flags, &p->running);
	/* Transfers started from a done callback have set the timer
	 * again; it must survive. */
	check_done(p);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool *p = arg;

	curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &p->running);
	check_done(p);
}

static int
multi_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct pool *p = userp;

	if (timeout_ms < 0) {
		evtimer_del(p->timer);
		return 0;
	}
	timer_add_ms(p->timer, timeout_ms);
	return 0;
}

static int
multi_socket_cb(
    CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct pool *p = userp;
	struct sock *s = socketp;
	short kind;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			event_free(s->ev);
			free(s);
			curl_multi_assign(p->multi, fd, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		s->ev = event_new(p->h->base, fd, kind, event_cb, p);
		curl_multi_assign(p->multi, fd, s);
	} else {
		event_del(s->ev);
		event_assign(s->ev, p->h->base, fd, kind, event_cb, p);
	}
	event_add(s->ev, NULL);
	return 0;
}

static struct pool *
pool_new(struct http *h, long max_connects)
{
	struct pool *p = xcalloc(1, sizeof(*p));

	p->h = h;
	if ((p->multi = curl_multi_init()) == NULL)
		fatalx("curl_multi_init failed");
	p->timer = evtimer_new(h->base, timer_cb, p);
	curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, multi_socket_cb);
	curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
	curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
	curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
	curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, max_connects);
	return p;
}

static void
pool_free(struct pool *p)
{
	curl_multi_cleanup(p->multi);
	event_free(p->timer);
	free(p);
}

/* A pool with room for one more raw connection. */
static struct pool *
conn_pool(struct http *h)
{
	struct pool *p;

	TAILQ_FOREACH(p, &h->pools, entry)
		if (p->handles < POOL_CONNS)
			return p;
	p = pool_new(h, POOL_CONNS);
	TAILQ_INSERT_TAIL(&h->pools, p, entry);
	return p;
}

struct http *
http_new(struct event_base *base)
{
	struct http *h = xcalloc(1, sizeof(*h));

	if (curl_refs++ == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("curl_global_init failed");
	h->base = base;
	TAILQ_INIT(&h->xfers);
	TAILQ_INIT(&h->servers);
	TAILQ_INIT(&h->pools);
	/* Idle HTTP connections kept for reuse: 64 at most. */
	h->web = pool_new(h, 64L);
	return h;
}

static void
xfer_free(struct xfer *x)
{
	TAILQ_REMOVE(&x->h->xfers, x, entry);
	curl_multi_remove_handle(x->pool->multi, x->easy);
	x->pool->handles--;
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	buf_free(&x->body);
	free(x);
}

void
http_free(struct http *h)
{
	struct xfer *x;
	struct pool *p;

	if (h == NULL)
		return;
	/* Transfers still running belong to nobody now. */
	while ((x = TAILQ_FIRST(&h->xfers)) != NULL)
		xfer_free(x);
	while ((p = TAILQ_FIRST(&h->pools)) != NULL) {
		TAILQ_REMOVE(&h->pools, p, entry);
		pool_free(p);
	}
	pool_free(h->web);
	free(h);
	if (--curl_refs == 0)
		curl_global_cleanup();
}

static size_t
write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	x->body_size += len;
	if (x->max_body && x->body.len + len > x->max_body) {
		size_t room = x->max_body - x->body.len;

		buf_append(&x->body, data, room);
		x->truncated = true;
		/* Keep reading so that the connection stays in sync. */
		return len;
	}
	buf_append(&x->body, data, len);
	return len;
}

/* Month names as HTTP dates spell them, whatever the locale. */
static int
http_month(const char *name)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

	for (int i = 0; i < 12; i++)
		if (strncmp(name, months + 3 * i, 3) == 0)
			return i;
	return -1;
}

/* An IMF-fixdate, "Wed, 21 Oct 2015 07:28:00 GMT", as a time; -1 when
 * it is not one. */
static time_t
http_date(const char *s)
{
	struct tm tm;
	char wday[4], mon[4];
	int n = 0;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", wday,
		&tm.tm_mday, mon, &tm.tm_year, &tm.tm_hour, &tm.tm_min,
		&tm.tm_sec, &n) != 7 ||
	    n == 0 || (tm.tm_mon = http_month(mon)) < 0)
		return -1;
	tm.tm_year -= 1900;
	return timegm(&tm);
}

long
http_retry_after(const char *value, time_t now)
{
	const char *p = value;
	char *end;
	long v;
	time_t t;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p >= '0' && *p <= '9') {
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno == ERANGE)
			v = LONG_MAX;
		return end == p ? -1 : v;
	}
	if ((t = http_date(p)) == -1)
		return -1;
	return t > now ? (long)(t - now) : 0;
}

static size_t
header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	char *value;

	if (len > 12 && strncasecmp(data, "retry-after:", 12) == 0) {
		value = xstrndup(data + 12, len - 12);
		x->retry_after = http_retry_after(value, time(NULL));
		free(value);
	}
	return len;
}

static bool
is_auth_failure(CURLcode rc, long status)
{
	return rc == CURLE_LOGIN_DENIED || status == 401;
}

static void conn_connected(struct xfer *x, CURLcode rc);

/*
 * One transfer is one IMAP command or one HTTP request; its bytes are
 * what libcurl counted of the answer's lines and body. (libcurl counts
 * no request bytes for IMAP, so none are served for any protocol.)
 */
static void
count_transfer(struct xfer *x)
{
	curl_off_t body = 0;
	long header = 0;
	char *scheme = NULL;

	curl_easy_getinfo(x->easy, CURLINFO_SIZE_DOWNLOAD_T, &body);
	curl_easy_getinfo(x->easy, CURLINFO_HEADER_SIZE, &header);
	curl_easy_getinfo(x->easy, CURLINFO_SCHEME, &scheme);
	metrics_transfer(
	    scheme ? scheme : "unknown", (uint64_t)body + (uint64_t)header);
}

static void
finish(struct xfer *x, CURLcode rc)
{
	struct xfer_result r;

	if (x->conn != NULL) {
		conn_connected(x, rc);
		return;
	}

	memset(&r, 0, sizeof(r));
	r.ok = rc == CURLE_OK;
	r.code = (int)rc;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r.status);
	curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &r.total_secs);
	r.auth_failed = is_auth_failure(rc, r.status);
	r.error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
	r.body = x->body;
	buf_init(&x->body);
	r.truncated = x->truncated;
	r.body_size = x->body_size;
	r.retry_after = x->retry_after;
	count_transfer(x);
	curl_multi_remove_handle(x->pool->multi, x->easy);
	x->done(&r, x->arg);
	buf_free(&r.body);
	xfer_free(x);
}

static void
check_done(struct pool *p)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
		struct xfer *x = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(
		    msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		/* A raw connection's handle has no transfer any more. */
		if (x != NULL)
			finish(x, msg->data.result);
	}
}

static void
apply_tls(CURL *e, const struct xfer_opts *o)
{
	switch (o->tls) {
	case XFER_TLS_IMPLICIT:
		break;
	case XFER_TLS_STARTTLS:
		curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
		break;
	case XFER_TLS_NONE:
		curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_NONE);
		break;
	}
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, o->verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, o->verify ? 2L : 0L);
	if (o->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
}

struct xfer *
http_start(
    struct http *h, const struct xfer_opts *o, xfer_done_fn *done, void *arg)
{
	struct xfer *x = xcalloc(1, sizeof(*x));
	CURL *e;

	if ((e = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	x->h = h;
	TAILQ_INSERT_TAIL(&h->xfers, x, entry);
	x->easy = e;
	x->done = done;
	x->arg = arg;
	x->max_body = o->max_body;
	x->retry_after = -1;
	buf_init(&x->body);
	curl_easy_setopt(e, CURLOPT_URL, o->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "imap,imaps,http,https");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    o->connect_timeout_ms ? o->connect_timeout_ms : 15000L);
	if (o->timeout_ms)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	if (o->low_speed_secs) {
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, o->low_speed_secs);
	}
	if (o->username)
		curl_easy_setopt(e, CURLOPT_USERNAME, o->username);
	if (o->password)
		curl_easy_setopt(e, CURLOPT_PASSWORD, o->password);
	if (o->bearer) {
		curl_easy_setopt(e, CURLOPT_XOAUTH2_BEARER, o->bearer);
		if (strncmp(o->url, "imap", 4) == 0)
			curl_easy_setopt(
			    e, CURLOPT_LOGIN_OPTIONS, "AUTH=XOAUTH2");
		else
			curl_easy_setopt(
			    e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
	} else if (o->login_options)
		curl_easy_setopt(e, CURLOPT_LOGIN_OPTIONS, o->login_options);
	if (o->custom_request)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o->custom_request);
	if (o->post_fields)
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o->post_fields);
	for (const char *const *hd = o->headers; hd && *hd; hd++)
		x->headers = curl_slist_append(x->headers, *hd);
	if (x->headers)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	if (o->fresh_connection)
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	if (o->connect_only)
		curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	apply_tls(e, o);
	x->pool = o->connect_only ? conn_pool(h) : h->web;
	if (curl_multi_add_handle(x->pool->multi, e) != CURLM_OK)
		fatalx("curl_multi_add_handle failed");
	x->pool->handles++;
	return x;
}

void
http_cancel(struct xfer *x)
{
	if (x != NULL)
		xfer_free(x);
}

/* Raw connections ------------------------------------------------------------ */

static void conn_free(struct http_conn *c);
static void connecting_done(struct http_conn *c);
static void conn_writable(evutil_socket_t fd, short what, void *arg);

/*
 * Hands what arrived to the data callback. The callback may close the
 * connection (a refusal, a server without IDLE): the connection is then
 * freed here, once the callback has returned, never under its feet.
 * Returns false when the connection is gone.
 */
static bool
conn_deliver(struct http_conn *c, const char *data, size_t len)
{
	c->delivering = true;
	c->data(data, len, c->arg);
	c->delivering = false;
	if (c->close_asked) {
		conn_free(c);
		return false;
	}
	return true;
}

/*
 * Reads what the server sent, a bounded amount per wake-up: a server
 * that streams without pause must not starve the rest of the loop. The
 * event is made active again when more may be waiting (TLS keeps read
 * bytes of its own, which the socket no longer shows).
 */
#define CONN_READ_PER_WAKE (1024 * 1024)

static void
conn_readable(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	char chunk[65536];
	size_t total = 0;

	(void)fd;
	(void)what;
	while (total < CONN_READ_PER_WAKE) {
		size_t n = 0;
		CURLcode rc = curl_easy_recv(c->easy, chunk, sizeof(chunk), &n);

		if (rc == CURLE_AGAIN)
			return;
		if (rc != CURLE_OK || n == 0) {
			event_del(c->ev);
			c->closed(rc == CURLE_OK
				? "connection closed by the server"
				: c->errbuf[0] ? c->errbuf
					       : curl_easy_strerror(rc),
			    c->arg);
			return;
		}
		total += n;
		if (!conn_deliver(c, chunk, n))
			return;
	}
	event_active(c->ev, EV_READ, 0);
}

/*
 * The connect phase ended. The easy handle stays in the multi handle:
 * libcurl keeps a CONNECT_ONLY connection attached to it there, and
 * curl_easy_send/recv then use it.
 */
static void
conn_connected(struct xfer *x, CURLcode rc)
{
	struct http_conn *c = x->conn;
	curl_socket_t fd = CURL_SOCKET_BAD;

	connecting_done(c);

	if (rc == CURLE_OK)
		curl_easy_getinfo(x->easy, CURLINFO_ACTIVESOCKET, &fd);
	if (rc != CURLE_OK || fd == CURL_SOCKET_BAD) {
		char why[CURL_ERROR_SIZE + 64];

		snprintf(why, sizeof(why), "%s",
		    x->errbuf[0]
			? x->errbuf
			: curl_easy_strerror(
			      rc == CURLE_OK ? CURLE_COULDNT_CONNECT : rc));
		c->x = NULL;
		x->conn = NULL;
		xfer_free(x);
		c->easy = NULL;
		c->ready(c, false, why, rc == CURLE_LOGIN_DENIED, c->arg);
		return;
	}
	/* The transfer is done; the handle now belongs to the connection,
	 * and stays in its pool. Nothing of it may point into the
	 * transfer any more: libcurl writes the error of a failed
	 * curl_easy_recv() or curl_easy_send() to its error buffer. */
	c->errbuf[0] = '\0';
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, NULL);
	c->pool = x->pool;
	TAILQ_REMOVE(&x->h->xfers, x, entry);
	buf_free(&x->body);
	curl_slist_free_all(x->headers);
	free(x);
	c->x = NULL;
	c->fd = fd;
	c->ev =
	    event_new(c->h->base, fd, EV_READ | EV_PERSIST, conn_readable, c);
	c->wev = event_new(c->h->base, fd, EV_WRITE, conn_writable, c);
	event_add(c->ev, NULL);
	c->ready(c, true, NULL, false, c->arg);
}

/* The server of url ("imaps://host:port/..."), found or added. */
static struct server *
server_of(struct http *h, const char *url)
{
	const char *p = strstr(url, "://");
	const char *slash = p ? strchr(p + 3, '/') : NULL;
	size_t n = slash ? (size_t)(slash - url) : strlen(url);
	struct server *sv;

	TAILQ_FOREACH(sv, &h->servers, entry)
		if (strlen(sv->name) == n && strncmp(sv->name, url, n) == 0)
			break;
	if (sv == NULL) {
		sv = xcalloc(1, sizeof(*sv));
		sv->name = xstrndup(url, n);
		TAILQ_INIT(&sv->waiting);
		TAILQ_INSERT_TAIL(&h->servers, sv, entry);
	}
	sv->users++;
	return sv;
}

static void
server_unref(struct http *h, struct server *sv)
{
	if (sv == NULL || --sv->users > 0)
		return;
	TAILQ_REMOVE(&h->servers, sv, entry);
	free(sv->name);
	free(sv);
}

static void
conn_begin(struct http_conn *c, const struct xfer_opts *o)
{
	struct xfer_opts co = *o;

	co.fresh_connection = true;
	co.connect_only = true;
	c->connecting = true;
	c->h->connecting++;
	c->server->connecting++;
	c->x = http_start(c->h, &co, NULL, NULL);
	c->x->conn = c;
	c->easy = c->x->easy;
}

static struct xfer_opts *
opts_copy(const struct xfer_opts *o)
{
	struct xfer_opts *k = xmalloc(sizeof(*k));

	*k = *o;
	k->url = o->url ? xstrdup(o->url) : NULL;
	k->username = o->username ? xstrdup(o->username) : NULL;
	k->password = o->password ? xstrdup(o->password) : NULL;
	k->bearer = o->bearer ? xstrdup(o->bearer) : NULL;
	k->login_options = o->login_options ? xstrdup(o->login_options) : NULL;
	k->ca_file = o->ca_file ? xstrdup(o->ca_file) : NULL;
	/* HTTP-only fields are never set for a raw connection. */
	k->custom_request = k->post_fields = NULL;
	k->headers = NULL;
	return k;
}

static void
opts_free(struct xfer_opts *k)
{
	if (k == NULL)
		return;
	free((char *)k->url);
	free((char *)k->username);
	if (k->password)
		explicit_bzero((char *)k->password, strlen(k->password));
	free((char *)k->password);
	if (k->bearer)
		explicit_bzero((char *)k->bearer, strlen(k->bearer));
	free((char *)k->bearer);
	free((char *)k->login_options);
	free((char *)k->ca_file);
	free(k);
}

static bool
may_begin(const struct http *h, const struct server *sv)
{
	return h->connecting < CONNECTING_MAX &&
	    sv->connecting < CONNECTING_PER_SERVER;
}

/* Begins the first connection waiting for sv, when it may. */
static bool
begin_next(struct http *h, struct server *sv)
{
	struct http_conn *w = TAILQ_FIRST(&sv->waiting);

	if (w == NULL || !may_begin(h, sv))
		return false;
	TAILQ_REMOVE(&sv->waiting, w, wait_entry);
	w->waiting = false;
	conn_begin(w, w->opts);
	opts_free(w->opts);
	w->opts = NULL;
	return true;
}

/* A set-up ended: the next connections waiting for a turn begin, the
 * same server's first, then the others' in turn. */
static void
connecting_done(struct http_conn *c)
{
	struct http *h = c->h;
	struct server *sv;

	if (!c->connecting)
		return;
	c->connecting = false;
	h->connecting--;
	c->server->connecting--;
	if (begin_next(h, c->server))
		return;
	TAILQ_FOREACH(sv, &h->servers, entry)
		if (begin_next(h, sv))
			return;
}

struct http_conn *
http_connect(struct http *h, const struct xfer_opts *o, conn_ready_fn *ready,
    conn_data_fn *data, conn_closed_fn *closed, void *arg)
{
	struct http_conn *c = xcalloc(1, sizeof(*c));

	c->h = h;
	c->ready = ready;
	c->data = data;
	c->closed = closed;
	c->arg = arg;
	c->fd = CURL_SOCKET_BAD;
	c->server = server_of(h, o->url);
	buf_init(&c->out);
	if (TAILQ_EMPTY(&c->server->waiting) && may_begin(h, c->server)) {
		conn_begin(c, o);
		return c;
	}
	/* Its turn comes when another set-up ends. */
	c->opts = opts_copy(o);
	c->waiting = true;
	TAILQ_INSERT_TAIL(&c->server->waiting, c, wait_entry);
	return c;
}

/* Hands the socket what it takes of out; 0, or -1 when it is broken. */
static int
conn_flush(struct http_conn *c)
{
	size_t off = 0;

	while (off < c->out.len) {
		size_t n = 0;
		CURLcode rc = curl_easy_send(
		    c->easy, c->out.data + off, c->out.len - off, &n);

		if (rc == CURLE_AGAIN)
			break;
		if (rc != CURLE_OK) {
			c->broken = true;
			return -1;
		}
		off += n;
	}
	memmove(c->out.data, c->out.data + off, c->out.len - off);
	c->out.len -= off;
	c->out.data[c->out.len] = '\0';
	if (c->out.len > 0)
		event_add(c->wev, NULL);
	return 0;
}

static void
conn_writable(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

	(void)fd;
	(void)what;
	/* A failure shows as the server's silence, or its close. */
	conn_flush(c);
}

int
http_conn_send(struct http_conn *c, const char *data, size_t len)
{
	if (c == NULL || c->easy == NULL || c->x != NULL || c->close_asked ||
	    c->broken)
		return -1;
	buf_append(&c->out, data, len);
	/* Bytes already waiting go first, when the socket takes them. */
	if (c->out.len > len)
		return 0;
	return conn_flush(c);
}

static void
conn_free(struct http_conn *c)
{
	if (c->waiting)
		TAILQ_REMOVE(&c->server->waiting, c, wait_entry);
	opts_free(c->opts);
	if (c->x != NULL)
		connecting_done(c);
	if (c->x != NULL) {
		c->x->conn = NULL;
		xfer_free(c->x);
	} else if (c->easy != NULL) {
		curl_multi_remove_handle(c->pool->multi, c->easy);
		c->pool->handles--;
		curl_easy_cleanup(c->easy);
	}
	if (c->ev)
		event_free(c->ev);
	if (c->wev)
		event_free(c->wev);
	buf_free(&c->out);
	server_unref(c->h, c->server);
	free(c);
}

void
http_conn_close(struct http_conn *c)
{
	if (c == NULL)
		return;
	if (c->delivering) {
		/* conn_deliver frees it when the callback returns. */
		c->close_asked = true;
		return;
	}
	conn_free(c);
}

char *
http_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0), *out;

	if (e == NULL)
		fatalx("curl_easy_escape failed");
	out = xstrdup(e);
	curl_free(e);
	return out;
}
