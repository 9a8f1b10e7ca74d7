/*
 * A client of Cloud Pub/Sub's REST API for one pull subscription:
 * projects.subscriptions.pull, acknowledge and modifyAckDeadline, with
 * access tokens from oauth.c (a service account with the pubsub scope),
 * and the decoding of what Gmail publishes there. It knows nothing of
 * accounts: gmail_push.c decides what each message means.
 */
#ifndef INBOXD_PUBSUB_H
#define INBOXD_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct account_conf;
struct event_base;
struct http;
struct pubsub;

#define OAUTH_SCOPE_PUBSUB "https://www.googleapis.com/auth/pubsub"

/* The answer of one request; valid during the callback only. */
struct pubsub_result {
	long status; /* HTTP status; 0 when no answer came */
	json_t *json; /* the answer (or Google's error), or NULL */
	const char *error; /* why, when status is 0 */
};

typedef void pubsub_done_fn(const struct pubsub_result *res, void *arg);

/*
 * subscription: "projects/P/subscriptions/S", at api_base
 * ("https://pubsub.googleapis.com"); auth names the service account's
 * key and token endpoint, and must outlive the client.
 */
struct pubsub *pubsub_new(struct event_base *base, struct http *http,
    const char *api_base, const char *subscription,
    const struct account_conf *auth);
/* Drops every request without calling back. */
void pubsub_free(struct pubsub *p);

/* Asks for up to max messages; the server may hold the request open
 * until one arrives. */
void pubsub_pull(struct pubsub *p, int max, pubsub_done_fn *done, void *arg);
/* Acknowledges messages: Pub/Sub no longer delivers them. */
void pubsub_ack(struct pubsub *p, const char *const *ack_ids, size_t n,
    pubsub_done_fn *done, void *arg);
/* Sets the messages' ack deadline to seconds from now; 0 hands them
 * back for delivery to another subscriber at once. */
void pubsub_modify_deadline(struct pubsub *p, const char *const *ack_ids,
    size_t n, int seconds, pubsub_done_fn *done, void *arg);

/* Whether the answer is a success (2xx). */
bool pubsub_result_ok(const struct pubsub_result *res);
/* A failure in words, malloc'd: "pull: HTTP 404: NOT_FOUND: ...". */
char *pubsub_result_why(const char *verb, const struct pubsub_result *res);

#endif
