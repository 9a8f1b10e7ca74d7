/*
 * The hot-path JSON writer: escaping, separators, and what it does with
 * a string that is not valid UTF-8 (the database would reject the whole
 * batch over it). Every output is read back by jansson.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonw.h"
#include "tap.h"
#include "util.h"

/* The JSON text jsonw_str() writes for s (malloc'd). */
static char *
written(const char *s)
{
	struct buf b;

	buf_init(&b);
	jsonw_str(&b, s);
	return buf_steal(&b);
}

/* The string jansson reads back from jsonw_str(s), or NULL when the
 * text is not a valid JSON string. */
static char *
round_trip(const char *s)
{
	char *text = written(s), *out = NULL;
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

	if (j != NULL && json_is_string(j))
		out = xstrdup(json_string_value(j));
	json_decref(j);
	free(text);
	return out;
}

static void
check_trip(const char *in, const char *want, const char *what)
{
	char *got = round_trip(in);

	ok(got != NULL && strcmp(got, want) == 0, "%s", what);
	if (got == NULL)
		printf("# not a JSON string\n");
	else if (strcmp(got, want) != 0)
		printf("# got '%s', want '%s'\n", got, want);
	free(got);
}

static void
test_escaping(void)
{
	char *text;

	text = written("a\"b\\c\nd\te\r\x01");
	is_str(text, "\"a\\\"b\\\\c\\nd\\te\\r\\u0001\"",
	    "quote, backslash and control characters are escaped");
	free(text);
	text = written(NULL);
	is_str(text, "null", "NULL is null");
	free(text);
	check_trip("", "", "the empty string");
	check_trip("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    "two-, three- and four-byte sequences pass unchanged");
}

static void
test_ill_formed(void)
{
	static const struct {
		const char *in, *want, *what;
	} cases[] = {
	    {"a\x80z", "a\xef\xbf\xbdz", "a lone continuation byte"},
	    {"a\xe2\x82z", "a\xef\xbf\xbdz", "a cut three-byte sequence"},
	    {"a\xe2\x82", "a\xef\xbf\xbd", "a sequence cut by the end"},
	    {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd", "an overlong slash"},
	    {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
		"a surrogate"},
	    {"\xf5\x80\x80\x80x",
		"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx",
		"a lead byte past U+10FFFF"},
	    {"caf\xe9 cr\xe8me", "caf\xef\xbf\xbd cr\xef\xbf\xbdme",
		"Latin-1 bytes"},
	};

	for (size_t i = 0; i < nitems(cases); i++)
		check_trip(cases[i].in, cases[i].want, cases[i].what);
}

/* Random bytes (no NUL): the output is always a JSON string. */
static void
test_random_bytes(void)
{
	unsigned seed = 12345;
	size_t bad = 0;
	char s[64];

	for (int round = 0; round < 5000; round++) {
		size_t n = (size_t)(round % 63);
		char *got;

		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			s[i] = (char)((seed >> 16) % 255 + 1);
		}
		s[n] = '\0';
		if ((got = round_trip(s)) == NULL)
			bad++;
		free(got);
	}
	is_int(bad, 0, "5000 strings of random bytes all read back");
}

static void
test_separators(void)
{
	struct buf b;
	const char *v[] = {"x", "y", NULL};

	buf_init(&b);
	buf_appends(&b, "{");
	jsonw_kstr(&b, "a", "1");
	jsonw_kint(&b, "b", -2);
	jsonw_kbool(&b, "c", true);
	jsonw_key(&b, "d");
	jsonw_strz(&b, v);
	jsonw_key(&b, "e");
	buf_appends(&b, "[");
	jsonw_sep(&b);
	jsonw_null(&b);
	jsonw_sep(&b);
	jsonw_int(&b, 3);
	buf_appends(&b, "]}");
	is_str(b.data,
	    "{\"a\":\"1\",\"b\":-2,\"c\":true,\"d\":[\"x\",\"y\"],"
	    "\"e\":[null,3]}",
	    "members and elements get exactly one comma between them");
	buf_free(&b);
}

int
main(void)
{
	test_escaping();
	test_ill_formed();
	test_random_bytes();
	test_separators();
	return tap_done();
}
