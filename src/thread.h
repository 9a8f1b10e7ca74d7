/*
 * Threading and reply status, as a pure function (SPEC 4).
 *
 * The store looks up what the database already knows about the ids a
 * batch mentions (conversations and the links from ids to them), hands
 * that and the batch to thread_plan(), and writes the plan back in the
 * same transaction. Nothing here does I/O, so every rule is unit-tested.
 *
 * Conversation membership is the connected components of the graph whose
 * nodes are message ids (seen or "ghost") and whose edges join a message
 * to every id it references; a Gmail thread id and, when enabled, a
 * subject key are extra nodes. That makes the partition independent of
 * arrival order.
 */
#ifndef INBOXD_THREAD_H
#define INBOXD_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum conv_status {
	CONV_ACTIVE = 0,
	CONV_NEEDS_REPLY,
	CONV_WAITING,
	CONV_ARCHIVED,
};

const char *conv_status_name(enum conv_status s); /* "needs_reply" */
int conv_status_parse(const char *name, enum conv_status *out); /* 0 ok */

/* A conversation: one already stored (id set) or one the plan creates. */
struct thr_conv {
	/* Input, for stored conversations. */
	char id[37]; /* UUID text; "" for a new conversation */
	int64_t created_at; /* microseconds; orders merges */
	enum conv_status status; /* as stored */
	int64_t last_human_at; /* sent_at of its latest human message,
	                            INT64_MIN when it has none */
	bool last_human_outbound;
	int64_t last_message_at; /* INT64_MIN when it has no message */
	int64_t last_bounce_at; /* sent_at of its latest failure notice
	                            about our mail, INT64_MIN when none */

	/* Output. */
	bool is_new; /* created by this plan */
	int merged_into; /* survivor's index, or -1 */
	bool touched; /* a batch message joined it, or a merge */
	enum conv_status new_status;
	const char *new_reason; /* static text for status_reason */
	int64_t new_last_human_at;
	bool new_last_human_outbound;
	int64_t new_last_message_at;
	int64_t new_last_bounce_at;
	int first_msg; /* for a new one: index of its earliest
	                            batch message (subject, counterparty) */
};

/* One message of the batch. */
struct thr_msg {
	/* Input. */
	const char *message_id; /* never NULL */
	const char *const *refs; /* ids it references */
	size_t n_refs;
	const char *gmail_thread_id; /* or NULL */
	const char *subject_key; /* normalized subject + counterparty when
	                                subject threading is on, else NULL */
	int64_t sent_at; /* seconds */
	bool outbound;
	bool automated;
	const char *bounce_reason; /* an automated notice that delivery of
	                                our mail failed: the status_reason
	                                it gives ("delivery to X failed:
	                                ..."), else NULL */
	bool duplicate; /* already stored: joins nothing new, is
	                                not inserted, queues nothing */

	/* Output. */
	int conv; /* index of its (surviving) conversation */
	bool suggest_reply; /* queue a suggest_reply job for it */
};

/* A fact from the database: this key already belongs to conversation
 * convs[conv]. Keys are message ids, "gmail-thread:" + id, or
 * "subject:" + subject_key (only for conversations inside the window). */
struct thr_link {
	const char *key;
	int conv;
};

struct thr_merge {
	int from; /* index of the conversation merged away */
	int into; /* index of the survivor */
};

struct thr_plan {
	struct thr_conv *convs; /* the stored ones given, then new ones */
	size_t n_convs;
	struct thr_merge *merges;
	size_t n_merges;
};

/*
 * Places every message of the batch. convs/n_convs are the stored
 * conversations the links point at (copied into the plan); links maps
 * known keys to them. subject_window is in seconds (0: no subject
 * threading). Fills msgs[i].conv and msgs[i].suggest_reply and returns
 * a plan to free with thread_plan_free().
 */
struct thr_plan *thread_plan(struct thr_msg *msgs, size_t n_msgs,
    const struct thr_conv *convs, size_t n_convs, const struct thr_link *links,
    size_t n_links, int64_t subject_window);
void thread_plan_free(struct thr_plan *p);

/* Subject normalized for threading: Re:/Fwd:/AW:/SV:/[list] prefixes
 * stripped, whitespace collapsed, lower-cased. malloc'd. */
char *thread_subject_normalize(const char *subject);

#endif
