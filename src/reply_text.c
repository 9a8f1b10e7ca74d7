/*
 * The new text of a message: its body without quoted history and
 * signature (reply_text.h says what counts as which). The body is cut
 * into lines once; every rule looks at a line and at most a few lines
 * after it, with joined text bounded in length, so the whole is linear
 * in the input and needs no regular expression.
 *
 * This file holds the pass over the lines, which finds the quoted
 * blocks and the cut, and the assembly of what is left. The lines and
 * the byte helpers are in reply_text_lines.c, the recognition of what
 * introduces quoted history (attributions, separators, header blocks)
 * in reply_text_quote.c, and that of signatures in reply_text_sig.c.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reply_text.h"
#include "reply_text_int.h"
#include "text.h"
#include "util.h"

/* How often a message that is only a forward or an attribution is
 * unwrapped to find text above a deeper one. */
#define UNWRAP_MAX 4

/* Why the text ends where it does. */
enum cut_kind {
	CUT_NONE,
	CUT_ATTRIBUTION, /* "On ... wrote:" over unquoted text */
	CUT_FORWARD, /* a forwarded message begins */
	CUT_HISTORY, /* header block, "Original Message", signature */
};

/* The pass ---------------------------------------------------------------- */

/* The end of the ">" block starting at quoted line i: quoted lines,
 * blank lines followed by more quoted lines, and a lone unquoted line
 * wedged between quoted ones (a link the sender's client wrapped). */
static size_t
block_end(const struct line *v, size_t n, size_t i)
{
	size_t j = i;

	while (j < n) {
		size_t k;

		if (v[j].depth > 0) {
			j++;
			continue;
		}
		if (!reply_is_blank(&v[j])) {
			if (j > i && v[j - 1].depth > 0 && j + 1 < n &&
			    v[j + 1].depth > 0)
				j++;
			else
				break;
			continue;
		}
		for (k = j; k < n && reply_is_blank(&v[k]); k++)
			;
		if (k < n && v[k].depth > 0)
			j = k;
		else
			break;
	}
	return j;
}

/* Whether the first non-blank line of the block [i, e) is an
 * attribution, read without its markers. */
static bool
block_attributed(const struct line *v, size_t i, size_t e)
{
	char buf[HEADER_MAX + 2];
	size_t n = 0, lines = 0;

	for (size_t k = i; k < e && lines < HEADER_LINES; k++) {
		if (v[k].blen == 0)
			continue;
		if (n > 0)
			buf[n++] = ' ';
		if (n + v[k].blen > HEADER_MAX)
			return false;
		memcpy(buf + n, v[k].body, v[k].blen);
		n += v[k].blen;
		lines++;
		if (reply_is_attribution(buf, n) ||
		    reply_separator_of(&(struct line){.s = buf, .len = n}) !=
			NULL)
			return true;
	}
	return false;
}

struct block {
	size_t start; /* its attribution, or its first quoted line */
	size_t end;
	bool attributed;
};

struct pass {
	struct block *blocks;
	size_t n_blocks;
	size_t cut; /* the first line not written by the sender */
	size_t resume; /* where text resumes after a forward or attribution */
	enum cut_kind kind;
};

static void
add_block(struct pass *p, size_t start, size_t end, bool attributed)
{
	p->blocks[p->n_blocks].start = start;
	p->blocks[p->n_blocks].end = end;
	p->blocks[p->n_blocks].attributed = attributed;
	p->n_blocks++;
}

/* Where history that starts at line i starts with its rule: the rule
 * line right above it, or above one blank line, belongs to it. */
static size_t
rule_above(const struct line *v, size_t from, size_t i)
{
	if (i > from && reply_is_rule(&v[i - 1]))
		return i - 1;
	if (i > from + 1 && reply_is_blank(&v[i - 1]) &&
	    reply_is_rule(&v[i - 2]))
		return i - 2;
	return i;
}

/* Skips a forwarded message's header lines after its separator. */
static size_t
skip_forward_headers(const struct line *v, size_t n, size_t i)
{
	const char *value;
	bool headers = false;

	while (i < n && reply_is_blank(&v[i]))
		i++;
	for (; i < n; i++) {
		if (reply_is_blank(&v[i])) {
			if (headers)
				break;
			continue;
		}
		if (reply_header_key(&v[i], &value) != HK_NONE)
			headers = true;
		else if (!headers)
			break;
	}
	return i;
}

/* Finds the blocks and the cut in lines [from, n). */
static void
scan(struct line *v, size_t n, size_t from, struct pass *p)
{
	bool code = false;
	size_t i = from, last;

	p->n_blocks = 0;
	p->cut = n;
	p->resume = n;
	p->kind = CUT_NONE;
	while (i < n) {
		const struct separator *sp;

		if (reply_is_fence(&v[i]))
			code = !code;
		if (code || reply_is_blank(&v[i])) {
			i++;
			continue;
		}
		if (v[i].depth > 0) {
			size_t e = block_end(v, n, i);

			add_block(p, i, e, block_attributed(v, i, e));
			i = e;
			continue;
		}
		if ((sp = reply_separator_of(&v[i])) != NULL) {
			p->cut = rule_above(v, from, i);
			p->kind = sp->forward ? CUT_FORWARD : CUT_HISTORY;
			p->resume = skip_forward_headers(v, n, i + 1);
			return;
		}
		if (reply_attribution_at(v, n, i, &last)) {
			size_t k = last + 1;

			while (k < n && reply_is_blank(&v[k]))
				k++;
			if (k < n && v[k].depth > 0) {
				size_t e = block_end(v, n, k);

				add_block(p, i, e, true);
				i = e;
				continue;
			}
			p->cut = i;
			p->kind = CUT_ATTRIBUTION;
			p->resume = last + 1;
			return;
		}
		if (i + 1 < n && v[i + 1].depth > 0) {
			size_t e = block_end(v, n, i + 1), k;

			if ((k = reply_inline_attribution(&v[i])) > 0) {
				/* The line keeps its text before "On". */
				while (k > 0 &&
				    (v[i].s[k - 1] == ' ' ||
					v[i].s[k - 1] == '-'))
					k--;
				v[i].len = k;
				add_block(p, i + 1, e, true);
				i = e;
				continue;
			}
			if (reply_is_bare_attribution(&v[i])) {
				add_block(p, i, e, true);
				i = e;
				continue;
			}
		}
		if (reply_header_block_at(v, n, i)) {
			p->cut = rule_above(v, from, i);
			p->kind = CUT_HISTORY;
			return;
		}
		if (reply_is_signature_line(v, i) ||
		    reply_is_device_line(v, n, i) ||
		    reply_is_dash_name(v, n, i)) {
			p->cut = i;
			p->kind = CUT_HISTORY;
			return;
		}
		i++;
	}
}

/* Marks what the sender did not write among lines [from, p->cut). */
static void
mark(struct line *v, size_t from, const struct pass *p)
{
	size_t first_text = SIZE_MAX, last_text = 0, b = 0;
	bool any_text = false;

	/* The sender's own lines: neither blank nor in a block. Blocks
	 * are in line order and do not overlap. */
	for (size_t k = from; k < p->cut; k++) {
		if (b < p->n_blocks && k == p->blocks[b].start) {
			k = p->blocks[b++].end - 1;
			continue;
		}
		if (reply_is_blank(&v[k]))
			continue;
		if (first_text == SIZE_MAX)
			first_text = k;
		last_text = k;
		any_text = true;
	}
	for (b = 0; b < p->n_blocks; b++) {
		const struct block *bl = &p->blocks[b];
		bool text_after = any_text && last_text >= bl->end;
		bool text_before = any_text && first_text < bl->start;

		/* An unattributed block between new paragraphs is what an
		 * inline answer answers; one at the end is history, unless
		 * it is all there is. */
		if (!bl->attributed && (text_after || !text_before))
			continue;
		for (size_t k = bl->start; k < bl->end; k++)
			v[k].drop = true;
		for (size_t k = bl->end; k < p->cut && reply_is_blank(&v[k]);
		     k++)
			v[k].drop = true;
	}
}

static bool
has_text(const struct line *v, size_t from, size_t to)
{
	for (size_t k = from; k < to; k++)
		if (!v[k].drop && !reply_is_blank(&v[k]))
			return true;
	return false;
}

static char *
assemble(const struct line *v, size_t from, size_t to)
{
	struct buf b;
	size_t first = from, last = to;

	while (first < to && (v[first].drop || reply_is_blank(&v[first])))
		first++;
	while (
	    last > first && (v[last - 1].drop || reply_is_blank(&v[last - 1])))
		last--;
	if (first >= last)
		return NULL;
	buf_init(&b);
	for (size_t k = first; k < last; k++) {
		if (v[k].drop)
			continue;
		text_sanitize_append(&b, v[k].s, v[k].len);
		if (k + 1 < last)
			buf_append(&b, "\n", 1);
	}
	return buf_steal(&b);
}

char *
reply_text(const char *body, size_t len)
{
	struct line *v;
	struct pass p;
	size_t n, from = 0;
	char *out = NULL;

	if (body == NULL || len == 0)
		return NULL;
	v = reply_split_lines(body, len, &n);
	p.blocks = xcalloc(n, sizeof(*p.blocks));
	for (int round = 0; round <= UNWRAP_MAX; round++) {
		scan(v, n, from, &p);
		mark(v, from, &p);
		if (has_text(v, from, p.cut) ||
		    (p.kind != CUT_FORWARD && p.kind != CUT_ATTRIBUTION) ||
		    round == UNWRAP_MAX) {
			out = assemble(v, from, p.cut);
			break;
		}
		/* Nothing written above a forward or an attribution: the
		 * message is that, and its text is what follows. */
		from = p.resume;
	}
	free(p.blocks);
	free(v);
	return out;
}
