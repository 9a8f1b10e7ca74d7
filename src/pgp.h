/*
 * The account key: the small part of OpenPGP (RFC 4880) that account
 * secrets need. Apps encrypt a secret in SQL with pgcrypto's
 * pgp_pub_encrypt() and the daemon's public key; only the daemon, which
 * holds the private key in a file, decrypts it, here, with OpenSSL. The
 * private key never reaches the database server.
 *
 * What is read is what pgcrypto writes: a public-key encrypted session
 * key (RSA) and a symmetrically encrypted, integrity protected packet
 * (AES, with its modification detection code) holding one literal data
 * packet. Anything else is refused.
 */
#ifndef INBOXD_PGP_H
#define INBOXD_PGP_H

#include <stddef.h>
#include <stdint.h>

struct pgp_key;

/*
 * A new RSA key of bits bits: *pem is the private key (PKCS#8 PEM, for
 * a 0600 file), *pub the public key as OpenPGP packets (a primary key
 * and an encryption subkey, the form pgp_pub_encrypt() takes). Returns
 * 0, or -1 and a malloc'd *why.
 */
int pgp_keygen(int bits, int64_t created, char **pem, unsigned char **pub,
    size_t *pub_len, char **why);

/* The private key from its PEM text, or NULL and a malloc'd *why. */
struct pgp_key *pgp_key_load(const char *pem, char **why);
void pgp_key_free(struct pgp_key *k);

/*
 * The plaintext of a message pgp_pub_encrypt() wrote for k's public
 * key (malloc'd, NUL-terminated, *len without the NUL), or NULL and a
 * malloc'd *why.
 */
char *pgp_decrypt(const struct pgp_key *k, const unsigned char *msg,
    size_t msg_len, size_t *len, char **why);

/* Decodes Postgres' hex form of bytea ("\x0a1b..."); NULL when s is
 * not one. */
unsigned char *pgp_bytea_decode(const char *s, size_t *len);
/* The hex form of bytea for a query parameter (malloc'd). */
char *pgp_bytea_encode(const unsigned char *p, size_t len);

#endif
