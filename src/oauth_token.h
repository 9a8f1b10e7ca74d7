/*
 * What a token endpoint answers, read (oauth_token.c, pure).
 */
#ifndef INBOXD_OAUTH_TOKEN_H
#define INBOXD_OAUTH_TOKEN_H

#include <stddef.h>

/*
 * The access_token of a token endpoint's answer body, malloc'd, and in
 * *expires_in its lifetime in seconds (0 when not said); NULL when the
 * body holds none, or an empty one. The parsed copy is wiped.
 */
char *oauth_token_read(const char *body, size_t len, long long *expires_in);

/* The error a token endpoint answered, in words, malloc'd:
 * "invalid_grant: Bad Request", or "no error description". */
char *oauth_token_error(const char *body, size_t len);

#endif
