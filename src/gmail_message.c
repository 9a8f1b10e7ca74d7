/*
 * Gmail's answers made into what the store takes: the historyId of an
 * answer, and a message of messages.get?format=raw checked and added to
 * a batch.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gmail_check.h"
#include "gmail_message.h"
#include "ingest.h"
#include "log.h"
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

void
gmail_message_add(struct ingest_batch *b, const char *id, json_t *j)
{
	const char *raw = json_string_value(json_object_get(j, "raw"));
	const char *date =
	    json_string_value(json_object_get(j, "internalDate"));
	json_t *labels = json_object_get(j, "labelIds"), *l;
	size_t n_labels = json_array_size(labels), i, max;
	const char **lv = xcalloc(n_labels + 1, sizeof(char *));
	struct ingest_meta meta;
	size_t raw_len = raw ? strlen(raw) : 0;
	char *data = xmalloc(raw_len / 4 * 3 + 3);
	long len =
	    text_base64_decode(raw ? raw : "", raw_len, data, TEXT_B64_URL);
	bool truncated = false;

	memset(&meta, 0, sizeof(meta));
	json_array_foreach(labels, i, l) {
		lv[i] = json_string_value(l);
		if (lv[i] == NULL)
			lv[i] = "";
		if (strcmp(lv[i], "SENT") == 0)
			meta.outbound_hint = true;
	}
	meta.gmail_message_id = id;
	meta.gmail_thread_id =
	    json_string_value(json_object_get(j, "threadId"));
	meta.gmail_labels = lv;
	if (date != NULL)
		meta.internal_date = strtoll(date, NULL, 10) / 1000;
	if (len < 0)
		fatalx("gmail: messages.get %s: raw checked, yet not base64url",
		    id);
	max = ingest_max_message_size();
	meta.size = (size_t)len;
	if (max > 0 && (size_t)len > max) {
		len = (long)max;
		truncated = true;
	}
	ingest_batch_add(b, data, (size_t)len, truncated, &meta);
	free(data);
	free(lv);
}
