/*
 * Gmail's answers read into what the driver and the store take: the
 * historyId of an answer, the messages a listing names, the label
 * changes of a history, a message of
 * messages.get?format=raw checked and decoded, and Google's errors in
 * words. Pure: the answers come parsed from gmail_api.c.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gmail_check.h"
#include "gmail_message.h"
#include "text.h"
#include "util.h"

/* historyId is a decimal string; tolerate a number too. */
char *
gmail_history_id_of(json_t *j)
{
	json_t *h = json_object_get(j, "historyId");

	if (json_is_string(h))
		return xstrdup(json_string_value(h));
	if (json_is_integer(h))
		return xasprintf("%lld", (long long)json_integer_value(h));
	if (h != NULL)
		return xstrdup("(not a string)");
	return NULL;
}

/* Listings ------------------------------------------------------------------ */

static void
found_id(json_t *message, gmail_id_fn *fn, void *arg)
{
	const char *id = json_string_value(json_object_get(message, "id"));

	if (id != NULL && *id != '\0')
		fn(id, arg);
}

static bool
has_wanted_label(json_t *labels)
{
	size_t i;
	json_t *l;

	json_array_foreach(labels, i, l) {
		const char *v = json_string_value(l);

		if (v && (strcmp(v, "INBOX") == 0 || strcmp(v, "SENT") == 0))
			return true;
	}
	return false;
}

/* Messages added to the mailbox, or newly labelled INBOX or SENT. */
void
gmail_history_ids(json_t *j, gmail_id_fn *fn, void *arg)
{
	size_t i, k;
	json_t *rec, *e;

	json_array_foreach(json_object_get(j, "history"), i, rec) {
		json_array_foreach(
		    json_object_get(rec, "messagesAdded"), k, e) {
			json_t *m = json_object_get(e, "message");

			if (has_wanted_label(json_object_get(m, "labelIds")))
				found_id(m, fn, arg);
		}
		json_array_foreach(json_object_get(rec, "labelsAdded"), k, e) {
			if (has_wanted_label(json_object_get(e, "labelIds")))
				found_id(
				    json_object_get(e, "message"), fn, arg);
		}
	}
}

/* A record's entries of one kind; labels NULL for a deletion. */
static void
history_entries(json_t *rec, const char *key, enum source_label_op op,
    gmail_change_fn *fn, void *arg)
{
	struct source_label_change c;
	const char **labels;
	size_t k, i, n;
	json_t *e, *l;

	json_array_foreach(json_object_get(rec, key), k, e) {
		c.op = op;
		c.id = json_string_value(
		    json_object_get(json_object_get(e, "message"), "id"));
		if (c.id == NULL || *c.id == '\0')
			continue;
		if (op == SOURCE_MESSAGE_DELETED) {
			c.labels = NULL;
			fn(&c, arg);
			continue;
		}
		labels =
		    xcalloc(json_array_size(json_object_get(e, "labelIds")) + 1,
			sizeof(char *));
		n = 0;
		json_array_foreach(json_object_get(e, "labelIds"), i, l) {
			const char *v = json_string_value(l);

			if (v != NULL && *v != '\0')
				labels[n++] = v;
		}
		c.labels = labels;
		if (n > 0)
			fn(&c, arg);
		free(labels);
	}
}

void
gmail_history_changes(json_t *j, gmail_change_fn *fn, void *arg)
{
	size_t i;
	json_t *rec;

	json_array_foreach(json_object_get(j, "history"), i, rec) {
		history_entries(
		    rec, "labelsAdded", SOURCE_LABELS_ADDED, fn, arg);
		history_entries(
		    rec, "labelsRemoved", SOURCE_LABELS_REMOVED, fn, arg);
		history_entries(
		    rec, "messagesDeleted", SOURCE_MESSAGE_DELETED, fn, arg);
	}
}

void
gmail_list_ids(json_t *j, gmail_id_fn *fn, void *arg)
{
	size_t i;
	json_t *m;

	json_array_foreach(json_object_get(j, "messages"), i, m)
		found_id(m, fn, arg);
}

/* Messages ------------------------------------------------------------------ */

char *
gmail_message_problem(json_t *j)
{
	json_t *raw = json_object_get(j, "raw");
	char *h = gmail_history_id_of(j), *why = NULL;

	if (raw == NULL)
		why = xstrdup("the answer has no raw message");
	else if (!json_is_string(raw))
		why = xstrdup("raw is not a string");
	else if (gmail_raw_problem(json_string_value(raw)) != NULL)
		why = xasprintf(
		    "raw %s", gmail_raw_problem(json_string_value(raw)));
	else if (h != NULL && !gmail_history_id_valid(h))
		why = xasprintf("the historyId \"%.40s\" is not a decimal "
				"number",
		    h);
	free(h);
	return why;
}

/* The labels as a NULL-terminated array; SENT tells the direction. */
static void
read_labels(json_t *labels, struct gmail_message *m)
{
	size_t i;
	json_t *l;

	m->labels = xcalloc(json_array_size(labels) + 1, sizeof(char *));
	json_array_foreach(labels, i, l) {
		m->labels[i] = json_string_value(l);
		if (m->labels[i] == NULL)
			m->labels[i] = "";
		if (strcmp(m->labels[i], "SENT") == 0)
			m->meta.outbound_hint = true;
	}
	m->meta.gmail_labels = m->labels;
}

bool
gmail_message_read(json_t *j, const char *id, struct gmail_message *m)
{
	const char *raw = json_string_value(json_object_get(j, "raw"));
	const char *date =
	    json_string_value(json_object_get(j, "internalDate"));
	size_t raw_len = raw ? strlen(raw) : 0;
	long len;

	memset(m, 0, sizeof(*m));
	read_labels(json_object_get(j, "labelIds"), m);
	m->meta.gmail_message_id = id;
	m->meta.gmail_thread_id =
	    json_string_value(json_object_get(j, "threadId"));
	if (date != NULL)
		m->meta.internal_date = strtoll(date, NULL, 10) / 1000;
	m->data = xmalloc(raw_len / 4 * 3 + 3);
	len =
	    text_base64_decode(raw ? raw : "", raw_len, m->data, TEXT_B64_URL);
	if (len < 0) {
		gmail_message_clear(m);
		return false;
	}
	m->len = m->meta.size = (size_t)len;
	return true;
}

void
gmail_message_clear(struct gmail_message *m)
{
	free(m->data);
	free(m->labels);
	memset(m, 0, sizeof(*m));
}

/* Google's errors ----------------------------------------------------------- */

/* Google's error shape: {"error": {"code", "message", "errors": [{"domain",
 * "reason", "message"}], "status"}}. */
static const char *
error_reason(json_t *j)
{
	json_t *errors = json_object_get(json_object_get(j, "error"), "errors");

	return json_string_value(
	    json_object_get(json_array_get(errors, 0), "reason"));
}

char *
gmail_error_text(long status, json_t *j)
{
	json_t *e = json_object_get(j, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *reason = error_reason(j);

	if (msg == NULL && json_is_string(e))
		msg = json_string_value(e);
	return xasprintf("HTTP %ld: %s%s%s%s", status,
	    msg ? msg : "no error message", reason ? " (reason " : "",
	    reason ? reason : "", reason ? ")" : "");
}

bool
gmail_is_rate_limited(long status, json_t *j)
{
	const char *reason = error_reason(j);

	if (status == 429)
		return true;
	return status == 403 && reason != NULL &&
	    (strcmp(reason, "rateLimitExceeded") == 0 ||
		strcmp(reason, "userRateLimitExceeded") == 0);
}
