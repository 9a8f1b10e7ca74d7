/*
 * An IMAP session on a raw connection:
 *   open -> (libcurl: connect, TLS, login) conn_ready -> CAPABILITY
 *     -> ready ... commands, each answered in turn ...
 *     -> IDLE -> "+" -> idling ... changed ... -> DONE -> OK ...
 *   and, on any failure, closed once.
 *
 * Bytes go through imap_reader, which hands over whole responses;
 * untagged ones belong to the oldest command waiting, tagged ones end
 * the command they name. One timer watches the server: it must answer
 * within answer_timeout_ms while an answer is due, and an IDLE is
 * renewed every idle_renew_ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "http.h"
#include "imap_reader.h"
#include "imap_resp.h"
#include "imap_session.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

struct cmd {
	TAILQ_ENTRY(cmd) entry;
	unsigned tag;
	char *line; /* "tag command\r\n" until written */
	imap_each_fn *each;
	imap_tagged_fn *done;
	void *arg;
	bool is_idle;
};
TAILQ_HEAD(cmd_list, cmd);

enum idle_state {
	IDLE_OFF,
	IDLE_STARTING, /* IDLE sent, "+" not yet seen */
	IDLE_ON, /* idling */
	IDLE_ENDING, /* DONE sent */
};

struct imap_session {
	struct event_base *base;
	struct http_conn *conn;
	struct imap_reader *reader;
	struct imap_session_limits lim;
	char *account;
	struct imap_session_cbs cbs;
	void *arg;
	struct cmd_list cmds;
	unsigned tag;
	struct buf caps;
	struct event *timer;
	enum idle_state idle;
	bool renew; /* enter IDLE again once this one ends */
	bool done_wanted; /* end IDLE as soon as it starts */
	imap_tagged_fn *idle_refused;
	void *idle_arg;
	bool is_ready;
	bool dead;
	int busy; /* inside a callback of http.c */
	bool free_asked;
	char bye[256];
	char why[512]; /* why the session died, reported from the timer */
	uint64_t rx; /* bytes received since the last command ended */
	int64_t idle_since; /* when the server began this IDLE */
};

static void session_fail(struct imap_session *s, const char *why);

static struct cmd *
oldest(const struct imap_session *s)
{
	return TAILQ_FIRST(&s->cmds);
}

/* Commands written to the server wait for an answer; IDLE in progress
 * waits for the server's news, and its renewal. */
static void
rearm(struct imap_session *s)
{
	struct cmd *c = oldest(s);

	if (s->dead)
		return;
	if (c == NULL)
		evtimer_del(s->timer);
	else if (c->is_idle && s->idle == IDLE_ON &&
	    TAILQ_NEXT(c, entry) == NULL) {
		/* Renewed so long after it began, whatever the server says
		 * meanwhile (Dovecot's "Still here" every two minutes). */
		int64_t left =
		    s->idle_since + s->lim.idle_renew_ms - mono_msec();

		timer_add_ms(s->timer, left > 0 ? left : 0);
	} else
		timer_add_ms(s->timer, s->lim.answer_timeout_ms);
}

static void
write_line(struct imap_session *s, const char *line)
{
	if (s->dead)
		return;
	if (http_conn_send(s->conn, line, strlen(line)) == -1)
		session_fail(s, "cannot send to the server");
}

/* Writes the commands held back while an IDLE was starting. */
static void
flush_held(struct imap_session *s)
{
	struct cmd *c;

	TAILQ_FOREACH(c, &s->cmds, entry) {
		if (c->line == NULL)
			continue;
		write_line(s, c->line);
		free(c->line);
		c->line = NULL;
	}
}

static void
end_idle(struct imap_session *s)
{
	if (s->idle == IDLE_ON) {
		s->idle = IDLE_ENDING;
		write_line(s, "DONE\r\n");
		flush_held(s);
	} else if (s->idle == IDLE_STARTING)
		s->done_wanted = true;
}

static void
enqueue(struct imap_session *s, const char *cmd, imap_each_fn *each,
    imap_tagged_fn *done, void *arg, bool is_idle)
{
	struct cmd *c = xcalloc(1, sizeof(*c));

	c->tag = ++s->tag;
	c->line = xasprintf("x%u %s\r\n", c->tag, cmd);
	c->each = each;
	c->done = done;
	c->arg = arg;
	c->is_idle = is_idle;
	TAILQ_INSERT_TAIL(&s->cmds, c, entry);
	/* Ending an IDLE writes DONE and then what waits, this included. */
	if (s->idle != IDLE_OFF && !is_idle)
		end_idle(s);
	/* While an IDLE starts, the server takes the next line for its
	 * end: commands wait until DONE is written. */
	if (c->line != NULL && (s->idle != IDLE_STARTING || is_idle)) {
		write_line(s, c->line);
		free(c->line);
		c->line = NULL;
	}
	rearm(s);
}

void
imap_session_send(struct imap_session *s, const char *cmd, imap_each_fn *each,
    imap_tagged_fn *done, void *arg)
{
	enqueue(s, cmd, each, done, arg, false);
}

/* Commands answered with text ------------------------------------------- */

/* What a CAPABILITY answer may hold. */
#define MAX_CAPS (64 * 1024)
/* The most text one answer may hold: a server that floods untagged
 * lines during a command is cut off, not buffered without end. */
#define MAX_TEXT_ANSWER (64 * 1024 * 1024)

struct text_cmd {
	struct imap_session *s;
	imap_answer_fn *done;
	void *arg;
	struct buf text;
};

static void
text_each(struct imap_response *r, void *arg)
{
	struct text_cmd *t = arg;

	if (t->text.len + r->len + 1 > MAX_TEXT_ANSWER) {
		session_fail(t->s, "an answer too long");
		return;
	}
	buf_append(&t->text, r->line, r->len);
	buf_append(&t->text, "\n", 1);
}

static void
text_done(char status, const char *tagged, void *arg)
{
	struct text_cmd *t = arg;
	struct imap_answer a;

	a.status = status;
	a.tagged = tagged;
	a.text = t->text;
	buf_init(&t->text);
	t->done(&a, t->arg);
	buf_free(&a.text);
	free(t);
}

void
imap_session_command(
    struct imap_session *s, const char *cmd, imap_answer_fn *done, void *arg)
{
	struct text_cmd *t = xcalloc(1, sizeof(*t));

	t->s = s;
	t->done = done;
	t->arg = arg;
	buf_init(&t->text);
	imap_session_send(s, cmd, text_each, text_done, t);
}

/* IDLE ------------------------------------------------------------------ */

static void idle_done(char status, const char *text, void *arg);

static void
start_idle(struct imap_session *s)
{
	s->idle = IDLE_STARTING;
	s->done_wanted = false;
	enqueue(s, "IDLE", NULL, idle_done, s, true);
}

static void
idle_done(char status, const char *text, void *arg)
{
	struct imap_session *s = arg;
	bool again = s->renew && status == 'O';

	s->idle = IDLE_OFF;
	s->renew = false;
	flush_held(s);
	if (status != 'O') {
		if (s->idle_refused)
			s->idle_refused(status, text, s->idle_arg);
		return;
	}
	/* A renewal: nothing else asked for the session meanwhile. */
	if (again && oldest(s) == NULL)
		start_idle(s);
}

void
imap_session_idle(struct imap_session *s, imap_tagged_fn *refused, void *arg)
{
	if (s->dead || s->idle != IDLE_OFF)
		return;
	s->idle_refused = refused;
	s->idle_arg = arg;
	start_idle(s);
}

bool
imap_session_idling(const struct imap_session *s)
{
	return s->idle == IDLE_ON || s->idle == IDLE_STARTING;
}

size_t
imap_session_pending(const struct imap_session *s)
{
	size_t n = 0;
	struct cmd *c;

	TAILQ_FOREACH(c, &s->cmds, entry)
		if (!c->is_idle)
			n++;
	return n;
}

/* Reading --------------------------------------------------------------- */

/* EXISTS, EXPUNGE, VANISHED, or a FETCH of flags. */
static bool
announces_change(struct imap_response *r)
{
	uint32_t n;
	enum imap_count k = imap_count_parse(r, &n);
	const char *p = r->line + 2, *end = r->line + r->len;

	if (k == IMAP_EXISTS || k == IMAP_EXPUNGE)
		return true;
	if (r->len > 10 && strncasecmp(p, "VANISHED ", 9) == 0)
		return true;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p > r->line + 2 && end - p > 7 &&
	    strncasecmp(p, " FETCH (", 8) == 0;
}

static void
on_untagged(struct imap_session *s, struct imap_response *r)
{
	struct cmd *c = oldest(s);

	if (imap_is_bye(r))
		snprintf(s->bye, sizeof(s->bye), "%.*s", (int)r->len, r->line);
	if (c != NULL && c->is_idle) {
		if (announces_change(r) && s->cbs.changed)
			s->cbs.changed(s->arg);
		return;
	}
	if (c != NULL && c->each != NULL)
		c->each(r, c->arg);
}

static void
on_continue(struct imap_session *s)
{
	if (s->idle != IDLE_STARTING)
		return; /* nothing of ours asks for more */
	s->idle = IDLE_ON;
	s->idle_since = mono_msec();
	if (s->done_wanted)
		end_idle(s);
}

static void
on_tagged(struct imap_session *s, struct imap_response *r)
{
	struct cmd *c = NULL;
	char status = imap_tagged_status(r);
	char *text, why[128];
	unsigned long tag = 0;
	size_t i;

	/* Our tags are "x" and a number; anything else is no answer. */
	for (i = 1;
	     i < r->tag_len && i < 11 && r->tag[i] >= '0' && r->tag[i] <= '9';
	     i++)
		tag = tag * 10 + (unsigned long)(r->tag[i] - '0');
	if (r->tag_len > 1 && r->tag[0] == 'x' && i == r->tag_len)
		TAILQ_FOREACH(c, &s->cmds, entry)
			if (c->tag == tag && c->line == NULL)
				break;
	if (c == NULL || status == 0) {
		size_t n = (size_t)snprintf(
		    why, sizeof(why), "an answer not understood: ");

		/* What the server sent, printable and short, for the log. */
		for (i = 0; i < r->len && i < 60 && n + 1 < sizeof(why); i++)
			why[n++] = r->line[i] >= 0x20 && r->line[i] < 0x7f
			    ? r->line[i]
			    : '?';
		why[n] = '\0';
		session_fail(s, why);
		return;
	}
	TAILQ_REMOVE(&s->cmds, c, entry);
	/* One command is one transfer, its bytes what came since the last. */
	metrics_transfer("imap", s->rx);
	s->rx = 0;
	text = xstrndup(r->text, (size_t)(r->line + r->len - r->text));
	c->done(status, text, c->arg);
	free(text);
	free(c);
}

static bool
on_response(struct imap_response *r, void *arg)
{
	struct imap_session *s = arg;

	switch (r->kind) {
	case IMAP_UNTAGGED:
		on_untagged(s, r);
		break;
	case IMAP_CONTINUE:
		on_continue(s);
		break;
	case IMAP_TAGGED:
		on_tagged(s, r);
		break;
	}
	return !s->dead && !s->free_asked;
}

/* Every command still waiting hears that no answer will come. */
static void
session_destroy(struct imap_session *s)
{
	struct cmd *c;

	s->dead = true;
	while ((c = TAILQ_FIRST(&s->cmds)) != NULL) {
		TAILQ_REMOVE(&s->cmds, c, entry);
		if (!c->is_idle)
			c->done(
			    0, s->why[0] ? s->why : "session closed", c->arg);
		free(c->line);
		free(c);
	}
	http_conn_close(s->conn);
	imap_reader_free(s->reader);
	event_free(s->timer);
	buf_free(&s->caps);
	free(s->account);
	free(s);
}

/* The end of a callback of http.c: a free asked inside it happens now. */
static void
leave(struct imap_session *s)
{
	if (--s->busy == 0 && s->free_asked)
		session_destroy(s);
}

static void
conn_data(const char *data, size_t len, void *arg)
{
	struct imap_session *s = arg;

	s->busy++;
	s->rx += len;
	if (!s->dead && !s->free_asked) {
		if (imap_reader_feed(s->reader, data, len) == -1)
			session_fail(s, imap_reader_error(s->reader));
		else
			rearm(s);
	}
	leave(s);
}

static void
conn_closed(const char *why, void *arg)
{
	struct imap_session *s = arg;
	char msg[512];

	s->busy++;
	snprintf(
	    msg, sizeof(msg), "%s%s%s", why, s->bye[0] ? ": " : "", s->bye);
	session_fail(s, msg);
	leave(s);
}

/*
 * The server is gone, or must be: every command in flight is lost. The
 * owner hears of it from the loop, never from inside its own call.
 */
static void
session_fail(struct imap_session *s, const char *why)
{
	if (s->dead || s->free_asked)
		return;
	snprintf(s->why, sizeof(s->why), "%s", why);
	s->dead = true;
	http_conn_close(s->conn);
	s->conn = NULL;
	timer_add_ms(s->timer, 0);
}

static void
timer_fired(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session *s = arg;
	struct cmd *c = oldest(s);
	char why[128];

	(void)fd;
	(void)what;
	s->busy++;
	if (s->dead) {
		if (!s->is_ready)
			s->cbs.ready(false, s->why, false, s->arg);
		else
			s->cbs.closed(s->why, s->arg);
	} else if (c != NULL && c->is_idle && s->idle == IDLE_ON &&
	    TAILQ_NEXT(c, entry) == NULL) {
		s->renew = true;
		end_idle(s);
		rearm(s);
	} else {
		snprintf(why, sizeof(why), "no answer from the server in %d s",
		    s->lim.answer_timeout_ms / 1000);
		session_fail(s, why);
	}
	leave(s);
}

/* Login --------------------------------------------------------------------- */

static void
caps_each(struct imap_response *r, void *arg)
{
	struct imap_session *s = arg;

	if (s->caps.len + r->len > MAX_CAPS) {
		session_fail(s, "a CAPABILITY answer too long");
		return;
	}
	if (r->len > 12 && strncasecmp(r->line, "* CAPABILITY ", 13) == 0) {
		buf_append(&s->caps, r->line + 13, r->len - 13);
		buf_append(&s->caps, "\n", 1);
	}
}

static void
caps_done(char status, const char *text, void *arg)
{
	struct imap_session *s = arg;
	char why[512];

	if (status != 'O') {
		snprintf(why, sizeof(why), "CAPABILITY refused: %s", text);
		session_fail(s, why);
		return;
	}
	s->is_ready = true;
	s->cbs.ready(true, NULL, false, s->arg);
}

static void
conn_ready(struct http_conn *c, bool ok, const char *error, bool auth_failed,
    void *arg)
{
	struct imap_session *s = arg;

	s->busy++;
	if (!ok) {
		s->conn = NULL;
		http_conn_close(c);
		s->dead = true;
		s->cbs.ready(false, error, auth_failed, s->arg);
		leave(s);
		return;
	}
	/* What the server offers after login may differ from before. */
	imap_session_send(s, "CAPABILITY", caps_each, caps_done, s);
	leave(s);
}

struct imap_session *
imap_session_open(struct event_base *base, struct http *h,
    const struct xfer_opts *login, const struct imap_session_limits *lim,
    const char *account, const struct imap_session_cbs *cbs, void *arg)
{
	struct imap_session *s = xcalloc(1, sizeof(*s));

	s->base = base;
	s->lim = *lim;
	s->account = xstrdup(account);
	s->cbs = *cbs;
	s->arg = arg;
	TAILQ_INIT(&s->cmds);
	buf_init(&s->caps);
	s->timer = evtimer_new(base, timer_fired, s);
	s->reader =
	    imap_reader_new(lim->max_line, lim->max_literal, on_response, s);
	s->conn = http_connect(h, login, conn_ready, conn_data, conn_closed, s);
	return s;
}

void
imap_session_free(struct imap_session *s)
{
	if (s == NULL)
		return;
	if (s->busy > 0) {
		s->free_asked = true;
		evtimer_del(s->timer);
		return;
	}
	session_destroy(s);
}

bool
imap_session_has(const struct imap_session *s, const char *cap)
{
	return imap_has_capability(
	    s->caps.data ? s->caps.data : "", s->caps.len, cap);
}
