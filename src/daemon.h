/*
 * Process plumbing: signals through libevent, systemd notification
 * (READY, RELOADING, STOPPING, STATUS, WATCHDOG), the periodic status
 * line.
 */
#ifndef INBOXD_DAEMON_H
#define INBOXD_DAEMON_H

#include <stdbool.h>

struct event_base;

struct daemon_hooks {
	void (*reload)(void); /* SIGHUP */
	void (*shutdown)(void); /* first SIGTERM or SIGINT */
	void (*status)(char *buf, int len); /* one-line summary */
};

/* From the start of main until daemon_setup: SIGTERM and SIGINT exit 0. */
void daemon_early_signals(void);
void daemon_setup(struct event_base *base, const struct daemon_hooks *h);
void daemon_teardown(void);

/* Sends a state string to systemd when NOTIFY_SOCKET is set. */
void daemon_notify(const char *state);
/* Sends STATUS= with the one-line summary now. */
void daemon_status_now(void);
void daemon_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
