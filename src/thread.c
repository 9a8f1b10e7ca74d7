/*
 * Threading and reply status (SPEC 4), as a pure function of the batch
 * and of what the database already knows about the ids it mentions.
 *
 * Membership: every key (message id, "gmail-thread:" id, "subject:" key)
 * is a node; messages join their own id to the keys they carry, links
 * join keys to stored conversations, and union-find gives the connected
 * components. A component holding stored conversations keeps the oldest
 * one and merges the others into it; a component without one becomes a
 * new conversation. Nothing depends on the order of the batch.
 *
 * Status: derived from the latest human message by sent_at (inbound
 * wins ties, so a reply that is needed is never hidden); archived stays
 * archived until a newer human inbound message joins. A failure notice
 * about our mail that is newer than every human message makes the
 * conversation active, with the notice's reason: someone has to act,
 * but nobody wrote. Other automated mail changes no status.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "log.h"
#include "thread.h"
#include "util.h"

#define GMAIL_PREFIX "gmail-thread:"
#define SUBJECT_PREFIX "subject:"

static const char REASON_INBOUND[] = "latest human message is inbound";
static const char REASON_OUTBOUND[] = "latest human message is outbound";
static const char REASON_NO_HUMAN[] = "no human message yet";
static const char REASON_ARCHIVED[] = "archived";
static const char REASON_REOPENED[] = "new inbound message after archiving";
static const char REASON_MERGED[] = "merged into an older conversation";

static const char *const status_names[] = {
    [CONV_ACTIVE] = "active",
    [CONV_NEEDS_REPLY] = "needs_reply",
    [CONV_WAITING] = "waiting",
    [CONV_ARCHIVED] = "archived",
};

const char *
conv_status_name(enum conv_status s)
{
	if ((size_t)s >= nitems(status_names))
		return "active";
	return status_names[s];
}

int
conv_status_parse(const char *name, enum conv_status *out)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < nitems(status_names); i++) {
		if (strcmp(name, status_names[i]) == 0) {
			*out = (enum conv_status)i;
			return 0;
		}
	}
	return -1;
}

/*
 * Union-find over elements: elements 0..n_convs-1 are the stored
 * conversations, the rest are key nodes added as they are met.
 */
struct uf {
	int *parent;
	int *rank;
	size_t n;
	size_t cap;
};

static int
uf_add(struct uf *uf)
{
	if (uf->n == uf->cap) {
		uf->cap = uf->cap ? uf->cap * 2 : 64;
		uf->parent = xreallocarray(uf->parent, uf->cap, sizeof(int));
		uf->rank = xreallocarray(uf->rank, uf->cap, sizeof(int));
	}
	uf->parent[uf->n] = (int)uf->n;
	uf->rank[uf->n] = 0;
	return (int)uf->n++;
}

static int
uf_find(struct uf *uf, int x)
{
	/* Path halving keeps the trees flat without recursion. */
	while (uf->parent[x] != x) {
		uf->parent[x] = uf->parent[uf->parent[x]];
		x = uf->parent[x];
	}
	return x;
}

static void
uf_union(struct uf *uf, int a, int b)
{
	a = uf_find(uf, a);
	b = uf_find(uf, b);
	if (a == b)
		return;
	if (uf->rank[a] < uf->rank[b]) {
		int t = a;

		a = b;
		b = t;
	}
	uf->parent[b] = a;
	if (uf->rank[a] == uf->rank[b])
		uf->rank[a]++;
}

static void
uf_free(struct uf *uf)
{
	free(uf->parent);
	free(uf->rank);
}

/*
 * The graph: one table per key namespace, so that prefixed link keys
 * need no copies; table keys point into the caller's strings, which
 * outlive the call.
 */
struct graph {
	struct uf uf;
	GHashTable *ids;
	GHashTable *gmail;
	GHashTable *subjects;
};

static void
graph_init(struct graph *g, size_t n_convs)
{
	size_t i;

	memset(g, 0, sizeof(*g));
	for (i = 0; i < n_convs; i++)
		uf_add(&g->uf);
	g->ids = g_hash_table_new(g_str_hash, g_str_equal);
	g->gmail = g_hash_table_new(g_str_hash, g_str_equal);
	g->subjects = g_hash_table_new(g_str_hash, g_str_equal);
}

static void
graph_free(struct graph *g)
{
	uf_free(&g->uf);
	g_hash_table_destroy(g->ids);
	g_hash_table_destroy(g->gmail);
	g_hash_table_destroy(g->subjects);
}

/* The element of key in table, created on first sight. */
static int
graph_node(struct graph *g, GHashTable *table, const char *key)
{
	gpointer v;
	int e;

	v = g_hash_table_lookup(table, key);
	if (v != NULL)
		return GPOINTER_TO_INT(v) - 1;
	e = uf_add(&g->uf);
	g_hash_table_insert(table, (gpointer)key, GINT_TO_POINTER(e + 1));
	return e;
}

static int
message_node(struct graph *g, const struct thr_msg *m)
{
	return graph_node(g, g->ids, m->message_id);
}

static bool
has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A message joins its own id to every id it references and to its
 * Gmail thread. Duplicates take part too: their edges are already in
 * the database, so adding them again changes nothing but keeps the
 * batch self-contained when a link is missing. */
static void
connect_messages(struct graph *g, const struct thr_msg *msgs, size_t n)
{
	size_t i, j;
	int own;

	for (i = 0; i < n; i++) {
		own = message_node(g, &msgs[i]);
		for (j = 0; j < msgs[i].n_refs; j++) {
			if (msgs[i].refs[j] == NULL ||
			    msgs[i].refs[j][0] == '\0')
				continue;
			uf_union(&g->uf, own,
			    graph_node(g, g->ids, msgs[i].refs[j]));
		}
		if (msgs[i].gmail_thread_id != NULL &&
		    msgs[i].gmail_thread_id[0] != '\0')
			uf_union(&g->uf, own,
			    graph_node(g, g->gmail, msgs[i].gmail_thread_id));
	}
}

/* A message carrying a subject key; sorted by key, time, then id. */
struct subject_entry {
	const char *key;
	int64_t at;
	const char *message_id;
};

struct subject_order {
	struct subject_entry *e;
	size_t n;
};

static int
subject_cmp(const void *a, const void *b)
{
	const struct subject_entry *x = a, *y = b;
	int c;

	if ((c = strcmp(x->key, y->key)) != 0)
		return c;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return strcmp(x->message_id, y->message_id);
}

static void
subject_order_build(
    struct subject_order *so, const struct thr_msg *msgs, size_t n)
{
	struct subject_entry *e;
	size_t i;

	so->e = xreallocarray(NULL, n, sizeof(*so->e));
	so->n = 0;
	for (i = 0; i < n; i++) {
		if (msgs[i].subject_key == NULL ||
		    msgs[i].subject_key[0] == '\0')
			continue;
		e = &so->e[so->n++];
		e->key = msgs[i].subject_key;
		e->at = msgs[i].sent_at;
		e->message_id = msgs[i].message_id;
	}
	qsort(so->e, so->n, sizeof(*so->e), subject_cmp);
}

/*
 * Within the batch, messages with the same subject key join when they
 * are at most window seconds apart. Chaining neighbours in time order
 * gives the same components as comparing every pair, in any order.
 * The subject table maps each key to its first position in so->e.
 */
static void
connect_subjects(
    struct graph *g, const struct subject_order *so, int64_t window)
{
	const struct subject_entry *prev = NULL, *cur;
	size_t k;

	for (k = 0; k < so->n; k++) {
		cur = &so->e[k];
		if (prev != NULL && strcmp(prev->key, cur->key) == 0) {
			if (cur->at - prev->at <= window)
				uf_union(&g->uf,
				    graph_node(g, g->ids, prev->message_id),
				    graph_node(g, g->ids, cur->message_id));
		} else {
			g_hash_table_insert(g->subjects, (gpointer)cur->key,
			    GSIZE_TO_POINTER(k + 1));
		}
		prev = cur;
	}
}

/* A subject link says the stored conversation has mail with this key
 * inside the window (the store filters by time), so it joins every
 * batch message carrying the key. */
static void
link_subject(
    struct graph *g, const struct subject_order *so, const char *key, int conv)
{
	gpointer v;
	size_t k;

	v = g_hash_table_lookup(g->subjects, key);
	if (v == NULL)
		return;
	for (k = GPOINTER_TO_SIZE(v) - 1; k < so->n; k++) {
		if (strcmp(so->e[k].key, key) != 0)
			break;
		uf_union(
		    &g->uf, conv, graph_node(g, g->ids, so->e[k].message_id));
	}
}

static void
connect_links(struct graph *g, const struct subject_order *so,
    const struct thr_link *links, size_t n_links, size_t n_convs,
    bool subjects_on)
{
	const char *key;
	size_t i;
	int conv;

	for (i = 0; i < n_links; i++) {
		key = links[i].key;
		conv = links[i].conv;
		if (key == NULL || conv < 0 || (size_t)conv >= n_convs) {
			log_warnx(
			    "thread: ignoring bad link %zu (conv %d)", i, conv);
			continue;
		}
		if (has_prefix(key, GMAIL_PREFIX))
			uf_union(&g->uf, conv,
			    graph_node(
				g, g->gmail, key + strlen(GMAIL_PREFIX)));
		else if (has_prefix(key, SUBJECT_PREFIX)) {
			if (subjects_on)
				link_subject(
				    g, so, key + strlen(SUBJECT_PREFIX), conv);
		} else
			uf_union(&g->uf, conv, graph_node(g, g->ids, key));
	}
}

static struct thr_plan *
plan_new(const struct thr_conv *convs, size_t n_convs, size_t n_msgs)
{
	struct thr_plan *p;
	struct thr_conv *c;
	size_t i;

	p = xcalloc(1, sizeof(*p));
	/* Room for every stored conversation plus one new per message. */
	p->convs = xreallocarray(NULL, n_convs + n_msgs, sizeof(*p->convs));
	for (i = 0; i < n_convs; i++) {
		c = &p->convs[i];
		*c = convs[i];
		c->is_new = false;
		c->merged_into = -1;
		c->touched = false;
		c->new_status = c->status;
		c->new_reason = NULL;
		c->new_last_human_at = c->last_human_at;
		c->new_last_human_outbound = c->last_human_outbound;
		c->new_last_message_at = c->last_message_at;
		c->new_last_bounce_at = c->last_bounce_at;
		c->first_msg = -1;
	}
	p->n_convs = n_convs;
	p->merges = xreallocarray(NULL, n_convs, sizeof(*p->merges));
	return p;
}

/* True when conversation a should survive a merge with b: the older
 * one, ties broken by id so the choice never depends on order. */
static bool
conv_older(const struct thr_conv *a, const struct thr_conv *b)
{
	if (a->created_at != b->created_at)
		return a->created_at < b->created_at;
	return strcmp(a->id, b->id) < 0;
}

/*
 * owner[root] is the conversation a component belongs to: its oldest
 * stored conversation here, a new one later. Every other stored
 * conversation of the component is merged into the survivor.
 */
static void
choose_survivors(struct graph *g, struct thr_plan *p, int *owner)
{
	size_t i;
	int r, s;

	for (i = 0; i < p->n_convs; i++) {
		r = uf_find(&g->uf, (int)i);
		s = owner[r];
		if (s < 0 || conv_older(&p->convs[i], &p->convs[s]))
			owner[r] = (int)i;
	}
	for (i = 0; i < p->n_convs; i++) {
		s = owner[uf_find(&g->uf, (int)i)];
		if (s == (int)i)
			continue;
		p->convs[i].merged_into = s;
		p->convs[i].touched = true;
		p->convs[i].new_reason = REASON_MERGED;
		p->convs[s].touched = true;
		p->merges[p->n_merges].from = (int)i;
		p->merges[p->n_merges].into = s;
		p->n_merges++;
	}
}

static struct thr_conv *
conv_append_new(struct thr_plan *p)
{
	struct thr_conv *c = &p->convs[p->n_convs++];

	memset(c, 0, sizeof(*c));
	c->is_new = true;
	c->merged_into = -1;
	c->touched = true;
	c->status = CONV_ACTIVE;
	c->new_status = CONV_ACTIVE;
	c->last_human_at = INT64_MIN;
	c->last_message_at = INT64_MIN;
	c->new_last_human_at = INT64_MIN;
	c->new_last_message_at = INT64_MIN;
	c->last_bounce_at = INT64_MIN;
	c->new_last_bounce_at = INT64_MIN;
	c->first_msg = -1;
	return c;
}

/* Whether message a is a better first message than b: real (not a
 * duplicate) first, then earliest, then smallest id. */
static bool
msg_first(const struct thr_msg *a, const struct thr_msg *b)
{
	if (a->duplicate != b->duplicate)
		return !a->duplicate;
	if (a->sent_at != b->sent_at)
		return a->sent_at < b->sent_at;
	return strcmp(a->message_id, b->message_id) < 0;
}

static void
assign_messages(struct graph *g, struct thr_plan *p, int *owner,
    struct thr_msg *msgs, size_t n)
{
	struct thr_conv *c;
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		r = uf_find(&g->uf, message_node(g, &msgs[i]));
		if (owner[r] < 0) {
			conv_append_new(p);
			owner[r] = (int)p->n_convs - 1;
		}
		msgs[i].conv = owner[r];
		msgs[i].suggest_reply = false;
		c = &p->convs[msgs[i].conv];
		/* A copy we already hold changes nothing about its
		 * conversation, so it does not touch a stored one. */
		if (!msgs[i].duplicate)
			c->touched = true;
		if (c->is_new &&
		    (c->first_msg < 0 ||
			msg_first(&msgs[i], &msgs[c->first_msg])))
			c->first_msg = (int)i;
	}
}

/* The latest human message of a conversation as the rules see it. */
struct human {
	bool set;
	int64_t at;
	bool outbound;
	int msg; /* batch message index, or -1 for a stored value */
};

/* Later wins; at equal times inbound wins, so a reply that is needed
 * is never hidden; between batch messages the smaller id wins so the
 * choice is the same in any order. */
static bool
human_later(
    const struct human *a, const struct human *b, const struct thr_msg *msgs)
{
	if (!b->set)
		return a->set;
	if (!a->set)
		return false;
	if (a->at != b->at)
		return a->at > b->at;
	if (a->outbound != b->outbound)
		return !a->outbound;
	if (a->msg >= 0 && b->msg >= 0)
		return strcmp(msgs[a->msg].message_id,
			   msgs[b->msg].message_id) < 0;
	/* A new message beats a stored one of the same moment, so it is
	 * the one a suggestion is made for. */
	return a->msg >= 0 && b->msg < 0;
}

static void
human_consider(
    struct human *best, const struct human *cand, const struct thr_msg *msgs)
{
	if (human_later(cand, best, msgs))
		*best = *cand;
}

/* What the status rules need per surviving conversation. */
struct tally {
	struct human stored; /* survivor and merged, as stored */
	struct human batch; /* the batch's human messages */
	int64_t batch_inbound_at; /* latest human inbound of the batch */
	int64_t open_inbound_at; /* latest inbound human message of a
	                             merged conversation not archived */
	int64_t last_message_at;
	int64_t stored_bounce_at; /* latest failure notice, as stored */
	int64_t batch_bounce_at; /* and of the batch, with its reason */
	int batch_bounce_msg;
	bool merged; /* another conversation merged into it */
};

static void
tally_stored(struct tally *t, const struct thr_conv *c)
{
	struct human h;

	if (c->last_message_at > t->last_message_at)
		t->last_message_at = c->last_message_at;
	if (c->last_bounce_at > t->stored_bounce_at)
		t->stored_bounce_at = c->last_bounce_at;
	if (c->last_human_at == INT64_MIN)
		return;
	h.set = true;
	h.at = c->last_human_at;
	h.outbound = c->last_human_outbound;
	h.msg = -1;
	human_consider(&t->stored, &h, NULL);
}

static void
tally_batch(struct tally *t, const struct thr_msg *msgs, size_t i)
{
	struct human h;

	if (msgs[i].duplicate)
		return;
	if (msgs[i].sent_at > t->last_message_at)
		t->last_message_at = msgs[i].sent_at;
	if (msgs[i].bounce_reason != NULL && msgs[i].automated &&
	    (msgs[i].sent_at > t->batch_bounce_at ||
		(msgs[i].sent_at == t->batch_bounce_at &&
		    strcmp(msgs[i].message_id,
			msgs[t->batch_bounce_msg].message_id) < 0))) {
		t->batch_bounce_at = msgs[i].sent_at;
		t->batch_bounce_msg = (int)i;
	}
	if (msgs[i].automated)
		return;
	if (!msgs[i].outbound && msgs[i].sent_at > t->batch_inbound_at)
		t->batch_inbound_at = msgs[i].sent_at;
	h.set = true;
	h.at = msgs[i].sent_at;
	h.outbound = msgs[i].outbound;
	h.msg = (int)i;
	human_consider(&t->batch, &h, msgs);
}

static void
tally_merged(struct tally *t, const struct thr_conv *c)
{
	t->merged = true;
	tally_stored(t, c);
	if (c->status != CONV_ARCHIVED && c->last_human_at != INT64_MIN &&
	    !c->last_human_outbound && c->last_human_at > t->open_inbound_at)
		t->open_inbound_at = c->last_human_at;
}

static void
tally_all(struct tally *t, const struct thr_plan *p, const struct thr_msg *msgs,
    size_t n)
{
	const struct thr_conv *c;
	size_t i;

	for (i = 0; i < p->n_convs; i++) {
		t[i].last_message_at = INT64_MIN;
		t[i].batch_inbound_at = INT64_MIN;
		t[i].open_inbound_at = INT64_MIN;
		t[i].stored_bounce_at = INT64_MIN;
		t[i].batch_bounce_at = INT64_MIN;
		t[i].batch_bounce_msg = -1;
		t[i].stored.msg = -1;
		t[i].batch.msg = -1;
	}
	for (i = 0; i < p->n_convs; i++) {
		c = &p->convs[i];
		if (c->is_new)
			continue;
		if (c->merged_into < 0)
			tally_stored(&t[i], c);
		else
			tally_merged(&t[c->merged_into], c);
	}
	for (i = 0; i < n; i++)
		tally_batch(&t[msgs[i].conv], msgs, i);
}

/*
 * An archived conversation reopens for a human inbound message newer
 * than every human message it held, or when a conversation merged into
 * it was still waiting for our reply to its latest message: merging
 * must not hide a reply that is needed.
 */
static bool
archive_reopens(const struct tally *t)
{
	int64_t held = t->stored.set ? t->stored.at : INT64_MIN;

	if (t->batch_inbound_at != INT64_MIN && t->batch_inbound_at > held)
		return true;
	return t->open_inbound_at != INT64_MIN && t->open_inbound_at >= held;
}

/* The status the human messages give. */
static void
derive_human_status(
    struct thr_conv *c, const struct tally *t, const struct human *latest)
{
	if (c->status == CONV_ARCHIVED && !archive_reopens(t)) {
		c->new_status = CONV_ARCHIVED;
		c->new_reason = REASON_ARCHIVED;
	} else if (!latest->set) {
		c->new_status = c->status;
		c->new_reason = REASON_NO_HUMAN;
	} else if (latest->outbound) {
		c->new_status = CONV_WAITING;
		c->new_reason = REASON_OUTBOUND;
	} else {
		c->new_status = CONV_NEEDS_REPLY;
		c->new_reason = c->status == CONV_ARCHIVED ? REASON_REOPENED
							   : REASON_INBOUND;
	}
}

/*
 * A failure notice newer than every human message leaves the
 * conversation to us: active, with the notice's reason (the stored
 * reason when the notice is a stored one). Returns whether it applied.
 */
static bool
bounce_status(struct thr_conv *c, const struct tally *t,
    const struct human *latest, const struct thr_msg *msgs)
{
	int64_t at = t->stored_bounce_at > t->batch_bounce_at
	    ? t->stored_bounce_at
	    : t->batch_bounce_at;

	c->new_last_bounce_at = at;
	if (at == INT64_MIN || c->new_status == CONV_ARCHIVED ||
	    (latest->set && latest->at > at))
		return false;
	c->new_status = CONV_ACTIVE;
	c->new_reason = t->batch_bounce_at == at
	    ? msgs[t->batch_bounce_msg].bounce_reason
	    : NULL;
	return true;
}

static void
derive_status(
    struct thr_conv *c, const struct tally *t, const struct thr_msg *msgs)
{
	struct human latest = t->stored;

	human_consider(&latest, &t->batch, msgs);
	c->new_last_message_at = t->last_message_at;
	c->new_last_human_at = latest.set ? latest.at : INT64_MIN;
	c->new_last_human_outbound = latest.set && latest.outbound;
	derive_human_status(c, t, &latest);
	if (bounce_status(c, t, &latest, msgs))
		return;
	/* Only automated mail joined: what the status rests on is as it
	 * was, and so are the status and its reason. */
	if (!c->is_new && !t->batch.set && !t->merged) {
		c->new_status = c->status;
		c->new_reason = NULL;
	}
}

/* The one message per conversation a reply suggestion is queued for:
 * the batch's latest human message, when it is inbound and is the
 * conversation's latest human message, which now needs a reply. */
static void
mark_suggestion(
    const struct thr_conv *c, const struct tally *t, struct thr_msg *msgs)
{
	const struct thr_msg *m;

	if (c->new_status != CONV_NEEDS_REPLY || !t->batch.set ||
	    t->batch.outbound)
		return;
	m = &msgs[t->batch.msg];
	if (m->sent_at != c->new_last_human_at || c->new_last_human_outbound)
		return;
	msgs[t->batch.msg].suggest_reply = true;
}

static void
derive_statuses(struct thr_plan *p, struct thr_msg *msgs, size_t n)
{
	struct tally *t;
	struct thr_conv *c;
	size_t i;

	t = xcalloc(p->n_convs, sizeof(*t));
	tally_all(t, p, msgs, n);
	for (i = 0; i < p->n_convs; i++) {
		c = &p->convs[i];
		if (!c->touched || c->merged_into >= 0)
			continue;
		derive_status(c, &t[i], msgs);
		mark_suggestion(c, &t[i], msgs);
	}
	free(t);
}

struct thr_plan *
thread_plan(struct thr_msg *msgs, size_t n_msgs, const struct thr_conv *convs,
    size_t n_convs, const struct thr_link *links, size_t n_links,
    int64_t subject_window)
{
	struct subject_order so = {NULL, 0};
	struct thr_plan *p;
	struct graph g;
	int *owner;
	size_t i;
	bool subjects_on = subject_window > 0;

	p = plan_new(convs, n_convs, n_msgs);
	graph_init(&g, n_convs);
	connect_messages(&g, msgs, n_msgs);
	if (subjects_on) {
		subject_order_build(&so, msgs, n_msgs);
		connect_subjects(&g, &so, subject_window);
	}
	connect_links(&g, &so, links, n_links, n_convs, subjects_on);

	owner = xreallocarray(NULL, g.uf.n, sizeof(*owner));
	for (i = 0; i < g.uf.n; i++)
		owner[i] = -1;
	choose_survivors(&g, p, owner);
	assign_messages(&g, p, owner, msgs, n_msgs);
	derive_statuses(p, msgs, n_msgs);

	free(owner);
	free(so.e);
	graph_free(&g);
	return p;
}

void
thread_plan_free(struct thr_plan *p)
{
	if (p == NULL)
		return;
	free(p->convs);
	free(p->merges);
	free(p);
}

/*
 * Subject normalization: reply and forward markers in the languages
 * mail clients write them in, optionally counted ("Re[2]:", "Re(2):"),
 * and leading "[list]" tags, all repeated in any order.
 */
static const char *const reply_markers[] = {
    "re",
    "fwd",
    "fw",
    "aw",
    "sv",
    "vs",
    "wg",
    "antw",
    "tr",
    "rif",
    "odp",
};

static const char *
skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	return s;
}

/* After a marker word: an optional "[n]" or "(n)" count, optional
 * blanks (French "Re :"), then the colon. */
static const char *
skip_marker_tail(const char *s)
{
	char close;

	if (*s == '[' || *s == '(') {
		close = *s == '[' ? ']' : ')';
		s++;
		if (*s < '0' || *s > '9')
			return NULL;
		while (*s >= '0' && *s <= '9')
			s++;
		if (*s++ != close)
			return NULL;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == ':' ? s + 1 : NULL;
}

/* The text after one leading marker or tag, or NULL if there is none. */
static const char *
skip_one_prefix(const char *s)
{
	const char *end, *rest;
	size_t i, len;

	if (*s == '[') {
		end = strchr(s, ']');
		/* A lone "[" or "[]" is part of the subject. */
		return end != NULL && end > s + 1 ? end + 1 : NULL;
	}
	for (i = 0; i < nitems(reply_markers); i++) {
		len = strlen(reply_markers[i]);
		if (g_ascii_strncasecmp(s, reply_markers[i], len) != 0)
			continue;
		if ((rest = skip_marker_tail(s + len)) != NULL)
			return rest;
	}
	return NULL;
}

/* Copy with runs of whitespace collapsed to one space, ends trimmed. */
static char *
collapse_space(const char *s)
{
	char *out, *o;
	bool space = false;

	out = o = xmalloc(strlen(s) + 1);
	for (s = skip_space(s); *s != '\0'; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
			space = true;
			continue;
		}
		if (space)
			*o++ = ' ';
		space = false;
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

char *
thread_subject_normalize(const char *subject)
{
	const char *s, *rest;
	char *collapsed, *folded, *out;

	if (subject == NULL)
		return xstrdup("");
	s = skip_space(subject);
	while ((rest = skip_one_prefix(s)) != NULL)
		s = skip_space(rest);
	collapsed = collapse_space(s);
	if (!g_utf8_validate(collapsed, -1, NULL))
		return str_lower(collapsed);
	folded = g_utf8_casefold(collapsed, -1);
	out = xstrdup(folded);
	g_free(folded);
	free(collapsed);
	return out;
}
