/*
 * Secret files: passwords, tokens and keys live in files of their own,
 * which are checked before they are read (secret.c says how).
 */
#ifndef INBOXD_SECRET_H
#define INBOXD_SECRET_H

#include <stdbool.h>

/*
 * The secret in path (malloc'd), or NULL and a malloc'd *why. With
 * one_line (a password, a token), one trailing newline is dropped and
 * any other newline, CR or NUL is refused: it would cut the secret
 * short where it is used. Without (a JSON key file), the contents come
 * whole; a NUL is still refused.
 */
char *secret_read(const char *path, bool one_line, char **why);

/* Wipes a secret string, then frees it; NULL is fine. */
void free_secret(char *s);

#endif
