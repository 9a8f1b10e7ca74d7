/*
 * Schema migrations: the numbered files of sql/, applied in order over
 * a synchronous connection (db.h).
 */
#ifndef INBOXD_MIGRATE_H
#define INBOXD_MIGRATE_H

struct db;

/*
 * Applies the pending migrations of sqldir (files NNN_name.sql, in
 * order), each in its own transaction, under an advisory lock so that
 * daemons starting together do not race. Returns the number applied, or
 * -1 with *err set.
 */
int db_migrate(struct db *db, const char *sqldir, char **err);

/* The migrations directory: $INBOXD_SQL_DIR, else the installed one. */
const char *db_sql_dir(void);

#endif
