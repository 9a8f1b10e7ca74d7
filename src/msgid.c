/*
 * Message-ID parsing. Real headers carry folding, comments, display
 * names, "Your message of ..." prose and ids without brackets; the
 * scanner below takes ids in angle brackets first and falls back to
 * bare tokens only when a value has none.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "msgid.h"
#include "util.h"

/* Beyond this many ids a hash set replaces the linear duplicate check. */
#define IDLIST_LINEAR_MAX 16

struct idlist {
	char **v;
	size_t n, cap;
	GHashTable *seen;
};

static void
idlist_init(struct idlist *l)
{
	memset(l, 0, sizeof(*l));
}

static bool
idlist_contains(struct idlist *l, const char *id)
{
	if (l->seen != NULL)
		return g_hash_table_contains(l->seen, id);
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], id) == 0)
			return true;
	return false;
}

/* Takes ownership of id: appends it, or frees it when already there. */
static void
idlist_add(struct idlist *l, char *id)
{
	if (idlist_contains(l, id)) {
		free(id);
		return;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = id;
	if (l->seen == NULL && l->n > IDLIST_LINEAR_MAX) {
		l->seen = g_hash_table_new(g_str_hash, g_str_equal);
		for (size_t i = 0; i < l->n; i++)
			g_hash_table_add(l->seen, l->v[i]);
	} else if (l->seen != NULL)
		g_hash_table_add(l->seen, id);
}

/* Hands the array to the caller; the list is empty afterwards. */
static size_t
idlist_finish(struct idlist *l, char ***out)
{
	size_t n = l->n;

	if (l->seen != NULL)
		g_hash_table_destroy(l->seen);
	if (n == 0) {
		free(l->v);
		*out = NULL;
	} else
		*out = l->v;
	idlist_init(l);
	return n;
}

void
msgid_list_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

size_t
msgid_list_merge(char ***ids, size_t n, char **more, size_t nmore)
{
	struct idlist l;

	idlist_init(&l);
	for (size_t i = 0; i < n; i++)
		idlist_add(&l, (*ids)[i]);
	free(*ids);
	for (size_t i = 0; i < nmore; i++)
		idlist_add(&l, more[i]);
	free(more);
	return idlist_finish(&l, ids);
}

/*
 * The scanner
 */

struct scan {
	const char *s;
	size_t len;
	/* Once a comment or quoted string failed to close, later ones
	 * cannot close either: treating them as text keeps this linear. */
	bool no_comment_end, no_quote_end;
};

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
	    c == '\v';
}

/* Offset past the comment that opens at s[i], or 0 if it never ends. */
static size_t
comment_end(struct scan *sc, size_t i)
{
	int depth = 0;

	if (sc->no_comment_end)
		return 0;
	while (i < sc->len) {
		char c = sc->s[i++];

		if (c == '\\')
			i++;
		else if (c == '(')
			depth++;
		else if (c == ')' && --depth == 0)
			return i;
	}
	sc->no_comment_end = true;
	return 0;
}

/* Offset past the quoted string that opens at s[i], or 0. */
static size_t
quote_end(struct scan *sc, size_t i)
{
	if (sc->no_quote_end)
		return 0;
	for (i++; i < sc->len; i++) {
		if (sc->s[i] == '\\')
			i++;
		else if (sc->s[i] == '"')
			return i + 1;
	}
	sc->no_quote_end = true;
	return 0;
}

void
msgid_fold_domain(char *id)
{
	char *at = strrchr(id, '@');

	for (char *c = at; c != NULL && *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
}

/* A malloc'd copy of s[0..n) without whitespace, cut at MSGID_MAX_LEN,
 * its domain part in lower case; NULL when nothing is left. */
static char *
id_from(const char *s, size_t n)
{
	char *id = xmalloc(n + 1);
	size_t len = 0;

	for (size_t i = 0; i < n && len < MSGID_MAX_LEN; i++)
		if (!is_space(s[i]))
			id[len++] = s[i];
	if (len == 0) {
		free(id);
		return NULL;
	}
	id[len] = '\0';
	msgid_fold_domain(id);
	return id;
}

/*
 * Reads the bracketed id whose '<' is at s[i]. Sets *id (or NULL for
 * "<>") and returns the offset after it. A '<' inside restarts the id;
 * without a closing '>', the id runs to the next whitespace.
 */
static size_t
bracketed_id(struct scan *sc, size_t i, char **id)
{
	size_t start = i + 1, j;

	for (j = start; j < sc->len; j++) {
		if (sc->s[j] == '<')
			start = j + 1;
		else if (sc->s[j] == '>') {
			*id = id_from(sc->s + start, j - start);
			return j + 1;
		}
	}
	while (start < sc->len && is_space(sc->s[start]))
		start++;
	for (j = start; j < sc->len && !is_space(sc->s[j]); j++)
		;
	*id = id_from(sc->s + start, j - start);
	return j;
}

/* Collects the bracketed ids of the value; stops after one if first. */
static void
scan_bracketed(struct scan *sc, struct idlist *out, bool first)
{
	size_t i = 0, next;
	char *id;

	while (i < sc->len) {
		char c = sc->s[i];

		if (c == '(' && (next = comment_end(sc, i)) != 0)
			i = next;
		else if (c == '"' && (next = quote_end(sc, i)) != 0)
			i = next;
		else if (c == '<') {
			i = bracketed_id(sc, i, &id);
			if (id != NULL) {
				idlist_add(out, id);
				if (first)
					return;
			}
		} else
			i++;
	}
}

static bool
is_token_end(char c)
{
	return is_space(c) || c == ',' || c == ';' || c == '<' || c == '>' ||
	    c == '(' || c == '"';
}

/*
 * For values without brackets: tokens holding an '@' are ids, and so is
 * the whole value when it is a single token ("Message-ID: 1234.5678").
 */
static void
scan_bare(struct scan *sc, struct idlist *out, bool first)
{
	size_t i = 0, next, ntokens = 0, single_start = 0, single_len = 0;
	char *id;

	while (i < sc->len) {
		char c = sc->s[i];
		size_t start;
		bool at = false;

		if (c == '(' && (next = comment_end(sc, i)) != 0) {
			i = next;
			continue;
		}
		if (c == '"' && (next = quote_end(sc, i)) != 0) {
			i = next;
			continue;
		}
		if (is_token_end(c)) {
			i++;
			continue;
		}
		for (start = i; i < sc->len && !is_token_end(sc->s[i]); i++)
			if (sc->s[i] == '@')
				at = true;
		if (ntokens++ == 0) {
			single_start = start;
			single_len = i - start;
		}
		if (at && (id = id_from(sc->s + start, i - start)) != NULL) {
			idlist_add(out, id);
			if (first)
				return;
		}
	}
	if (out->n == 0 && ntokens == 1 &&
	    (id = id_from(sc->s + single_start, single_len)) != NULL)
		idlist_add(out, id);
}

static size_t
scan_ids(const char *value, bool first, char ***out)
{
	struct idlist l;
	struct scan sc;

	idlist_init(&l);
	if (value != NULL) {
		memset(&sc, 0, sizeof(sc));
		sc.s = value;
		sc.len = strlen(value);
		scan_bracketed(&sc, &l, first);
		if (l.n == 0) {
			sc.no_comment_end = sc.no_quote_end = false;
			scan_bare(&sc, &l, first);
		}
	}
	return idlist_finish(&l, out);
}

char *
msgid_parse_one(const char *value)
{
	char **ids, *id;
	size_t n;

	if ((n = scan_ids(value, true, &ids)) == 0)
		return NULL;
	id = ids[0];
	ids[0] = NULL;
	msgid_list_free(ids, n);
	return id;
}

size_t
msgid_parse_list(const char *value, char ***out)
{
	return scan_ids(value, false, out);
}

static void
checksum_field(GChecksum *ck, const char *s, size_t len)
{
	char sep = '\0';

	if (s != NULL && len > 0)
		g_checksum_update(ck, (const guchar *)s, (gssize)len);
	/* The separator keeps ("ab", "c") apart from ("a", "bc"). */
	g_checksum_update(ck, (const guchar *)&sep, 1);
}

char *
msgid_synthetic(const char *from, const char *date, const char *subject,
    const char *body, size_t body_len)
{
	GChecksum *ck;
	char *id;

	ck = g_checksum_new(G_CHECKSUM_SHA256);
	checksum_field(ck, from, from ? strlen(from) : 0);
	checksum_field(ck, date, date ? strlen(date) : 0);
	checksum_field(ck, subject, subject ? strlen(subject) : 0);
	checksum_field(ck, body, body ? body_len : 0);
	id = xasprintf("synthetic-%s@inboxd", g_checksum_get_string(ck));
	g_checksum_free(ck);
	return id;
}
