/*
 * The account key's OpenPGP: a new key is a primary key and a subkey
 * packet of version 4 RSA, as pgcrypto reads them; its PEM loads again;
 * bytea text round-trips; what is not a pgp_pub_encrypt() message for
 * the key is refused with a reason, never crashes. (Decryption of real
 * pgcrypto output is tested against PostgreSQL in
 * t/integration/accounts_db.sh.)
 */
#include <stdlib.h>
#include <string.h>

#include "pgp.h"
#include "tap.h"
#include "util.h"

static void
test_keygen(void)
{
	char *pem = NULL, *why = NULL;
	unsigned char *pub = NULL;
	size_t len = 0, body;
	struct pgp_key *k;

	ok(pgp_keygen(2048, 1700000000, &pem, &pub, &len, &why) == 0,
	    "a 2048-bit key is made (%s)", why ? why : "");
	ok(pem && strstr(pem, "BEGIN PRIVATE KEY"), "the private key is PEM");
	ok(len > 4 && pub[0] == (0xc0 | 6), "first a public key packet");
	body = (size_t)((pub[1] - 192) << 8) + pub[2] + 192;
	is_int(pub[3], 4, "of version 4");
	is_int(pub[4] << 24 | pub[5] << 16 | pub[6] << 8 | pub[7], 1700000000,
	    "with its creation time");
	is_int(pub[8], 1, "RSA");
	is_int(pub[9] << 8 | pub[10], 2048, "n has 2048 bits");
	ok(3 + body < len && pub[3 + body] == (0xc0 | 14),
	    "then a public subkey packet");
	is_int(len, 2 * (3 + body), "of the same key, and nothing else");
	k = pgp_key_load(pem, &why);
	ok(k != NULL, "the PEM loads again");
	pgp_key_free(k);
	free(pem);
	free(pub);
}

static void
test_refusals(void)
{
	static const char *const pem_bad = "not a key";
	char *pem = NULL, *why = NULL, *plain;
	unsigned char *pub = NULL, junk[64];
	unsigned char seipd_only[] = {0xc0 | 18, 3, 1, 2, 3};
	size_t len, out_len;
	struct pgp_key *k;

	k = pgp_key_load(pem_bad, &why);
	ok(k == NULL && why != NULL, "a file that is no key is refused (%s)",
	    why ? why : "");
	free(why);
	why = NULL;
	if (pgp_keygen(2048, 0, &pem, &pub, &len, &why) != 0)
		abort();
	k = pgp_key_load(pem, &why);
	plain = pgp_decrypt(k, pub, len, &out_len, &why);
	ok(plain == NULL && why && strstr(why, "no encrypted data"),
	    "a key is not a message (%s)", why ? why : "");
	free(why);
	memset(junk, 0x41, sizeof(junk));
	plain = pgp_decrypt(k, junk, sizeof(junk), &out_len, &why);
	ok(plain == NULL && why && strstr(why, "not an OpenPGP message"),
	    "junk is refused (%s)", why ? why : "");
	free(why);
	plain = pgp_decrypt(k, seipd_only, sizeof(seipd_only), &out_len, &why);
	ok(plain == NULL && why, "data without a session key is refused (%s)",
	    why ? why : "");
	free(why);
	plain = pgp_decrypt(k, junk, 0, &out_len, &why);
	ok(plain == NULL && why, "nothing is refused");
	free(why);
	pgp_key_free(k);
	free(pem);
	free(pub);
}

static void
test_bytea(void)
{
	static const unsigned char bytes[] = {0x00, 0x7f, 0xc3, 0xff};
	unsigned char *back;
	size_t len = 0;
	char *hex = pgp_bytea_encode(bytes, sizeof(bytes));

	is_str(hex, "\\x007fc3ff", "bytea hex form");
	back = pgp_bytea_decode(hex, &len);
	ok(back && len == 4 && memcmp(back, bytes, 4) == 0, "and back");
	free(back);
	free(hex);
	ok(pgp_bytea_decode("007f", &len) == NULL, "without \\x: refused");
	ok(pgp_bytea_decode("\\x0", &len) == NULL, "odd length: refused");
	ok(pgp_bytea_decode("\\xzz", &len) == NULL, "not hex: refused");
}

int
main(void)
{
	test_keygen();
	test_refusals();
	test_bytea();
	return tap_done();
}
