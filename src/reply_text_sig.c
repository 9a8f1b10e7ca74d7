/*
 * The new text of a message: what marks a signature. A "--" line or a
 * line of underscores, a "-Name" sign-off, the lines phones and apps
 * add ("Sent from my iPhone"), and the fences of code blocks, inside
 * which nothing is cut.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "reply_text_int.h"
#include "util.h"

/* A "Sent from my ..." line has at most this many words. */
#define DEVICE_WORDS 8

/* Signatures ------------------------------------------------------------ */

/* How "Sent from my iPhone" and its kind begin, lower case. */
static const char *const device_lines[] = {
    "sent from my ", "sent from mail for ", "sent from yahoo",
    "sent from outlook", "sent from windows mail", "sent from mailbox",
    "sent from samsung", "sent from typeapp", "sent from blackberry",
    "sent from iphone", "sent from ipad", "sent from android",
    "sent from gmail", "sent from aol", "sent from protonmail",
    "sent from [mail]", "sent via ", "sent with ", "get outlook for ",
    "envoy\xc3\xa9 de mon ", "envoy\xc3\xa9 depuis ",
    "envoy\xc3\xa9 \xc3\xa0 partir de ", "envoy\xc3\xa9 avec ", "gesendet von ",
    "gesendet mit ", "von meinem ", "verzonden met ", "verzonden vanaf ",
    "verstuurd vanaf ", "sendt fra ", "skickat fr\xc3\xa5n ", "enviado desde ",
    "enviado do ", "enviado de ", "inviato da ",
    "wys\xc5\x82"
    "ane z ",
    "\xd0\xbe\xd1\x82\xd0\xbf\xd1\x80\xd0\xb0\xd0\xb2\xd0\xbb\xd0\xb5\xd0\xbd"
    "\xd0\xbe \xd1\x81 ", /* отправлено с */
    "\xe5\xbe\x9e\xe6\x88\x91\xe7\x9a\x84", /* 從我的 */
    "\xe5\x8f\x91\xe8\x87\xaa\xe6\x88\x91\xe7\x9a\x84", /* 发自我的 */
};

/* A device or app signature: one of the lines above, short, standing
 * apart from the paragraph around it. */
bool
reply_is_device_line(const struct line *v, size_t n, size_t i)
{
	const char *t = v[i].s;
	size_t len = v[i].len;

	reply_trim(&t, &len);
	while (len > 0 && (*t == '(' || *t == '<')) {
		t++;
		len--;
	}
	if (reply_count_words(t, len) > DEVICE_WORDS)
		return false;
	if (!(i == 0 || reply_is_blank(&v[i - 1]) || i + 1 == n ||
		reply_is_blank(&v[i + 1])))
		return false;
	for (size_t k = 0; k < nitems(device_lines); k++)
		if (reply_starts_ci(t, len, device_lines[k]))
			return true;
	return false;
}

/* "--" alone, a line of underscores, Gmail's tracking mark, or a
 * "-Name" sign-off line under a blank line. */
bool
reply_is_signature_line(const struct line *v, size_t i)
{
	const struct line *l = &v[i];
	size_t u = 0;

	if (l->len == 2 && memcmp(l->s, "--", 2) == 0)
		return true;
	if (l->len == 3 && memcmp(l->s, "\xe1\x90\xa7", 3) == 0) /* ᐧ */
		return true;
	for (size_t k = 0; k < l->len; k++) {
		if (l->s[k] == '_')
			u++;
		else if (!reply_is_space((unsigned char)l->s[k]))
			return false;
	}
	if (u >= 5)
		return true;
	return false;
}

/* "-Ann Smith" alone between blank lines: a sign-off, not a list
 * item ("-milk" over "-eggs"). */
bool
reply_is_dash_name(const struct line *v, size_t n, size_t i)
{
	const struct line *l = &v[i];

	return (i == 0 || reply_is_blank(&v[i - 1])) &&
	    (i + 1 == n || reply_is_blank(&v[i + 1])) && l->len >= 2 &&
	    l->len <= 40 && l->s[0] == '-' &&
	    reply_is_alpha((unsigned char)l->s[1]) &&
	    reply_count_words(l->s, l->len) <= 3;
}

/* A fence of a Markdown code block, inside which nothing is cut. */
bool
reply_is_fence(const struct line *l)
{
	const char *t = l->s;
	size_t n = l->len;

	reply_trim(&t, &n);
	return n >= 3 && memcmp(t, "```", 3) == 0;
}
