/*
 * Checks of the Gmail API's answers (pure): historyIds and raw messages.
 */
#include <stdbool.h>
#include <string.h>

#include "gmail_check.h"

bool
gmail_history_id_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++)
		;
	return n > 0 && n <= GMAIL_HISTORY_ID_MAX && s[n] == '\0';
}

/* Leading zeros say nothing of a number's size. */
static const char *
significant_digits(const char *s)
{
	while (s[0] == '0' && s[1] != '\0')
		s++;
	return s;
}

int
gmail_history_id_cmp(const char *a, const char *b)
{
	size_t la, lb;

	a = significant_digits(a);
	b = significant_digits(b);
	la = strlen(a);
	lb = strlen(b);
	/* Up to 20 digits may not fit in any integer type; as strings of
	 * digits, the longer number is the greater. */
	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

static bool
is_base64url_digit(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

const char *
gmail_raw_problem(const char *raw)
{
	size_t n, pad;

	if (*raw == '\0')
		return "is empty";
	for (n = 0; is_base64url_digit(raw[n]); n++)
		;
	for (pad = 0; raw[n + pad] == '='; pad++)
		;
	/* Padding, when there is any, fills the last group of four. A
	 * lone character in the last group cannot hold a byte. */
	if (raw[n + pad] != '\0' || n % 4 == 1 ||
	    (pad > 0 && (n + pad) % 4 != 0) || pad > 2)
		return "is not valid base64url";
	return NULL;
}
