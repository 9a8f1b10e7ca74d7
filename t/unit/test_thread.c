/*
 * Unit tests for the threading planner and the status rules (SPEC 4).
 *
 * Besides single rules, a small in-memory "database" applies plans batch
 * by batch the way the store does (links for every key a batch mentions,
 * merges followed), so the partition can be compared across arrival
 * orders and batch sizes.
 */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "tap.h"
#include "testutil.h"
#include "thread.h"
#include "util.h"

#define DAY ((int64_t)86400)

/* Test messages with inline storage, so tables of them are easy. */
struct tmsg {
	const char *id;
	const char *refs[4];
	const char *gmail;
	const char *subject;
	int64_t at;
	bool outbound;
	bool automated;
	bool duplicate;
};

static size_t
count_refs(const struct tmsg *t)
{
	size_t n = 0;

	while (n < nitems(t->refs) && t->refs[n] != NULL)
		n++;
	return n;
}

static struct thr_msg *
make_msgs(const struct tmsg *t, size_t n)
{
	struct thr_msg *m;
	size_t i;

	m = xcalloc(n, sizeof(*m));
	for (i = 0; i < n; i++) {
		m[i].message_id = t[i].id;
		m[i].refs = t[i].refs;
		m[i].n_refs = count_refs(&t[i]);
		m[i].gmail_thread_id = t[i].gmail;
		m[i].subject_key = t[i].subject;
		m[i].sent_at = t[i].at;
		m[i].outbound = t[i].outbound;
		m[i].automated = t[i].automated;
		m[i].duplicate = t[i].duplicate;
		m[i].conv = -2;
	}
	return m;
}

static struct thr_conv
stored_conv(const char *id, int64_t created, enum conv_status st,
    int64_t human_at, bool human_out, int64_t last_at)
{
	struct thr_conv c;

	memset(&c, 0, sizeof(c));
	snprintf(c.id, sizeof(c.id), "%s", id);
	c.created_at = created;
	c.status = st;
	c.last_human_at = human_at;
	c.last_human_outbound = human_out;
	c.last_message_at = last_at;
	c.last_bounce_at = INT64_MIN;
	return c;
}

/* Runs one plan over a table of messages without stored state. */
static struct thr_plan *
plan_simple(
    const struct tmsg *t, size_t n, struct thr_msg **out, int64_t window)
{
	*out = make_msgs(t, n);
	return thread_plan(*out, n, NULL, 0, NULL, 0, window);
}

static void
test_status_names(void)
{
	enum conv_status s;
	int i;

	is_str(conv_status_name(CONV_ACTIVE), "active", "name active");
	is_str(conv_status_name(CONV_NEEDS_REPLY), "needs_reply",
	    "name needs_reply");
	is_str(conv_status_name(CONV_WAITING), "waiting", "name waiting");
	is_str(conv_status_name(CONV_ARCHIVED), "archived", "name archived");
	for (i = CONV_ACTIVE; i <= CONV_ARCHIVED; i++) {
		s = CONV_ACTIVE;
		ok(conv_status_parse(conv_status_name(i), &s) == 0 &&
			(int)s == i,
		    "parse round-trips %s", conv_status_name(i));
	}
	ok(conv_status_parse("Needs_Reply", &s) != 0, "parse is exact");
	ok(conv_status_parse("", &s) != 0, "parse rejects empty");
	ok(conv_status_parse(NULL, &s) != 0, "parse rejects NULL");
}

static void
check_norm(const char *in, const char *want)
{
	char *got = thread_subject_normalize(in);
	char shown[128];
	size_t i;

	/* Control characters would break the TAP line. */
	snprintf(shown, sizeof(shown), "%s", in ? in : "(null)");
	for (i = 0; shown[i] != '\0'; i++)
		if ((unsigned char)shown[i] < 0x20)
			shown[i] = '.';
	is_str(got, want, "normalize '%s'", shown);
	free(got);
}

static void
test_subject_normalize(void)
{
	check_norm("Hello world", "hello world");
	check_norm("Re: Hello", "hello");
	check_norm("RE: re: Re:Hello", "hello");
	check_norm("Fwd: Fw: FWD: hello", "hello");
	check_norm("AW: SV: VS: WG: Antw: hello", "hello");
	check_norm("Re[2]: hello", "hello");
	check_norm("Re(3): hello", "hello");
	check_norm("Re : hello", "hello");
	check_norm("[notmuch] Re: [PATCH] fix", "fix");
	check_norm("Re: [list] Re: AW: Quote", "quote");
	check_norm("  spaced \t out\r\n  words  ", "spaced out words");
	check_norm("Ärger über Öl", "ärger über öl");
	check_norm("Re: Straße", "strasse");
	check_norm("", "");
	check_norm("Re:", "");
	check_norm("  Re:   ", "");
	check_norm(NULL, "");
	check_norm("Reply needed", "reply needed");
	check_norm("Resume: v2", "resume: v2");
	check_norm("Trip report", "trip report");
	check_norm("[] empty tag", "[] empty tag");
	check_norm("Re[x]: odd", "re[x]: odd");
	check_norm("Subject: Re: inner", "subject: re: inner");
}

static void
test_reply_before_parent(void)
{
	static const struct tmsg t[] = {
	    {.id = "c@x", .refs = {"a@x", "b@x"}, .at = 300},
	    {.id = "b@x", .refs = {"a@x"}, .at = 200},
	    {.id = "z@x", .at = 50},
	    {.id = "a@x", .at = 100},
	};
	struct thr_msg *m;
	struct thr_plan *p;

	p = plan_simple(t, nitems(t), &m, 0);
	is_int(p->n_convs, 2, "two new conversations");
	ok(m[0].conv == m[1].conv && m[1].conv == m[3].conv,
	    "reply, parent and grand-parent together");
	ok(m[2].conv != m[0].conv, "unrelated message apart");
	ok(p->convs[m[0].conv].is_new && p->convs[m[0].conv].touched,
	    "new conversation is new and touched");
	is_int(p->convs[m[0].conv].first_msg, 3, "first message is the root");
	is_int(p->convs[m[0].conv].merged_into, -1, "new is not merged");
	is_str(p->convs[m[0].conv].id, "", "new conversation has no id");
	is_int(p->n_merges, 0, "no merges");
	thread_plan_free(p);
	free(m);
}

static void
test_ghost_parent(void)
{
	static const struct tmsg t[] = {
	    {.id = "b@x", .refs = {"ghost@x"}, .at = 200},
	    {.id = "c@x", .refs = {"ghost@x"}, .at = 100},
	    {.id = "d@x", .refs = {"other-ghost@x"}, .at = 100},
	};
	struct thr_msg *m;
	struct thr_plan *p;

	p = plan_simple(t, nitems(t), &m, 0);
	ok(m[0].conv == m[1].conv, "siblings of a ghost join");
	ok(m[2].conv != m[0].conv, "different ghost stays apart");
	is_int(
	    p->convs[m[0].conv].first_msg, 1, "first message is the earliest");
	thread_plan_free(p);
	free(m);
}

static void
test_first_msg_tie(void)
{
	static const struct tmsg t[] = {
	    {.id = "b@x", .refs = {"a@x"}, .at = 100},
	    {.id = "a@x", .at = 100},
	    {.id = "0@x", .refs = {"a@x"}, .at = 50, .duplicate = true},
	};
	struct thr_msg *m;
	struct thr_plan *p;

	p = plan_simple(t, nitems(t), &m, 0);
	is_int(p->convs[m[0].conv].first_msg, 1,
	    "first message: ties by id, duplicates last");
	thread_plan_free(p);
	free(m);
}

static void
test_stored_link(void)
{
	static const struct tmsg t[] = {
	    {.id = "r@x", .refs = {"p@x"}, .at = 500},
	};
	struct thr_conv c[2];
	struct thr_link l[] = {{"p@x", 0}, {"q@x", 1}};
	struct thr_msg *m;
	struct thr_plan *p;

	c[0] = stored_conv("c0", 10, CONV_WAITING, 400, true, 400);
	c[1] = stored_conv("c1", 5, CONV_WAITING, 300, true, 300);
	m = make_msgs(t, nitems(t));
	p = thread_plan(m, nitems(t), c, 2, l, 2, 0);
	is_int(p->n_convs, 2, "no new conversation for a known parent");
	is_int(m[0].conv, 0, "reply joins the parent's conversation");
	ok(p->convs[0].touched && !p->convs[1].touched,
	    "only the joined conversation is touched");
	is_int(
	    p->convs[0].new_status, CONV_NEEDS_REPLY, "reply -> needs_reply");
	is_str(p->convs[0].new_reason, "latest human message is inbound",
	    "reason inbound");
	ok(m[0].suggest_reply, "suggest a reply to it");
	is_int(p->convs[0].new_last_human_at, 500, "last human at updated");
	ok(!p->convs[0].new_last_human_outbound, "last human is inbound");
	is_int(p->convs[0].new_last_message_at, 500, "last message at");
	is_int(p->convs[1].new_status, CONV_WAITING, "untouched keeps status");
	ok(p->convs[1].new_reason == NULL, "untouched has no reason");
	is_int(p->convs[1].new_last_human_at, 300, "untouched keeps times");
	is_str(p->convs[0].id, "c0", "stored id copied");
	ok(!p->convs[0].is_new, "stored is not new");
	thread_plan_free(p);
	free(m);
}

static void
test_merge(void)
{
	static const struct tmsg t[] = {
	    {.id = "bridge@x",
		.refs = {"a@x", "b@x", "c@x"},
		.at = 50,
		.outbound = true},
	};
	struct thr_conv c[3];
	struct thr_link l[] = {{"a@x", 0}, {"b@x", 1}, {"c@x", 2}};
	struct thr_msg *m;
	struct thr_plan *p;
	size_t i;

	c[0] = stored_conv("cccc", 300, CONV_ACTIVE, INT64_MIN, false, 10);
	c[1] = stored_conv("bbbb", 100, CONV_WAITING, 20, true, 20);
	c[2] = stored_conv("aaaa", 100, CONV_NEEDS_REPLY, 40, false, 45);
	m = make_msgs(t, nitems(t));
	p = thread_plan(m, nitems(t), c, 3, l, 3, 0);
	is_int(m[0].conv, 2, "survivor: oldest, ties by smallest id");
	is_int(p->n_merges, 2, "two merges");
	is_int(p->convs[0].merged_into, 2, "newest merged into survivor");
	is_int(p->convs[1].merged_into, 2, "tie loser merged into survivor");
	is_int(p->convs[2].merged_into, -1, "survivor not merged");
	for (i = 0; i < p->n_merges; i++)
		ok(p->merges[i].into == 2 &&
			p->convs[p->merges[i].from].merged_into == 2,
		    "merge entry %zu consistent", i);
	ok(p->convs[0].touched && p->convs[1].touched && p->convs[2].touched,
	    "all merged conversations touched");
	is_int(p->convs[2].new_status, CONV_WAITING,
	    "outbound after inbound -> waiting");
	is_int(p->convs[2].new_last_human_at, 50, "last human from batch");
	is_int(p->convs[2].new_last_message_at, 50, "last message max");
	ok(!m[0].suggest_reply, "no suggestion for outbound");
	thread_plan_free(p);
	free(m);
}

static void
test_merge_keeps_newer_stored_inbound(void)
{
	/* A late, older outbound message links two conversations; the
	 * merged one's newer inbound message still needs a reply. */
	static const struct tmsg t[] = {
	    {.id = "late@x", .refs = {"a@x", "b@x"}, .at = 5, .outbound = true},
	};
	struct thr_conv c[2];
	struct thr_link l[] = {{"a@x", 0}, {"b@x", 1}};
	struct thr_msg *m;
	struct thr_plan *p;

	c[0] = stored_conv("old", 1, CONV_WAITING, 10, true, 10);
	c[1] = stored_conv("new", 2, CONV_NEEDS_REPLY, 30, false, 30);
	m = make_msgs(t, nitems(t));
	p = thread_plan(m, nitems(t), c, 2, l, 2, 0);
	is_int(m[0].conv, 0, "older survives");
	is_int(p->convs[0].new_status, CONV_NEEDS_REPLY,
	    "merged inbound still needs a reply");
	is_int(p->convs[0].new_last_human_at, 30, "merged last human kept");
	is_int(p->convs[0].new_last_message_at, 30, "merged last message kept");
	is_str(p->convs[1].new_reason, "merged into an older conversation",
	    "merged reason");
	ok(!m[0].suggest_reply, "no suggestion: batch message is outbound");
	thread_plan_free(p);
	free(m);
}

static void
test_gmail_thread(void)
{
	static const struct tmsg t[] = {
	    {.id = "a@x", .gmail = "18c1", .at = 1},
	    {.id = "b@x", .gmail = "18c1", .at = 2},
	    {.id = "c@x", .gmail = "18c2", .at = 3},
	    {.id = "d@x", .gmail = "18c3", .at = 4},
	};
	struct thr_link l[] = {{"gmail-thread:18c3", 0}};
	struct thr_conv c[1];
	struct thr_msg *m;
	struct thr_plan *p;

	c[0] = stored_conv("g", 1, CONV_ACTIVE, INT64_MIN, false, 1);
	m = make_msgs(t, nitems(t));
	p = thread_plan(m, nitems(t), c, 1, l, 1, 0);
	ok(m[0].conv == m[1].conv, "same Gmail thread id joins");
	ok(m[2].conv != m[0].conv, "other Gmail thread apart");
	is_int(m[3].conv, 0, "Gmail thread link joins stored conversation");
	is_int(p->n_convs, 3, "two new conversations");
	thread_plan_free(p);
	free(m);
}

static void
test_subject_window(void)
{
	static const struct tmsg t[] = {
	    {.id = "a@x", .subject = "hi|bob@x", .at = 0},
	    {.id = "b@x", .subject = "hi|bob@x", .at = 5 * DAY},
	    {.id = "c@x", .subject = "hi|bob@x", .at = 10 * DAY},
	    {.id = "d@x", .subject = "hi|bob@x", .at = 30 * DAY},
	    {.id = "e@x", .subject = "hi|eve@x", .at = DAY},
	};
	struct thr_msg *m;
	struct thr_plan *p;

	p = plan_simple(t, nitems(t), &m, 7 * DAY);
	ok(m[0].conv == m[1].conv && m[1].conv == m[2].conv,
	    "subject chain within the window joins");
	ok(m[3].conv != m[0].conv, "beyond the window stays apart");
	ok(m[4].conv != m[0].conv, "other counterparty stays apart");
	thread_plan_free(p);
	free(m);

	p = plan_simple(t, nitems(t), &m, 0);
	is_int(p->n_convs, 5, "window 0: subjects ignored");
	thread_plan_free(p);
	free(m);

	/* Same messages, reversed: same partition. */
	{
		struct tmsg r[nitems(t)];
		size_t i;

		for (i = 0; i < nitems(t); i++)
			r[i] = t[nitems(t) - 1 - i];
		p = plan_simple(r, nitems(r), &m, 7 * DAY);
		ok(m[4].conv == m[3].conv && m[3].conv == m[2].conv &&
			m[1].conv != m[2].conv && m[0].conv != m[2].conv,
		    "reversed order gives the same subject groups");
		is_int(p->n_convs, 3, "three conversations");
		thread_plan_free(p);
		free(m);
	}
}

static void
test_subject_link(void)
{
	static const struct tmsg t[] = {
	    {.id = "n@x", .subject = "quote|ann@x", .at = 100},
	    {.id = "o@x", .subject = "other|ann@x", .at = 100},
	};
	struct thr_link l[] = {{"subject:quote|ann@x", 0}};
	struct thr_conv c[1];
	struct thr_msg *m;
	struct thr_plan *p;

	c[0] = stored_conv("s", 1, CONV_WAITING, 90, true, 90);
	m = make_msgs(t, nitems(t));
	p = thread_plan(m, nitems(t), c, 1, l, 1, 7 * DAY);
	is_int(m[0].conv, 0, "subject link joins the stored conversation");
	ok(m[1].conv != 0, "other subject does not");
	thread_plan_free(p);
	p = thread_plan(m, nitems(t), c, 1, l, 1, 0);
	ok(m[0].conv != 0, "subject link ignored when subjects are off");
	thread_plan_free(p);
	free(m);
}

static void
test_status_new(void)
{
	static const struct tmsg in[] = {
	    {.id = "a@x", .at = 10},
	    {.id = "b@x", .refs = {"a@x"}, .at = 20},
	};
	static const struct tmsg out[] = {
	    {.id = "a@x", .at = 10},
	    {.id = "b@x", .refs = {"a@x"}, .at = 20, .outbound = true},
	};
	static const struct tmsg autom[] = {
	    {.id = "a@x", .at = 10, .automated = true},
	};
	struct thr_msg *m;
	struct thr_plan *p;

	p = plan_simple(in, nitems(in), &m, 0);
	is_int(
	    p->convs[0].new_status, CONV_NEEDS_REPLY, "inbound -> needs_reply");
	ok(!m[0].suggest_reply && m[1].suggest_reply,
	    "only the latest inbound gets a suggestion");
	is_int(p->convs[0].new_last_human_at, 20, "new last human at");
	thread_plan_free(p);
	free(m);

	p = plan_simple(out, nitems(out), &m, 0);
	is_int(
	    p->convs[0].new_status, CONV_WAITING, "outbound last -> waiting");
	is_str(p->convs[0].new_reason, "latest human message is outbound",
	    "reason outbound");
	ok(!m[0].suggest_reply && !m[1].suggest_reply, "no suggestion");
	ok(p->convs[0].new_last_human_outbound, "last human outbound");
	thread_plan_free(p);
	free(m);

	p = plan_simple(autom, nitems(autom), &m, 0);
	is_int(p->convs[0].new_status, CONV_ACTIVE, "automated only -> active");
	is_str(p->convs[0].new_reason, "no human message yet", "reason none");
	ok(!m[0].suggest_reply, "no suggestion for automated");
	ok(p->convs[0].new_last_human_at == INT64_MIN, "no last human");
	is_int(p->convs[0].new_last_message_at, 10,
	    "automated counts as last message");
	thread_plan_free(p);
	free(m);
}

static void
test_status_tie(void)
{
	static const struct tmsg t[] = {
	    {.id = "o@x", .refs = {"i@x"}, .at = 10, .outbound = true},
	    {.id = "i@x", .at = 10},
	};
	struct thr_msg *m;
	struct thr_plan *p;

	p = plan_simple(t, nitems(t), &m, 0);
	is_int(p->convs[0].new_status, CONV_NEEDS_REPLY,
	    "same second: inbound wins");
	ok(m[1].suggest_reply && !m[0].suggest_reply, "suggestion for it");
	thread_plan_free(p);
	free(m);
}

/* Plans a batch that reaches, through "o@x", one stored conversation
 * that waits since our reply at 100. */
static struct thr_plan *
plan_after_our_reply(const struct tmsg *t, size_t n, struct thr_msg **out)
{
	static const struct thr_link l[] = {{"o@x", 0}};
	struct thr_conv c[1];

	c[0] = stored_conv("w", 1, CONV_WAITING, 100, true, 100);
	*out = make_msgs(t, n);
	return thread_plan(*out, n, c, 1, l, 1, 0);
}

static void
test_status_automated_after_outbound(void)
{
	static const struct tmsg t[] = {
	    {.id = "oof@x", .refs = {"o@x"}, .at = 200, .automated = true},
	};
	struct thr_msg *m;
	struct thr_plan *p;

	p = plan_after_our_reply(t, nitems(t), &m);
	is_int(p->convs[0].new_status, CONV_WAITING,
	    "auto-reply does not make it needs_reply");
	ok(!m[0].suggest_reply, "no suggestion for auto-reply");
	is_int(p->convs[0].new_last_human_at, 100, "last human unchanged");
	is_int(p->convs[0].new_last_message_at, 200, "last message moves");
	thread_plan_free(p);
	free(m);
}

static void
test_status_late_older_mail(void)
{
	static const struct tmsg t[] = {
	    {.id = "old@x", .refs = {"o@x"}, .at = 50},
	};
	struct thr_msg *m;
	struct thr_plan *p;

	p = plan_after_our_reply(t, nitems(t), &m);
	is_int(p->convs[0].new_status, CONV_WAITING,
	    "older inbound arriving late does not flip status");
	ok(!m[0].suggest_reply, "no suggestion for the older message");
	is_int(p->convs[0].new_last_human_at, 100, "last human stays");
	ok(p->convs[0].new_last_human_outbound, "still outbound");
	is_int(p->convs[0].new_last_message_at, 100, "last message stays");
	thread_plan_free(p);
	free(m);
}

static void
test_status_archived(void)
{
	static const struct tmsg out[] = {
	    {.id = "o2@x", .refs = {"a@x"}, .at = 300, .outbound = true},
	};
	static const struct tmsg older_in[] = {
	    {.id = "i0@x", .refs = {"a@x"}, .at = 150},
	};
	static const struct tmsg autom[] = {
	    {.id = "au@x", .refs = {"a@x"}, .at = 400, .automated = true},
	};
	static const struct tmsg newer_in[] = {
	    {.id = "i2@x", .refs = {"a@x"}, .at = 400},
	};
	static const struct tmsg newer_in_answered[] = {
	    {.id = "i3@x", .refs = {"a@x"}, .at = 400},
	    {.id = "o3@x", .refs = {"i3@x"}, .at = 500, .outbound = true},
	};
	struct thr_link l[] = {{"a@x", 0}};
	struct thr_conv c[1];
	struct thr_msg *m;
	struct thr_plan *p;

	c[0] = stored_conv("arch", 1, CONV_ARCHIVED, 200, false, 200);

	m = make_msgs(out, nitems(out));
	p = thread_plan(m, nitems(out), c, 1, l, 1, 0);
	is_int(
	    p->convs[0].new_status, CONV_ARCHIVED, "outbound keeps archived");
	is_str(p->convs[0].new_reason, "archived", "reason archived");
	is_int(p->convs[0].new_last_human_at, 300, "last human still tracked");
	thread_plan_free(p);
	free(m);

	m = make_msgs(older_in, nitems(older_in));
	p = thread_plan(m, nitems(older_in), c, 1, l, 1, 0);
	is_int(p->convs[0].new_status, CONV_ARCHIVED,
	    "older inbound keeps archived");
	ok(!m[0].suggest_reply, "no suggestion while archived");
	thread_plan_free(p);
	free(m);

	m = make_msgs(autom, nitems(autom));
	p = thread_plan(m, nitems(autom), c, 1, l, 1, 0);
	is_int(p->convs[0].new_status, CONV_ARCHIVED,
	    "automated inbound keeps archived");
	thread_plan_free(p);
	free(m);

	m = make_msgs(newer_in, nitems(newer_in));
	p = thread_plan(m, nitems(newer_in), c, 1, l, 1, 0);
	is_int(
	    p->convs[0].new_status, CONV_NEEDS_REPLY, "newer inbound reopens");
	is_str(p->convs[0].new_reason, "new inbound message after archiving",
	    "reason reopened");
	ok(m[0].suggest_reply, "suggestion after reopening");
	thread_plan_free(p);
	free(m);

	m = make_msgs(newer_in_answered, nitems(newer_in_answered));
	p = thread_plan(m, nitems(newer_in_answered), c, 1, l, 1, 0);
	is_int(p->convs[0].new_status, CONV_WAITING,
	    "reopened and already answered -> waiting");
	ok(!m[0].suggest_reply && !m[1].suggest_reply, "no suggestion");
	thread_plan_free(p);
	free(m);
}

static void
test_status_archived_merge(void)
{
	static const struct tmsg bridge[] = {
	    {.id = "late@x", .refs = {"a@x", "b@x"}, .at = 5, .outbound = true},
	};
	static const struct tmsg older_in[] = {
	    {.id = "in@x", .refs = {"a@x", "b@x"}, .at = 50},
	};
	struct thr_link l[] = {{"a@x", 0}, {"b@x", 1}};
	struct thr_conv c[2];
	struct thr_msg *m;
	struct thr_plan *p;

	/* The merged conversation still waits for our reply. */
	c[0] = stored_conv("arch", 1, CONV_ARCHIVED, 10, false, 10);
	c[1] = stored_conv("open", 2, CONV_NEEDS_REPLY, 30, false, 30);
	m = make_msgs(bridge, nitems(bridge));
	p = thread_plan(m, nitems(bridge), c, 2, l, 2, 0);
	is_int(m[0].conv, 0, "archived older conversation survives");
	is_int(p->convs[0].new_status, CONV_NEEDS_REPLY,
	    "merge does not hide a needed reply");
	thread_plan_free(p);
	free(m);

	/* An inbound message older than our reply in the merged one. */
	c[1] = stored_conv("open", 2, CONV_WAITING, 100, true, 100);
	m = make_msgs(older_in, nitems(older_in));
	p = thread_plan(m, nitems(older_in), c, 2, l, 2, 0);
	is_int(p->convs[0].new_status, CONV_ARCHIVED,
	    "inbound older than the latest human message keeps archived");
	ok(!m[0].suggest_reply, "no suggestion");
	thread_plan_free(p);
	free(m);

	/* Both archived: nothing reopens. */
	c[1] = stored_conv("arch2", 2, CONV_ARCHIVED, 30, false, 30);
	m = make_msgs(bridge, nitems(bridge));
	p = thread_plan(m, nitems(bridge), c, 2, l, 2, 0);
	is_int(p->convs[0].new_status, CONV_ARCHIVED,
	    "archived merged into archived stays archived");
	thread_plan_free(p);
	free(m);
}

static void
test_duplicates(void)
{
	static const struct tmsg t[] = {
	    {.id = "d@x", .refs = {"a@x"}, .at = 900, .duplicate = true},
	};
	struct thr_link l[] = {{"a@x", 0}, {"d@x", 0}};
	struct thr_conv c[1];
	struct thr_msg *m;
	struct thr_plan *p;

	c[0] = stored_conv("s", 1, CONV_WAITING, 100, true, 100);
	m = make_msgs(t, nitems(t));
	p = thread_plan(m, nitems(t), c, 1, l, 2, 0);
	is_int(m[0].conv, 0, "duplicate placed in its conversation");
	ok(!p->convs[0].touched, "duplicate alone does not touch");
	ok(!m[0].suggest_reply, "no suggestion for a duplicate");
	is_int(p->convs[0].new_status, CONV_WAITING, "status unchanged");
	is_int(p->convs[0].new_last_message_at, 100,
	    "duplicate not counted as last message");
	thread_plan_free(p);
	free(m);
}

static void
test_bad_links_and_empty(void)
{
	struct thr_link l[] = {{"a@x", 5}, {NULL, 0}, {"b@x", -1}};
	struct thr_conv c[1];
	struct thr_plan *p;

	c[0] = stored_conv("s", 1, CONV_NEEDS_REPLY, 100, false, 100);
	p = thread_plan(NULL, 0, c, 1, l, nitems(l), 0);
	ok(p != NULL && p->n_convs == 1 && p->n_merges == 0,
	    "empty batch, bad links ignored");
	ok(!p->convs[0].touched && p->convs[0].new_status == CONV_NEEDS_REPLY,
	    "stored conversation untouched");
	thread_plan_free(p);
	thread_plan_free(NULL);
	ok(1, "free(NULL) is harmless");
}

/* ------------------------------------------------------------------ */
/* The simulated database. */

struct db_conv {
	struct thr_conv c;
	int merged_into; /* db index or -1 */
};

struct db_subject {
	char *key;
	int64_t at;
	int conv;
};

struct db {
	struct db_conv *convs;
	size_t n_convs;
	GHashTable *keys; /* key -> db conv + 1 */
	GHashTable *messages; /* message id -> db conv + 1 */
	struct db_subject *subjects;
	size_t n_subjects;
	int64_t clock;
	int64_t window;
};

static void
db_init(struct db *db, int64_t window)
{
	memset(db, 0, sizeof(*db));
	db->keys = g_hash_table_new_full(g_str_hash, g_str_equal, free, NULL);
	db->messages =
	    g_hash_table_new_full(g_str_hash, g_str_equal, free, NULL);
	db->window = window;
}

static void
db_free(struct db *db)
{
	size_t i;

	for (i = 0; i < db->n_subjects; i++)
		free(db->subjects[i].key);
	free(db->subjects);
	free(db->convs);
	g_hash_table_destroy(db->keys);
	g_hash_table_destroy(db->messages);
}

static int
db_live(const struct db *db, int c)
{
	while (db->convs[c].merged_into >= 0)
		c = db->convs[c].merged_into;
	return c;
}

static int
db_lookup(const struct db *db, GHashTable *t, const char *key)
{
	gpointer v = g_hash_table_lookup(t, key);

	return v == NULL ? -1 : db_live(db, GPOINTER_TO_INT(v) - 1);
}

/* The store's part of a batch: what the database knows about it. */
struct db_query {
	int *db_of; /* plan conv index -> db conv */
	size_t n;
	struct thr_conv *convs;
	struct thr_link *links;
	size_t n_links;
	char **owned; /* link keys built here */
	size_t n_owned;
};

static int
query_conv(struct db_query *q, const struct db *db, int dbc)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		if (q->db_of[i] == dbc)
			return (int)i;
	q->db_of = xreallocarray(q->db_of, q->n + 1, sizeof(*q->db_of));
	q->convs = xreallocarray(q->convs, q->n + 1, sizeof(*q->convs));
	q->db_of[q->n] = dbc;
	q->convs[q->n] = db->convs[dbc].c;
	return (int)q->n++;
}

static void
query_link(struct db_query *q, const struct db *db, const char *key, int dbc)
{
	char *k = xstrdup(key);

	q->owned = xreallocarray(q->owned, q->n_owned + 1, sizeof(char *));
	q->owned[q->n_owned++] = k;
	q->links = xreallocarray(q->links, q->n_links + 1, sizeof(*q->links));
	q->links[q->n_links].key = k;
	q->links[q->n_links].conv = query_conv(q, db, dbc);
	q->n_links++;
}

static void
query_key(struct db_query *q, const struct db *db, const char *key)
{
	int dbc = db_lookup(db, db->keys, key);

	if (dbc >= 0)
		query_link(q, db, key, dbc);
}

static void
query_build(
    struct db_query *q, const struct db *db, const struct thr_msg *m, size_t n)
{
	char *k;
	size_t i, j;

	memset(q, 0, sizeof(*q));
	for (i = 0; i < n; i++) {
		query_key(q, db, m[i].message_id);
		for (j = 0; j < m[i].n_refs; j++)
			query_key(q, db, m[i].refs[j]);
		if (m[i].gmail_thread_id != NULL) {
			k = xasprintf("gmail-thread:%s", m[i].gmail_thread_id);
			query_key(q, db, k);
			free(k);
		}
		if (db->window <= 0 || m[i].subject_key == NULL)
			continue;
		/* Conversations with mail of this key inside the window. */
		for (j = 0; j < db->n_subjects; j++) {
			const struct db_subject *s = &db->subjects[j];

			if (strcmp(s->key, m[i].subject_key) != 0)
				continue;
			if (s->at - m[i].sent_at > db->window ||
			    m[i].sent_at - s->at > db->window)
				continue;
			k = xasprintf("subject:%s", s->key);
			query_link(q, db, k, db_live(db, s->conv));
			free(k);
		}
	}
}

static void
query_free(struct db_query *q)
{
	size_t i;

	for (i = 0; i < q->n_owned; i++)
		free(q->owned[i]);
	free(q->owned);
	free(q->links);
	free(q->convs);
	free(q->db_of);
}

static void
db_set_key(struct db *db, const char *key, int dbc)
{
	g_hash_table_insert(db->keys, xstrdup(key), GINT_TO_POINTER(dbc + 1));
}

static void
db_store_message(struct db *db, const struct thr_msg *m, int dbc)
{
	struct db_subject *s;
	char *k;
	size_t j;

	db_set_key(db, m->message_id, dbc);
	for (j = 0; j < m->n_refs; j++)
		db_set_key(db, m->refs[j], dbc);
	if (m->gmail_thread_id != NULL) {
		k = xasprintf("gmail-thread:%s", m->gmail_thread_id);
		db_set_key(db, k, dbc);
		free(k);
	}
	if (!m->duplicate)
		g_hash_table_insert(db->messages, xstrdup(m->message_id),
		    GINT_TO_POINTER(dbc + 1));
	if (db->window > 0 && m->subject_key != NULL && !m->duplicate) {
		db->subjects = xreallocarray(
		    db->subjects, db->n_subjects + 1, sizeof(*db->subjects));
		s = &db->subjects[db->n_subjects++];
		s->key = xstrdup(m->subject_key);
		s->at = m->sent_at;
		s->conv = dbc;
	}
}

/* Writes a plan back: new conversations, merges, statuses, messages. */
static void
db_apply(struct db *db, const struct thr_plan *p, const struct db_query *q,
    const struct thr_msg *m, size_t n)
{
	int *db_of;
	size_t i;
	struct db_conv *d;

	db_of = xreallocarray(NULL, p->n_convs, sizeof(*db_of));
	for (i = 0; i < p->n_convs; i++) {
		if (!p->convs[i].is_new) {
			db_of[i] = q->db_of[i];
			continue;
		}
		db->convs = xreallocarray(
		    db->convs, db->n_convs + 1, sizeof(*db->convs));
		d = &db->convs[db->n_convs];
		memset(d, 0, sizeof(*d));
		snprintf(d->c.id, sizeof(d->c.id), "conv-%06zu", db->n_convs);
		d->c.created_at = ++db->clock;
		d->merged_into = -1;
		db_of[i] = (int)db->n_convs++;
	}
	for (i = 0; i < p->n_convs; i++) {
		d = &db->convs[db_of[i]];
		d->c.status = p->convs[i].new_status;
		d->c.last_human_at = p->convs[i].new_last_human_at;
		d->c.last_human_outbound = p->convs[i].new_last_human_outbound;
		d->c.last_message_at = p->convs[i].new_last_message_at;
		if (p->convs[i].merged_into >= 0)
			d->merged_into = db_of[p->convs[i].merged_into];
	}
	for (i = 0; i < n; i++)
		db_store_message(db, &m[i], db_of[m[i].conv]);
	free(db_of);
}

/* Plans one batch against the database and applies it. Marks as
 * duplicates the messages already stored or repeated in the batch,
 * as the store does. Returns 0 when the plan's invariants hold. */
static int
db_ingest(struct db *db, struct thr_msg *m, size_t n)
{
	struct db_query q;
	struct thr_plan *p;
	GHashTable *seen;
	size_t i;
	int bad = 0;

	seen = g_hash_table_new(g_str_hash, g_str_equal);
	for (i = 0; i < n; i++) {
		m[i].duplicate =
		    g_hash_table_contains(db->messages, m[i].message_id) ||
		    g_hash_table_contains(seen, m[i].message_id);
		g_hash_table_add(seen, (gpointer)m[i].message_id);
	}
	g_hash_table_destroy(seen);

	query_build(&q, db, m, n);
	p = thread_plan(m, n, q.convs, q.n, q.links, q.n_links, db->window);
	for (i = 0; i < n; i++)
		if (m[i].conv < 0 || (size_t)m[i].conv >= p->n_convs ||
		    p->convs[m[i].conv].merged_into >= 0)
			bad++;
	for (i = 0; i < p->n_merges; i++)
		if (p->convs[p->merges[i].into].merged_into >= 0 ||
		    p->convs[p->merges[i].from].merged_into !=
			p->merges[i].into)
			bad++;
	db_apply(db, p, &q, m, n);
	thread_plan_free(p);
	query_free(&q);
	return bad;
}

/*
 * Partition as a map from each message id to the smallest id in its
 * conversation, followed by the conversation's status and times: two
 * runs agree when the maps are equal. Without archiving, the status
 * follows from the set of messages alone, so it must agree too. The
 * map owns its strings, so it outlives the database.
 */
static GHashTable *
db_partition(const struct db *db)
{
	GHashTable *rep, *out;
	GHashTableIter it;
	gpointer k, v;
	const char *cur;
	const struct thr_conv *conv;
	int c;

	rep = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_hash_table_iter_init(&it, db->messages);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		c = db_live(db, GPOINTER_TO_INT(v) - 1);
		cur = g_hash_table_lookup(rep, GINT_TO_POINTER(c));
		if (cur == NULL || strcmp(k, cur) < 0)
			g_hash_table_insert(rep, GINT_TO_POINTER(c), k);
	}
	out = g_hash_table_new_full(g_str_hash, g_str_equal, free, free);
	g_hash_table_iter_init(&it, db->messages);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		c = db_live(db, GPOINTER_TO_INT(v) - 1);
		conv = &db->convs[c].c;
		g_hash_table_insert(out, xstrdup(k),
		    xasprintf("%s|%s|%" PRId64 "|%d|%" PRId64,
			(const char *)g_hash_table_lookup(
			    rep, GINT_TO_POINTER(c)),
			conv_status_name(conv->status), conv->last_human_at,
			conv->last_human_outbound, conv->last_message_at));
	}
	g_hash_table_destroy(rep);
	return out;
}

static bool
partition_equal(GHashTable *a, GHashTable *b)
{
	GHashTableIter it;
	gpointer k, v;
	const char *w;

	if (g_hash_table_size(a) != g_hash_table_size(b))
		return false;
	g_hash_table_iter_init(&it, a);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		w = g_hash_table_lookup(b, k);
		if (w == NULL || strcmp(w, v) != 0)
			return false;
	}
	return true;
}

static size_t
partition_count(GHashTable *p)
{
	GHashTable *seen;
	GHashTableIter it;
	gpointer k, v;
	size_t n;

	seen = g_hash_table_new(g_str_hash, g_str_equal);
	g_hash_table_iter_init(&it, p);
	while (g_hash_table_iter_next(&it, &k, &v))
		g_hash_table_add(seen, v);
	n = g_hash_table_size(seen);
	g_hash_table_destroy(seen);
	return n;
}

/* ------------------------------------------------------------------ */
/* Random mail, seeded so a failure can be replayed. */

/* A random mailbox: threads with partial References, ghost parents,
 * Gmail thread ids, subject keys (one time cluster per key) and
 * repeated copies of some messages. */
struct corpus {
	struct thr_msg *m;
	size_t n;
	char **strings;
	size_t n_strings;
	const char **refs; /* refs arrays live here */
};

static const char *
corpus_str(struct corpus *c, char *s)
{
	c->strings[c->n_strings++] = s;
	return s;
}

static void
corpus_make(struct corpus *c, size_t n)
{
	size_t i, j, parent, n_refs, copies = n / 10;
	size_t *root;
	const char **ids;

	memset(c, 0, sizeof(*c));
	c->m = xcalloc(n + copies, sizeof(*c->m));
	c->strings = xcalloc(4 * n, sizeof(char *));
	c->refs = xcalloc(n * 8, sizeof(char *));
	root = xcalloc(n, sizeof(*root));
	ids = xcalloc(n, sizeof(*ids));
	for (i = 0; i < n; i++) {
		struct thr_msg *m = &c->m[i];

		ids[i] = corpus_str(c, xasprintf("m%zu@example.org", i));
		m->message_id = ids[i];
		m->refs = &c->refs[i * 8];
		m->sent_at = (int64_t)rng_below(1000) * 3600;
		m->outbound = rng_below(3) == 0;
		m->automated = rng_below(10) == 0;
		root[i] = i;
		n_refs = 0;
		if (i > 0 && rng_below(10) < 6) {
			parent = rng_below(i);
			root[i] = root[parent];
			/* Parent and part of its chain, as clients write. */
			c->refs[i * 8 + n_refs++] = ids[parent];
			for (j = 0; j < c->m[parent].n_refs && n_refs < 7; j++)
				if (rng_below(2))
					c->refs[i * 8 + n_refs++] =
					    c->m[parent].refs[j];
		} else if (rng_below(10) == 0) {
			c->refs[i * 8 + n_refs++] = corpus_str(c,
			    xasprintf(
				"ghost%zu@example.org", rng_below(n / 8)));
		}
		m->n_refs = n_refs;
		/* Gmail thread ids mostly follow the references, but some
		 * join messages that share nothing else. */
		if (rng_below(4) == 0)
			m->gmail_thread_id = corpus_str(c,
			    xasprintf("gm%zu",
				rng_below(3) ? root[i]
					     : n + rng_below(n / 10)));
		if (rng_below(3) == 0) {
			/* Topic clusters are 30 days apart; messages fall
			 * within two days of their topic's start. */
			size_t topic = rng_below(n / 6 + 1);

			m->subject_key = corpus_str(
			    c, xasprintf("topic %zu|peer@example.org", topic));
			m->sent_at = (int64_t)topic * 30 * DAY +
			    (int64_t)rng_below(48) * 3600;
		}
	}
	for (i = 0; i < copies; i++)
		c->m[n + i] = c->m[rng_below(n)];
	c->n = n + copies;
	free(root);
	free(ids);
}

static void
corpus_free(struct corpus *c)
{
	size_t i;

	for (i = 0; i < c->n_strings; i++)
		free(c->strings[i]);
	free(c->strings);
	free(c->refs);
	free(c->m);
}

/* Ingests the messages in batches of random size (1..max_batch). */
static GHashTable *
ingest_batches(const struct thr_msg *src, size_t n, size_t max_batch,
    int64_t window, bool do_shuffle, int *bad)
{
	struct thr_msg *m;
	GHashTable *part;
	struct db db;
	size_t off, len;

	m = xreallocarray(NULL, n, sizeof(*m));
	memcpy(m, src, n * sizeof(*m));
	if (do_shuffle)
		shuffle(m, n);
	db_init(&db, window);
	for (off = 0; off < n; off += len) {
		len = max_batch >= n ? n : 1 + rng_below(max_batch);
		if (len > n - off)
			len = n - off;
		*bad += db_ingest(&db, m + off, len);
	}
	part = db_partition(&db);
	db_free(&db);
	free(m);
	return part;
}

static void
test_order_independence(uint64_t seed)
{
	static const size_t batch_sizes[] = {1, 2, 7, 50, 1000};
	struct corpus c;
	GHashTable *ref, *got;
	size_t i, round;
	int bad = 0;
	int64_t window;
	bool all_equal;

	for (round = 0; round < 2; round++) {
		window = round == 0 ? 0 : 7 * DAY;
		rng_state = seed + round;
		corpus_make(&c, 400);
		ref = ingest_batches(c.m, c.n, c.n, window, false, &bad);
		/* One batch holding everything is the reference. */
		ok(bad == 0, "window %" PRId64 ": plan invariants, one batch",
		    window);
		ok(partition_count(ref) > 10 && partition_count(ref) < 400,
		    "window %" PRId64 ": %zu conversations from 400 messages",
		    window, partition_count(ref));
		all_equal = true;
		bad = 0;
		for (i = 0; i < 20; i++) {
			got = ingest_batches(c.m, c.n,
			    batch_sizes[i % nitems(batch_sizes)], window, true,
			    &bad);
			if (!partition_equal(ref, got)) {
				all_equal = false;
				printf("# differs: window %" PRId64
				       " run %zu max batch %zu (seed %" PRIu64
				       ")\n",
				    window, i,
				    batch_sizes[i % nitems(batch_sizes)], seed);
			}
			g_hash_table_destroy(got);
		}
		ok(all_equal,
		    "window %" PRId64 ": 20 shuffled batchings give the same "
		    "partition and statuses (seed %" PRIu64 ")",
		    window, seed);
		ok(bad == 0, "window %" PRId64 ": plan invariants in batches",
		    window);
		g_hash_table_destroy(ref);
		corpus_free(&c);
	}
}

static const struct thr_msg *
find_msg(const struct thr_msg *m, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(m[i].message_id, id) == 0)
			return &m[i];
	return NULL;
}

static void
test_permutation_one_batch(uint64_t seed)
{
	static const struct tmsg t[] = {
	    {.id = "a@x", .at = 1},
	    {.id = "b@x", .refs = {"a@x"}, .at = 2},
	    {.id = "c@x", .refs = {"g@x"}, .at = 3},
	    {.id = "d@x", .refs = {"b@x", "g@x"}, .at = 4},
	    {.id = "e@x", .gmail = "t1", .at = 5},
	    {.id = "f@x", .gmail = "t1", .refs = {"h@x"}, .at = 6},
	    {.id = "h@x", .at = 7},
	    {.id = "i@x", .at = 8},
	};
	struct thr_msg *m;
	struct thr_plan *p;
	char sig[nitems(t) + 1], ref[nitems(t) + 1];
	size_t i, j, round;
	bool same = true;
	int conv;

	rng_state = seed;
	for (round = 0; round < 50; round++) {
		m = make_msgs(t, nitems(t));
		if (round > 0)
			shuffle(m, nitems(t));
		p = thread_plan(m, nitems(t), NULL, 0, NULL, 0, 0);
		/* Each message, in table order, named by the first table
		 * message of its conversation. */
		for (i = 0; i < nitems(t); i++) {
			conv = find_msg(m, nitems(t), t[i].id)->conv;
			for (j = 0; j < nitems(t); j++)
				if (find_msg(m, nitems(t), t[j].id)->conv ==
				    conv)
					break;
			sig[i] = t[j].id[0];
		}
		sig[nitems(t)] = '\0';
		if (round == 0)
			memcpy(ref, sig, sizeof(ref));
		else if (strcmp(ref, sig) != 0)
			same = false;
		thread_plan_free(p);
		free(m);
	}
	is_str(ref, "aaaaeeei", "expected groups in table order");
	ok(same, "50 permutations of one batch agree (seed %" PRIu64 ")", seed);
}

static double
elapsed_ms(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static void
test_performance(void)
{
	enum { N = 1000, R = 20 };
	struct thr_msg *m;
	struct thr_plan *p;
	struct timespec t0, t1;
	char **names;
	const char **refs;
	double best = 1e9, ms;
	size_t i, j, run;

	names = xcalloc(N, sizeof(*names));
	refs = xcalloc(N * R, sizeof(*refs));
	m = xcalloc(N, sizeof(*m));
	for (i = 0; i < N; i++)
		names[i] = xasprintf("perf-%zu@example.org", i);
	for (i = 0; i < N; i++) {
		for (j = 0; j < R; j++)
			refs[i * R + j] = names[(i * 7 + j * 13) % N];
		m[i].message_id = names[i];
		m[i].refs = &refs[i * R];
		m[i].n_refs = R;
		m[i].sent_at = (int64_t)i;
		m[i].outbound = i % 2;
	}
	for (run = 0; run < 5; run++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		p = thread_plan(m, N, NULL, 0, NULL, 0, 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = elapsed_ms(&t0, &t1);
		if (ms < best)
			best = ms;
		thread_plan_free(p);
	}
	printf("# thread_plan: 1000 messages x 20 refs in %.3f ms\n", best);
	if (getenv("INBOXD_TEST_NO_TIMING") != NULL)
		ok(1, "timing # SKIP INBOXD_TEST_NO_TIMING is set");
	else
		ok(best < 10.0, "1000 messages x 20 refs in under 10 ms");
	for (i = 0; i < N; i++)
		free(names[i]);
	free(names);
	free(refs);
	free(m);
}

/*
 * A failure notice about our mail: active with its reason when it is
 * newer than every human message, whichever is stored first; a human
 * message after it counts; other automated mail changes nothing.
 */
static const char BOUNCED[] = "delivery to ann@x failed: 550 unknown";

static void
test_status_bounce(void)
{
	static const struct tmsg both[] = {
	    {.id = "o@x", .at = 10, .outbound = true},
	    {.id = "b@x", .refs = {"o@x"}, .at = 20, .automated = true},
	};
	static const struct tmsg bounce_only[] = {
	    {.id = "b@x", .refs = {"o@x"}, .at = 20, .automated = true},
	};
	static const struct tmsg reply_after[] = {
	    {.id = "r@x", .refs = {"o@x"}, .at = 30},
	};
	static const struct tmsg delay[] = {
	    {.id = "d@x", .refs = {"o@x"}, .at = 40, .automated = true},
	};
	struct thr_link l[] = {{"o@x", 0}};
	struct thr_conv c[1];
	struct thr_msg *m;
	struct thr_plan *p;

	m = make_msgs(both, nitems(both));
	m[1].bounce_reason = BOUNCED;
	p = thread_plan(m, nitems(both), NULL, 0, NULL, 0, 0);
	is_int(p->convs[m[0].conv].new_status, CONV_ACTIVE,
	    "bounce after our message: active");
	is_str(p->convs[m[0].conv].new_reason, BOUNCED, "with its reason");
	is_int(p->convs[m[0].conv].new_last_bounce_at, 20,
	    "the bounce's time is kept");
	thread_plan_free(p);
	free(m);

	/* The message it returned is stored, waiting. */
	c[0] = stored_conv("s", 1, CONV_WAITING, 10, true, 10);
	m = make_msgs(bounce_only, 1);
	m[0].bounce_reason = BOUNCED;
	p = thread_plan(m, 1, c, 1, l, 1, 0);
	is_int(p->convs[0].new_status, CONV_ACTIVE,
	    "bounce joining a waiting conversation: active");
	is_str(p->convs[0].new_reason, BOUNCED, "reason of the bounce");
	thread_plan_free(p);
	free(m);

	/* The bounce was stored first; our message comes later. */
	c[0] = stored_conv("s", 1, CONV_ACTIVE, INT64_MIN, false, 20);
	c[0].last_bounce_at = 20;
	m = make_msgs(both, 1);
	p = thread_plan(m, 1, c, 1, l, 1, 0);
	is_int(p->convs[0].new_status, CONV_ACTIVE,
	    "our older message after the stored bounce: still active");
	is_str(p->convs[0].new_reason, NULL, "the stored reason stays");
	thread_plan_free(p);
	free(m);

	/* A reply newer than the bounce. */
	m = make_msgs(reply_after, 1);
	p = thread_plan(m, 1, c, 1, l, 1, 0);
	is_int(p->convs[0].new_status, CONV_NEEDS_REPLY,
	    "a person's reply after the bounce needs a reply");
	thread_plan_free(p);
	free(m);

	/* A delay notice, or any automated mail, changes nothing. */
	m = make_msgs(delay, 1);
	p = thread_plan(m, 1, c, 1, l, 1, 0);
	is_int(p->convs[0].new_status, CONV_ACTIVE, "delay after bounce: kept");
	thread_plan_free(p);
	c[0] = stored_conv("s", 1, CONV_WAITING, 10, true, 10);
	p = thread_plan(m, 1, c, 1, l, 1, 0);
	is_int(p->convs[0].new_status, CONV_WAITING,
	    "delay on a waiting conversation: still waiting");
	is_str(p->convs[0].new_reason, NULL, "and its reason stays");
	thread_plan_free(p);
	c[0] = stored_conv("s", 1, CONV_ARCHIVED, 10, true, 10);
	m[0].bounce_reason = BOUNCED;
	p = thread_plan(m, 1, c, 1, l, 1, 0);
	is_int(p->convs[0].new_status, CONV_ARCHIVED,
	    "a bounce leaves an archived conversation archived");
	thread_plan_free(p);
	free(m);
}

int
main(void)
{
	uint64_t seed;

	seed = rng_seed();
	printf("# seed %" PRIu64 " (set THREAD_SEED to replay)\n", seed);

	test_status_names();
	test_subject_normalize();
	test_reply_before_parent();
	test_ghost_parent();
	test_first_msg_tie();
	test_stored_link();
	test_merge();
	test_merge_keeps_newer_stored_inbound();
	test_gmail_thread();
	test_subject_window();
	test_subject_link();
	test_status_new();
	test_status_tie();
	test_status_automated_after_outbound();
	test_status_late_older_mail();
	test_status_archived();
	test_status_archived_merge();
	test_status_bounce();
	test_duplicates();
	test_bad_links_and_empty();
	test_permutation_one_batch(seed);
	test_order_independence(seed);
	test_performance();
	return tap_done();
}
