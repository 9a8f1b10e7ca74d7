/*
 * The IMAP flags of a stored copy. A server sends them as the list
 * inside FLAGS (...), separated by spaces; the store keeps them as a
 * text[] (message_locations.flags), without \Recent, a flag that
 * belongs to one session and would change with every look.
 */
#ifndef INBOXD_FLAGS_H
#define INBOXD_FLAGS_H

#include "util.h"

/* Appends the flags as a JSON array of strings: split on spaces (and
 * tabs), \Recent dropped; NULL or an empty list gives []. */
void flags_json(struct buf *o, const char *flags);

#endif
