/*
 * Mirroring a folder's state:
 *   imap_mirror_start -> (UID FETCH ... CHANGEDSINCE) flags_fetched
 *     -> [no QRESYNC: (imap_list) present_listed -> (host) known_loaded]
 *     -> (host) apply -> applied -> done
 * Every command holds the mirror until its answer comes; a cancelled
 * one is freed by the last answer.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_list.h"
#include "imap_mirror.h"
#include "imap_reader.h"
#include "imap_resp.h"
#include "imap_session.h"
#include "log.h"
#include "source.h"
#include "util.h"

/* The most vanished UIDs one answer may name: a folder emptied of a
 * million messages is still read, a set of four billion is a lie. */
#define MAX_VANISHED (4 * 1024 * 1024)

struct imap_mirror {
	struct imap_session *sess;
	struct imap_mirror_params p;
	char *mailbox;
	struct source_flags *changed;
	size_t n_changed, cap_changed;
	uint32_t *fetched; /* every UID the FETCH named, when asked for all */
	size_t n_fetched, cap_fetched;
	uint32_t *removed;
	size_t n_removed, cap_removed;
	struct imap_list *list;
	bool listing; /* waiting for the present UIDs */
	bool at_host; /* waiting for the host */
	bool garbled; /* an answer was not understood */
	bool cancelled;
	int out; /* commands and host calls waiting */
	imap_mirror_fn *done;
	void *arg;
};

static void
mirror_free(struct imap_mirror *m)
{
	for (size_t i = 0; i < m->n_changed; i++)
		free((char *)m->changed[i].flags);
	free(m->changed);
	free(m->fetched);
	free(m->removed);
	free(m->mailbox);
	free(m);
}

static void finish(struct imap_mirror *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
finish(struct imap_mirror *m, const char *fmt, ...)
{
	char *error = NULL;
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		error = xvasprintf(fmt, ap);
		va_end(ap);
	}
	m->done(error, m->arg);
	free(error);
	mirror_free(m);
}

/* An answer came: false when the mirror is over for it. */
static bool
answered(struct imap_mirror *m)
{
	if (--m->out > 0 || !m->cancelled)
		return !m->cancelled;
	mirror_free(m);
	return false;
}

static void
add_uid(uint32_t **v, size_t *n, size_t *cap, uint32_t uid)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	(*v)[(*n)++] = uid;
}

/* "* VANISHED (EARLIER) 41,43:116" */
static void
take_vanished(struct imap_mirror *m, const struct imap_response *r)
{
	const char *p = r->line + 11, *end = r->line + r->len;
	uint32_t *uids;
	size_t n;

	if (r->len > 21 && strncasecmp(p, "(EARLIER) ", 10) == 0)
		p += 10;
	if (imap_parse_uid_set(p, (size_t)(end - p), m->p.last_uid,
		MAX_VANISHED, &uids, &n) == -1) {
		m->garbled = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		add_uid(&m->removed, &m->n_removed, &m->cap_removed, uids[i]);
	free(uids);
}

static void
flags_each(struct imap_response *r, void *arg)
{
	struct imap_mirror *m = arg;
	struct imap_fetch f;
	int rc;

	if (m->cancelled)
		return;
	if (r->len > 11 && strncasecmp(r->line, "* VANISHED ", 11) == 0) {
		take_vanished(m, r);
		return;
	}
	rc = imap_fetch_parse(r, &f);
	if (rc == -1)
		m->garbled = true;
	if (rc == 1 && f.uid != 0 && f.uid <= m->p.last_uid && f.has_flags) {
		/* No folder has more messages than UIDs: more lines than
		 * that are a flood, not an answer. */
		if (m->n_changed > (size_t)m->p.last_uid) {
			m->garbled = true;
			imap_fetch_clear(&f);
			return;
		}
		if (m->n_changed == m->cap_changed) {
			m->cap_changed =
			    m->cap_changed ? m->cap_changed * 2 : 64;
			m->changed = xreallocarray(
			    m->changed, m->cap_changed, sizeof(*m->changed));
		}
		m->changed[m->n_changed].uid = f.uid;
		m->changed[m->n_changed].flags = f.flags;
		f.flags = NULL;
		m->n_changed++;
		if (m->p.since == 0)
			add_uid(
			    &m->fetched, &m->n_fetched, &m->cap_fetched, f.uid);
	}
	imap_fetch_clear(&f);
}

static void
applied(bool ok, const char *error, void *arg)
{
	struct imap_mirror *m = arg;

	m->at_host = false;
	if (!answered(m))
		return;
	if (!ok) {
		finish(m, "cannot store the flags and removals of %s: %s",
		    m->mailbox, error ? error : "database error");
		return;
	}
	if (m->n_changed > 0 || m->n_removed > 0)
		log_debug("mailbox=%s: %zu flag changes, %zu copies gone",
		    m->mailbox, m->n_changed, m->n_removed);
	finish(m, NULL);
}

static void
apply(struct imap_mirror *m)
{
	struct source_changes ch;
	struct source_cursor cur;

	memset(&ch, 0, sizeof(ch));
	ch.uidvalidity = m->p.uidvalidity;
	ch.changed = m->changed;
	ch.n_changed = m->n_changed;
	ch.removed = m->removed;
	ch.n_removed = m->n_removed;
	memset(&cur, 0, sizeof(cur));
	cur.uidvalidity = m->p.uidvalidity;
	cur.highestmodseq = m->p.highestmodseq;
	m->out++;
	m->at_host = true;
	source_apply_changes(m->p.env, m->mailbox, &ch, &cur, applied, m);
}

/* Stored copies that the server no longer has: removed. */
static void
diff(struct imap_mirror *m, const uint32_t *known, size_t n_known,
    uint32_t *present, size_t n_present)
{
	if (n_present > 0)
		qsort(present, n_present, sizeof(*present), imap_uid_cmp);
	free(m->removed);
	m->removed = NULL;
	m->n_removed = m->cap_removed = 0;
	for (size_t i = 0; i < n_known; i++)
		if (known[i] <= m->p.last_uid &&
		    (n_present == 0 ||
			bsearch(&known[i], present, n_present, sizeof(*present),
			    imap_uid_cmp) == NULL))
			add_uid(&m->removed, &m->n_removed, &m->cap_removed,
			    known[i]);
}

static void
known_loaded(bool ok, const uint32_t *uids, size_t n, void *arg)
{
	struct imap_mirror *m = arg;

	m->at_host = false;
	if (!answered(m))
		return;
	if (!ok) {
		finish(m, "cannot read the stored UIDs of %s", m->mailbox);
		return;
	}
	diff(m, uids, n, m->fetched, m->n_fetched);
	apply(m);
}

static void
present_listed(const char *error, uint32_t *uids, size_t n, void *arg)
{
	struct imap_mirror *m = arg;

	m->list = NULL;
	m->listing = false;
	if (!answered(m)) {
		free(uids);
		return;
	}
	if (error != NULL) {
		free(uids);
		finish(
		    m, "cannot list the messages of %s: %s", m->mailbox, error);
		return;
	}
	free(m->fetched);
	m->fetched = uids;
	m->n_fetched = m->cap_fetched = n;
	m->out++;
	m->at_host = true;
	source_known_uids(
	    m->p.env, m->mailbox, m->p.uidvalidity, known_loaded, m);
}

static void
flags_fetched(char status, const char *text, void *arg)
{
	struct imap_mirror *m = arg;

	if (!answered(m))
		return;
	if (status != 'O' || m->garbled) {
		finish(m, "cannot read the flags of %s: %s", m->mailbox,
		    status == 0	     ? "the connection was lost"
			: m->garbled ? "an answer was not understood"
				     : text);
		return;
	}
	if (m->p.qresync && m->p.since != 0) {
		/* VANISHED (EARLIER) named what is gone. */
		apply(m);
		return;
	}
	if (m->p.since == 0) {
		/* All flags were asked for: what was not named is gone. */
		m->out++;
		m->at_host = true;
		source_known_uids(
		    m->p.env, m->mailbox, m->p.uidvalidity, known_loaded, m);
		return;
	}
	m->out++;
	m->listing = true;
	m->list = imap_list_start(
	    m->sess, 1, m->p.last_uid + 1, "", 0, present_listed, m);
}

struct imap_mirror *
imap_mirror_start(struct imap_session *sess, const struct imap_mirror_params *p,
    imap_mirror_fn *done, void *arg)
{
	struct imap_mirror *m = xcalloc(1, sizeof(*m));
	char *cmd;

	m->sess = sess;
	m->p = *p;
	m->mailbox = xstrdup(p->mailbox);
	m->p.mailbox = m->mailbox;
	m->done = done;
	m->arg = arg;
	if (p->since == 0)
		cmd = xasprintf("UID FETCH 1:%u (UID FLAGS)", p->last_uid);
	else
		cmd = xasprintf("UID FETCH 1:%u (UID FLAGS) (CHANGEDSINCE "
				"%llu%s)",
		    p->last_uid, (unsigned long long)p->since,
		    p->qresync ? " VANISHED" : "");
	m->out++;
	imap_session_send(sess, cmd, flags_each, flags_fetched, m);
	free(cmd);
	return m;
}

void
imap_mirror_cancel(struct imap_mirror *m)
{
	if (m == NULL)
		return;
	if (m->listing) {
		/* The listing never answers once cancelled. */
		imap_list_cancel(m->list);
		m->list = NULL;
		m->listing = false;
		m->out--;
	}
	m->cancelled = true;
	if (m->out == 0)
		mirror_free(m);
}
