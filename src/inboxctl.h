/*
 * What the commands of inboxctl share (inboxctl.c), and the commands
 * that live in files of their own: the account key (ctl_key.c) and
 * database accounts (ctl_account.c).
 */
#ifndef INBOXD_INBOXCTL_H
#define INBOXD_INBOXCTL_H

struct config;
struct db;

/* The configuration inboxctl was given. */
const struct config *ctl_config(void);

/* Prints "inboxctl: ..." and a hint, and exits with status 2. */
__attribute__((noreturn, format(printf, 1, 2))) void ctl_usage_error(
    const char *fmt, ...);
/* Prints "inboxctl: what: err", frees err; returns 1. */
int ctl_db_error(const char *what, char *err);
/* Runs a query and prints its rows as a table; 0 or 1. age_cols: a bit
 * per column to print as an age. */
int ctl_query_print(struct db *db, const char *what, const char *sql,
    int nparams, const char *const *params, unsigned age_cols);

int cmd_keygen(struct db *db, int argc, char **argv);
int cmd_rekey(struct db *db, int argc, char **argv);
int cmd_account(struct db *db, int argc, char **argv);

#endif
