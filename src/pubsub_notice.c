/*
 * Gmail's notices decoded. The data is small and comes from whoever may
 * publish on the topic, so every part of it is checked.
 */
#include <stdlib.h>
#include <string.h>

#include "pubsub_notice.h"
#include "text.h"
#include "util.h"

/* Gmail's notice is some 60 bytes; anything much larger is not one. */
#define MAX_NOTICE 4096

/*
 * Base64 of either alphabet (Pub/Sub's JSON writes the standard one),
 * padding optional; NULL for anything else. The result is
 * NUL-terminated.
 */
static char *
b64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s);
	char *d = xmalloc(n / 4 * 3 + 3);
	long out = text_base64_decode(s, n, d, 0);

	if (out < 0)
		out = text_base64_decode(s, n, d, TEXT_B64_URL);
	if (out < 0) {
		free(d);
		return NULL;
	}
	d[out] = '\0';
	*len = (size_t)out;
	return d;
}

/* historyId: a JSON number, or a decimal string, as JSON encoders of
 * 64-bit integers often write them. */
static bool
history_id_of(json_t *h, uint64_t *out)
{
	const char *s;
	char *end;

	if (json_is_integer(h) && json_integer_value(h) > 0) {
		*out = (uint64_t)json_integer_value(h);
		return true;
	}
	if ((s = json_string_value(h)) == NULL || *s < '1' || *s > '9' ||
	    strlen(s) > 19)
		return false;
	*out = strtoull(s, &end, 10);
	return *end == '\0';
}

bool
pubsub_notice_decode(const char *data, struct pubsub_notice *n, char **why)
{
	json_error_t jerr;
	size_t len;
	char *text;
	json_t *j;
	const char *email;

	memset(n, 0, sizeof(*n));
	if (data == NULL) {
		*why = xstrdup("the message has no data");
		return false;
	}
	if (strlen(data) > MAX_NOTICE) {
		*why = xasprintf("the data is %zu bytes, too long for a Gmail "
				 "notice",
		    strlen(data));
		return false;
	}
	if ((text = b64_decode(data, &len)) == NULL) {
		*why = xstrdup("the data is not base64");
		return false;
	}
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (j == NULL) {
		*why = xasprintf("the data is not JSON: %s", jerr.text);
		return false;
	}
	email = json_string_value(json_object_get(j, "emailAddress"));
	if (email == NULL || strchr(email, '@') == NULL) {
		*why = xstrdup("the data has no emailAddress");
		json_decref(j);
		return false;
	}
	if (!history_id_of(json_object_get(j, "historyId"), &n->history_id)) {
		*why = xstrdup("the data has no historyId, or not a positive "
			       "number of at most 19 digits");
		json_decref(j);
		return false;
	}
	n->email = xstrdup(email);
	json_decref(j);
	return true;
}

void
pubsub_notice_clear(struct pubsub_notice *n)
{
	free(n->email);
	n->email = NULL;
}

size_t
pubsub_received(json_t *answer, pubsub_received_fn *fn, void *arg)
{
	json_t *list = json_object_get(answer, "receivedMessages"), *m;
	size_t i, bad = 0;

	json_array_foreach(list, i, m) {
		const char *ack =
		    json_string_value(json_object_get(m, "ackId"));
		json_t *msg = json_object_get(m, "message");
		const char *id;

		if (ack == NULL || *ack == '\0') {
			bad++;
			continue;
		}
		id = json_string_value(json_object_get(msg, "messageId"));
		fn(ack, id ? id : "",
		    json_string_value(json_object_get(msg, "data")), arg);
	}
	return bad;
}
