/*
 * The IMAP driver, on libcurl through http.c (imap_conn.c builds its
 * requests, imap_list.c lists new messages).
 *
 * A sync pass reads as a story:
 *   imap_sync -> (token_ready) -> folders_listed -> folder_next
 *     -> cursor_loaded -> folder_examined -> (imap_list) uids_listed ...
 * and then, batch by batch:
 *   batch_next -> unseen_listed -> fetch_more -> message_fetched ...
 *     -> parse_ready -> check_gone -> (gone_checked) -> fetch_dates
 *     -> (dates_fetched) -> restore_seen
 *     -> seen_restored -> commit -> batch_committed -> batch_next ...
 *     -> folder_next ... -> pass_end
 *
 * libcurl fetches with BODY[], which sets \Seen; the flags read
 * beforehand tell which messages to mark unseen again.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "http.h"
#include "imap_conn.h"
#include "imap_idle.h"
#include "imap_list.h"
#include "imap_resp.h"
#include "ingest.h"
#include "log.h"
#include "oauth.h"
#include "source.h"
#include "util.h"

struct source {
	struct source_env env;
	struct imap_conn conn;

	/* The pass in progress. */
	source_done_fn *done;
	void *done_arg;
	bool running;
	bool stopping;
	bool failed;
	bool awaiting_token; /* an XOAUTH2 access token is on its way */
	char *error;
	char *error_mailbox;
	char **folders;
	size_t n_folders;
	size_t sent; /* index of the Sent folder, or SIZE_MAX: none */
	size_t folder;
	struct xfer *cmd; /* the command in flight */

	/* The folder in progress. */
	char *name;
	bool outbound;
	uint32_t uidvalidity;
	uint32_t last_uid;
	uint32_t uidnext;
	struct imap_list *list; /* the listing of new UIDs in flight */
	char since[32]; /* " SINCE d-Mon-yyyy" on a first sync, or "" */
	uint64_t highestmodseq;
	struct imap_msginfo *msgs;
	size_t n_msgs;
	size_t next; /* first message not yet in a batch */

	/* The batch in progress: msgs[b_start .. b_end). */
	struct ingest_batch *batch;
	size_t b_start, b_end;
	size_t b_bytes; /* fetched so far */
	size_t b_fetch; /* next message to request */
	size_t b_parse; /* next message to parse, in UID order */
	struct slot {
		struct source *src; /* for the fetch callback */
		size_t index; /* into msgs */
		struct xfer *x;
		struct buf data;
		bool done;
		bool gone; /* answered without it: expunged, if confirmed */
		bool truncated;
		size_t size; /* the message's size, even when cut */
	} * slots;
	bool committing; /* a batch is being stored */
	struct ingest_batch *ready; /* fetched, waiting for that commit */
	uint32_t ready_last;

	struct imap_idle *idle; /* push, when the account wants it */
	source_wake_fn *wake;
	void *wake_arg;

	/* auth = xoauth2: the token, refreshed before each pass. */
	struct oauth *oauth;
	bool reauthed; /* the token was renewed after a 401 */
};

static void folder_next(struct source *s);
static void batch_next(struct source *s);
static void pass_fail(struct source *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const struct account_conf *
conf(const struct source *s)
{
	return s->env.conf;
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
	return s;
}

/* A command whose answer has no message bodies. */
static void
command(
    struct source *s, const char *mailbox, const char *cmd, xfer_done_fn *done)
{
	s->cmd = imap_conn_command(&s->conn, mailbox, cmd, done, s);
}

static void
clear_folder(struct source *s)
{
	free(s->name);
	s->name = NULL;
	free(s->msgs);
	s->msgs = NULL;
	s->uidnext = 0;
	s->highestmodseq = 0;
	s->n_msgs = s->next = 0;
}

static void
clear_batch(struct source *s)
{
	if (s->slots) {
		for (size_t i = 0; i < s->b_end - s->b_start; i++) {
			http_cancel(s->slots[i].x);
			buf_free(&s->slots[i].data);
		}
		free(s->slots);
		s->slots = NULL;
	}
	ingest_batch_discard(s->batch);
	s->batch = NULL;
	ingest_batch_discard(s->ready);
	s->ready = NULL;
}

static void
pass_end(struct source *s)
{
	source_done_fn *done = s->done;
	char *error = s->error;
	char *mailbox = s->error_mailbox;
	bool ok = !s->failed;

	clear_batch(s);
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
	/* A commit in flight reports back first; then the pass ends. */
	if (!s->committing)
		pass_end(s);
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

static void token_ready(const char *token, const char *error, void *arg);

static void
get_token(struct source *s)
{
	s->awaiting_token = true;
	oauth_get(s->oauth, token_ready, s);
}

static void
folders_listed(struct xfer_result *r, void *arg)
{
	struct source *s = arg;
	char *sent = NULL;

	s->cmd = NULL;
	if (!r->ok && r->auth_failed && s->oauth != NULL && !s->reauthed) {
		/* The token may have been revoked early: renew it once. */
		s->reauthed = true;
		oauth_invalidate(s->oauth, s->conn.bearer);
		get_token(s);
		return;
	}
	if (!r->ok) {
		pass_fail(s, "cannot list folders on %s:%d: %s", conf(s)->host,
		    conf(s)->port, imap_conn_why(&s->conn, r));
		return;
	}
	if (conf(s)->sent_folder == NULL)
		sent = imap_parse_list_sent(r->body.data, r->body.len);
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
	free(sent);
	s->folder = 0;
	folder_next(s);
}

static void
list_folders(struct source *s)
{
	command(
	    s, NULL, "LIST \"\" \"*\" RETURN (SPECIAL-USE)", folders_listed);
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
	list_folders(s);
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
	if (s->oauth != NULL)
		get_token(s);
	else
		list_folders(s);
}

/* One folder -------------------------------------------------------------- */

/* Only the Sent folder holds our own mail; INBOX never does, even when
 * a configuration names it as Sent. */
static bool
is_sent_folder(const struct source *s, const char *name)
{
	return s->folder == s->sent && strcmp(name, "INBOX") != 0;
}

static void folder_examined(struct xfer_result *r, void *arg);

static void
cursor_loaded(bool ok, const struct source_cursor *cur, void *arg)
{
	struct source *s = arg;
	char *q, *cmd;

	if (s->stopping) {
		pass_end(s);
		return;
	}
	if (!ok) {
		pass_fail(s, "cannot read the sync cursor of %s", s->name);
		return;
	}
	s->uidvalidity = cur ? cur->uidvalidity : 0;
	s->last_uid = cur ? cur->last_uid : 0;
	q = imap_quote(s->name);
	cmd = xasprintf("EXAMINE %s", q);
	command(s, NULL, cmd, folder_examined);
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
	s->outbound = is_sent_folder(s, s->name);
	source_load_cursor(&s->env, s->name, cursor_loaded, s);
}

static void uids_listed(const char *error, uint32_t *uids, size_t n, void *arg);

/* UID FETCH of dates: lines per command that stay well inside libcurl's
 * header limit (see imap_list.c). */
#define FETCH_LINES 60

static void
folder_examined(struct xfer_result *r, void *arg)
{
	struct source *s = arg;
	struct imap_status st;

	s->cmd = NULL;
	if (!r->ok) {
		pass_fail(s, "cannot open folder %s: %s", s->name,
		    imap_conn_why(&s->conn, r));
		return;
	}
	if (imap_parse_status(r->body.data, r->body.len, &st) == -1) {
		pass_fail(
		    s, "folder %s: the server sent no UIDVALIDITY", s->name);
		return;
	}
	/* EXISTS (and UIDNEXT) decide how far the cursor may move. */
	if (st.garbled || !st.exists_seen) {
		pass_fail(s,
		    "folder %s: the answer to EXAMINE was not "
		    "understood (EXISTS or UIDNEXT)",
		    s->name);
		return;
	}
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
	if (st.exists == 0 ||
	    (st.uidnext != 0 && st.uidnext <= s->last_uid + 1)) {
		log_debug("account=%s mailbox=%s: nothing new", conf(s)->name,
		    s->name);
		s->next = 0;
		s->n_msgs = 0;
		batch_next(s);
		return;
	}
	/* initial_sync = N days: a folder synced for the first time (or
	 * again after a UIDVALIDITY change) is listed from N days back. */
	s->since[0] = '\0';
	if (s->last_uid == 0 && conf(s)->initial_sync_days > 0)
		imap_conn_since(
		    s->since, sizeof(s->since), conf(s)->initial_sync_days);
	s->n_msgs = 0;
	s->list = imap_list_start(&s->conn, s->name, s->last_uid + 1,
	    s->uidnext, s->since, uids_listed, s);
}

static void
uids_listed(const char *error, uint32_t *uids, size_t n, void *arg)
{
	struct source *s = arg;

	s->list = NULL;
	if (error != NULL) {
		pass_fail(s, "cannot list messages of %s: %s", s->name, error);
		return;
	}
	/* The UIDs come in order, each above the cursor. */
	s->msgs = xcalloc(n ? n : 1, sizeof(*s->msgs));
	for (size_t i = 0; i < n; i++)
		s->msgs[i].uid = uids[i];
	s->n_msgs = n;
	free(uids);
	s->next = 0;
	if (s->n_msgs > 0)
		log_info("account=%s mailbox=%s: %zu new messages",
		    conf(s)->name, s->name, s->n_msgs);
	batch_next(s);
}

/* Batches ------------------------------------------------------------------ */

static void batch_committed(bool ok, const char *error, void *arg);
static void commit(
    struct source *s, struct ingest_batch *b, uint32_t last, uint64_t modseq);
static void fetch_more(struct source *s);

static void unseen_listed(struct xfer_result *r, void *arg);

static void
batch_next(struct source *s)
{
	size_t max_n = (size_t)conf(s)->batch_size;
	char *cmd;

	if (s->failed) {
		pass_end(s);
		return;
	}
	if (s->next >= s->n_msgs) {
		/* The folder ends once its last batch is stored. */
		if (s->committing || s->ready != NULL)
			return;
		if (s->n_msgs == 0) {
			/* Record the folder's generation even when empty. */
			s->n_msgs = 1; /* so that the commit ends the folder */
			s->next = 1;
			/* Every UID below UIDNEXT was looked at: none is new. */
			if (s->uidnext > s->last_uid + 1)
				s->last_uid = s->uidnext - 1;
			commit(s, ingest_batch_new(conf(s), s->name),
			    s->last_uid, s->highestmodseq);
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
	s->b_start = s->next;
	s->b_end =
	    s->b_start + max_n < s->n_msgs ? s->b_start + max_n : s->n_msgs;
	s->next = s->b_end;
	s->b_bytes = 0;
	s->slots = xcalloc(s->b_end - s->b_start, sizeof(*s->slots));
	s->b_fetch = s->b_start;
	s->b_parse = s->b_start;
	s->batch = ingest_batch_new(conf(s), s->name);
	cmd = xasprintf("UID SEARCH UNSEEN UID %u:%u", s->msgs[s->b_start].uid,
	    s->msgs[s->b_end - 1].uid);
	command(s, s->name, cmd, unseen_listed);
	free(cmd);
}

/* Fetching sets \Seen; what was unseen before is made unseen again. */
static void
unseen_listed(struct xfer_result *r, void *arg)
{
	struct source *s = arg;
	uint32_t *uids;
	size_t n;

	s->cmd = NULL;
	if (!r->ok) {
		clear_batch(s);
		pass_fail(s, "cannot read flags in %s: %s", s->name,
		    imap_conn_why(&s->conn, r));
		return;
	}
	if (imap_parse_search(r->body.data, r->body.len, &uids, &n) == -1) {
		clear_batch(s);
		pass_fail(s,
		    "cannot read flags in %s: the answer to UID "
		    "SEARCH UNSEEN was not understood",
		    s->name);
		return;
	}
	/* No unseen mail: uids is NULL, which qsort and bsearch must not
	 * be given even for zero elements. */
	if (n > 0)
		qsort(uids, n, sizeof(*uids), imap_uid_cmp);
	for (size_t i = s->b_start; i < s->b_end; i++)
		s->msgs[i].seen = n == 0 ||
		    bsearch(&s->msgs[i].uid, uids, n, sizeof(*uids),
			imap_uid_cmp) == NULL;
	free(uids);
	fetch_more(s);
}

static void message_fetched(struct xfer_result *r, void *arg);

static size_t
fetches_in_flight(const struct source *s)
{
	size_t n = 0;

	for (size_t i = s->b_parse; i < s->b_fetch; i++)
		if (!s->slots[i - s->b_start].done)
			n++;
	return n;
}

static void
fetch_more(struct source *s)
{
	size_t limit = (size_t)conf(s)->connections;

	while (s->b_fetch < s->b_end && fetches_in_flight(s) < limit) {
		size_t i;

		/* A batch is bounded by bytes too: it ends here. */
		if (s->b_bytes >= conf(s)->batch_bytes &&
		    s->b_fetch > s->b_start) {
			s->b_end = s->b_fetch;
			s->next = s->b_end;
			break;
		}
		i = s->b_fetch++;
		struct slot *sl = &s->slots[i - s->b_start];
		sl->src = s;
		sl->index = i;
		buf_init(&sl->data);
		sl->x = imap_conn_fetch(&s->conn, s->name, s->uidvalidity,
		    s->msgs[i].uid, ingest_max_message_size(), message_fetched,
		    sl);
	}
}

static void restore_seen(struct source *s);
static void check_gone(struct source *s);
static void fetch_dates(struct source *s);

/* Parses, in UID order, every message fetched so far. */
static void
parse_ready(struct source *s)
{
	while (
	    s->b_parse < s->b_end && s->slots[s->b_parse - s->b_start].done) {
		struct slot *sl = &s->slots[s->b_parse - s->b_start];
		const struct imap_msginfo *mi = &s->msgs[s->b_parse];
		struct ingest_meta meta;

		if (!sl->gone) {
			memset(&meta, 0, sizeof(meta));
			meta.uid = mi->uid;
			meta.internal_date = mi->internal_date;
			meta.outbound_hint = s->outbound;
			meta.size = sl->size;
			ingest_batch_add(s->batch,
			    sl->data.data ? sl->data.data : "", sl->data.len,
			    sl->truncated, &meta);
		}
		buf_free(&sl->data);
		s->b_parse++;
	}
	if (s->b_parse == s->b_end)
		check_gone(s);
}

static void
message_fetched(struct xfer_result *r, void *arg)
{
	struct slot *sl = arg;
	struct source *s = sl->src;
	size_t i = sl->index;

	sl->x = NULL;
	sl->done = true;
	/* libcurl's "not found": any answer without the message. */
	if (!r->ok && r->code == 78 /* CURLE_REMOTE_FILE_NOT_FOUND */)
		sl->gone = true;
	else if (!r->ok) {
		char *why = xstrdup(imap_conn_why(&s->conn, r));

		clear_batch(s);
		pass_fail(s, "cannot fetch %s UID %u: %s", s->name,
		    s->msgs[i].uid, why);
		free(why);
		return;
	} else {
		sl->data = r->body;
		buf_init(&r->body);
		sl->truncated = r->truncated;
		sl->size = r->body_size;
		s->b_bytes += sl->data.len;
	}
	parse_ready(s);
	if (s->slots != NULL && s->b_parse < s->b_end)
		fetch_more(s);
}

static void
gone_checked(const char *error, uint32_t *present, size_t n, void *arg)
{
	struct source *s = arg;

	s->list = NULL;
	free(present);
	if (error != NULL || n > 0) {
		clear_batch(s);
		pass_fail(s,
		    "cannot fetch mail of %s that the server answered "
		    "without the message: %s",
		    s->name,
		    error ? error : "a fresh UID SEARCH still lists it");
		return;
	}
	log_info("account=%s mailbox=%s: mail expunged before it could be "
		 "fetched is passed over",
	    conf(s)->name, s->name);
	fetch_dates(s);
}

/*
 * A message answered without its body (a tagged NO, BAD or a bare OK)
 * is taken for expunged only when a fresh UID SEARCH no longer lists
 * it: the cursor passes no UID that is neither stored nor gone.
 */
static void
check_gone(struct source *s)
{
	uint32_t *uids = xcalloc(s->b_end - s->b_start, sizeof(*uids));
	size_t n = 0;

	for (size_t i = s->b_start; i < s->b_end; i++)
		if (s->slots[i - s->b_start].gone)
			uids[n++] = s->msgs[i].uid;
	if (n == 0)
		fetch_dates(s);
	else
		s->list = imap_list_present(
		    &s->conn, s->name, uids, n, gone_checked, s);
	free(uids);
}

static void seen_restored(struct xfer_result *r, void *arg);
static void dates_fetched(struct xfer_result *r, void *arg);

/*
 * Messages without a usable Date get the server's INTERNALDATE, asked
 * for only those few, a bounded number of lines per command; so does
 * the batch's newest message, whose delay is the account's lag.
 */
static void
fetch_dates(struct source *s)
{
	uint32_t *uids;
	size_t n = ingest_batch_dates_wanted(s->batch, &uids);
	struct buf set;
	char *cmd;

	if (n == 0) {
		restore_seen(s);
		return;
	}
	buf_init(&set);
	for (size_t i = 0; i < n && i < FETCH_LINES; i++)
		buf_printf(&set, "%s%u", i ? "," : "", uids[i]);
	free(uids);
	cmd = xasprintf("UID FETCH %s (UID INTERNALDATE)", set.data);
	command(s, s->name, cmd, dates_fetched);
	free(cmd);
	buf_free(&set);
}

static void
dates_fetched(struct xfer_result *r, void *arg)
{
	struct source *s = arg;
	struct imap_msginfo *mi = NULL;
	size_t n;

	s->cmd = NULL;
	if (r->ok) {
		n = imap_parse_fetch(r->body.data, r->body.len, &mi);
		for (size_t i = 0; i < n; i++)
			if (mi[i].internal_date > 0)
				ingest_batch_set_date(
				    s->batch, mi[i].uid, mi[i].internal_date);
		free(mi);
	} else
		log_warnx("account=%s mailbox=%s: cannot read INTERNALDATE: %s",
		    conf(s)->name, s->name, r->error);
	restore_seen(s);
}

static void
restore_seen(struct source *s)
{
	struct buf set;

	buf_init(&set);
	for (size_t i = s->b_start; i < s->b_end; i++) {
		if (s->msgs[i].seen || s->slots[i - s->b_start].gone)
			continue;
		buf_printf(&set, "%s%u", set.len ? "," : "", s->msgs[i].uid);
	}
	if (set.len == 0) {
		buf_free(&set);
		seen_restored(NULL, s);
		return;
	}
	char *cmd = xasprintf("UID STORE %s -FLAGS.SILENT (\\Seen)", set.data);

	command(s, s->name, cmd, seen_restored);
	free(cmd);
	buf_free(&set);
}

static void
seen_restored(struct xfer_result *r, void *arg)
{
	struct source *s = arg;
	struct ingest_batch *b = s->batch;
	uint32_t last = s->msgs[s->b_end - 1].uid;

	s->cmd = NULL;
	if (r != NULL && !r->ok)
		log_warnx("account=%s mailbox=%s: cannot mark fetched mail "
			  "unseen again: %s",
		    conf(s)->name, s->name, r->error);
	free(s->slots);
	s->slots = NULL;
	s->batch = NULL;
	/* One batch is stored while the next one is fetched and parsed. */
	if (s->committing) {
		s->ready = b;
		s->ready_last = last;
		return;
	}
	commit(s, b, last, 0);
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
		commit(s, b, s->ready_last, 0);
	}
	if (s->batch == NULL)
		batch_next(s);
}

/*
 * HIGHESTMODSEQ covers the whole folder: it goes only with the commit
 * that ends one with nothing new, never with a batch of a pass that may
 * yet be cut short.
 */
static void
commit(struct source *s, struct ingest_batch *b, uint32_t last, uint64_t modseq)
{
	struct source_cursor cur = {s->uidvalidity, last, modseq, NULL};

	s->committing = true;
	source_commit(&s->env, b, &cur, batch_committed, s);
}

/* Control ------------------------------------------------------------------ */

static void
imap_stop(struct source *s)
{
	s->stopping = true;
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
	 * flight between batches is simply abandoned. */
	if (s->running && (s->cmd != NULL || s->list != NULL) &&
	    s->batch == NULL && !s->committing) {
		http_cancel(s->cmd);
		s->cmd = NULL;
		imap_list_cancel(s->list);
		s->list = NULL;
		pass_end(s);
	}
}

/* The login for IDLE: libcurl logs in, we speak IDLE. The URL is
 * malloc'd for the watcher to free. */
static void
idle_login(struct xfer_opts *o, void *arg)
{
	struct source *s = arg;

	imap_conn_opts(&s->conn, o, xasprintf("%s/", s->conn.base_url));
	o->low_speed_secs = 0;
}

static void
idle_wake(void *arg)
{
	struct source *s = arg;

	s->wake(s->wake_arg);
}

static void
imap_watch(struct source *s, source_wake_fn *wake, void *arg)
{
	if (!conf(s)->idle)
		return;
	s->wake = wake;
	s->wake_arg = arg;
	s->idle = imap_idle_start(
	    s->env.base, s->env.http, idle_login, conf(s)->name, idle_wake, s);
}

static void
imap_destroy(struct source *s)
{
	if (s == NULL)
		return;
	imap_idle_stop(s->idle);
	http_cancel(s->cmd);
	imap_list_cancel(s->list);
	if (s->oauth != NULL) {
		oauth_cancel(s->oauth, s);
		oauth_free(s->oauth);
	}
	clear_batch(s);
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
