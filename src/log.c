/*
 * Logging to stderr. Under systemd, journald reads stderr and adds the
 * time and unit; a "<N>" prefix carries the syslog priority. Elsewhere
 * a line begins with the time.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <glib.h>

#include "log.h"

static enum log_level cur_level = LOG_LEVEL_INFO;
static int use_prefix;
/* Names the program on stderr: inboxctl shares this logger. */
static const char *progname = "inboxd";
static bool use_time;

static const struct {
	const char *name;
	int syslog_prio;
} levels[] = {
    [LOG_LEVEL_ERROR] = {"error", 3},
    [LOG_LEVEL_WARN] = {"warning", 4},
    [LOG_LEVEL_INFO] = {"info", 6},
    [LOG_LEVEL_DEBUG] = {"debug", 7},
};

void
log_init(enum log_level level, int with_prefix)
{
	cur_level = level;
	use_prefix = with_prefix;
}

void
log_set_name(const char *name)
{
	progname = name;
}

void
log_set_timestamps(bool on)
{
	use_time = on;
}

/*
 * JOURNAL_STREAM ("device:inode") names the stream journald reads; it
 * may be inherited by a process whose stderr is something else (a
 * shell started from a service), so it counts only when it is stderr.
 */
bool
log_stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (v == NULL || sscanf(v, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_set_level(enum log_level level)
{
	cur_level = level;
}

enum log_level
log_get_level(void)
{
	return cur_level;
}

int
log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (g_ascii_strcasecmp(name, levels[i].name) == 0 ||
		    (i == LOG_LEVEL_WARN &&
			g_ascii_strcasecmp(name, "warn") == 0)) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* "2026-01-02T03:04:05.678Z ": the UTC time, to the millisecond. */
static void
format_time(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char day[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, size, "%s.%03ldZ ", day, ts.tv_nsec / 1000000);
}

/* One line: msg, and ": error" when error is not NULL. */
static void
emit(enum log_level level, const char *msg, const char *error)
{
	char when[64] = "";

	if (use_prefix) {
		fprintf(stderr, "<%d>%s%s%s\n", levels[level].syslog_prio, msg,
		    error ? ": " : "", error ? error : "");
		return;
	}
	if (use_time)
		format_time(when, sizeof(when));
	fprintf(stderr, "%s%s: %s: %s%s%s\n", when, progname,
	    levels[level].name, msg, error ? ": " : "", error ? error : "");
}

void
vlog_at(enum log_level level, const char *fmt, va_list ap)
{
	char line[4096];
	int saved = errno;

	if (level > cur_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	emit(level, line, NULL);
	errno = saved;
}

static LOG_PRINTF(2, 0) void vlog_errno(
    enum log_level level, const char *fmt, va_list ap)
{
	char msg[4096];
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	errno = saved;
	if (level <= cur_level)
		emit(level, msg, strerror(saved));
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_at(LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_at(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_at(LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_at(LOG_LEVEL_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_at(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

static void
libevent_log(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	default:
		log_warnx("libevent: %s", msg);
		break;
	}
}

static void
glib_log(
    const gchar *domain, GLogLevelFlags flags, const gchar *msg, gpointer data)
{
	const char *d = domain ? domain : "glib";

	if (flags &
	    (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
		log_warnx("%s: %s", d, msg);
	else if (flags & G_LOG_LEVEL_DEBUG)
		log_debug("%s: %s", d, msg);
	else
		log_info("%s: %s", d, msg);
}

/* Sends libevent's and GLib's (hence GMime's) messages through us. */
void
log_route_libraries(void)
{
	event_set_log_callback(libevent_log);
	g_log_set_default_handler(glib_log, NULL);
}
