/*
 * Small helpers shared by every module: allocation that cannot fail
 * (out of memory is fatal in a daemon), strings, time, growable buffers.
 */
#ifndef INBOXD_UTIL_H
#define INBOXD_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

/* Growable byte buffer; data is always NUL-terminated. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
void buf_init(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
/* Room for exactly extra more bytes, when the size is known ahead. */
void buf_reserve_exact(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_appends(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
char *buf_steal(struct buf *b);

/* Lower-case an ASCII string in place; returns it. */
char *str_lower(char *s);
/* Strip leading and trailing ASCII whitespace in place; returns s. */
char *str_trim(char *s);
bool str_iequal(const char *a, const char *b);

/* Wall clock in microseconds since the epoch, and monotonic milliseconds. */
int64_t now_usec(void);
int64_t mono_msec(void);

/* A random RFC 4122 version 4 UUID in its 36-character text form. */
void uuid_generate_text(char out[37]);

/* Read a whole small file (secrets, SQL); NULL and errno set on failure. */
char *file_read_all(const char *path, size_t *len);

struct event;

/* Arms a libevent timer (or any event) to fire after ms milliseconds. */
void timer_add_ms(struct event *ev, int64_t ms);

/* Exponential backoff with full jitter: base * 2^attempt capped at max. */
unsigned backoff_msec(unsigned attempt, unsigned base_ms, unsigned max_ms);

#endif
