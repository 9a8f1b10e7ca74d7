/*
 * The source interface: where mail comes from. IMAP, Gmail and mailbox
 * import are drivers of this one interface; the account manager and the
 * pipeline never ask which. Every call is asynchronous and reports once
 * through its callback.
 */
#ifndef INBOXD_SOURCE_H
#define INBOXD_SOURCE_H

#include <stdbool.h>

struct account_conf;
struct event_base;
struct http;

struct source_env {
	struct event_base *base;
	struct http *http;
	const struct account_conf *conf;
	int account_id;
	const char *path; /* mailbox import: an mbox file or Maildir */
};

struct source;

typedef void source_done_fn(bool ok, const char *error, void *arg);
typedef void source_wake_fn(void *arg);

struct source_ops {
	const char *type;
	struct source *(*create)(const struct source_env *env);
	/* One pass: every folder, every pending message, committed. */
	void (*sync)(struct source *s, source_done_fn *done, void *arg);
	/* Finish the batch in flight, start nothing new; the pending sync
	 * then reports. */
	void (*stop)(struct source *s);
	/* Optional push: call wake when new mail may have arrived. */
	void (*watch)(struct source *s, source_wake_fn *wake, void *arg);
	void (*destroy)(struct source *s);
};

extern const struct source_ops source_imap_ops;
extern const struct source_ops source_mbox_ops;
extern const struct source_ops source_gmail_ops;

#endif
