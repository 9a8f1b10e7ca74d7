/*
 * The decoding of what Gmail publishes on Pub/Sub (pubsub_notice.c):
 * base64 of either alphabet, JSON with emailAddress and historyId, and
 * everything else refused with a reason; and the received messages of
 * a pull answer.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "pubsub_notice.h"
#include "tap.h"
#include "util.h"

/* The data of a message holding json, as Pub/Sub sends it. */
static char *
encoded(const char *json)
{
	gchar *b = g_base64_encode((const guchar *)json, strlen(json));
	char *s = xstrdup(b);

	g_free(b);
	return s;
}

/* Decodes data; the reason of a refusal, or NULL; the notice in n. */
static char *
refusal(const char *data, struct pubsub_notice *n)
{
	char *why = NULL;

	if (pubsub_notice_decode(data, n, &why))
		return NULL;
	ok(n->email == NULL, "a refused notice holds no address");
	return why;
}

static void
test_good(void)
{
	struct pubsub_notice n;
	char *d = encoded("{\"emailAddress\": \"Me@Example.com\", "
			  "\"historyId\": 9876543210}");

	is_str(refusal(d, &n), NULL, "a Gmail notice decodes");
	is_str(n.email, "Me@Example.com", "its address, as sent");
	ok(n.history_id == 9876543210ULL, "its historyId");
	pubsub_notice_clear(&n);
	ok(n.email == NULL, "cleared");
	free(d);

	/* URL-safe alphabet, no padding: ">?" encodes as "Pj8" / "Pj8=". */
	d = encoded("{\"emailAddress\":\"a@b.example\",\"historyId\":\"1\","
		    "\"x\":\">>>?\"}");
	for (char *p = d; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	while (strlen(d) > 0 && d[strlen(d) - 1] == '=')
		d[strlen(d) - 1] = '\0';
	is_str(refusal(d, &n), NULL, "URL-safe and unpadded, and a string id");
	ok(n.history_id == 1, "historyId as a string");
	pubsub_notice_clear(&n);
	free(d);

	d = encoded("{\"emailAddress\":\"a@b.example\","
		    "\"historyId\":9223372036854775807}");
	is_str(refusal(d, &n), NULL, "the largest JSON integer");
	ok(n.history_id == 9223372036854775807ULL, "read whole");
	pubsub_notice_clear(&n);
	free(d);
}

static void
expect_refused(const char *data, const char *want, const char *what)
{
	struct pubsub_notice n;
	char *why = refusal(data, &n);

	ok(why != NULL && strstr(why, want) != NULL, "%s: \"%s\"", what,
	    why ? why : "(accepted)");
	free(why);
	pubsub_notice_clear(&n);
}

static void
expect_refused_json(const char *json, const char *want, const char *what)
{
	char *d = encoded(json);

	expect_refused(d, want, what);
	free(d);
}

static void
test_bad(void)
{
	char big[5000];

	expect_refused(NULL, "no data", "no data");
	expect_refused("e30*", "not base64", "a stray character");
	expect_refused("e30=e30=", "not base64", "padding inside");
	expect_refused("e", "not base64", "a lone last character");
	expect_refused("e31=", "not base64", "bits left over");
	expect_refused("e30===", "not base64", "three pads");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_refused(big, "too long", "far too long for a notice");
	expect_refused_json("not json", "not JSON", "base64 of no JSON");
	expect_refused_json("[1, 2]", "no emailAddress", "an array");
	expect_refused_json(
	    "{\"historyId\": 5}", "no emailAddress", "no address");
	expect_refused_json("{\"emailAddress\": 5, \"historyId\": 5}",
	    "no emailAddress", "an address not a string");
	expect_refused_json("{\"emailAddress\": \"nobody\", \"historyId\": 5}",
	    "no emailAddress", "an address without @");
	expect_refused_json("{\"emailAddress\": \"a@b.example\"}",
	    "no historyId", "no historyId");
	expect_refused_json(
	    "{\"emailAddress\": \"a@b.example\", \"historyId\": 0}",
	    "no historyId", "historyId 0");
	expect_refused_json(
	    "{\"emailAddress\": \"a@b.example\", \"historyId\": -3}",
	    "no historyId", "a negative historyId");
	expect_refused_json(
	    "{\"emailAddress\": \"a@b.example\", \"historyId\": 1.5}",
	    "no historyId", "a fraction");
	expect_refused_json("{\"emailAddress\": \"a@b.example\", "
			    "\"historyId\": 123456789012345678901234567890}",
	    "not JSON", "a huge historyId");
	expect_refused_json("{\"emailAddress\": \"a@b.example\", "
			    "\"historyId\": \"123456789012345678901\"}",
	    "no historyId", "a huge historyId as a string");
	expect_refused_json("{\"emailAddress\": \"a@b.example\", "
			    "\"historyId\": \"12abc\"}",
	    "no historyId", "a historyId of garbage");
	expect_refused_json("{\"emailAddress\": \"a@b.example\", "
			    "\"emailAddress\": \"c@d.example\", "
			    "\"historyId\": 5}",
	    "not JSON", "an address given twice");
}

struct seen {
	char ids[8][32];
	char msg_ids[8][32];
	int with_data;
	int n;
};

static void
take(const char *ack_id, const char *message_id, const char *data, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8) {
		strncpy(s->ids[s->n], ack_id, sizeof(s->ids[0]) - 1);
		strncpy(s->msg_ids[s->n], message_id, sizeof(s->ids[0]) - 1);
	}
	s->n++;
	if (data != NULL)
		s->with_data++;
}

static void
test_received(void)
{
	struct seen s;
	json_t *j = json_loads(
	    "{\"receivedMessages\": ["
	    "{\"ackId\": \"a1\", \"message\": {\"data\": \"e30=\"}},"
	    "{\"message\": {\"data\": \"e30=\"}},"
	    "{\"ackId\": \"\", \"message\": {}},"
	    "{\"ackId\": \"a2\", \"message\": {\"messageId\": \"7\"}},"
	    "{\"ackId\": 5}]}",
	    0, NULL);

	memset(&s, 0, sizeof(s));
	is_int((int)pubsub_received(j, take, &s), 3, "three without an ackId");
	is_int(s.n, 2, "two taken");
	is_str(s.ids[0], "a1", "the first");
	is_str(s.ids[1], "a2", "the second");
	is_str(s.msg_ids[0], "", "the first without a messageId");
	is_str(s.msg_ids[1], "7", "the second's messageId");
	is_int(s.with_data, 1, "one with data");
	json_decref(j);

	memset(&s, 0, sizeof(s));
	j = json_loads("{}", 0, NULL);
	is_int((int)pubsub_received(j, take, &s), 0, "an empty answer");
	is_int(s.n, 0, "nothing taken");
	json_decref(j);
	is_int((int)pubsub_received(NULL, take, &s), 0, "no answer at all");
}

int
main(void)
{
	test_good();
	test_bad();
	test_received();
	return tap_done();
}
