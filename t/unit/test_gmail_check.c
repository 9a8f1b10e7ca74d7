/*
 * Checks of Gmail's answers: which historyIds are numbers, how they
 * compare, and which raw messages are base64url; and the reading of
 * the answers (gmail_message.c, oauth_token.c).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gmail_check.h"
#include "gmail_message.h"
#include "oauth_token.h"
#include "tap.h"
#include "util.h"

static void
test_history_id_valid(void)
{
	ok(gmail_history_id_valid("1"), "one digit");
	ok(gmail_history_id_valid("12345678901234567890"), "20 digits");
	ok(gmail_history_id_valid("18446744073709551615"), "2^64 - 1");
	ok(!gmail_history_id_valid("123456789012345678901"), "not 21 digits");
	ok(!gmail_history_id_valid(""), "not empty");
	ok(!gmail_history_id_valid(NULL), "not NULL");
	ok(!gmail_history_id_valid("12abc"), "not garbage after digits");
	ok(!gmail_history_id_valid("-5"), "not negative");
	ok(!gmail_history_id_valid(" 5"), "not a space first");
	ok(!gmail_history_id_valid("5 "), "not a space last");
	ok(!gmail_history_id_valid("1e9"), "not an exponent");
}

static void
test_history_id_cmp(void)
{
	ok(gmail_history_id_cmp("9", "10") < 0, "9 < 10");
	ok(gmail_history_id_cmp("10", "9") > 0, "10 > 9");
	is_int(gmail_history_id_cmp("1000", "1000"), 0, "1000 = 1000");
	ok(gmail_history_id_cmp("0010", "9") > 0, "leading zeros: 0010 > 9");
	ok(gmail_history_id_cmp("0", "000") == 0, "0 = 000");
	ok(gmail_history_id_cmp(
	       "99999999999999999999", "18446744073709551615") > 0,
	    "20 digits beyond 64 bits compare too");
}

static void
test_raw_problem(void)
{
	ok(gmail_raw_problem("SGVsbG8") == NULL, "unpadded");
	ok(gmail_raw_problem("SGVsbG8=") == NULL, "padded");
	ok(gmail_raw_problem("SGk=") == NULL, "one pad");
	ok(gmail_raw_problem("SQ==") == NULL, "two pads");
	ok(gmail_raw_problem("-_-_") == NULL, "the url-safe digits");
	is_str(gmail_raw_problem(""), "is empty", "empty");
	is_str(gmail_raw_problem("+/+/"), "is not valid base64url",
	    "not the standard alphabet's + and /");
	is_str(gmail_raw_problem("not base64url!*"), "is not valid base64url",
	    "text");
	is_str(gmail_raw_problem("SGVs bG8="), "is not valid base64url",
	    "no spaces");
	is_str(gmail_raw_problem("SGVsb"), "is not valid base64url",
	    "a lone digit in the last group");
	is_str(
	    gmail_raw_problem("S==="), "is not valid base64url", "three pads");
	is_str(gmail_raw_problem("SGk=SGk="), "is not valid base64url",
	    "padding in the middle");
	is_str(gmail_raw_problem("SGVsbG8=="), "is not valid base64url",
	    "padding beyond the group");
}

static json_t *
answer(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	if (j == NULL)
		abort();
	return j;
}

/* The ids fn was called with, space-separated. */
static void
id_to_buf(const char *id, void *arg)
{
	struct buf *b = arg;

	if (b->len > 0)
		buf_appends(b, " ");
	buf_appends(b, id);
}

static void
check_ids(void (*read)(json_t *, gmail_id_fn *, void *), const char *text,
    const char *want, const char *what)
{
	json_t *j = answer(text);
	struct buf b;

	buf_init(&b);
	read(j, id_to_buf, &b);
	is_str(b.data ? b.data : "", want, "%s", what);
	buf_free(&b);
	json_decref(j);
}

static void
test_listing_ids(void)
{
	check_ids(gmail_history_ids,
	    "{\"history\": [{\"messagesAdded\": ["
	    "{\"message\": {\"id\": \"a\", \"labelIds\": [\"INBOX\"]}},"
	    "{\"message\": {\"id\": \"b\", \"labelIds\": [\"SPAM\"]}},"
	    "{\"message\": {\"id\": \"\", \"labelIds\": [\"SENT\"]}}]},"
	    "{\"labelsAdded\": ["
	    "{\"message\": {\"id\": \"c\"}, \"labelIds\": [\"SENT\"]},"
	    "{\"message\": {\"id\": \"d\", \"labelIds\": [\"INBOX\"]},"
	    " \"labelIds\": [\"STARRED\"]}]}]}",
	    "a c", "history: added to INBOX, labelled SENT; no empty id");
	check_ids(gmail_history_ids, "{\"history\": {\"messagesAdded\": 1}}",
	    "", "history: not an array");
	check_ids(gmail_history_ids, "[1, 2]", "", "history: not an object");
	check_ids(gmail_list_ids,
	    "{\"messages\": [{\"id\": \"x\"}, {\"id\": 5}, \"y\", {\"id\": \"z\"}],"
	    " \"nextPageToken\": \"t\"}",
	    "x z", "list: only string ids");
	check_ids(gmail_list_ids, "{\"resultSizeEstimate\": 0}", "",
	    "list: an empty mailbox");
}

static void
test_message_read(void)
{
	json_t *j = answer("{\"id\": \"m1\", \"threadId\": \"t1\","
			   " \"labelIds\": [\"INBOX\", 7, \"SENT\"],"
			   " \"internalDate\": \"1700000000123\","
			   " \"raw\": \"SGk_\"}");
	struct gmail_message m;
	char *why;

	ok(gmail_message_problem(j) == NULL, "message: fit");
	ok(gmail_message_read(j, "m1", &m), "message: read");
	ok(m.len == 3 && memcmp(m.data, "Hi?", 3) == 0, "message: decoded");
	is_int(m.meta.size, 3, "message: size");
	is_str(m.meta.gmail_thread_id, "t1", "message: thread");
	ok(m.labels[0] && strcmp(m.labels[0], "INBOX") == 0 && m.labels[1] &&
		*m.labels[1] == '\0' && m.labels[2] &&
		strcmp(m.labels[2], "SENT") == 0 && m.labels[3] == NULL,
	    "message: labels, a number as \"\"");
	ok(m.meta.outbound_hint, "message: SENT is outbound");
	is_int(m.meta.internal_date, 1700000000, "message: internalDate");
	gmail_message_clear(&m);
	json_decref(j);
	j = answer("{\"raw\": \"SGk\"}");
	ok(gmail_message_read(j, "m2", &m) && m.labels[0] == NULL &&
		!m.meta.outbound_hint && m.meta.internal_date == 0,
	    "message: no labels, no date");
	gmail_message_clear(&m);
	json_decref(j);
	j = answer("{\"raw\": \"S\"}");
	why = gmail_message_problem(j);
	ok(why != NULL, "message: a lone digit is unfit");
	free(why);
	ok(!gmail_message_read(j, "m3", &m) && m.data == NULL,
	    "message: and does not read");
	json_decref(j);
}

/* The token endpoint's answers, read from a C string. */
static char *
token_of(const char *body, long long *exp)
{
	return oauth_token_read(body, strlen(body), exp);
}

static char *
token_error_of(const char *body)
{
	return oauth_token_error(body, strlen(body));
}

static void
test_token(void)
{
	long long exp;
	char *s;

	s = token_of(
	    "{\"access_token\": \"ya29.x\", \"expires_in\": 3599}", &exp);
	is_str(s, "ya29.x", "token: read");
	is_int(exp, 3599, "token: expires_in");
	free(s);
	s = token_of("{\"access_token\": \"\"}", &exp);
	ok(s == NULL && exp == 0, "token: empty is none");
	ok(token_of("<html>", &exp) == NULL, "token: not JSON");
	ok(token_of("", &exp) == NULL, "token: no body");
	s = token_error_of("{\"error\": \"invalid_grant\","
			   " \"error_description\": \"Bad Request\"}");
	is_str(s, "invalid_grant: Bad Request", "token error: both");
	free(s);
	s = token_error_of("{\"error\": {\"code\": 400}}");
	is_str(s, "no error description", "token error: not a string");
	free(s);
}

int
main(void)
{
	test_history_id_valid();
	test_history_id_cmp();
	test_raw_problem();
	test_listing_ids();
	test_message_read();
	test_token();
	return tap_done();
}
