/*
 * The account key (pgp.h): RSA key pairs in the OpenPGP form pgcrypto
 * reads, and the decryption of what pgp_pub_encrypt() writes. Only the
 * packets pgcrypto produces are understood; the rest of OpenPGP is not
 * needed for one sender and one receiver that both belong to inboxd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "pgp.h"
#include "text.h"
#include "util.h"

enum {
	PKT_PKESK = 1,
	PKT_COMPRESSED = 8,
	PKT_LITERAL = 11,
	PKT_PUBKEY = 6,
	PKT_PUBSUBKEY = 14,
	PKT_SEIPD = 18,
	PKT_MDC = 19,
	ALGO_RSA = 1,
	ALGO_RSA_ENCRYPT = 2,
	MDC_LEN = 22, /* tag, length, SHA-1 */
};

struct pgp_key {
	EVP_PKEY *pkey;
};

static char *
openssl_why(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e == 0)
		return xstrdup(what);
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return xasprintf("%s: %s", what, buf);
}

/* Writing ------------------------------------------------------------------ */

static void
put_mpi(struct buf *b, const BIGNUM *bn)
{
	int bits = BN_num_bits(bn), n = BN_num_bytes(bn);
	unsigned char hdr[2] = {
	    (unsigned char)(bits >> 8), (unsigned char)bits};

	buf_append(b, hdr, 2);
	buf_reserve(b, (size_t)n);
	BN_bn2bin(bn, (unsigned char *)b->data + b->len);
	b->len += (size_t)n;
}

/* A packet in the new format with a fixed length. */
static void
put_packet(struct buf *out, int tag, const struct buf *body)
{
	unsigned char h[6];
	size_t n = 0, len = body->len;

	h[n++] = (unsigned char)(0xc0 | tag);
	if (len < 192)
		h[n++] = (unsigned char)len;
	else if (len < 8384) {
		h[n++] = (unsigned char)(((len - 192) >> 8) + 192);
		h[n++] = (unsigned char)(len - 192);
	} else {
		h[n++] = 0xff;
		h[n++] = (unsigned char)(len >> 24);
		h[n++] = (unsigned char)(len >> 16);
		h[n++] = (unsigned char)(len >> 8);
		h[n++] = (unsigned char)len;
	}
	buf_append(out, h, n);
	buf_append(out, body->data, body->len);
}

int
pgp_keygen(int bits, int64_t created, char **pem, unsigned char **pub,
    size_t *pub_len, char **why)
{
	EVP_PKEY *pkey = NULL;
	BIGNUM *n = NULL, *e = NULL;
	BIO *bio = NULL;
	struct buf body, out;
	unsigned char head[6];
	char *data;
	long len;
	int rc = -1;

	buf_init(&body);
	buf_init(&out);
	if ((pkey = EVP_RSA_gen((unsigned)bits)) == NULL) {
		*why = openssl_why("cannot make an RSA key");
		goto out;
	}
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
		*why = openssl_why("cannot read the RSA key");
		goto out;
	}
	/* A version 4 key: version, creation time, algorithm, n, e. */
	head[0] = 4;
	head[1] = (unsigned char)(created >> 24);
	head[2] = (unsigned char)(created >> 16);
	head[3] = (unsigned char)(created >> 8);
	head[4] = (unsigned char)created;
	head[5] = ALGO_RSA;
	buf_append(&body, head, sizeof(head));
	put_mpi(&body, n);
	put_mpi(&body, e);
	/* pgcrypto encrypts to a subkey and skips the primary key; both
	 * carry the same key, and no signature is needed by anyone. */
	put_packet(&out, PKT_PUBKEY, &body);
	put_packet(&out, PKT_PUBSUBKEY, &body);

	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) !=
		1) {
		*why = openssl_why("cannot write the private key");
		goto out;
	}
	len = BIO_get_mem_data(bio, &data);
	*pem = xstrndup(data, (size_t)len);
	*pub_len = out.len;
	*pub = (unsigned char *)buf_steal(&out);
	rc = 0;
out:
	BIO_free(bio);
	BN_free(n);
	BN_free(e);
	EVP_PKEY_free(pkey);
	buf_free(&body);
	buf_free(&out);
	return rc;
}

struct pgp_key *
pgp_key_load(const char *pem, char **why)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pkey;
	struct pgp_key *k;

	pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (pkey == NULL) {
		*why = openssl_why("not a private key in PEM form");
		return NULL;
	}
	if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pkey);
		*why = xstrdup("not an RSA key");
		return NULL;
	}
	k = xcalloc(1, sizeof(*k));
	k->pkey = pkey;
	return k;
}

void
pgp_key_free(struct pgp_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

/* Reading ------------------------------------------------------------------ */

struct reader {
	const unsigned char *p;
	size_t len;
	size_t off;
};

static bool
take(struct reader *r, size_t n, const unsigned char **out)
{
	if (r->len - r->off < n)
		return false;
	*out = r->p + r->off;
	r->off += n;
	return true;
}

/* A new-format length; *partial when more of the body follows. */
static bool
new_length(struct reader *r, size_t *len, bool *partial)
{
	const unsigned char *b;

	*partial = false;
	if (!take(r, 1, &b))
		return false;
	if (b[0] < 192)
		*len = b[0];
	else if (b[0] < 224) {
		size_t hi = b[0];

		if (!take(r, 1, &b))
			return false;
		*len = ((hi - 192) << 8) + b[0] + 192;
	} else if (b[0] == 255) {
		if (!take(r, 4, &b))
			return false;
		*len = (size_t)b[0] << 24 | (size_t)b[1] << 16 |
		    (size_t)b[2] << 8 | b[3];
	} else {
		*len = (size_t)1 << (b[0] & 0x1f);
		*partial = true;
	}
	return true;
}

/* The next packet: its tag, and its whole body in body. */
static bool
next_packet(struct reader *r, int *tag, struct buf *body)
{
	const unsigned char *b, *data;
	size_t len;
	bool partial;

	buf_reset(body);
	if (!take(r, 1, &b) || !(b[0] & 0x80))
		return false;
	if (b[0] & 0x40) {
		*tag = b[0] & 0x3f;
		do {
			if (!new_length(r, &len, &partial) ||
			    !take(r, len, &data))
				return false;
			buf_append(body, data, len);
		} while (partial);
		return true;
	}
	*tag = (b[0] >> 2) & 0x0f;
	switch (b[0] & 3) {
	case 0:
		if (!take(r, 1, &b))
			return false;
		len = b[0];
		break;
	case 1:
		if (!take(r, 2, &b))
			return false;
		len = (size_t)b[0] << 8 | b[1];
		break;
	case 2:
		if (!take(r, 4, &b))
			return false;
		len = (size_t)b[0] << 24 | (size_t)b[1] << 16 |
		    (size_t)b[2] << 8 | b[3];
		break;
	default:
		len = r->len - r->off;
		break;
	}
	if (!take(r, len, &data))
		return false;
	buf_append(body, data, len);
	return true;
}

static const EVP_CIPHER *
cipher_for(int algo, size_t *key_len)
{
	switch (algo) {
	case 7:
		*key_len = 16;
		return EVP_aes_128_cfb128();
	case 8:
		*key_len = 24;
		return EVP_aes_192_cfb128();
	case 9:
		*key_len = 32;
		return EVP_aes_256_cfb128();
	}
	return NULL;
}

/*
 * The session key of a PKESK packet: the RSA value decrypted, then
 * algorithm, key and checksum. Returns the cipher, or NULL and *why.
 */
static const EVP_CIPHER *
session_key(const struct pgp_key *k, const struct buf *pkt,
    unsigned char key[32], size_t *key_len, char **why)
{
	const unsigned char *p = (const unsigned char *)pkt->data;
	size_t mpi_len, mod_len = (size_t)EVP_PKEY_get_size(k->pkey);
	unsigned char *in = NULL, *out = NULL;
	size_t out_len = mod_len;
	const EVP_CIPHER *cipher = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	unsigned sum = 0;

	if (pkt->len < 12 || p[0] != 3 ||
	    (p[9] != ALGO_RSA && p[9] != ALGO_RSA_ENCRYPT)) {
		*why = xstrdup("not encrypted with an RSA key");
		return NULL;
	}
	mpi_len = (((size_t)p[10] << 8 | p[11]) + 7) / 8;
	if (mpi_len > mod_len || pkt->len - 12 < mpi_len) {
		*why = xstrdup("encrypted for another key");
		return NULL;
	}
	in = xcalloc(1, mod_len);
	memcpy(in + mod_len - mpi_len, p + 12, mpi_len);
	out = xcalloc(1, mod_len);
	if ((ctx = EVP_PKEY_CTX_new(k->pkey, NULL)) == NULL ||
	    EVP_PKEY_decrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1 ||
	    EVP_PKEY_decrypt(ctx, out, &out_len, in, mod_len) != 1) {
		ERR_clear_error();
		*why = xstrdup("encrypted for another key (was the key "
			       "replaced without inboxctl rekey?)");
		goto out;
	}
	if (out_len < 3 || (cipher = cipher_for(out[0], key_len)) == NULL ||
	    out_len != *key_len + 3) {
		*why = xstrdup("unknown cipher or a damaged session key");
		cipher = NULL;
		goto out;
	}
	for (size_t i = 0; i < *key_len; i++)
		sum += out[1 + i];
	if ((sum & 0xffff) !=
	    ((unsigned)out[out_len - 2] << 8 | out[out_len - 1])) {
		*why = xstrdup("encrypted for another key");
		cipher = NULL;
		goto out;
	}
	memcpy(key, out + 1, *key_len);
out:
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_cleanse(out, mod_len);
	free(in);
	free(out);
	return cipher;
}

/* Decrypts a SEIPD body in place into plain; checks prefix and MDC. */
static bool
open_seipd(const EVP_CIPHER *cipher, const unsigned char *key,
    const struct buf *pkt, struct buf *plain, char **why)
{
	unsigned char iv[16] = {0}, digest[EVP_MAX_MD_SIZE];
	const size_t bs = 16;
	EVP_CIPHER_CTX *ctx;
	unsigned int dlen;
	int n = 0;
	unsigned char *p;
	size_t len;

	if (pkt->len < 1 + bs + 2 + MDC_LEN || pkt->data[0] != 1) {
		*why = xstrdup("not an integrity protected message");
		return false;
	}
	len = pkt->len - 1;
	buf_reset(plain);
	buf_reserve(plain, len);
	p = (unsigned char *)plain->data;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(ctx, cipher, NULL, key, iv) != 1 ||
	    EVP_DecryptUpdate(ctx, p, &n, (const unsigned char *)pkt->data + 1,
		(int)len) != 1 ||
	    (size_t)n != len) {
		EVP_CIPHER_CTX_free(ctx);
		*why = openssl_why("cannot decrypt");
		return false;
	}
	EVP_CIPHER_CTX_free(ctx);
	plain->len = len;
	if (p[bs - 2] != p[bs] || p[bs - 1] != p[bs + 1]) {
		*why = xstrdup("encrypted for another key");
		return false;
	}
	if (p[len - MDC_LEN] != (0xc0 | PKT_MDC) ||
	    p[len - MDC_LEN + 1] != 20 ||
	    EVP_Digest(p, len - 20, digest, &dlen, EVP_sha1(), NULL) != 1 ||
	    memcmp(digest, p + len - 20, 20) != 0) {
		*why = xstrdup("the message was altered");
		return false;
	}
	return true;
}

/* The data of the literal packet in the decrypted packets. */
static char *
literal_data(const struct buf *plain, size_t *len, char **why)
{
	struct reader r = {(const unsigned char *)plain->data + 18,
	    plain->len - 18 - MDC_LEN, 0};
	const unsigned char *p;
	struct buf body;
	char *out = NULL;
	size_t skip;
	int tag;

	buf_init(&body);
	if (!next_packet(&r, &tag, &body))
		*why = xstrdup("damaged message");
	else if (tag == PKT_COMPRESSED)
		*why = xstrdup("compressed messages are not supported; "
			       "encrypt without compress-algo");
	else if (tag != PKT_LITERAL || body.len < 6)
		*why = xstrdup("no literal data in the message");
	else {
		p = (const unsigned char *)body.data;
		skip = 2 + (size_t)p[1] + 4;
		if (skip > body.len)
			*why = xstrdup("damaged literal data");
		else if (memchr(p + skip, '\0', body.len - skip) != NULL)
			*why = xstrdup("the secret holds a NUL byte");
		else {
			*len = body.len - skip;
			out = xstrndup((const char *)p + skip, *len);
		}
	}
	OPENSSL_cleanse(body.data, body.cap);
	buf_free(&body);
	return out;
}

char *
pgp_decrypt(const struct pgp_key *k, const unsigned char *msg, size_t msg_len,
    size_t *len, char **why)
{
	struct reader r = {msg, msg_len, 0};
	struct buf pkt, plain;
	unsigned char key[32];
	size_t key_len = 0;
	const EVP_CIPHER *cipher = NULL;
	char *out = NULL;
	int tag;

	*why = NULL;
	buf_init(&pkt);
	buf_init(&plain);
	while (r.off < r.len && *why == NULL) {
		if (!next_packet(&r, &tag, &pkt)) {
			*why = xstrdup("not an OpenPGP message");
			break;
		}
		if (tag == PKT_PKESK && cipher == NULL)
			cipher = session_key(k, &pkt, key, &key_len, why);
		else if (tag == PKT_SEIPD && cipher != NULL) {
			if (open_seipd(cipher, key, &pkt, &plain, why))
				out = literal_data(&plain, len, why);
			break;
		} else if (tag == PKT_SEIPD) {
			*why = xstrdup("not encrypted with a public key");
			break;
		}
	}
	if (out == NULL && *why == NULL)
		*why = xstrdup("no encrypted data in the message");
	OPENSSL_cleanse(key, sizeof(key));
	if (plain.data)
		OPENSSL_cleanse(plain.data, plain.cap);
	buf_free(&pkt);
	buf_free(&plain);
	return out;
}

/* bytea ------------------------------------------------------------------- */

unsigned char *
pgp_bytea_decode(const char *s, size_t *len)
{
	size_t n;
	unsigned char *out;

	if (s == NULL || s[0] != '\\' || s[1] != 'x')
		return NULL;
	s += 2;
	n = strlen(s);
	out = xmalloc(n / 2 + 1);
	if (text_hex_decode(s, n, out) < 0) {
		free(out);
		return NULL;
	}
	*len = n / 2;
	return out;
}

char *
pgp_bytea_encode(const unsigned char *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char *out = xmalloc(2 * len + 3), *o = out;

	*o++ = '\\';
	*o++ = 'x';
	for (size_t i = 0; i < len; i++) {
		*o++ = hex[p[i] >> 4];
		*o++ = hex[p[i] & 15];
	}
	*o = '\0';
	return out;
}
