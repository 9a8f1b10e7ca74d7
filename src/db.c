/*
 * The synchronous database API: a blocking connection for the admin
 * CLI, migrations and tests.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_int.h"
#include "log.h"
#include "util.h"

bool
db_result_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* libpq messages end with a newline; logs want one line. */
char *
db_error_text(const char *msg)
{
	char *s = xstrdup(msg ? msg : "unknown error");

	s[strcspn(s, "\n")] = '\0';
	return s;
}

void
db_notice_quiet(void *arg, const char *msg)
{
	log_debug("postgres: %.*s", (int)strcspn(msg, "\n"), msg);
}

struct db *
db_open(const char *conninfo, char **err)
{
	struct db *db;
	PGconn *conn = PQconnectdb(conninfo);

	if (PQstatus(conn) != CONNECTION_OK) {
		char *why = db_error_text(PQerrorMessage(conn));

		*err = xasprintf("cannot connect to the database: %s", why);
		free(why);
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, db_notice_quiet, NULL);
	db = xcalloc(1, sizeof(*db));
	db->conn = conn;
	return db;
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	PQfinish(db->conn);
	free(db);
}

struct db_res *
db_query(struct db *db, const char *sql, int nparams, const char *const *params,
    char **err)
{
	struct db_res *r;
	PGresult *res;

	res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (!db_result_ok(res)) {
		*err = db_error_text(PQresultErrorMessage(res));
		PQclear(res);
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->res = res;
	return r;
}

int
db_ntuples(const struct db_res *r)
{
	return PQntuples(r->res);
}

int
db_nfields(const struct db_res *r)
{
	return PQnfields(r->res);
}

const char *
db_fname(const struct db_res *r, int col)
{
	return PQfname(r->res, col);
}

const char *
db_value(const struct db_res *r, int row, int col)
{
	if (PQgetisnull(r->res, row, col))
		return NULL;
	return PQgetvalue(r->res, row, col);
}

const char *
db_cmd_tuples(const struct db_res *r)
{
	return PQcmdTuples(r->res);
}

void
db_res_free(struct db_res *r)
{
	if (r == NULL)
		return;
	PQclear(r->res);
	free(r);
}

/* The simple query protocol, which allows several statements. */
int
db_exec_script(struct db *db, const char *sql, char **err)
{
	PGresult *res = PQexec(db->conn, sql);
	bool ok = db_result_ok(res);

	if (!ok)
		*err = db_error_text(PQresultErrorMessage(res));
	PQclear(res);
	return ok ? 0 : -1;
}

int
db_wait_notify(struct db *db, int timeout_ms, char **channel, char **payload)
{
	int64_t deadline = mono_msec() + timeout_ms;

	for (;;) {
		PGnotify *n;
		struct pollfd pfd;
		int64_t left;

		if (PQconsumeInput(db->conn) == 0)
			return -1;
		if ((n = PQnotifies(db->conn)) != NULL) {
			*channel = xstrdup(n->relname);
			*payload = xstrdup(n->extra);
			PQfreemem(n);
			return 1;
		}
		left = deadline - mono_msec();
		if (left <= 0)
			return 0;
		pfd.fd = PQsocket(db->conn);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR)
			return -1;
	}
}
