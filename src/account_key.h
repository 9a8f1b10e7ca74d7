/*
 * The account key on disk: the private key that decrypts database
 * accounts' secrets, a file of the secrets directory (accounts.key)
 * that only the daemon's user may read. inboxctl keygen and rekey
 * write it; the daemon reads it each time it reads the accounts, so
 * that a new key needs no restart.
 */
#ifndef INBOXD_ACCOUNT_KEY_H
#define INBOXD_ACCOUNT_KEY_H

#include <stdbool.h>

struct pgp_key;

/* dir/accounts.key (malloc'd). */
char *account_key_path(const char *dir);

/* The key in dir, or NULL and a malloc'd *why that says what to do. */
struct pgp_key *account_key_load(const char *dir, char **why);

/*
 * Writes pem to path, mode 0600, created anew (a file left
 * over is replaced); owned by the inboxd user when run as root and the
 * user exists. Returns 0, or -1 and a malloc'd *why.
 */
int account_key_write(const char *path, const char *pem, char **why);

#endif
