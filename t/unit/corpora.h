/*
 * Where the shared corpora of real mail are: beside the source tree,
 * $top_srcdir/../shared/corpora. Without them the corpus tests skip.
 */
#ifndef INBOXD_T_CORPORA_H
#define INBOXD_T_CORPORA_H

#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "util.h"

static inline bool
corpora_is_dir(const char *path)
{
	struct stat st;

	return path != NULL && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The corpora folder, or its sub folder sub (malloc'd); NULL when it is
 * absent. */
static inline char *
corpora_find(const char *sub)
{
	const char *top = getenv("top_srcdir");
	char *path;

	if (top == NULL || *top == '\0')
		return NULL;
	if (sub != NULL)
		path = xasprintf("%s/../shared/corpora/%s", top, sub);
	else
		path = xasprintf("%s/../shared/corpora", top);
	if (corpora_is_dir(path))
		return path;
	free(path);
	return NULL;
}

#endif
