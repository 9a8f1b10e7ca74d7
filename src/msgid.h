/*
 * Message-ID parsing, robust to real-world header values: angle
 * brackets, folding, comments and junk between ids, missing brackets.
 *
 * Ids are returned normalized, the form every lookup compares: without
 * angle brackets and white space, the domain part (after the last '@')
 * in lower case, the local part as written. Domains are
 * case-insensitive (RFC 5321 2.4) while a local part need not be, so
 * "<Ab@X.Example>" and "Ab@x.example" are one id and "ab@x.example" is
 * another. sql/010_msgid_lookup.sql has the same rule in SQL
 * (inboxd.msgid_norm()) for ids other applications write.
 */
#ifndef INBOXD_MSGID_H
#define INBOXD_MSGID_H

#include <stddef.h>

/* Longer ids are cut to this many bytes, so that they always fit a
 * database index entry. */
#define MSGID_MAX_LEN 512

/* The first id in a Message-ID / In-Reply-To value, or NULL. */
char *msgid_parse_one(const char *value);

/* Every id in a References / In-Reply-To value, in order, duplicates
 * removed. Returns the count; *out is a malloc'd array of malloc'd
 * strings (NULL when the count is 0). */
size_t msgid_parse_list(const char *value, char ***out);

/* A stable synthetic id for a message without Message-ID, derived from
 * its content: "synthetic-<sha256 hex>@inboxd". */
char *msgid_synthetic(const char *from, const char *date, const char *subject,
    const char *body, size_t body_len);

/* Lower-cases the domain part of an id in place (ASCII only, as
 * inboxd.msgid_norm() does). */
void msgid_fold_domain(char *id);

void msgid_list_free(char **ids, size_t n);

/* Moves the ids of more[0..nmore) that *ids[0..n) lacks to its end and
 * frees the rest along with the more array. Returns the new count. */
size_t msgid_list_merge(char ***ids, size_t n, char **more, size_t nmore);

#endif
