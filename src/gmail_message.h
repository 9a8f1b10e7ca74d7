/*
 * Gmail's answers made into what the store takes (gmail_message.c).
 */
#ifndef INBOXD_GMAIL_MESSAGE_H
#define INBOXD_GMAIL_MESSAGE_H

#include <jansson.h>

struct ingest_batch;

/*
 * An answer's historyId as a string, malloc'd; unchecked, or "(not a
 * string)" when it is neither a string nor an integer. NULL without one.
 */
char *gmail_history_id_of(json_t *j);

/*
 * What makes an answer of messages.get?format=raw unfit to store, in
 * words, malloc'd ("raw is not valid base64url"); NULL when nothing does.
 */
char *gmail_message_problem(json_t *j);

/* Adds the message of an answer found fit to batch b. */
void gmail_message_add(struct ingest_batch *b, const char *id, json_t *j);

#endif
