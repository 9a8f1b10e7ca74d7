/*
 * The IMAP driver: one session per account, kept open (imap_session.c),
 * read-only. It opens folders with EXAMINE, never SELECT, and fetches
 * with BODY.PEEK[], so that no flag of the user's mailbox changes; no
 * command it sends can set a flag, copy, move, remove or add a message.
 *
 * A sync pass reads as a story:
 *   imap_sync -> (token_ready) -> open_session -> session_ready
 *     -> list_folders -> folders_listed -> folder_next -> cursor_loaded
 *     -> folder_examined -> [(imap_mirror) mirrored] -> list_new
 *     -> (imap_list) uids_listed -> batch_next ...
 * and imap_batch.c fetches each batch, then:
 *     -> batch_fetched -> commit -> batch_committed -> batch_next ...
 *     -> folder_next ... -> pass_end -> idle_enter
 * After a pass the session waits in IDLE on INBOX; the next command
 * ends the IDLE by itself.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "http.h"
#include "imap_conn.h"
#include "imap_batch.h"
#include "imap_list.h"
#include "imap_mirror.h"
#include "imap_resp.h"
#include "imap_session.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"
#include "source.h"
#include "util.h"

/* Servers may end IDLE after 30 minutes (RFC 2177); renew well before. */
#define IDLE_RENEW_MS (25 * 60 * 1000)
/* A stop lets the batch in flight finish for this long, no longer. */
#define STOP_GRACE_MS (3 * 1000)
/* The longest response line believed (a SEARCH of 2,000 UIDs is 22 KB). */
#define MAX_LINE (1024 * 1024)

struct source {
	struct source_env env;
	struct imap_conn conn;
	struct imap_session *sess;
	bool sess_ready; /* logged in, CAPABILITY read */
	bool qresync; /* ENABLE QRESYNC was accepted */
	bool idle_refused; /* this session's server refused IDLE */

	/* The pass in progress. */
	source_done_fn *done;
	void *done_arg;
	bool running;
	bool stopping;
	bool failed;
	bool awaiting_token; /* an XOAUTH2 access token is on its way */
	bool reauthed; /* the token was renewed after a refusal */
	bool cmd_out; /* a command of the pass between batches */
	bool host_wait; /* a cursor is being read: its answer ends a
			 * failed pass */
	char *error;
	char *error_mailbox;
	char **folders;
	size_t n_folders;
	size_t sent; /* index of the Sent folder, or SIZE_MAX: none */
	size_t folder;

	/* The folder in progress. */
	char *name;
	uint32_t uidvalidity;
	uint32_t last_uid;
	uint32_t uidnext;
	uint32_t exists;
	bool exists_known; /* EXISTS was read: 0 means an empty folder */
	uint64_t highestmodseq; /* the server's, from EXAMINE */
	uint64_t since_modseq; /* the stored one */
	struct imap_mirror *mirror; /* flags and removals in flight */
	struct imap_list *list; /* the listing of new UIDs in flight */
	char since[32]; /* " SINCE d-Mon-yyyy" on a first sync, or "" */
	int64_t since_t; /* that day's start, or 0 */
	uint32_t *uids; /* the new UIDs, ascending */
	size_t n_uids;
	size_t next; /* first UID not yet in a batch */
	int64_t listed_us; /* when they were listed; 0 when none were */

	/* Batches: one fetched while the one before is stored. */
	struct imap_batch *fetch;
	bool committing;
	struct ingest_batch *ready; /* fetched, waiting for that commit */
	uint32_t ready_last;
	uint64_t ready_modseq;
	size_t ready_done; /* UIDs listed up to its last */

	/* Push. */
	source_wake_fn *wake;
	void *wake_arg;
	bool watching; /* told metrics.c that IDLE is up */
	uint32_t inbox_uidnext; /* INBOX's UIDNEXT as the pass saw it */
	bool news; /* the server announced mail during the pass */
	struct event *deadline; /* a stop's grace, running out */
	unsigned failures; /* sessions lost in a row while idling */
	bool retry_idle; /* IDLE was lost: passes retry until it is back */
	struct event *retry;

	/* auth = xoauth2: the token, fetched when a session opens. */
	struct oauth *oauth;
};

static void folder_next(struct source *s);
static void batch_next(struct source *s);
static void list_folders(struct source *s);
static void idle_enter(struct source *s);
static void stop_due(evutil_socket_t fd, short what, void *arg);
static void pass_fail(struct source *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const struct account_conf *
conf(const struct source *s)
{
	return s->env.conf;
}

static void
set_watching(struct source *s, bool up)
{
	if (s->watching != up)
		metrics_account_watching(conf(s)->name, up);
	s->watching = up;
}

static void
clear_folder(struct source *s)
{
	imap_mirror_cancel(s->mirror);
	s->mirror = NULL;
	free(s->name);
	s->name = NULL;
	free(s->uids);
	s->uids = NULL;
	s->uidnext = 0;
	s->highestmodseq = 0;
	s->n_uids = s->next = 0;
	s->listed_us = 0;
}

static void
clear_batches(struct source *s)
{
	imap_batch_cancel(s->fetch);
	s->fetch = NULL;
	ingest_batch_discard(s->ready);
	s->ready = NULL;
}

/* The session goes; every command in flight is answered with 0. */
static void
drop_session(struct source *s)
{
	struct imap_session *sess = s->sess;

	s->sess = NULL;
	s->sess_ready = false;
	s->qresync = false;
	s->idle_refused = false;
	set_watching(s, false);
	imap_session_free(sess);
}

static void
pass_end(struct source *s)
{
	source_done_fn *done = s->done;
	char *error = s->error;
	char *mailbox = s->error_mailbox;
	bool ok = !s->failed;

	imap_list_cancel(s->list);
	s->list = NULL;
	clear_batches(s);
	clear_folder(s);
	for (size_t i = 0; i < s->n_folders; i++)
		free(s->folders[i]);
	free(s->folders);
	s->folders = NULL;
	s->n_folders = 0;
	s->running = false;
	s->error = NULL;
	s->error_mailbox = NULL;
	s->failed = false;
	evtimer_del(s->deadline);
	/* Answers still due would belong to no pass: a session in that
	 * state is not reused. */
	if (s->sess != NULL && (s->cmd_out || imap_session_pending(s->sess)))
		drop_session(s);
	s->cmd_out = false;
	/* A stopped pass waits for nothing: the daemon is going. */
	if (ok && !s->stopping)
		idle_enter(s);
	else if (s->wake != NULL && s->retry_idle)
		/* IDLE was lost and the server is not back yet: try again
		 * sooner than the next poll. */
		timer_add_ms(
		    s->retry, backoff_msec(s->failures++, 1000, 300000));
	done(ok, mailbox, error, s->done_arg);
	free(error);
	free(mailbox);
}

static void
pass_fail(struct source *s, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	s->failed = true;
	free(s->error);
	s->error = msg;
	/* A failure before any folder was opened (login, LIST) is the
	 * account's: it is shown on INBOX, the folder every account has. */
	free(s->error_mailbox);
	s->error_mailbox = xstrdup(s->name ? s->name : "INBOX");
	imap_batch_cancel(s->fetch);
	s->fetch = NULL;
	imap_mirror_cancel(s->mirror);
	s->mirror = NULL;
	/* A commit or a cursor read in flight reports back first; then
	 * the pass ends, once. */
	if (!s->committing && !s->host_wait)
		pass_end(s);
}

/* The session ------------------------------------------------------------- */

static void token_ready(const char *token, const char *error, void *arg);

static void
get_token(struct source *s)
{
	s->awaiting_token = true;
	oauth_get(s->oauth, token_ready, s);
}

static void
qresync_enabled(char status, const char *text, void *arg)
{
	struct source *s = arg;

	if (status != 0)
		s->qresync = status == 'O';
}

static void
session_ready(bool ok, const char *error, bool auth_failed, void *arg)
{
	struct source *s = arg;

	if (ok) {
		s->sess_ready = true;
		/* Answered before any EXAMINE sent after it. */
		if (imap_session_has(s->sess, "QRESYNC"))
			imap_session_send(s->sess, "ENABLE QRESYNC", NULL,
			    qresync_enabled, s);
		if (s->running)
			list_folders(s);
		return;
	}
	drop_session(s);
	if (!s->running)
		return;
	if (auth_failed && s->oauth != NULL && !s->reauthed) {
		/* The token may have been revoked early: renew it once. */
		s->reauthed = true;
		oauth_invalidate(s->oauth, s->conn.bearer);
		get_token(s);
		return;
	}
	if (auth_failed)
		pass_fail(s, "cannot log in to %s:%d: login failed for user %s",
		    conf(s)->host, conf(s)->port, conf(s)->username);
	else
		pass_fail(s, "cannot log in to %s:%d: %s", conf(s)->host,
		    conf(s)->port, error);
}

static void
retry_fired(evutil_socket_t fd, short what, void *arg)
{
	struct source *s = arg;

	(void)fd;
	(void)what;
	if (s->wake != NULL)
		s->wake(s->wake_arg);
}

static void
session_closed(const char *why, void *arg)
{
	struct source *s = arg;
	bool idling = s->watching;

	/* What waits for answers hears no more of it. */
	imap_batch_cancel(s->fetch);
	s->fetch = NULL;
	imap_mirror_cancel(s->mirror);
	s->mirror = NULL;
	imap_list_cancel(s->list);
	s->list = NULL;
	drop_session(s);
	if (s->running) {
		pass_fail(s, "connection to %s:%d lost: %s", conf(s)->host,
		    conf(s)->port, why);
		return;
	}
	if (!idling)
		return;
	/* A pass opens a new session and waits in IDLE again. */
	unsigned ms = backoff_msec(s->failures++, 1000, 300000);

	s->retry_idle = true;
	log_warnx("account=%s: IDLE connection lost (%s); reconnecting in "
		  "%u ms",
	    conf(s)->name, why, ms);
	timer_add_ms(s->retry, ms);
}

static void
session_changed(void *arg)
{
	struct source *s = arg;

	if (s->wake != NULL)
		s->wake(s->wake_arg);
}

static const char *
login_options(const struct account_conf *a)
{
	switch (a->sasl_mechanism) {
	case SASL_PLAIN:
		return "AUTH=PLAIN";
	case SASL_LOGIN:
		return "AUTH=LOGIN";
	case SASL_CRAM_MD5:
		return "AUTH=CRAM-MD5";
	case SASL_DIGEST_MD5:
		return "AUTH=DIGEST-MD5";
	case SASL_LOGIN_COMMAND:
		return "AUTH=+LOGIN";
	case SASL_AUTO:
		break;
	}
	return NULL;
}

static void
open_session(struct source *s)
{
	static const struct imap_session_cbs cbs = {
	    session_ready, session_closed, session_changed};
	struct imap_session_limits lim;
	struct xfer_opts o;
	char *url = xasprintf("%s/", s->conn.base_url);

	imap_conn_opts(&s->conn, &o, url);
	o.login_options = login_options(conf(s));
	o.low_speed_secs = conf(s)->io_timeout;
	lim.max_line = MAX_LINE;
	lim.max_literal = ingest_max_message_size();
	lim.answer_timeout_ms = conf(s)->io_timeout * 1000;
	lim.idle_renew_ms = IDLE_RENEW_MS;
	s->sess = imap_session_open(
	    s->env.base, s->env.http, &o, &lim, conf(s)->name, &cbs, s);
	free(url);
}

static void
token_ready(const char *token, const char *error, void *arg)
{
	struct source *s = arg;

	s->awaiting_token = false;
	if (token == NULL) {
		pass_fail(s, "%s", error ? error : "no access token");
		return;
	}
	imap_conn_set_bearer(&s->conn, token);
	open_session(s);
}

static struct source *
imap_create(const struct source_env *env)
{
	struct source *s = xcalloc(1, sizeof(*s));
	const struct account_conf *c = env->conf;

	s->env = *env;
	imap_conn_init(&s->conn, env->http, c);
	if (c->auth == AUTH_XOAUTH2)
		s->oauth = oauth_new(env->base, env->http, c, OAUTH_SCOPE_MAIL);
	s->retry = evtimer_new(env->base, retry_fired, s);
	s->deadline = evtimer_new(env->base, stop_due, s);
	return s;
}

static void
imap_sync(struct source *s, source_done_fn *done, void *arg)
{
	s->done = done;
	s->done_arg = arg;
	s->running = true;
	s->stopping = false;
	s->failed = false;
	s->reauthed = false;
	s->news = false;
	evtimer_del(s->retry);
	if (s->sess != NULL && s->sess_ready)
		list_folders(s);
	else if (s->sess != NULL)
		return; /* session_ready goes on */
	else if (s->oauth != NULL)
		get_token(s);
	else
		open_session(s);
}

/* Folders ------------------------------------------------------------------ */

/* Returns the folder's index in the pass' list. */
static size_t
add_folder(struct source *s, const char *name)
{
	for (size_t i = 0; i < s->n_folders; i++)
		if (strcmp(s->folders[i], name) == 0)
			return i;
	s->folders =
	    xreallocarray(s->folders, s->n_folders + 1, sizeof(char *));
	s->folders[s->n_folders] = xstrdup(name);
	return s->n_folders++;
}

static void
set_folders(struct source *s, const char *sent)
{
	add_folder(s, "INBOX");
	s->sent = SIZE_MAX;
	if (conf(s)->sent_folder)
		s->sent = add_folder(s, conf(s)->sent_folder);
	else if (sent)
		s->sent = add_folder(s, sent);
	else
		log_info("account=%s: no Sent folder found; set sent_folder "
			 "to sync one",
		    conf(s)->name);
	for (char **f = conf(s)->folders; f && *f; f++)
		add_folder(s, *f);
	s->folder = 0;
	folder_next(s);
}

static void
folders_listed(struct imap_answer *a, void *arg)
{
	struct source *s = arg;
	char *sent = NULL;

	if (a->status == 0)
		return;
	s->cmd_out = false;
	if (s->stopping) {
		pass_end(s);
		return;
	}
	if (a->status == 'O')
		sent = imap_parse_list_sent(a->text.data, a->text.len);
	else
		log_warnx("account=%s: the server refused to list folders "
			  "(%s); only INBOX and the configured folders are "
			  "synced",
		    conf(s)->name, a->tagged);
	set_folders(s, sent);
	free(sent);
}

/*
 * The Sent folder is found with what the server offers: SPECIAL-USE
 * flags through LIST-EXTENDED (RFC 6154), the older XLIST, or a plain
 * LIST whose names are matched against the usual ones. A configured
 * sent_folder needs no LIST at all.
 */
static void
list_folders(struct source *s)
{
	const char *cmd = "LIST \"\" \"*\"";

	if (conf(s)->sent_folder != NULL) {
		set_folders(s, NULL);
		return;
	}
	if (imap_session_has(s->sess, "SPECIAL-USE") &&
	    imap_session_has(s->sess, "LIST-EXTENDED"))
		cmd = "LIST \"\" \"*\" RETURN (SPECIAL-USE)";
	else if (imap_session_has(s->sess, "XLIST"))
		cmd = "XLIST \"\" \"*\"";
	s->cmd_out = true;
	imap_session_command(s->sess, cmd, folders_listed, s);
}

/* Only the Sent folder holds our own mail; INBOX never does, even when
 * a configuration names it as Sent. */
static bool
is_sent_folder(const struct source *s, const char *name)
{
	return s->folder == s->sent && strcmp(name, "INBOX") != 0;
}

static void folder_examined(struct imap_answer *a, void *arg);

static void
cursor_loaded(bool ok, const struct source_cursor *cur, void *arg)
{
	struct source *s = arg;
	char *q, *cmd;

	s->host_wait = false;
	/* The session may have gone meanwhile: the pass ends here. */
	if (s->stopping || s->failed) {
		pass_end(s);
		return;
	}
	if (!ok) {
		pass_fail(s, "cannot read the sync cursor of %s", s->name);
		return;
	}
	if (s->sess == NULL) {
		pass_fail(s, "connection to %s:%d lost", conf(s)->host,
		    conf(s)->port);
		return;
	}
	s->uidvalidity = cur ? cur->uidvalidity : 0;
	s->last_uid = cur ? cur->last_uid : 0;
	s->since_modseq = cur ? cur->highestmodseq : 0;
	q = imap_quote(s->name);
	/* CONDSTORE makes the server tell its HIGHESTMODSEQ. */
	cmd = xasprintf("EXAMINE %s%s", q,
	    imap_session_has(s->sess, "CONDSTORE") ? " (CONDSTORE)" : "");
	s->cmd_out = true;
	imap_session_command(s->sess, cmd, folder_examined, s);
	free(cmd);
	free(q);
}

static void
folder_next(struct source *s)
{
	clear_folder(s);
	if (s->stopping || s->folder >= s->n_folders) {
		pass_end(s);
		return;
	}
	s->name = xstrdup(s->folders[s->folder]);
	s->host_wait = true;
	source_load_cursor(&s->env, s->name, cursor_loaded, s);
}

static void uids_listed(const char *error, uint32_t *uids, size_t n, void *arg);
static void list_new(struct source *s);
static void mirrored(const char *error, void *arg);

/*
 * The stored copies' flags and removals are brought up to date when the
 * server keeps modification sequences and the folder changed since the
 * last pass: the generation is the same, and HIGHESTMODSEQ moved.
 */
static bool
wants_mirror(const struct source *s, uint32_t stored_uidvalidity)
{
	return s->highestmodseq != 0 && s->last_uid > 0 &&
	    stored_uidvalidity == s->uidvalidity &&
	    s->highestmodseq != s->since_modseq;
}

static void
folder_examined(struct imap_answer *a, void *arg)
{
	struct source *s = arg;
	struct imap_status st;
	uint32_t stored_uidvalidity = s->uidvalidity;
	struct imap_mirror_params mp;

	if (a->status == 0)
		return;
	s->cmd_out = false;
	if (s->stopping) {
		pass_end(s);
		return;
	}
	if (a->status != 'O') {
		pass_fail(s, "cannot open folder %s: %s", s->name, a->tagged);
		return;
	}
	if (imap_parse_status(a->text.data, a->text.len, &st) == -1) {
		pass_fail(
		    s, "folder %s: the server sent no UIDVALIDITY", s->name);
		return;
	}
	/*
	 * EXISTS only lets the pass skip an empty folder. A server whose
	 * EXISTS line cannot be read ("* 3 EXISTS ") is not believed, but
	 * not failed either, or its mail would never come: the folder is
	 * listed, and the listing alone moves the cursor.
	 */
	s->exists_known = st.exists_seen && !st.garbled;
	if (!s->exists_known)
		log_warnx("account=%s mailbox=%s: the answer to EXAMINE was "
			  "not understood (EXISTS or UIDNEXT); listing the "
			  "folder to find its new messages",
		    conf(s)->name, s->name);
	if (s->uidvalidity != 0 && s->uidvalidity != st.uidvalidity) {
		/* UIDs of the old generation mean nothing now; rows are
		 * matched by Message-ID, so nothing is stored twice. */
		log_warnx("account=%s mailbox=%s: UIDVALIDITY changed from %u "
			  "to %u; syncing the folder again",
		    conf(s)->name, s->name, s->uidvalidity, st.uidvalidity);
		s->last_uid = 0;
	}
	s->uidvalidity = st.uidvalidity;
	/* Set before any early return: the cursor may advance to it. */
	s->uidnext = st.uidnext;
	s->highestmodseq = st.highestmodseq;
	s->exists = st.exists;
	if (strcmp(s->name, "INBOX") == 0)
		s->inbox_uidnext = st.uidnext;
	if (wants_mirror(s, stored_uidvalidity)) {
		memset(&mp, 0, sizeof(mp));
		mp.env = &s->env;
		mp.mailbox = s->name;
		mp.uidvalidity = s->uidvalidity;
		mp.last_uid = s->last_uid;
		mp.since = s->since_modseq;
		mp.highestmodseq = s->highestmodseq;
		mp.qresync = s->qresync;
		s->mirror = imap_mirror_start(s->sess, &mp, mirrored, s);
		return;
	}
	list_new(s);
}

static void
mirrored(const char *error, void *arg)
{
	struct source *s = arg;

	s->mirror = NULL;
	if (error != NULL) {
		pass_fail(s, "%s", error);
		return;
	}
	if (s->stopping) {
		pass_end(s);
		return;
	}
	list_new(s);
}

/* The messages above the cursor: listed, then fetched in batches. */
static void
list_new(struct source *s)
{
	if ((s->exists_known && s->exists == 0) ||
	    (s->uidnext != 0 && s->uidnext <= s->last_uid + 1)) {
		log_debug("account=%s mailbox=%s: nothing new", conf(s)->name,
		    s->name);
		s->next = s->n_uids = 0;
		s->listed_us = 0;
		batch_next(s);
		return;
	}
	/* initial_sync = N days: a folder synced for the first time (or
	 * again after a UIDVALIDITY change) is listed from N days back. */
	s->since[0] = '\0';
	s->since_t = 0;
	if (s->last_uid == 0 && conf(s)->initial_sync_days > 0)
		s->since_t = imap_conn_since(
		    s->since, sizeof(s->since), conf(s)->initial_sync_days);
	s->list = imap_list_start(s->sess, s->last_uid + 1, s->uidnext,
	    s->since, s->since_t, uids_listed, s);
}

static void
uids_listed(const char *error, uint32_t *uids, size_t n, void *arg)
{
	struct source *s = arg;

	s->list = NULL;
	if (error != NULL) {
		free(uids);
		pass_fail(s, "cannot list messages of %s: %s", s->name, error);
		return;
	}
	/* The UIDs come in order, each above the cursor. */
	s->uids = uids;
	s->n_uids = n;
	s->next = 0;
	s->listed_us = n > 0 ? now_usec() : 0;
	if (n > 0)
		log_info("account=%s mailbox=%s: %zu new messages",
		    conf(s)->name, s->name, n);
	if (s->stopping) {
		pass_end(s);
		return;
	}
	batch_next(s);
}

/* Batches ------------------------------------------------------------------ */

static void batch_committed(bool ok, const char *error, void *arg);
static void batch_fetched(
    struct ingest_batch *b, size_t n, bool news, const char *error, void *arg);

/*
 * HIGHESTMODSEQ covers the whole folder: it goes only with the commit
 * that ends one (the flags of older copies were brought up to it, and
 * newer copies were fetched after it), never with a batch of a pass
 * that may yet be cut short.
 */
static void
commit(struct source *s, struct ingest_batch *b, uint32_t last, uint64_t modseq,
    size_t done)
{
	struct source_cursor cur;

	memset(&cur, 0, sizeof(cur));
	cur.uidvalidity = s->uidvalidity;
	cur.last_uid = last;
	cur.highestmodseq = modseq;
	/* The run's progress: done of the UIDs listed, for a long first
	 * sync to show in inboxctl status. */
	cur.progress.listed_us = s->listed_us;
	cur.progress.total = (int64_t)s->n_uids;
	cur.progress.done = (int64_t)done;
	s->committing = true;
	source_commit(&s->env, b, &cur, batch_committed, s);
}

static void
batch_next(struct source *s)
{
	struct imap_batch_params p;

	if (s->failed) {
		pass_end(s);
		return;
	}
	if (s->next >= s->n_uids) {
		/* The folder ends once its last batch is stored. */
		if (s->committing || s->ready != NULL)
			return;
		if (s->n_uids == 0) {
			/* Record the folder's generation even when empty. */
			s->n_uids = 1; /* so that the commit ends the folder */
			s->next = 1;
			/* Every UID below UIDNEXT was looked at: none is new. */
			if (s->uidnext > s->last_uid + 1)
				s->last_uid = s->uidnext - 1;
			commit(s, ingest_batch_new(conf(s), s->name),
			    s->last_uid, s->highestmodseq, 0);
			return;
		}
		s->folder++;
		folder_next(s);
		return;
	}
	if (s->stopping) {
		if (!s->committing && s->ready == NULL)
			pass_end(s);
		return;
	}
	memset(&p, 0, sizeof(p));
	p.conf = conf(s);
	p.mailbox = s->name;
	p.outbound = is_sent_folder(s, s->name);
	p.uids = s->uids + s->next;
	p.n = s->n_uids - s->next;
	s->fetch = imap_batch_start(s->sess, &p, batch_fetched, s);
}

/* n UIDs from next on are in b (or gone from the server), or error. */
static void
batch_fetched(
    struct ingest_batch *b, size_t n, bool news, const char *error, void *arg)
{
	struct source *s = arg;
	uint32_t last;
	uint64_t modseq;

	s->fetch = NULL;
	if (news)
		s->news = true;
	if (error != NULL) {
		pass_fail(s, "%s", error);
		return;
	}
	s->next += n;
	last = s->uids[s->next - 1];
	/* The folder's last batch: every copy is as new as HIGHESTMODSEQ. */
	modseq = s->next == s->n_uids ? s->highestmodseq : 0;
	/* One batch is stored while the next one is fetched. */
	if (s->committing) {
		s->ready = b;
		s->ready_last = last;
		s->ready_modseq = modseq;
		s->ready_done = s->next;
		return;
	}
	commit(s, b, last, modseq, s->next);
	batch_next(s);
}

static void
batch_committed(bool ok, const char *error, void *arg)
{
	struct source *s = arg;

	s->committing = false;
	if (s->failed) {
		pass_end(s);
		return;
	}
	if (!ok) {
		pass_fail(s, "cannot store mail of %s: %s", s->name,
		    error ? error : "database error");
		return;
	}
	if (s->ready != NULL) {
		struct ingest_batch *b = s->ready;

		s->ready = NULL;
		commit(s, b, s->ready_last, s->ready_modseq, s->ready_done);
	}
	if (s->fetch == NULL)
		batch_next(s);
}

/* IDLE ---------------------------------------------------------------------- */

static void
idle_refused(char status, const char *text, void *arg)
{
	struct source *s = arg;

	if (status == 0)
		return;
	s->idle_refused = true;
	set_watching(s, false);
	log_warnx("account=%s: the server refused IDLE (%s); new mail waits "
		  "for the next poll",
	    conf(s)->name, text);
}

static void
idle_examined(struct imap_answer *a, void *arg)
{
	struct source *s = arg;
	struct imap_status st;

	if (a->status == 0 || s->running || s->stopping || s->sess == NULL)
		return;
	if (a->status != 'O' ||
	    imap_parse_status(a->text.data, a->text.len, &st) == -1) {
		log_warnx("account=%s: cannot open INBOX to wait for mail "
			  "(%s); new mail waits for the next poll",
		    conf(s)->name, a->tagged);
		return;
	}
	s->failures = 0;
	s->retry_idle = false;
	imap_session_idle(s->sess, idle_refused, s);
	if (!s->watching)
		log_info("account=%s: watching INBOX with IDLE", conf(s)->name);
	set_watching(s, true);
	/* Mail that came during the pass was announced to nobody. */
	if (s->news || (st.uidnext != 0 && st.uidnext != s->inbox_uidnext))
		s->wake(s->wake_arg);
}

/* After a pass: wait in INBOX for the server's news. */
static void
idle_enter(struct source *s)
{
	if (!conf(s)->idle || s->wake == NULL || s->sess == NULL ||
	    !s->sess_ready || s->idle_refused)
		return;
	if (!imap_session_has(s->sess, "IDLE")) {
		if (!s->idle_refused)
			log_info("account=%s: the server does not offer IDLE; "
				 "new mail waits for the next poll",
			    conf(s)->name);
		s->idle_refused = true;
		return;
	}
	imap_session_command(s->sess, "EXAMINE INBOX", idle_examined, s);
}

/* Control ------------------------------------------------------------------ */

/*
 * A batch that does not finish within the grace after a stop (a server
 * that streams without end, or crawls) is given up: it is fetched again
 * on the next start.
 */
static void
stop_due(evutil_socket_t fd, short what, void *arg)
{
	struct source *s = arg;

	(void)fd;
	(void)what;
	if (!s->running || s->fetch == NULL)
		return;
	log_warnx("account=%s mailbox=%s: the batch in flight did not finish "
		  "within %d s of the stop; it is fetched again next time",
	    conf(s)->name, s->name, STOP_GRACE_MS / 1000);
	imap_batch_cancel(s->fetch);
	s->fetch = NULL;
	drop_session(s);
	if (!s->committing)
		pass_end(s);
}

static void
imap_stop(struct source *s)
{
	s->stopping = true;
	if (!s->running) {
		/* Between passes: the IDLE session closes now. */
		evtimer_del(s->retry);
		drop_session(s);
		return;
	}
	if (s->running && s->fetch != NULL)
		timer_add_ms(s->deadline, STOP_GRACE_MS);
	if (s->running && s->awaiting_token) {
		/* Nothing is in flight but the token request. A cursor
		 * being read ends the pass when it arrives (cursor_loaded):
		 * the host holds its callback until then. */
		s->awaiting_token = false;
		oauth_cancel(s->oauth, s);
		pass_end(s);
		return;
	}
	/* A batch being fetched is finished and committed; a command in
	 * flight between batches, or a login, is abandoned. */
	if (s->running && s->fetch == NULL && !s->committing &&
	    (s->cmd_out || s->list != NULL || s->mirror != NULL ||
		!s->sess_ready)) {
		if (!s->sess_ready)
			drop_session(s);
		pass_end(s);
	}
}

static void
imap_watch(struct source *s, source_wake_fn *wake, void *arg)
{
	if (!conf(s)->idle)
		return;
	s->wake = wake;
	s->wake_arg = arg;
}

static void
imap_destroy(struct source *s)
{
	if (s == NULL)
		return;
	imap_list_cancel(s->list);
	s->list = NULL;
	clear_batches(s);
	drop_session(s);
	if (s->oauth != NULL) {
		oauth_cancel(s->oauth, s);
		oauth_free(s->oauth);
	}
	event_free(s->retry);
	event_free(s->deadline);
	clear_folder(s);
	for (size_t i = 0; i < s->n_folders; i++)
		free(s->folders[i]);
	free(s->folders);
	free(s->error);
	free(s->error_mailbox);
	imap_conn_clear(&s->conn);
	free(s);
}

const struct source_ops source_imap_ops = {
    .type = "imap",
    .create = imap_create,
    .sync = imap_sync,
    .stop = imap_stop,
    .watch = imap_watch,
    .destroy = imap_destroy,
};
