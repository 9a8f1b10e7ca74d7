/*
 * Message-ID parsing: brackets, folding, comments, junk, duplicates,
 * ids without brackets, and the synthetic id.
 */
#include <stdlib.h>
#include <string.h>

#include "msgid.h"
#include "tap.h"
#include "util.h"

static void
check_one(const char *value, const char *want, const char *what)
{
	char *id = msgid_parse_one(value);

	is_str(id, want, "one: %s", what);
	free(id);
}

/* want is the expected ids joined by single spaces ("" for none). */
static void
check_list(const char *value, const char *want, const char *what)
{
	struct buf b;
	char **ids;
	size_t n;

	n = msgid_parse_list(value, &ids);
	buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_appends(&b, " ");
		buf_appends(&b, ids[i]);
	}
	is_str(b.data ? b.data : "", want, "list: %s", what);
	ok((n == 0) == (ids == NULL), "list: %s: NULL array iff empty", what);
	buf_free(&b);
	msgid_list_free(ids, n);
}

static void
test_parse_one(void)
{
	check_one("<abc@example.com>", "abc@example.com", "plain");
	check_one("  <abc@example.com>  \r\n", "abc@example.com", "whitespace");
	check_one(" <abc@exa\r\n mple.com>", "abc@example.com",
	    "folded inside brackets");
	check_one(
	    "< abc@example.com >", "abc@example.com", "spaces inside brackets");
	check_one("(comment <not@this>) <abc@example.com>", "abc@example.com",
	    "comment with brackets first");
	check_one(
	    "(outer (nested) comment) <abc@x>", "abc@x", "nested comment");
	check_one(
	    "\"Display <not@this>\" <abc@x>", "abc@x", "quoted string skipped");
	check_one("abc@example.com", "abc@example.com", "no brackets");
	check_one("1234.5678", "1234.5678", "single token without @");
	check_one("Your message of Monday", NULL, "prose is not an id");
	check_one(
	    "Your message of Monday <abc@x>", "abc@x", "prose before the id");
	check_one("", NULL, "empty");
	check_one("   \r\n ", NULL, "only whitespace");
	check_one(NULL, NULL, "NULL");
	check_one("<>", NULL, "empty brackets");
	check_one("<> <abc@x>", "abc@x", "empty brackets then id");
	check_one("<<abc@x>>", "abc@x", "doubled brackets");
	check_one("<abc@x", "abc@x", "missing closing bracket");
	check_one("<abc@x trailing words", "abc@x",
	    "missing closing bracket, words after");
	check_one("((((( <abc@x>", "abc@x", "unclosed comments");
	check_one("\" <abc@x>", "abc@x", "unclosed quote");
	check_one("<first@x> <second@x>", "first@x", "first of two");
}

static void
test_parse_list(void)
{
	check_list("<a@x> <b@x> <c@x>", "a@x b@x c@x", "three");
	check_list("<a@x>\r\n\t<b@x>\r\n <c@x>", "a@x b@x c@x", "folded");
	check_list("<a@x>,<b@x>;<c@x>", "a@x b@x c@x", "punctuation");
	check_list("<a@x> <b@x> <a@x> <b@x>", "a@x b@x", "duplicates");
	check_list(
	    "<a@x> (junk <j@x>) garbage <b@x>", "a@x b@x", "junk between");
	check_list("a@x, b@x", "a@x b@x", "no brackets");
	check_list("a@x word <b@x>", "b@x", "bracketed ids win over bare");
	check_list("Message from Bob of Monday", "", "prose");
	check_list("", "", "empty");
	check_list(NULL, "", "NULL");
}

/* More ids than the linear duplicate check handles. */
static void
test_many_duplicates(void)
{
	struct buf b;
	char **ids;
	size_t n;
	bool order = true;

	buf_init(&b);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 100; i++)
			buf_printf(&b, "<id%d@x> ", i);
	n = msgid_parse_list(b.data, &ids);
	is_int(n, 100, "300 ids with duplicates give 100");
	for (size_t i = 0; i < n && order; i++) {
		char want[32];

		snprintf(want, sizeof(want), "id%zu@x", i);
		order = strcmp(ids[i], want) == 0;
	}
	ok(order, "first-seen order kept");
	msgid_list_free(ids, n);
	buf_free(&b);
}

static void
test_merge(void)
{
	char **a, **b;
	size_t na, nb, n;

	na = msgid_parse_list("<r@x> <p@x>", &a);
	nb = msgid_parse_list("<p@x> <q@x>", &b);
	n = msgid_list_merge(&a, na, b, nb);
	is_int(n, 3, "merge: union");
	is_str(a[0], "r@x", "merge: order 0");
	is_str(a[1], "p@x", "merge: order 1");
	is_str(a[2], "q@x", "merge: order 2");
	msgid_list_free(a, n);

	a = NULL;
	n = msgid_list_merge(&a, 0, NULL, 0);
	ok(n == 0 && a == NULL, "merge: two empty lists");
}

static void
test_long_id(void)
{
	char *value = xmalloc(5000), *id;

	value[0] = '<';
	memset(value + 1, 'a', 4000);
	strcpy(value + 4001, "@x>");
	id = msgid_parse_one(value);
	ok(id != NULL && strlen(id) == MSGID_MAX_LEN,
	    "overlong id cut to MSGID_MAX_LEN");
	free(id);
	free(value);
}

/* Hostile input must stay linear: this finishes at once or never. */
static void
test_hostile(void)
{
	size_t len = 1 << 20, n;
	char *value = xmalloc(len + 1), **ids;

	for (size_t i = 0; i < len; i++)
		value[i] = "(\"<"[i % 3];
	value[len] = '\0';
	n = msgid_parse_list(value, &ids);
	ok(1, "1 MB of unclosed comments, quotes and brackets: %zu ids", n);
	msgid_list_free(ids, n);
	free(value);
}

static void
test_synthetic(void)
{
	char *a, *b, *c, *d;

	a = msgid_synthetic("alice@x", "Mon, 1 Jan 2024", "Hi", "body", 4);
	b = msgid_synthetic("alice@x", "Mon, 1 Jan 2024", "Hi", "body", 4);
	c = msgid_synthetic("alice@x", "Mon, 1 Jan 2024", "Hi", "body!", 5);
	d = msgid_synthetic("alice@x", "Mon, 1 Jan 2024", "Hib", "ody", 3);
	is_str(a, b, "synthetic id is stable");
	ok(strcmp(a, c) != 0, "synthetic id changes with the body");
	ok(strcmp(a, d) != 0, "field boundaries matter");
	ok(strncmp(a, "synthetic-", 10) == 0 &&
		strcmp(a + strlen(a) - 7, "@inboxd") == 0 &&
		strlen(a) == 10 + 64 + 7,
	    "synthetic id format: %s", a);
	free(a);
	free(b);
	free(c);
	free(d);
	a = msgid_synthetic(NULL, NULL, NULL, NULL, 0);
	b = msgid_synthetic("", "", "", "", 0);
	is_str(a, b, "NULL fields hash like empty ones");
	free(a);
	free(b);
}

/* The form every lookup compares: apps write ids in many ways. */
static void
test_normalized(void)
{
	check_one("<app-1@crm.example>", "app-1@crm.example", "brackets");
	check_one("app-1@crm.example", "app-1@crm.example", "no brackets");
	check_one("  <app-1@crm.example>  ", "app-1@crm.example",
	    "surrounding spaces");
	check_one(
	    " app-1@crm.example ", "app-1@crm.example", "spaces, no brackets");
	check_one("<app-1@CRM.Example>", "app-1@crm.example",
	    "domain folded to lower case");
	check_one("<APP-1@CRM.example>", "APP-1@crm.example",
	    "local part keeps its case");
	check_one("<a@b@MiXeD.Org>", "a@b@mixed.org",
	    "only after the last @ is the domain");
	check_one("<NoDomain>", "NoDomain", "an id without @ keeps its case");
	check_list("<A@X.ORG> <a@x.org> <A@x.org>", "A@x.org a@x.org",
	    "duplicates by normalized form");
}

int
main(void)
{
	test_parse_one();
	test_parse_list();
	test_many_duplicates();
	test_merge();
	test_long_id();
	test_hostile();
	test_synthetic();
	test_normalized();
	return tap_done();
}
