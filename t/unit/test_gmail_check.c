/*
 * Checks of Gmail's answers: which historyIds are numbers, how they
 * compare, and which raw messages are base64url.
 */
#include <stddef.h>

#include "gmail_check.h"
#include "tap.h"

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

int
main(void)
{
	test_history_id_valid();
	test_history_id_cmp();
	test_raw_problem();
	return tap_done();
}
