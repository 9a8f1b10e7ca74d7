/*
 * The synchronous face of the database, for the admin CLI, migrations
 * and tests: one statement at a time, results as text. The daemon's
 * asynchronous connection is store.h; its store_exec() hands rows back
 * as a struct db_res, read with the functions below.
 */
#ifndef INBOXD_DB_H
#define INBOXD_DB_H

struct db;
struct db_res;

/* NULL and a malloc'd *err on failure. */
struct db *db_open(const char *conninfo, char **err);
void db_close(struct db *db);

/* Runs one statement with text parameters (NULL = SQL NULL). Returns NULL
 * and a malloc'd *err on failure. Statements without rows return an
 * empty result. */
struct db_res *db_query(struct db *db, const char *sql, int nparams,
    const char *const *params, char **err);
int db_ntuples(const struct db_res *r);
int db_nfields(const struct db_res *r);
const char *db_fname(const struct db_res *r, int col);
const char *db_value(const struct db_res *r, int row, int col); /* NULL: NULL */
const char *db_cmd_tuples(const struct db_res *r); /* rows affected */
void db_res_free(struct db_res *r);

/* Runs a script of several statements without parameters (a migration
 * file, BEGIN, COMMIT). Returns 0, or -1 and a malloc'd *err. */
int db_exec_script(struct db *db, const char *sql, char **err);

/* Waits up to timeout_ms for a notification on a LISTENed channel.
 * Returns 1 and malloc'd channel/payload, 0 on timeout, -1 on error. */
int db_wait_notify(
    struct db *db, int timeout_ms, char **channel, char **payload);

#endif
