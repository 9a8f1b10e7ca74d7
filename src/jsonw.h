/*
 * A small JSON text writer for the hot path: message bodies go to the
 * database as JSON, and a general-purpose library spends most of its
 * time validating and escaping them one character at a time. Input
 * strings must already be valid UTF-8 (mime.c guarantees it).
 */
#ifndef INBOXD_JSONW_H
#define INBOXD_JSONW_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/* A JSON string literal for s, or null when s is NULL. */
void jsonw_str(struct buf *b, const char *s);
/* "key": — for objects written by hand. */
void jsonw_key(struct buf *b, const char *key, bool first);
void jsonw_int(struct buf *b, int64_t v);
void jsonw_bool(struct buf *b, bool v);
/* Already-serialized JSON, or null when NULL. */
void jsonw_raw(struct buf *b, const char *json);

#endif
