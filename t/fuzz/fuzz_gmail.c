/*
 * libFuzzer target for the readers of Gmail's JSON answers
 * (gmail_message.h, gmail_check.h) and of a token endpoint's
 * (oauth_token.h): the input is one answer body, given to every reader
 * as history.list (its ids and its label changes), messages.list,
 * messages.get?format=raw, an error and a token answer would be.
 * Nothing may crash, leak or trip a sanitizer, and what the readers
 * return must keep their promises (no empty id or label, a message
 * found fit reads, a decoded message no longer than its raw form
 * allows). See README.md for running it with the seed corpus.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gmail_check.h"
#include "gmail_message.h"
#include "oauth_token.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_id(const char *id, void *arg)
{
	size_t *n = arg;

	if (id == NULL || *id == '\0')
		abort();
	(*n)++;
}

static void
check_listings(json_t *j)
{
	size_t n = 0;

	gmail_history_ids(j, check_id, &n);
	gmail_list_ids(j, check_id, &n);
}

/* A label change names a message, and labels unless it deleted one,
 * none of them empty. */
static void
check_change(const struct source_label_change *c, void *arg)
{
	size_t *n = arg;

	if (c->id == NULL || *c->id == '\0' ||
	    (c->labels == NULL) != (c->op == SOURCE_MESSAGE_DELETED))
		abort();
	if (c->labels != NULL && c->labels[0] == NULL)
		abort();
	for (size_t i = 0; c->labels != NULL && c->labels[i] != NULL; i++)
		if (*c->labels[i] == '\0')
			abort();
	(*n)++;
}

static void
check_changes(json_t *j)
{
	size_t n = 0;

	gmail_history_changes(j, check_change, &n);
}

/* A historyId is either refused or a number that compares as one. */
static void
check_history_id(json_t *j)
{
	char *h = gmail_history_id_of(j);

	if (h != NULL && gmail_history_id_valid(h) &&
	    (gmail_history_id_cmp(h, h) != 0 ||
		gmail_history_id_cmp(h, "0") < 0))
		abort();
	free(h);
}

static void
check_message(json_t *j)
{
	char *why = gmail_message_problem(j);
	const char *raw = json_string_value(json_object_get(j, "raw"));
	struct gmail_message m;
	size_t n = 0;

	if (!gmail_message_read(j, "id", &m)) {
		if (why == NULL || m.data != NULL || m.labels != NULL)
			abort();
		free(why);
		return;
	}
	if (m.len > (raw ? strlen(raw) : 0) * 3 / 4 || m.meta.size != m.len ||
	    m.meta.gmail_labels != m.labels)
		abort();
	while (m.labels[n] != NULL)
		n++;
	if (n != json_array_size(json_object_get(j, "labelIds")))
		abort();
	gmail_message_clear(&m);
	free(why);
}

/* Only a 429, or a 403 that says why, is a rate limit. */
static void
check_error(json_t *j)
{
	static const long statuses[] = {400, 401, 403, 404, 429, 500};
	long st;
	char *s;

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		st = statuses[i];
		s = gmail_error_text(st, j);
		if (s == NULL || strncmp(s, "HTTP ", 5) != 0)
			abort();
		free(s);
		if (st != 403 && gmail_is_rate_limited(st, j) != (st == 429))
			abort();
	}
}

static void
check_token(const char *body, size_t len)
{
	long long expires_in;
	char *token = oauth_token_read(body, len, &expires_in), *why;

	if (token != NULL && *token == '\0')
		abort();
	free(token);
	why = oauth_token_error(body, len);
	if (why == NULL)
		abort();
	free(why);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	json_t *j = json_loadb(body, size, 0, NULL);

	check_listings(j);
	check_changes(j);
	check_history_id(j);
	check_message(j);
	check_error(j);
	json_decref(j);
	check_token(body, size);
	return 0;
}
