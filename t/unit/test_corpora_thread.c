/*
 * Threading conformance on real mail (SPEC 4): other projects' test
 * corpora, parsed with mime_parse() exactly as the daemon parses them,
 * threaded in one batch and in shuffled batches of random size through
 * a simulated database, and compared with the threads notmuch and
 * Mail::Box computed for the same files.
 *
 * The corpora live beside the project ($top_srcdir/../shared/corpora);
 * without them the test skips.
 */
#include "config.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

#include "corpora.h"
#include "mail.h"
#include "mime.h"
#include "tap.h"
#include "testutil.h"
#include "thread.h"
#include "util.h"

/* One corpus and where its answer is. threads is the committed count
 * (notmuch's expected output, Mail::Box's test), or 0 to take the
 * count from the reference file. */
struct corpus_def {
	const char *name;
	const char *dir;
	const char *edges;
	size_t threads;
};

static const struct corpus_def corpora[] = {
    {"notmuch default", "notmuch/default",
	"notmuch/reference-threads/default.edges.tsv", 24},
    {"mailbox-perl-threading", "mailbox-perl-threading/messages",
	"mailbox-perl-threading/reference-threads/notmuch.edges.tsv", 28},
    {"notmuch threading", "notmuch/threading",
	"notmuch/reference-threads/threading.edges.tsv", 0},
    {"notmuch broken", "notmuch/broken",
	"notmuch/reference-threads/broken.edges.tsv", 0},
    {"notmuch lkml", "notmuch/lkml", "notmuch/reference-threads/lkml.edges.tsv",
	0},
};

/* A corpus loaded: files sorted by path, each parsed. */
struct corpus {
	char **files; /* relative to the corpus folder */
	struct mail **mails;
	size_t n;
	size_t cap;
};

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
corpus_add_file(struct corpus *c, const char *rel)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->files = xreallocarray(c->files, c->cap, sizeof(char *));
	}
	c->files[c->n++] = xstrdup(rel);
}

/* Every regular file under base/rel, recursively. */
static void
corpus_walk(struct corpus *c, const char *base, const char *rel)
{
	struct dirent *de;
	struct stat st;
	char *path, *sub;
	DIR *d;

	path = rel[0] ? xasprintf("%s/%s", base, rel) : xstrdup(base);
	if ((d = opendir(path)) == NULL) {
		free(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		sub = rel[0] ? xasprintf("%s/%s", rel, de->d_name)
			     : xstrdup(de->d_name);
		free(path);
		path = xasprintf("%s/%s", base, sub);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			corpus_walk(c, base, sub);
		else if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			corpus_add_file(c, sub);
		free(sub);
	}
	closedir(d);
	free(path);
}

static bool
corpus_load(struct corpus *c, const char *dir)
{
	const struct mime_opts opts = {64 * 1024 * 1024, 0, 0};
	char *path, *data;
	size_t i, len;

	memset(c, 0, sizeof(*c));
	corpus_walk(c, dir, "");
	qsort(c->files, c->n, sizeof(char *), str_cmp);
	c->mails = xcalloc(c->n, sizeof(*c->mails));
	for (i = 0; i < c->n; i++) {
		path = xasprintf("%s/%s", dir, c->files[i]);
		data = file_read_all(path, &len);
		free(path);
		if (data == NULL)
			return false;
		c->mails[i] = mime_parse(data, len, false, &opts);
		free(data);
		if (c->mails[i] == NULL)
			return false;
	}
	return c->n > 0;
}

static void
corpus_free(struct corpus *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->files[i]);
		mail_free(c->mails[i]);
	}
	free(c->files);
	free(c->mails);
}

static void
corpus_msgs(const struct corpus *c, struct thr_msg *m)
{
	size_t i;

	memset(m, 0, c->n * sizeof(*m));
	for (i = 0; i < c->n; i++) {
		m[i].message_id = c->mails[i]->message_id;
		m[i].refs = (const char *const *)c->mails[i]->references;
		m[i].n_refs = c->mails[i]->n_references;
		m[i].sent_at = c->mails[i]->sent_at;
	}
}

/*
 * Partitions of the files, as labels: label[i] is the index of the
 * first file in file i's group. Equal arrays, equal partitions.
 */
static size_t *
labels_from_groups(const int *group, size_t n)
{
	size_t *label;
	size_t i, j;

	label = xcalloc(n, sizeof(*label));
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (group[j] == group[i])
				break;
		label[i] = j;
	}
	return label;
}

static size_t
label_count(const size_t *label, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (label[i] == i)
			k++;
	return k;
}

static bool
labels_equal(const size_t *a, const size_t *b, size_t n)
{
	return memcmp(a, b, n * sizeof(*a)) == 0;
}

/* The reference: thread column and ';'-separated files column. Files
 * the reference does not name get a group of their own (-1 - i). */
static size_t *
reference_labels(const char *path, const struct corpus *c, size_t *missing)
{
	GHashTable *threads;
	char *text, *line, *next, **files, **f;
	int *group;
	size_t i, *label;
	char **cols;
	int n_threads = 0;

	*missing = 0;
	if ((text = file_read_all(path, NULL)) == NULL)
		return NULL;
	group = xcalloc(c->n, sizeof(*group));
	for (i = 0; i < c->n; i++)
		group[i] = -1 - (int)i;
	threads = g_hash_table_new_full(g_str_hash, g_str_equal, free, NULL);
	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strncmp(line, "thread:", 7) != 0)
			continue;
		cols = g_strsplit(line, "\t", 6);
		if (g_strv_length(cols) < 5) {
			g_strfreev(cols);
			continue;
		}
		if (!g_hash_table_contains(threads, cols[0]))
			g_hash_table_insert(threads, xstrdup(cols[0]),
			    GINT_TO_POINTER(++n_threads));
		files = g_strsplit(cols[4], ";", -1);
		for (f = files; *f != NULL; f++) {
			char *const *hit =
			    bsearch(f, c->files, c->n, sizeof(char *), str_cmp);

			if (hit == NULL)
				continue;
			group[hit - c->files] = GPOINTER_TO_INT(
			    g_hash_table_lookup(threads, cols[0]));
		}
		g_strfreev(files);
		g_strfreev(cols);
	}
	for (i = 0; i < c->n; i++)
		if (group[i] < 0)
			(*missing)++;
	label = labels_from_groups(group, c->n);
	g_hash_table_destroy(threads);
	free(group);
	free(text);
	return label;
}

/* One batch with everything, no stored state. */
static size_t *
one_batch_labels(const struct corpus *c)
{
	struct thr_msg *m;
	struct thr_plan *p;
	size_t *label;
	int *group;
	size_t i;

	m = xcalloc(c->n, sizeof(*m));
	corpus_msgs(c, m);
	p = thread_plan(m, c->n, NULL, 0, NULL, 0, 0);
	group = xcalloc(c->n, sizeof(*group));
	for (i = 0; i < c->n; i++)
		group[i] = m[i].conv;
	label = labels_from_groups(group, c->n);
	thread_plan_free(p);
	free(group);
	free(m);
	return label;
}

/* ------------------------------------------------------------------ */
/* The simulated database: what the store keeps between batches. */

struct db {
	struct thr_conv *convs;
	int *merged_into;
	size_t n_convs;
	GHashTable *keys; /* any id a stored message mentions -> conv */
	GHashTable *messages; /* stored message id -> conv */
	int64_t clock;
};

static void
db_init(struct db *db)
{
	memset(db, 0, sizeof(*db));
	db->keys = g_hash_table_new_full(g_str_hash, g_str_equal, free, NULL);
	db->messages =
	    g_hash_table_new_full(g_str_hash, g_str_equal, free, NULL);
}

static void
db_free(struct db *db)
{
	free(db->convs);
	free(db->merged_into);
	g_hash_table_destroy(db->keys);
	g_hash_table_destroy(db->messages);
}

static int
db_live(const struct db *db, int c)
{
	while (db->merged_into[c] >= 0)
		c = db->merged_into[c];
	return c;
}

/* The store's lookup: stored conversations and links for the keys. */
struct db_query {
	int *db_of;
	struct thr_conv *convs;
	size_t n;
	struct thr_link *links;
	size_t n_links;
	GHashTable *index; /* db conv + 1 -> query conv + 1 */
};

static void
query_key(struct db_query *q, const struct db *db, const char *key)
{
	gpointer v = g_hash_table_lookup(db->keys, key);
	int dbc, qc;

	if (v == NULL)
		return;
	dbc = db_live(db, GPOINTER_TO_INT(v) - 1);
	v = g_hash_table_lookup(q->index, GINT_TO_POINTER(dbc + 1));
	if (v != NULL)
		qc = GPOINTER_TO_INT(v) - 1;
	else {
		q->db_of = xreallocarray(q->db_of, q->n + 1, sizeof(int));
		q->convs = xreallocarray(q->convs, q->n + 1, sizeof(*q->convs));
		q->db_of[q->n] = dbc;
		q->convs[q->n] = db->convs[dbc];
		qc = (int)q->n++;
		g_hash_table_insert(q->index, GINT_TO_POINTER(dbc + 1),
		    GINT_TO_POINTER(qc + 1));
	}
	q->links = xreallocarray(q->links, q->n_links + 1, sizeof(*q->links));
	q->links[q->n_links].key = key;
	q->links[q->n_links].conv = qc;
	q->n_links++;
}

static void
query_build(
    struct db_query *q, const struct db *db, const struct thr_msg *m, size_t n)
{
	size_t i, j;

	memset(q, 0, sizeof(*q));
	q->index = g_hash_table_new(g_direct_hash, g_direct_equal);
	for (i = 0; i < n; i++) {
		query_key(q, db, m[i].message_id);
		for (j = 0; j < m[i].n_refs; j++)
			query_key(q, db, m[i].refs[j]);
	}
}

static void
query_free(struct db_query *q)
{
	g_hash_table_destroy(q->index);
	free(q->db_of);
	free(q->convs);
	free(q->links);
}

static int
db_new_conv(struct db *db, const struct thr_conv *c)
{
	size_t n = db->n_convs++;

	db->convs = xreallocarray(db->convs, db->n_convs, sizeof(*db->convs));
	db->merged_into =
	    xreallocarray(db->merged_into, db->n_convs, sizeof(int));
	db->convs[n] = *c;
	snprintf(db->convs[n].id, sizeof(db->convs[n].id), "conv-%06zu", n);
	db->convs[n].created_at = ++db->clock;
	db->merged_into[n] = -1;
	return (int)n;
}

static void
db_set(GHashTable *t, const char *key, int conv)
{
	g_hash_table_insert(t, xstrdup(key), GINT_TO_POINTER(conv + 1));
}

/* Plans a batch, checks the plan and writes it back. Returns the number
 * of broken plan invariants. */
static int
db_ingest(struct db *db, struct thr_msg *m, size_t n)
{
	struct db_query q;
	struct thr_plan *p;
	GHashTable *seen;
	int *db_of, bad = 0;
	size_t i, j;

	/* Copies already stored, or repeated in the batch, are duplicates,
	 * as the store marks them. */
	seen = g_hash_table_new(g_str_hash, g_str_equal);
	for (i = 0; i < n; i++) {
		m[i].duplicate =
		    g_hash_table_contains(db->messages, m[i].message_id) ||
		    !g_hash_table_add(seen, (gpointer)m[i].message_id);
	}
	g_hash_table_destroy(seen);

	query_build(&q, db, m, n);
	p = thread_plan(m, n, q.convs, q.n, q.links, q.n_links, 0);
	db_of = xcalloc(p->n_convs, sizeof(*db_of));
	for (i = 0; i < p->n_convs; i++)
		db_of[i] = p->convs[i].is_new ? db_new_conv(db, &p->convs[i])
					      : q.db_of[i];
	for (i = 0; i < p->n_convs; i++)
		if (p->convs[i].merged_into >= 0)
			db->merged_into[db_of[i]] =
			    db_of[p->convs[i].merged_into];
	for (i = 0; i < n; i++) {
		if (m[i].conv < 0 || (size_t)m[i].conv >= p->n_convs ||
		    p->convs[m[i].conv].merged_into >= 0) {
			bad++;
			continue;
		}
		db_set(db->keys, m[i].message_id, db_of[m[i].conv]);
		for (j = 0; j < m[i].n_refs; j++)
			db_set(db->keys, m[i].refs[j], db_of[m[i].conv]);
		if (!m[i].duplicate)
			db_set(db->messages, m[i].message_id, db_of[m[i].conv]);
	}
	free(db_of);
	thread_plan_free(p);
	query_free(&q);
	return bad;
}

/* Shuffled, in batches of 1..max_batch messages, through the database. */
static size_t *
batched_labels(const struct corpus *c, size_t max_batch, int *bad)
{
	struct thr_msg *m;
	struct db db;
	size_t off, len, i, *label;
	int *group;

	m = xcalloc(c->n, sizeof(*m));
	corpus_msgs(c, m);
	shuffle(m, c->n);
	db_init(&db);
	for (off = 0; off < c->n; off += len) {
		len = 1 + rng_below(max_batch);
		if (len > c->n - off)
			len = c->n - off;
		*bad += db_ingest(&db, m + off, len);
	}
	group = xcalloc(c->n, sizeof(*group));
	for (i = 0; i < c->n; i++) {
		gpointer v =
		    g_hash_table_lookup(db.messages, c->mails[i]->message_id);

		group[i] = v == NULL ? -1 - (int)i
				     : db_live(&db, GPOINTER_TO_INT(v) - 1);
	}
	label = labels_from_groups(group, c->n);
	free(group);
	db_free(&db);
	free(m);
	return label;
}

/* Prints the files whose grouping differs, to make a failure readable. */
static void
show_difference(const struct corpus *c, const size_t *want, const size_t *got)
{
	size_t i, shown = 0;

	for (i = 0; i < c->n && shown < 10; i++) {
		if (want[i] == got[i])
			continue;
		printf("#   %s (%s): with %s, expected with %s\n", c->files[i],
		    c->mails[i]->message_id, c->files[got[i]],
		    c->files[want[i]]);
		shown++;
	}
}

/* The thread sizes notmuch printed for `default` ("[3/3]"), sorted. */
static size_t
search_sizes(const char *path, size_t *sizes, size_t max)
{
	char *text, *p;
	size_t n = 0;
	unsigned a, b;

	if ((text = file_read_all(path, NULL)) == NULL)
		return 0;
	for (p = text; (p = strchr(p, '[')) != NULL && n < max; p++)
		if (sscanf(p, "[%u/%u]", &a, &b) == 2 && a == b &&
		    strchr(p, ']') != NULL && p[1] >= '0' && p[1] <= '9')
			sizes[n++] = b;
	free(text);
	return n;
}

static int
size_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* Messages per thread, sorted; copies of one message count once. */
static size_t
label_sizes(const struct corpus *c, const size_t *label, size_t *sizes)
{
	size_t i, j, k = 0, first;

	for (i = 0; i < c->n; i++) {
		if (label[i] != i)
			continue;
		sizes[k] = 0;
		for (j = 0; j < c->n; j++) {
			if (label[j] != i)
				continue;
			for (first = 0; first < j; first++)
				if (label[first] == i &&
				    strcmp(c->mails[first]->message_id,
					c->mails[j]->message_id) == 0)
					break;
			if (first == j)
				sizes[k]++;
		}
		k++;
	}
	qsort(sizes, k, sizeof(*sizes), size_cmp);
	return k;
}

static void
check_default_sizes(const char *root, const struct corpus *c, const size_t *got)
{
	size_t want[64], have[64], nw, nh;
	char *path;

	path = xasprintf("%s/notmuch/expected/notmuch-search-tag-inbox", root);
	nw = search_sizes(path, want, nitems(want));
	free(path);
	qsort(want, nw, sizeof(*want), size_cmp);
	nh = c->n <= nitems(have) ? label_sizes(c, got, have) : 0;
	ok(nw == 24 && nh == nw && memcmp(want, have, nw * sizeof(*want)) == 0,
	    "notmuch default: thread sizes match notmuch search output");
}

static void
check_corpus(const char *root, const struct corpus_def *def, uint64_t seed)
{
	static const size_t max_batches[] = {1, 3, 10, 50};
	struct corpus c;
	size_t *want, *one, *got, missing, expected, i;
	char *dir, *edges;
	bool same = true;
	int bad = 0;

	dir = xasprintf("%s/%s", root, def->dir);
	edges = xasprintf("%s/%s", root, def->edges);
	if (!corpus_load(&c, dir)) {
		ok(0, "%s: corpus loads from %s", def->name, dir);
		corpus_free(&c);
		free(dir);
		free(edges);
		return;
	}
	want = reference_labels(edges, &c, &missing);
	ok(want != NULL && missing == 0, "%s: reference names all %zu files",
	    def->name, c.n);
	if (want == NULL) {
		corpus_free(&c);
		free(dir);
		free(edges);
		return;
	}
	expected = def->threads ? def->threads : label_count(want, c.n);
	is_int(label_count(want, c.n), expected,
	    "%s: reference has the committed %zu threads", def->name, expected);

	one = one_batch_labels(&c);
	printf("# %s: expected %zu threads, got %zu\n", def->name, expected,
	    label_count(one, c.n));
	is_int(label_count(one, c.n), expected, "%s: %zu threads", def->name,
	    expected);
	if (!ok(labels_equal(want, one, c.n),
		"%s: one batch equals the reference partition", def->name))
		show_difference(&c, want, one);
	if (strcmp(def->dir, "notmuch/default") == 0)
		check_default_sizes(root, &c, one);

	for (i = 0; i < 12; i++) {
		got = batched_labels(
		    &c, max_batches[i % nitems(max_batches)], &bad);
		if (!labels_equal(want, got, c.n)) {
			printf("# %s: run %zu (max batch %zu) differs, seed "
			       "%" PRIu64 "\n",
			    def->name, i, max_batches[i % nitems(max_batches)],
			    seed);
			show_difference(&c, want, got);
			same = false;
		}
		free(got);
	}
	ok(same,
	    "%s: 12 shuffled batchings equal the reference (seed %" PRIu64 ")",
	    def->name, seed);
	is_int(bad, 0, "%s: plan invariants hold in every batch", def->name);

	free(one);
	free(want);
	corpus_free(&c);
	free(dir);
	free(edges);
}

static char *
corpora_root(void)
{
	return corpora_find(NULL);
}

int
main(void)
{
	char *root;
	uint64_t seed;
	size_t i;

	(void)tap_is_str; /* partitions are compared as labels */
	if ((root = corpora_root()) == NULL)
		tap_skip_all("no corpus folder (../shared/corpora)");
	seed = rng_seed();
	rng_state = seed;
	printf("# corpora in %s, seed %" PRIu64
	       " (set THREAD_SEED to replay)\n",
	    root, seed);

	mime_init();
	for (i = 0; i < nitems(corpora); i++)
		check_corpus(root, &corpora[i], seed);
	mime_shutdown();
	free(root);
	return tap_done();
}
