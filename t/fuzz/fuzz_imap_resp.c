/*
 * libFuzzer target for the IMAP response parsers of imap_resp.h and the
 * response reader of imap_reader.h: any answer must parse without a
 * crash, a leak, a read past its length or a sanitizer report, and what
 * the parsers return must keep their promises (no UID 0, names without
 * CR or LF, quoting that LIST reads back, the same responses however
 * the bytes are cut, no literal kept beyond its bound). See README.md
 * for running it with the seed corpus.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_reader.h"
#include "imap_resp.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_status(const char *text, size_t len)
{
	struct imap_status st;

	if (imap_parse_status(text, len, &st) == 0 && st.uidvalidity == 0)
		abort();
}

static void
check_fetch(const char *text, size_t len)
{
	struct imap_msginfo *mi = NULL;
	size_t n = imap_parse_fetch(text, len, &mi);

	if ((n == 0) != (mi == NULL))
		abort();
	for (size_t i = 0; i < n; i++)
		if (mi[i].uid == 0 || mi[i].internal_date < 0)
			abort();
	free(mi);
}

static void
check_search(const char *text, size_t len)
{
	uint32_t *uids = NULL;
	size_t n = 0;
	int rc = imap_parse_search(text, len, &uids, &n);

	if ((n == 0) != (uids == NULL) || (rc == -1 && n != 0))
		abort();
	for (size_t i = 0; i < n; i++)
		if (uids[i] == 0)
			abort();
	free(uids);
}

static void
check_list(const char *text, size_t len)
{
	char *name = imap_parse_list_sent(text, len);

	if (name != NULL && strpbrk(name, "\r\n") != NULL)
		abort();
	free(name);
}

static void
check_capabilities(const char *text, size_t len)
{
	static const char *const caps[] = {
	    "IDLE", "IMAP4rev1", "AUTH=XOAUTH2", "CONDSTORE", "I"};

	for (size_t i = 0; i < nitems(caps); i++)
		(void)imap_has_capability(text, len, caps[i]);
}

/*
 * The first line of the input, up to a NUL and 255 bytes, read as a
 * date and as a mailbox name: quoting it and reading it back from a
 * LIST line gives the name without its CR and LF.
 */
static bool
printable(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static void
check_date_and_quote(const char *text, size_t len)
{
	char name[256], *quoted, *line, *got;
	size_t n = 0;

	for (size_t i = 0; i < len && n < sizeof(name) - 1; i++) {
		if (text[i] == '\0')
			break;
		if (text[i] != '\r' && text[i] != '\n')
			name[n++] = text[i];
	}
	name[n] = '\0';
	(void)imap_parse_date(name);
	quoted = imap_quote(name);
	line = xasprintf("* LIST (\\Sent) \"/\" %s", quoted);
	got = imap_parse_list_sent(line, strlen(line));
	/* A name of printable ASCII comes back as it was; an empty one, or
	 * one with control or 8-bit bytes, is no name at all. */
	if (printable(name) ? got == NULL || strcmp(got, name) != 0
			    : got != NULL)
		abort();
	free(got);
	free(line);
	free(quoted);
}

/* UID sets: every UID named is 1 .. max, and no more than limit. */
static void
check_uid_set(const char *text, size_t len, uint32_t max)
{
	uint32_t *uids = NULL;
	size_t n = 0;
	int rc = imap_parse_uid_set(text, len, max, 1000, &uids, &n);

	if ((rc == -1 && (uids != NULL || n != 0)) || n > 1000 ||
	    (n == 0) != (uids == NULL))
		abort();
	for (size_t i = 0; i < n; i++)
		if (uids[i] == 0 || uids[i] > max)
			abort();
	free(uids);
}

/* The reader's bounds, and the chunk sizes it is fed in. */
struct reading {
	size_t max_line;
	size_t max_literal;
	uint8_t chunks[4];
	uint8_t stop_every; /* the callback says stop every n; 0: never */
};

/* What one reader handed over, in a form two readers can compare. */
struct transcript {
	const struct reading *rd;
	struct buf out;
	unsigned calls;
	bool stopped; /* the callback said stop during this feed */
};

static void
check_fetch_response(struct imap_response *r)
{
	struct imap_fetch f;
	int rc = imap_fetch_parse(r, &f);

	if (rc < -1 || rc > 1)
		abort();
	if (rc == 1) {
		if (f.seq == 0 || (f.has_flags && strchr(f.flags, '"')))
			abort();
		if (f.body != NULL && f.body != f.quoted_body &&
		    (f.body < r->lits || f.body >= r->lits + r->n_lits))
			abort();
		if (f.body != NULL && f.body_nil)
			abort();
		if ((f.has_gm_msgid && f.gm_msgid == 0) ||
		    (f.has_gm_thrid && f.gm_thrid == 0))
			abort();
		/* A Gmail label is a name: never empty, no control byte. */
		for (char **l = f.gm_labels; l && *l; l++) {
			if (**l == '\0')
				abort();
			for (const char *c = *l; *c; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f)
					abort();
		}
	}
	imap_fetch_clear(&f);
}

static void
check_other_responses(struct imap_response *r)
{
	uint32_t n;
	enum imap_count k = imap_count_parse(r, &n);
	char st = imap_tagged_status(r);

	if (k != IMAP_COUNT_NONE && r->kind != IMAP_UNTAGGED)
		abort();
	if (st != 0 && (r->kind != IMAP_TAGGED || strchr("ONB", st) == NULL))
		abort();
	if (imap_is_bye(r) && r->kind != IMAP_UNTAGGED)
		abort();
	check_uid_set(r->line, r->len, UINT32_MAX);
}

static bool
on_response(struct imap_response *r, void *arg)
{
	struct transcript *t = arg;
	const struct reading *rd = t->rd;

	if (t->stopped || r->len > rd->max_line ||
	    memchr(r->line, '\n', r->len) != NULL || r->n_lits > 64)
		abort();
	if (r->kind == IMAP_TAGGED &&
	    (r->tag != r->line || r->text < r->line ||
		r->text > r->line + r->len))
		abort();
	buf_printf(&t->out, "%d %zu:", (int)r->kind, r->len);
	buf_append(&t->out, r->line, r->len);
	for (size_t i = 0; i < r->n_lits; i++) {
		const struct imap_literal *l = &r->lits[i];
		uint64_t kept =
		    l->size < rd->max_literal ? l->size : rd->max_literal;

		if (l->data.len != kept ||
		    l->truncated != (l->size > rd->max_literal))
			abort();
		buf_printf(&t->out, " %llu:", (unsigned long long)l->size);
		buf_append(&t->out, l->data.data, l->data.len);
	}
	buf_appends(&t->out, "\n");
	check_fetch_response(r);
	check_other_responses(r);
	t->calls++;
	if (rd->stop_every != 0 && t->calls % rd->stop_every == 0) {
		t->stopped = true;
		return false;
	}
	return true;
}

/* Reads text in the chunk sizes of rd (whole when chunked is false)
 * into out: the transcript, and "!" when the reader failed. */
static void
read_responses(const struct reading *rd, const char *text, size_t len,
    bool chunked, struct buf *out)
{
	struct transcript t = {rd, {NULL, 0, 0}, 0, false};
	struct imap_reader *r =
	    imap_reader_new(rd->max_line, rd->max_literal, on_response, &t);
	size_t off = 0;
	int rc = 0;

	buf_init(&t.out);
	for (unsigned i = 0; off < len && rc == 0; i++) {
		size_t n = chunked ? 1 + rd->chunks[i % 4] : len;

		if (n > len - off)
			n = len - off;
		t.stopped = false;
		rc = imap_reader_feed(r, text + off, n);
		if (imap_reader_pending(r) >
		    rd->max_line + 1 + 64 * rd->max_literal)
			abort();
		off += n;
	}
	if (rc == -1) {
		if (imap_reader_feed(r, "\r\n", 2) != -1 ||
		    imap_reader_error(r)[0] == '\0')
			abort();
		buf_appends(&t.out, "!");
	}
	imap_reader_free(r);
	*out = t.out;
}

/*
 * The first 7 bytes of the input choose max_line, max_literal, four
 * chunk sizes and how often the callback says stop; the rest is read
 * in those chunks and whole, which must give the same responses.
 */
static void
check_reader(const uint8_t *data, size_t size)
{
	struct reading rd;
	const char *text = (const char *)data + 7;
	struct buf chunked, whole;

	if (size < 7)
		return;
	rd.max_line = 4 + data[0];
	rd.max_literal = data[1] % 64;
	memcpy(rd.chunks, data + 2, sizeof(rd.chunks));
	rd.stop_every = 0;
	read_responses(&rd, text, size - 7, true, &chunked);
	read_responses(&rd, text, size - 7, false, &whole);
	if (chunked.len != whole.len ||
	    (chunked.len > 0 && memcmp(chunked.data, whole.data, whole.len)))
		abort();
	buf_free(&chunked);
	buf_free(&whole);
	rd.stop_every = data[6] % 4;
	read_responses(&rd, text, size - 7, true, &chunked);
	buf_free(&chunked);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;

	check_status(text, size);
	check_fetch(text, size);
	check_search(text, size);
	check_list(text, size);
	check_capabilities(text, size);
	check_date_and_quote(text, size);
	check_uid_set(text, size, size > 0 ? 1 + data[0] * 1000u : 1);
	check_reader(data, size);
	return 0;
}
