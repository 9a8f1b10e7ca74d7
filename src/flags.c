/*
 * IMAP flags, from the server's list to the store's array. The store
 * sorts the set and merges duplicates (inboxd.normalize_flags in
 * sql/005_location_flags.sql); here the list is only split.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flags.h"
#include "jsonw.h"

static const char SEPARATORS[] = " \t";

static bool
is_recent(const char *f, size_t n)
{
	return n == 7 && strncasecmp(f, "\\Recent", 7) == 0;
}

void
flags_json(struct buf *o, const char *flags)
{
	const char *p = flags;
	size_t n;
	char *one;

	buf_append(o, "[", 1);
	while (p != NULL && *p != '\0') {
		p += strspn(p, SEPARATORS);
		if ((n = strcspn(p, SEPARATORS)) == 0)
			break;
		if (!is_recent(p, n)) {
			one = xstrndup(p, n);
			jsonw_sep(o);
			jsonw_str(o, one);
			free(one);
		}
		p += n;
	}
	buf_append(o, "]", 1);
}
