/*
 * The IDLE watcher: connect -> connected -> (CAPABILITY) capable
 *   -> (EXAMINE INBOX) examined -> (IDLE) idling -> ... EXISTS: wake
 *   -> (timer) DONE -> idle_ended -> IDLE again.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "http.h"
#include "imap_idle.h"
#include "imap_resp.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* Failed connections in a row before the watcher warns of its own. */
#define QUIET_CONNECT_FAILURES 5
/* Servers may end IDLE after 30 minutes (RFC 2177); renew well before. */
#define IDLE_RENEW_SECS (25 * 60)
/* A server that does not answer DONE within this is gone. */
#define ANSWER_TIMEOUT_SECS 60

enum idle_state {
	IDLE_CONNECTING,
	IDLE_CAPABILITY,
	IDLE_EXAMINE,
	IDLE_STARTING,
	IDLE_IDLING,
	IDLE_ENDING,
	IDLE_WAITING, /* to reconnect */
	IDLE_UNSUPPORTED,
};

struct imap_idle {
	struct event_base *base;
	struct http *http;
	imap_login_fn *login;
	char *account;
	imap_wake_fn *wake;
	void *arg;
	struct http_conn *conn;
	enum idle_state state;
	struct buf in; /* bytes not yet split into lines */
	struct buf caps; /* CAPABILITY answer */
	unsigned tag;
	unsigned failures;
	struct event *timer;
	bool watching; /* told metrics.c that IDLE is up */
};

/* Only what this watcher said is taken back: a restarted account's new
 * watcher may be up before the old one is freed. */
static void
set_watching(struct imap_idle *w, bool up)
{
	if (w->watching != up)
		metrics_account_watching(w->account, up);
	w->watching = up;
}

static void idle_connect(struct imap_idle *w);

static void
arm(struct imap_idle *w, unsigned ms)
{
	timer_add_ms(w->timer, ms);
}

/* Closes the connection and tries again after a back-off. */
static unsigned
retry_later(struct imap_idle *w)
{
	unsigned ms = backoff_msec(w->failures++, 1000, 300000);

	http_conn_close(w->conn);
	w->conn = NULL;
	buf_reset(&w->in);
	w->state = IDLE_WAITING;
	set_watching(w, false);
	arm(w, ms);
	return ms;
}

static void
reconnect_later(struct imap_idle *w, const char *why)
{
	unsigned ms = retry_later(w);

	log_warnx("account=%s: IDLE connection lost (%s); reconnecting in "
		  "%u ms",
	    w->account, why, ms);
}

/*
 * A connection or login that failed: the account's sync passes meet
 * the same cause (a wrong password, a bad certificate) and log it, so
 * only a lasting failure gets a warning of its own, once.
 */
static void
connect_failed(struct imap_idle *w, const char *why)
{
	unsigned ms = retry_later(w);

	if (w->failures == QUIET_CONNECT_FAILURES)
		log_warnx("account=%s: IDLE cannot connect (%s); new mail "
			  "waits for the next poll until it can",
		    w->account, why);
	else
		log_debug("account=%s: IDLE cannot connect (%s); trying "
			  "again in %u ms",
		    w->account, why, ms);
}

static void
send_command(struct imap_idle *w, const char *cmd)
{
	char line[256];

	snprintf(line, sizeof(line), "i%u %s\r\n", ++w->tag, cmd);
	if (http_conn_send(w->conn, line, strlen(line)) == -1)
		reconnect_later(w, "send failed");
}

/* True when line is the tagged answer to the last command. */
static bool
tagged(const struct imap_idle *w, const char *line, bool *ok)
{
	char tag[16];
	size_t n;

	n = (size_t)snprintf(tag, sizeof(tag), "i%u ", w->tag);
	if (strncmp(line, tag, n) != 0)
		return false;
	*ok = strncasecmp(line + n, "OK", 2) == 0;
	return true;
}

static bool
announces_new_mail(const char *line)
{
	size_t n = strlen(line);

	return line[0] == '*' && n > 7 &&
	    strcasecmp(line + n - 7, " EXISTS") == 0;
}

static void
on_line(struct imap_idle *w, const char *line)
{
	bool ok = false;

	if (w->state == IDLE_CAPABILITY && line[0] == '*') {
		buf_appends(&w->caps, line);
		buf_appends(&w->caps, "\n");
		return;
	}
	if (w->state == IDLE_IDLING || w->state == IDLE_ENDING) {
		if (announces_new_mail(line)) {
			log_debug("account=%s: IDLE: %s", w->account, line);
			w->wake(w->arg);
		}
	}
	if (w->state == IDLE_STARTING && line[0] == '+') {
		w->state = IDLE_IDLING;
		w->failures = 0;
		arm(w, IDLE_RENEW_SECS * 1000);
		return;
	}
	if (!tagged(w, line, &ok))
		return;
	if (!ok) {
		reconnect_later(w, line);
		return;
	}
	switch (w->state) {
	case IDLE_CAPABILITY:
		if (!imap_has_capability(w->caps.data ? w->caps.data : "",
			w->caps.len, "IDLE")) {
			log_info("account=%s: the server does not offer IDLE; "
				 "new mail waits for the next poll",
			    w->account);
			http_conn_close(w->conn);
			w->conn = NULL;
			w->state = IDLE_UNSUPPORTED;
			return;
		}
		w->state = IDLE_EXAMINE;
		send_command(w, "EXAMINE INBOX");
		break;
	case IDLE_EXAMINE:
		log_info("account=%s: watching INBOX with IDLE", w->account);
		set_watching(w, true);
		/* Mail may have come while we were away. */
		w->wake(w->arg);
		/* FALLTHROUGH */
	case IDLE_ENDING:
		w->state = IDLE_STARTING;
		send_command(w, "IDLE");
		arm(w, ANSWER_TIMEOUT_SECS * 1000);
		break;
	default:
		break;
	}
}

static void
conn_data(const char *data, size_t len, void *arg)
{
	struct imap_idle *w = arg;
	char *nl;

	buf_append(&w->in, data, len);
	while (w->conn != NULL && w->in.len > 0 &&
	    (nl = memchr(w->in.data, '\n', w->in.len)) != NULL) {
		size_t n = (size_t)(nl - w->in.data);
		char *line = xstrndup(w->in.data, n);

		if (n > 0 && line[n - 1] == '\r')
			line[n - 1] = '\0';
		memmove(w->in.data, nl + 1, w->in.len - n - 1);
		w->in.len -= n + 1;
		w->in.data[w->in.len] = '\0';
		on_line(w, line);
		free(line);
	}
	/* A server that sends endless junk without newlines is broken. */
	if (w->conn != NULL && w->in.len > 1024 * 1024)
		reconnect_later(w, "line too long");
}

static void
conn_closed(const char *why, void *arg)
{
	reconnect_later(arg, why);
}

static void
connected(struct http_conn *c, bool ok, const char *error, void *arg)
{
	struct imap_idle *w = arg;

	if (!ok) {
		w->conn = NULL;
		http_conn_close(c);
		connect_failed(w, error);
		return;
	}
	w->state = IDLE_CAPABILITY;
	buf_reset(&w->caps);
	send_command(w, "CAPABILITY");
}

static void
timer_fired(evutil_socket_t fd, short what, void *arg)
{
	struct imap_idle *w = arg;

	switch (w->state) {
	case IDLE_WAITING:
		idle_connect(w);
		break;
	case IDLE_IDLING:
		w->state = IDLE_ENDING;
		if (http_conn_send(w->conn, "DONE\r\n", 6) == -1) {
			reconnect_later(w, "send failed");
			return;
		}
		arm(w, ANSWER_TIMEOUT_SECS * 1000);
		break;
	case IDLE_UNSUPPORTED:
		break;
	default:
		reconnect_later(w, "no answer from the server");
		break;
	}
}

static void
idle_connect(struct imap_idle *w)
{
	struct xfer_opts o;

	w->state = IDLE_CONNECTING;
	w->tag = 0;
	w->login(&o, w->arg);
	w->conn =
	    http_connect(w->http, &o, connected, conn_data, conn_closed, w);
	free((char *)o.url);
}

struct imap_idle *
imap_idle_start(struct event_base *base, struct http *h, imap_login_fn *login,
    const char *account, imap_wake_fn *wake, void *arg)
{
	struct imap_idle *w = xcalloc(1, sizeof(*w));

	w->base = base;
	w->http = h;
	w->login = login;
	w->account = xstrdup(account);
	w->wake = wake;
	w->arg = arg;
	buf_init(&w->in);
	buf_init(&w->caps);
	w->timer = evtimer_new(base, timer_fired, w);
	idle_connect(w);
	return w;
}

void
imap_idle_stop(struct imap_idle *w)
{
	if (w == NULL)
		return;
	set_watching(w, false);
	http_conn_close(w->conn);
	event_free(w->timer);
	buf_free(&w->in);
	buf_free(&w->caps);
	free(w->account);
	free(w);
}
