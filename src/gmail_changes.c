/*
 * The label changes of one history span, copied out of the answers of
 * history.list (which are freed page by page) in the order Gmail gave
 * them, and the ids of the messages deleted. Pure.
 */
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "gmail_changes.h"
#include "gmail_message.h"
#include "util.h"

struct gmail_changes {
	struct source_label_change *v; /* strings owned */
	size_t cap;
	struct source_label_changes list;
	GHashTable *deleted; /* ids of v[] */
};

struct gmail_changes *
gmail_changes_new(void)
{
	struct gmail_changes *g = xcalloc(1, sizeof(*g));

	g->deleted = g_hash_table_new(g_str_hash, g_str_equal);
	return g;
}

/* The strings are the copies kept(): const only to the readers. */
static void
change_clear(struct source_label_change *c)
{
	if (c->labels != NULL)
		for (size_t i = 0; c->labels[i] != NULL; i++)
			free((char *)c->labels[i]);
	free((char **)c->labels);
	free((char *)c->id);
}

void
gmail_changes_free(struct gmail_changes *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->list.n; i++)
		change_clear(&g->v[i]);
	free(g->v);
	g_hash_table_destroy(g->deleted);
	free(g);
}

static const char *const *
labels_copy(const char *const *labels)
{
	char **copy;
	size_t n = 0;

	if (labels == NULL)
		return NULL;
	while (labels[n] != NULL)
		n++;
	copy = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		copy[i] = xstrdup(labels[i]);
	return (const char *const *)copy;
}

static void
kept(const struct source_label_change *c, void *arg)
{
	struct gmail_changes *g = arg;
	struct source_label_change *k;

	if (g->list.n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->v = xreallocarray(g->v, g->cap, sizeof(*g->v));
	}
	k = &g->v[g->list.n++];
	k->op = c->op;
	k->id = xstrdup(c->id);
	k->labels = labels_copy(c->labels);
	if (c->op == SOURCE_MESSAGE_DELETED)
		g_hash_table_add(g->deleted, (char *)k->id);
	g->list.changes = g->v;
}

void
gmail_changes_read(struct gmail_changes *g, json_t *answer)
{
	gmail_history_changes(answer, kept, g);
}

const struct source_label_changes *
gmail_changes_list(const struct gmail_changes *g)
{
	return &g->list;
}

bool
gmail_changes_deleted(const struct gmail_changes *g, const char *id)
{
	return g_hash_table_contains(g->deleted, id);
}
