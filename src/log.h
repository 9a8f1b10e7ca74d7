/*
 * Logging to stderr with levels; journald adds the rest, elsewhere
 * each line begins with the time.
 * _warn appends strerror(errno), _warnx does not; fatal exits.
 */
#ifndef INBOXD_LOG_H
#define INBOXD_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

void log_init(enum log_level level, int with_prefix);
/* The name on stderr lines without the journald prefix; "inboxd". */
void log_set_name(const char *name);
/* Begin each line with the UTC time (when journald does not add it). */
void log_set_timestamps(bool on);
/* Is stderr the stream journald reads (JOURNAL_STREAM)? */
bool log_stderr_is_journal(void);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_level_parse(const char *name, enum log_level *out);
void log_route_libraries(void);

void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_error(const char *fmt, ...) LOG_PRINTF(1, 2);
void vlog_at(enum log_level level, const char *fmt, va_list ap)
    LOG_PRINTF(2, 0);
__attribute__((noreturn)) void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
__attribute__((noreturn)) void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
