/*
 * Inside the configuration loader: config.c reads the file and its
 * values, config_check.c checks what one value cannot say alone. Both
 * report through config_error(), which keeps every error.
 */
#ifndef INBOXD_CONFIG_INT_H
#define INBOXD_CONFIG_INT_H

struct config;

/* Appends "path:line: [group] key: why" to *err (a line of its own);
 * with a NULL path (a database account), "key: why". */
void config_error_at(char **err, const char *path, int line, const char *group,
    const char *key, const char *why);
/* The same, with the line where group (and key) was written. */
void config_error(char **err, const char *path, const char *group,
    const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The same as a warning: c->warnings, and loading goes on. */
void config_warning(struct config *c, const char *group, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Why url may not receive tokens, or NULL when it may. */
const char *config_check_url(const char *url);
/* Keys and groups given twice in the file at path. */
void config_check_duplicates(const char *path, char **err);
void config_check_metrics_listen(struct config *c, char **err);
/* [gmail]'s Pub/Sub keys: names of the right shape, both or neither,
 * and a key to subscribe with. */
void config_check_pubsub(struct config *c, char **err);
/* A password in the conninfo of a file others can read; the passfile
 * as libpq will judge it. */
void config_check_conninfo(struct config *c, char **err);

#endif
