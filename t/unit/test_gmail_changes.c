/*
 * The label changes of Gmail's history: what gmail_history_changes()
 * reads from an answer of history.list, malformed records included,
 * and what gmail_changes keeps of several pages.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gmail_changes.h"
#include "gmail_message.h"
#include "tap.h"
#include "util.h"

static json_t *
answer(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	if (j == NULL)
		abort();
	return j;
}

/* One change in words: "+id:A,B", "-id:A" or "xid", space-separated. */
static void
change_to_buf(struct buf *b, const struct source_label_change *c)
{
	static const char mark[] = {'+', '-', 'x'};

	if (b->len > 0)
		buf_appends(b, " ");
	buf_append(b, &mark[c->op], 1);
	buf_appends(b, c->id);
	if (c->labels == NULL)
		return;
	buf_appends(b, ":");
	for (size_t i = 0; c->labels[i] != NULL; i++) {
		if (i > 0)
			buf_appends(b, ",");
		buf_appends(b, c->labels[i]);
	}
}

static void
collect(const struct source_label_change *c, void *arg)
{
	change_to_buf(arg, c);
}

static void
check(const char *text, const char *want, const char *what)
{
	json_t *j = answer(text);
	struct buf b;

	buf_init(&b);
	gmail_history_changes(j, collect, &b);
	is_str(b.data ? b.data : "", want, "%s", what);
	buf_free(&b);
	json_decref(j);
}

static void
test_records(void)
{
	check("{\"history\": [{\"id\": \"11\", \"labelsAdded\": ["
	      "{\"message\": {\"id\": \"a\", \"labelIds\": [\"INBOX\"]},"
	      " \"labelIds\": [\"STARRED\", \"Label_7\"]}]},"
	      "{\"id\": \"12\", \"labelsRemoved\": ["
	      "{\"message\": {\"id\": \"a\"}, \"labelIds\": [\"STARRED\"]}]},"
	      "{\"id\": \"13\", \"messagesDeleted\": ["
	      "{\"message\": {\"id\": \"b\", \"labelIds\": [\"INBOX\"]}}]}],"
	      " \"historyId\": \"13\"}",
	    "+a:STARRED,Label_7 -a:STARRED xb",
	    "added, removed, deleted, in the order of the records");
	check("{\"history\": [{\"id\": \"20\", \"messagesAdded\": ["
	      "{\"message\": {\"id\": \"n\", \"labelIds\": [\"INBOX\"]}}]},"
	      "{\"id\": \"21\", \"messagesDeleted\": ["
	      "{\"message\": {\"id\": \"n\"}}]}]}",
	    "xn", "an addition is no label change; its deletion is");
	check("{\"history\": [{\"labelsAdded\": ["
	      "{\"message\": {\"id\": \"a\"}, \"labelIds\": [\"X\"]},"
	      "{\"message\": {\"id\": \"b\"}, \"labelIds\": [\"Y\"]}],"
	      " \"labelsRemoved\": ["
	      "{\"message\": {\"id\": \"a\"}, \"labelIds\": [\"Z\"]}]}]}",
	    "+a:X +b:Y -a:Z", "several entries of one record");
	check("{\"history\": [{\"labelsAdded\": [{\"message\": {\"id\": \"a\"},"
	      " \"labelIds\": [\"CATEGORY_PROMOTIONS\", \"Label_99\","
	      " \"SOMETHING_NEW\"]}]}]}",
	    "+a:CATEGORY_PROMOTIONS,Label_99,SOMETHING_NEW",
	    "label ids Gmail may add later, and the user's, kept as given");
}

static void
test_malformed(void)
{
	check("{\"historyId\": \"5\"}", "", "no history");
	check(
	    "{\"history\": {\"labelsAdded\": []}}", "", "history not an array");
	check("[1, 2]", "", "the answer not an object");
	check("{\"history\": [1, \"x\", null, {\"labelsAdded\": 3}]}", "",
	    "records that are not objects; entries not an array");
	check("{\"history\": [{\"labelsAdded\": ["
	      "{\"labelIds\": [\"INBOX\"]},"
	      "{\"message\": null, \"labelIds\": [\"INBOX\"]},"
	      "{\"message\": {\"threadId\": \"t\"}, \"labelIds\": [\"INBOX\"]},"
	      "{\"message\": {\"id\": 17}, \"labelIds\": [\"INBOX\"]},"
	      "{\"message\": {\"id\": \"\"}, \"labelIds\": [\"INBOX\"]},"
	      "\"a\"]}]}",
	    "", "entries without a message, or without a string id");
	check("{\"history\": [{\"messagesDeleted\": ["
	      "{}, {\"message\": {}}, {\"message\": {\"id\": \"ok\"}}]}]}",
	    "xok", "deletions without a message passed over");
	check("{\"history\": [{\"labelsRemoved\": ["
	      "{\"message\": {\"id\": \"a\"}, \"labelIds\": [\"\", 5, null,"
	      " \"UNREAD\", [\"INBOX\"]]}]}]}",
	    "-a:UNREAD", "label ids that are not non-empty strings dropped");
	check("{\"history\": [{\"labelsAdded\": ["
	      "{\"message\": {\"id\": \"a\"}},"
	      "{\"message\": {\"id\": \"b\"}, \"labelIds\": []},"
	      "{\"message\": {\"id\": \"c\"}, \"labelIds\": \"INBOX\"},"
	      "{\"message\": {\"id\": \"d\"}, \"labelIds\": [7]}]}]}",
	    "", "entries without a label id passed over");
}

static void
test_kept(void)
{
	struct gmail_changes *g = gmail_changes_new();
	const struct source_label_changes *l;
	json_t *j;
	struct buf b;

	l = gmail_changes_list(g);
	is_int(l->n, 0, "kept: none at first");
	j = answer("{\"history\": [{\"labelsAdded\": [{\"message\":"
		   " {\"id\": \"a\"}, \"labelIds\": [\"INBOX\"]}]},"
		   "{\"messagesDeleted\": [{\"message\": {\"id\": \"d\"}}]}]}");
	gmail_changes_read(g, j);
	json_decref(j);
	j = answer(
	    "{\"history\": [{\"labelsRemoved\": [{\"message\":"
	    " {\"id\": \"a\"}, \"labelIds\": [\"INBOX\", \"UNREAD\"]}]}]}");
	gmail_changes_read(g, j);
	json_decref(j);
	j = answer("{\"history\": \"garbage\"}");
	gmail_changes_read(g, j);
	json_decref(j);
	l = gmail_changes_list(g);
	buf_init(&b);
	for (size_t i = 0; i < l->n; i++)
		change_to_buf(&b, &l->changes[i]);
	is_str(b.data, "+a:INBOX xd -a:INBOX,UNREAD",
	    "kept: the pages in order, after their answers are freed");
	buf_free(&b);
	ok(gmail_changes_deleted(g, "d"), "kept: d was deleted");
	ok(!gmail_changes_deleted(g, "a"), "kept: a was not");
	ok(!gmail_changes_deleted(g, "x"), "kept: an id never named was not");
	gmail_changes_free(g);
	gmail_changes_free(NULL);
}

int
main(void)
{
	test_records();
	test_malformed();
	test_kept();
	return tap_done();
}
