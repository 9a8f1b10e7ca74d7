/*
 * Signals, systemd notification and the periodic status line.
 *
 * The first SIGTERM asks for a clean stop (the batch in flight is
 * committed); a second one exits at once.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

static struct {
	struct event_base *base;
	struct daemon_hooks hooks;
	struct event *sigterm, *sigint, *sighup, *sigpipe;
	struct event *watchdog;
	struct event *status;
	bool stopping;
} D;

void
daemon_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	int fd;

	if (path == NULL || *path == '\0')
		return;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("NOTIFY_SOCKET path too long");
		return;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	/* A leading '@' names a socket in the abstract namespace. */
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	len =
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("notify socket");
		return;
	}
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		(struct sockaddr *)&sun, len) == -1)
		log_warn("notify %s", path);
	close(fd);
}

void
daemon_notifyf(const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	daemon_notify(buf);
}

/*
 * Before the loop runs (configuration, migrations) nothing is held that
 * a stop must put back: a SIGTERM or SIGINT then ends the process at
 * once, with status 0 as after any stop that was asked for. A SIGHUP has
 * nothing to reload yet. daemon_setup replaces these handlers.
 */
static void
on_early_term(int sig)
{
	static const char msg[] =
	    "inboxd: stopped by a signal before start-up finished\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(0);
}

void
daemon_early_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_early_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
}

static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	if (D.stopping) {
		log_warnx("second signal %d: exiting now", (int)sig);
		_exit(1);
	}
	D.stopping = true;
	log_info(
	    "signal %d: finishing the batch in flight, then exiting", (int)sig);
	daemon_notify("STOPPING=1");
	if (D.hooks.shutdown)
		D.hooks.shutdown();
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	if (D.stopping)
		return;
	daemon_notifyf(
	    "RELOADING=1\nMONOTONIC_USEC=%lld", (long long)mono_msec() * 1000);
	if (D.hooks.reload)
		D.hooks.reload();
	daemon_notify("READY=1");
	daemon_status_now();
}

void
daemon_status_now(void)
{
	char line[256];

	if (D.hooks.status == NULL)
		return;
	D.hooks.status(line, sizeof(line));
	daemon_notifyf("STATUS=%s", line);
	log_info("status: %s", line);
}

static void
on_status(evutil_socket_t fd, short what, void *arg)
{
	daemon_status_now();
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	daemon_notify("WATCHDOG=1");
}

/* Half the interval systemd expects, as sd_watchdog_enabled advises. */
static void
setup_watchdog(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	long long us;

	if (usec == NULL)
		return;
	if (pid != NULL && atol(pid) != (long)getpid())
		return;
	us = atoll(usec) / 2;
	if (us <= 0)
		return;
	D.watchdog = event_new(D.base, -1, EV_PERSIST, on_watchdog, NULL);
	timer_add_ms(D.watchdog, us / 1000);
}

void
daemon_setup(struct event_base *base, const struct daemon_hooks *h)
{
	D.base = base;
	D.hooks = *h;
	D.sigterm = evsignal_new(base, SIGTERM, on_term, NULL);
	D.sigint = evsignal_new(base, SIGINT, on_term, NULL);
	D.sighup = evsignal_new(base, SIGHUP, on_hup, NULL);
	event_add(D.sigterm, NULL);
	event_add(D.sigint, NULL);
	event_add(D.sighup, NULL);
	/* A peer closing a socket must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	setup_watchdog();
	D.status = event_new(base, -1, EV_PERSIST, on_status, NULL);
	timer_add_ms(D.status, 60 * 1000);
}

void
daemon_teardown(void)
{
	struct event **evs[] = {
	    &D.sigterm, &D.sigint, &D.sighup, &D.watchdog, &D.status};

	for (size_t i = 0; i < nitems(evs); i++) {
		if (*evs[i]) {
			event_free(*evs[i]);
			*evs[i] = NULL;
		}
	}
}
