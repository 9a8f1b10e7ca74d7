/*
 * A small JSON text writer for the hot path: message bodies go to the
 * database as JSON, and a general-purpose library spends most of its
 * time validating and escaping them one character at a time. Input
 * strings should be valid UTF-8 (mime.c makes them so); an ill-formed
 * sequence is written as U+FFFD rather than passed on.
 *
 * Containers are opened and closed by hand ("[", "{"); every element
 * and member writes its own separating comma, so callers keep no
 * "first" flags.
 */
#ifndef INBOXD_JSONW_H
#define INBOXD_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* The comma before an element, unless it is the first of its container. */
void jsonw_sep(struct buf *b);
/* A JSON string literal for s, or null when s is NULL. */
void jsonw_str(struct buf *b, const char *s);
void jsonw_int(struct buf *b, int64_t v);
void jsonw_bool(struct buf *b, bool v);
void jsonw_null(struct buf *b);
/* Already-serialized JSON, or null when NULL. */
void jsonw_raw(struct buf *b, const char *json);
/* An array of n strings. */
void jsonw_strv(struct buf *b, const char *const *v, size_t n);
/* A NULL-terminated array of strings, or null when v is NULL. */
void jsonw_strz(struct buf *b, const char *const *v);

/* "key": inside an object, with its separating comma. */
void jsonw_key(struct buf *b, const char *key);
/* A whole member: "key":value. */
void jsonw_kstr(struct buf *b, const char *key, const char *s);
void jsonw_kint(struct buf *b, const char *key, int64_t v);
void jsonw_kbool(struct buf *b, const char *key, bool v);

#endif
