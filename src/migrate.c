/*
 * Schema migrations. Each file runs in its own transaction together
 * with the row that records it, so a failed file leaves no trace and is
 * tried again on the next start.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "migrate.h"
#include "util.h"

const char *
db_sql_dir(void)
{
	const char *d = getenv("INBOXD_SQL_DIR");

	return d && *d ? d : INBOXD_SQLDIR;
}

static int
migration_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 4 && d->d_name[0] >= '0' && d->d_name[0] <= '9' &&
	    strcmp(d->d_name + n - 4, ".sql") == 0;
}

/* Runs one statement whose rows do not matter. */
static int
exec_quiet(struct db *db, const char *sql, int n, const char *const *params,
    char **err)
{
	struct db_res *r = db_query(db, sql, n, params, err);

	db_res_free(r);
	return r == NULL ? -1 : 0;
}

static int
apply_migration(
    struct db *db, const char *dir, const char *file, long version, char **err)
{
	char *path = xasprintf("%s/%s", dir, file), *sql, *why = NULL;
	char vbuf[32];
	const char *params[2] = {vbuf, file};

	if ((sql = file_read_all(path, NULL)) == NULL) {
		*err = xasprintf("cannot read %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	snprintf(vbuf, sizeof(vbuf), "%ld", version);
	/* Tables live in public even when a schema is named like the
	 * role ("$user" comes first in the default search_path). */
	if (db_exec_script(db, "BEGIN", &why) == -1 ||
	    db_exec_script(db, "SET LOCAL search_path = public", &why) == -1 ||
	    db_exec_script(db, sql, &why) == -1 ||
	    exec_quiet(db,
		"INSERT INTO public.schema_migrations (version, name) "
		"VALUES ($1, $2)",
		2, params, &why) == -1 ||
	    db_exec_script(db, "COMMIT", &why) == -1)
		goto fail;
	log_info("applied migration %s", file);
	free(sql);
	free(path);
	return 0;
fail:
	*err = xasprintf("migration %s failed: %s", path, why);
	free(why);
	why = NULL;
	db_exec_script(db, "ROLLBACK", &why);
	free(why);
	free(sql);
	free(path);
	return -1;
}

/* Whether the migration of this version is recorded: 1, 0, or -1. */
static int
migration_applied(struct db *db, long version, char **err)
{
	char vbuf[32];
	const char *params[1] = {vbuf};
	struct db_res *r;
	int found;

	snprintf(vbuf, sizeof(vbuf), "%ld", version);
	r = db_query(db,
	    "SELECT 1 FROM public.schema_migrations"
	    " WHERE version = $1",
	    1, params, err);
	if (r == NULL)
		return -1;
	found = db_ntuples(r) > 0;
	db_res_free(r);
	return found;
}

/* Applies the files not yet recorded; the number applied, or -1. */
static int
apply_pending(struct db *db, const char *dir, char **err)
{
	struct dirent **list = NULL;
	int n, applied = 0, failed = 0;

	if ((n = scandir(dir, &list, migration_filter, alphasort)) == -1) {
		*err = xasprintf(
		    "cannot read migrations in %s: %s", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		long version = strtol(list[i]->d_name, NULL, 10);
		int found;

		if (!failed) {
			found = migration_applied(db, version, err);
			if (found == -1 ||
			    (found == 0 &&
				apply_migration(db, dir, list[i]->d_name,
				    version, err) == -1))
				failed = 1;
			else if (found == 0)
				applied++;
		}
		free(list[i]);
	}
	free(list);
	return failed ? -1 : applied;
}

/* An arbitrary constant: the advisory lock key of migrations. */
#define MIGRATION_LOCK "7305511062374101"

int
db_migrate(struct db *db, const char *dir, char **err)
{
	char *ignored = NULL;
	int applied = -1;

	if (exec_quiet(db, "SELECT pg_advisory_lock(" MIGRATION_LOCK ")", 0,
		NULL, err) == -1)
		return -1;
	if (exec_quiet(db,
		"CREATE TABLE IF NOT EXISTS public.schema_migrations ("
		"version integer PRIMARY KEY, name text NOT NULL, "
		"applied_at timestamptz NOT NULL DEFAULT now())",
		0, NULL, err) == 0)
		applied = apply_pending(db, dir, err);
	/* On failure *err already says why; an unlock error adds nothing. */
	exec_quiet(db, "SELECT pg_advisory_unlock(" MIGRATION_LOCK ")", 0, NULL,
	    applied == -1 ? &ignored : err);
	free(ignored);
	return applied;
}
