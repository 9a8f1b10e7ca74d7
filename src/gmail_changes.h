/*
 * The label changes of one history span (gmail_changes.c, pure): what
 * history.list says, page after page, kept by the Gmail driver until
 * it applies them with the cursor that covers them; and which messages
 * the span deleted, which the pass does not fetch.
 */
#ifndef INBOXD_GMAIL_CHANGES_H
#define INBOXD_GMAIL_CHANGES_H

#include <stdbool.h>

#include <jansson.h>

#include "source.h"

struct gmail_changes;

struct gmail_changes *gmail_changes_new(void);
void gmail_changes_free(struct gmail_changes *g);

/* Keeps the changes an answer of history.list tells, after those of
 * the pages before it. */
void gmail_changes_read(struct gmail_changes *g, json_t *answer);

/* The changes kept, in order; valid until the next read or free. */
const struct source_label_changes *gmail_changes_list(
    const struct gmail_changes *g);

/* Whether the span deleted message id. */
bool gmail_changes_deleted(const struct gmail_changes *g, const char *id);

#endif
