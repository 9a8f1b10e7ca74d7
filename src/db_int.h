/*
 * What the libpq files of the store layer (db.c, store*.c) share. Only
 * they include this header; everything else sees db.h and store.h.
 */
#ifndef INBOXD_DB_INT_H
#define INBOXD_DB_INT_H

#include <stdbool.h>

#include <libpq-fe.h>

struct db {
	PGconn *conn;
};

/* Rows of a statement: what db_query() returns and store_exec() lends. */
struct db_res {
	PGresult *res;
};

/* The statement succeeded, with or without rows. */
bool db_result_ok(const PGresult *res);
/* libpq's message on one line (malloc'd); NULL reads "unknown error". */
char *db_error_text(const char *msg);
/* A notice processor that logs server notices at debug level. */
void db_notice_quiet(void *arg, const char *msg);

#endif
