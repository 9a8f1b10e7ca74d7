/*
 * Checks of the Gmail API's answers (pure): historyIds and raw messages.
 */
#include <stdbool.h>
#include <string.h>

#include "gmail_check.h"
#include "text.h"

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

const char *
gmail_raw_problem(const char *raw)
{
	if (*raw == '\0')
		return "is empty";
	if (text_base64_decode(raw, strlen(raw), NULL, TEXT_B64_URL) < 0)
		return "is not valid base64url";
	return NULL;
}
