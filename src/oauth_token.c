/*
 * What a token endpoint answers, read apart from the refresh that asks
 * (oauth.c): an access token and its lifetime, or an error. Google's
 * shapes; other servers may say less.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "oauth_token.h"
#include "util.h"

char *
oauth_token_read(const char *body, size_t len, long long *expires_in)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	const char *token =
	    json_string_value(json_object_get(j, "access_token"));
	char *copy = NULL;

	*expires_in = json_integer_value(json_object_get(j, "expires_in"));
	if (token != NULL && *token != '\0')
		copy = xstrdup(token);
	/* The token is a secret: no copy of it is left behind. */
	if (token != NULL)
		explicit_bzero((char *)token, strlen(token));
	json_decref(j);
	return copy;
}

/* Google's token errors: {"error": "invalid_grant", "error_description":
 * "..."}. */
char *
oauth_token_error(const char *body, size_t len)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	const char *code = json_string_value(json_object_get(j, "error"));
	const char *desc =
	    json_string_value(json_object_get(j, "error_description"));
	char *s;

	if (code != NULL)
		s = xasprintf(
		    "%s%s%s", code, desc ? ": " : "", desc ? desc : "");
	else
		s = xstrdup("no error description");
	json_decref(j);
	return s;
}
