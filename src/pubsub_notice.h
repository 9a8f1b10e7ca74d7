/*
 * What Gmail publishes on Pub/Sub, decoded: a pull answer's received
 * messages, and a message's data, the mailbox that changed and its
 * historyId. Pure: no I/O.
 */
#ifndef INBOXD_PUBSUB_NOTICE_H
#define INBOXD_PUBSUB_NOTICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* What Gmail publishes: the mailbox that changed and its history now. */
struct pubsub_notice {
	char *email; /* malloc'd */
	uint64_t history_id;
};

/*
 * Decodes a message's data (base64, standard or URL-safe alphabet,
 * padded or not) holding {"emailAddress": "...", "historyId": N}.
 * False, with a malloc'd *why, when it is anything else.
 */
bool pubsub_notice_decode(
    const char *data, struct pubsub_notice *n, char **why);
void pubsub_notice_clear(struct pubsub_notice *n);

/* ack_id is never NULL; message_id ("" when missing) names the message
 * across deliveries; data is NULL when the message has none. */
typedef void pubsub_received_fn(
    const char *ack_id, const char *message_id, const char *data, void *arg);

/*
 * Calls fn for each of a pull answer's receivedMessages that has an
 * ackId; returns how many entries had none (they cannot be answered).
 */
size_t pubsub_received(json_t *answer, pubsub_received_fn *fn, void *arg);

#endif
