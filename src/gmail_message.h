/*
 * Gmail's answers read (gmail_message.c, pure): the historyId of an
 * answer, the messages a listing names, the label changes of a
 * history, a message of
 * messages.get?format=raw checked and decoded, and Google's errors.
 */
#ifndef INBOXD_GMAIL_MESSAGE_H
#define INBOXD_GMAIL_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ingest.h"
#include "source.h"

/*
 * An answer's historyId as a string, malloc'd; unchecked, or "(not a
 * string)" when it is neither a string nor an integer. NULL without one.
 */
char *gmail_history_id_of(json_t *j);

typedef void gmail_id_fn(const char *id, void *arg);

/* Calls fn with the id of each message an answer of history.list says
 * was added to INBOX or SENT, or newly labelled so. Never NULL or "". */
void gmail_history_ids(json_t *j, gmail_id_fn *fn, void *arg);

typedef void gmail_change_fn(const struct source_label_change *c, void *arg);

/*
 * Calls fn with each change an answer of history.list tells, in its
 * order: labelsAdded, labelsRemoved and messagesDeleted entries. An
 * entry without a message id, or with no label id that is a non-empty
 * string, is passed over; so are such label ids. Label ids are taken
 * as Gmail gives them, its own (INBOX, UNREAD) and the user's
 * (Label_12) alike. c and its strings are valid during the call only.
 */
void gmail_history_changes(json_t *j, gmail_change_fn *fn, void *arg);

/* Calls fn with the id of each message an answer of messages.list
 * names. Never NULL or "". */
void gmail_list_ids(json_t *j, gmail_id_fn *fn, void *arg);

/*
 * What makes an answer of messages.get?format=raw unfit to store, in
 * words, malloc'd ("raw is not valid base64url"); NULL when nothing does.
 */
char *gmail_message_problem(json_t *j);

/* A message of an answer found fit, as the store takes it. The strings
 * of meta point into the answer, which must outlive it. */
struct gmail_message {
	char *data; /* the raw message, decoded */
	size_t len;
	const char **labels; /* meta.gmail_labels, NULL-terminated */
	struct ingest_meta meta;
};

/* Reads the message with the given id from an answer; false when its
 * raw form does not decode, which gmail_message_problem() tells first. */
bool gmail_message_read(json_t *j, const char *id, struct gmail_message *m);
void gmail_message_clear(struct gmail_message *m);

/* A 429, or a 403 whose reason is a rate limit. */
bool gmail_is_rate_limited(long status, json_t *j);
/* Google's error answer in words, malloc'd: "HTTP 403: ... (reason r)". */
char *gmail_error_text(long status, json_t *j);

#endif
