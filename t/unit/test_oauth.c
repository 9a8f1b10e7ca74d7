/*
 * The pure pieces of Gmail access: base64url, the RS256 JWT assertion
 * of a service account (verified here with the public key), the quota
 * token bucket and the reading of Google's error answers.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gmail_api.h"
#include "gmail_message.h"
#include "http.h"
#include "log.h"
#include "oauth.h"
#include "tap.h"
#include "text.h"
#include "util.h"

static void
test_base64url(void)
{
	static const struct {
		const char *plain, *coded;
	} v[] = {
	    {"", ""},
	    {"f", "Zg"},
	    {"fo", "Zm8"},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg"},
	    {"fooba", "Zm9vYmE"},
	    {"foobar", "Zm9vYmFy"},
	};
	static const unsigned char odd[] = {0xfb, 0xff, 0xfe};
	char out[64], *s;
	long n;

	for (size_t i = 0; i < nitems(v); i++) {
		s = base64url_encode(v[i].plain, strlen(v[i].plain));
		is_str(s, v[i].coded, "encode \"%s\"", v[i].plain);
		free(s);
		n = text_base64_decode(
		    v[i].coded, strlen(v[i].coded), out, TEXT_B64_URL);
		ok(n == (long)strlen(v[i].plain) &&
			memcmp(out, v[i].plain, (size_t)n) == 0,
		    "decode \"%s\"", v[i].coded);
	}
	s = base64url_encode(odd, sizeof(odd));
	is_str(s, "-__-", "the URL-safe alphabet, no padding");
	free(s);
	n = text_base64_decode("-__-", 4, out, TEXT_B64_URL);
	ok(n == 3 && memcmp(out, odd, 3) == 0, "decode the URL-safe alphabet");

	char inplace[] = "SGVsbG8sIHdvcmxkIQ";

	n = text_base64_decode(inplace, strlen(inplace), inplace, TEXT_B64_URL);
	ok(n == 13 && memcmp(inplace, "Hello, world!", 13) == 0,
	    "decoding in place");
}

static EVP_PKEY *
make_key(char **pem)
{
	EVP_PKEY *key = EVP_RSA_gen(1024);
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;

	if (key == NULL || bio == NULL ||
	    !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		fatalx("cannot make a test key");
	len = BIO_get_mem_data(bio, &data);
	*pem = xstrndup(data, (size_t)len);
	BIO_free(bio);
	return key;
}

static bool
verify(EVP_PKEY *key, const char *jwt)
{
	const char *dot = strrchr(jwt, '.');
	char sig[512];
	long n =
	    text_base64_decode(dot + 1, strlen(dot + 1), sig, TEXT_B64_URL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool good;

	good = n > 0 &&
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestVerify(md, (unsigned char *)sig, (size_t)n,
		(const unsigned char *)jwt, (size_t)(dot - jwt)) == 1;
	EVP_MD_CTX_free(md);
	return good;
}

/* The n-th (0-based) dot-separated part, decoded. */
static json_t *
jwt_part(const char *jwt, int n)
{
	const char *p = jwt, *end;
	char buf[1024];
	long len;

	while (n-- > 0)
		p = strchr(p, '.') + 1;
	end = strchr(p, '.');
	len = text_base64_decode(p, (size_t)(end - p), buf, TEXT_B64_URL);
	return json_loadb(buf, (size_t)len, 0, NULL);
}

static void
test_jwt(void)
{
	char *pem, *err = NULL, *jwt;
	EVP_PKEY *key = make_key(&pem), *other;
	char *other_pem;
	json_t *h, *c;

	jwt = oauth_jwt_assertion(pem, "svc@p.iam.gserviceaccount.com",
	    "me@example.com", OAUTH_SCOPE_GMAIL_READONLY,
	    "https://oauth2.googleapis.com/token", 1700000000, &err);
	ok(jwt != NULL && err == NULL, "an assertion is made");
	h = jwt_part(jwt, 0);
	c = jwt_part(jwt, 1);
	is_str(json_string_value(json_object_get(h, "alg")), "RS256",
	    "header: alg RS256");
	is_str(json_string_value(json_object_get(h, "typ")), "JWT",
	    "header: typ JWT");
	is_str(json_string_value(json_object_get(c, "iss")),
	    "svc@p.iam.gserviceaccount.com", "claims: iss is the client_email");
	is_str(json_string_value(json_object_get(c, "sub")), "me@example.com",
	    "claims: sub is the user acted for");
	is_str(json_string_value(json_object_get(c, "aud")),
	    "https://oauth2.googleapis.com/token",
	    "claims: aud is the token URL");
	is_str(json_string_value(json_object_get(c, "scope")),
	    OAUTH_SCOPE_GMAIL_READONLY, "claims: scope");
	is_int(json_integer_value(json_object_get(c, "iat")), 1700000000,
	    "claims: iat");
	is_int(json_integer_value(json_object_get(c, "exp")), 1700003600,
	    "claims: exp is one hour later");
	ok(verify(key, jwt), "the signature verifies with the public key");
	other_pem = NULL;
	other = make_key(&other_pem);
	ok(!verify(other, jwt), "... and not with another key");
	jwt[strlen(jwt) - 30] ^= 1;
	ok(!verify(key, jwt), "a changed signature does not verify");
	json_decref(h);
	json_decref(c);
	free(jwt);

	jwt = oauth_jwt_assertion("-----BEGIN PRIVATE KEY-----\nnot a key\n"
				  "-----END PRIVATE KEY-----\n",
	    "a", NULL, "s", "u", 0, &err);
	ok(jwt == NULL && err != NULL && strstr(err, "not a PEM private key"),
	    "a bad key is refused: %s", err ? err : "(no error)");
	free(err);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	free(pem);
	free(other_pem);
}

static void
test_bucket(void)
{
	struct gmail_bucket b;
	int64_t t = 1000;
	int n = 0;

	gmail_bucket_init(&b, 250, t);
	while (gmail_bucket_take(&b, 5, t))
		n++;
	is_int(n, 25, "250 units/s: half a second's worth at once (25 x 5)");
	is_int(
	    gmail_bucket_wait(&b, 5, t), 20, "the next 5 units come in 20 ms");
	ok(!gmail_bucket_take(&b, 5, t + 19), "not after 19 ms");
	ok(gmail_bucket_take(&b, 5, t + 20), "after 20 ms");

	/* Ten seconds, asking every millisecond. */
	gmail_bucket_init(&b, 250, 0);
	n = 0;
	for (t = 0; t < 10000; t++)
		while (gmail_bucket_take(&b, 5, t))
			n++;
	ok(n >= 524 && n <= 526, "ten seconds: the burst and 50/s (%d)", n);

	gmail_bucket_init(&b, 250, 0);
	gmail_bucket_pause(&b, 2000);
	ok(!gmail_bucket_take(&b, 1, 1999),
	    "paused: nothing before the pause ends");
	is_int(gmail_bucket_wait(&b, 5, 1500), 500,
	    "the wait is the rest of the pause");
	ok(!gmail_bucket_take(&b, 5, 2000),
	    "after a pause the bucket starts empty");
	ok(gmail_bucket_take(&b, 5, 2020), "and fills at the rate again");
	gmail_bucket_pause(&b, 1000);
	is_int(b.paused_until, 2000, "a shorter pause does not shorten one");

	gmail_bucket_init(&b, 3, 0);
	ok(gmail_bucket_take(&b, 5, 0),
	    "a tiny quota still allows one request");
}

static void
test_bucket_rate(void)
{
	struct gmail_bucket b;
	int n = 0;

	gmail_bucket_init(&b, 250, 0);
	ok(gmail_bucket_ready(&b, 5, 0) && b.level == 125,
	    "ready says yes and spends nothing");
	gmail_bucket_set_rate(&b, 100, 0);
	is_int((int)b.level, 50, "a lower rate: the burst shrinks with it");
	for (int64_t t = 0; t < 10000; t++)
		while (gmail_bucket_take(&b, 5, t))
			n++;
	ok(n >= 209 && n <= 211, "100 units/s: the burst and 20/s (%d)", n);
	gmail_bucket_set_rate(&b, 0, 10000);
	ok(b.rate == 1 && b.burst == 5, "a rate below 1 is 1");
}

/* The answers of a pass with a 429 every period-th answer, at per_sec
 * answers a second; returns the cuts. */
static int
answers_with_429s(
    struct gmail_rate *r, int64_t *t, int n, int period, int per_sec)
{
	int cuts = 0;

	for (int i = 1; i <= n; i++) {
		*t += 1000 / per_sec;
		if (period > 0 && i % period == 0)
			cuts += gmail_rate_limited(r, *t);
		else
			gmail_rate_ok(r, *t);
	}
	return cuts;
}

static void
test_rate(void)
{
	struct gmail_rate r;
	int64_t t = 0;

	gmail_rate_init(&r, 250, 0);
	ok(r.rate == 250, "the rate starts at the ceiling");
	is_int(answers_with_429s(&r, &t, 3000, 50, 50), 0,
	    "one 429 in 50 answers (2%%), for a minute: never cut");
	ok(r.rate == 250, "... the rate stays at the ceiling");
	is_int(answers_with_429s(&r, &t, 600, 17, 50), 0,
	    "one in 17 (6%%): still not cut");

	gmail_rate_init(&r, 250, 0);
	t = 0;
	ok(!gmail_rate_limited(&r, 10), "a lone 429 does not cut");
	ok(!gmail_rate_limited(&r, 20), "nor a second");
	ok(gmail_rate_limited(&r, 30), "a third in the window cuts");
	ok(r.rate == 125, "... to half (%.1f)", r.rate);
	ok(!gmail_rate_limited(&r, 40) && !gmail_rate_limited(&r, 50) &&
		!gmail_rate_limited(&r, 60),
	    "the 429s of requests in flight at the cut do not cut again");
	ok(r.rate == 125, "... the rate is still half");
	ok(!gmail_rate_limited(&r, 2030) && !gmail_rate_limited(&r, 2040) &&
		gmail_rate_limited(&r, 2050) && r.rate == 62.5,
	    "429s that go on a window later cut again (%.1f)", r.rate);
	ok(!gmail_rate_limited(&r, 2060), "the next 429 starts over");

	gmail_rate_ok(&r, 3050);
	ok(r.rate == 87.5,
	    "a success a second later adds a tenth of the "
	    "ceiling (%.1f)",
	    r.rate);
	for (t = 3050; t < 20000; t += 20)
		gmail_rate_ok(&r, t);
	ok(r.rate == 250, "successes raise it back to the ceiling, no more");

	gmail_rate_init(&r, 250, 0);
	t = 0;
	for (int i = 0; i < 40; i++) {
		t += GMAIL_RATE_WINDOW_MS;
		for (int k = 0; k < GMAIL_RATE_CUT_LIMITED; k++)
			gmail_rate_limited(&r, t + k);
	}
	ok(r.rate >= 15 && r.rate < 16,
	    "repeated cuts stop at a sixteenth of the ceiling (%.1f)", r.rate);

	gmail_rate_init(&r, 250, 0);
	t = 0;
	ok(answers_with_429s(&r, &t, 50, 2, 50) >= 1 && r.rate < 250,
	    "half the answers 429: the rate is cut (%.1f)", r.rate);
}

static void
test_token_life(void)
{
	is_int(oauth_token_use_ms(3600), 3540000,
	    "an hour's token is used 59 minutes");
	is_int(oauth_token_use_ms(100), 80000, "a short one four fifths");
	is_int(oauth_token_use_ms(0), 3540000, "none given: an hour");
	is_int(oauth_token_use_ms(-7), 3540000, "a negative one: an hour");
	ok(oauth_token_use_ms(INT64_MAX) == 86340000,
	    "expires_in = 2^63-1 is clamped to a day, not overflowed");
	ok(oauth_token_use_ms(86401) == 86340000, "a day and a second: a day");
}

static void
test_retry_after(void)
{
	/* Wed, 21 Oct 2015 07:28:00 GMT */
	time_t t = 1445412480;

	is_int(http_retry_after(" 1\r\n", t), 1, "Retry-After: 1");
	is_int(http_retry_after("120", t), 120, "Retry-After: 120");
	is_int(http_retry_after("Wed, 21 Oct 2015 07:28:30 GMT\r\n", t), 30,
	    "an HTTP date 30 s ahead is 30 s, not 0");
	is_int(http_retry_after("Thu, 22 Oct 2015 07:28:00 GMT", t), 86400,
	    "an HTTP date a day ahead");
	is_int(http_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", t), 0,
	    "an HTTP date past is 0");
	is_int(http_retry_after("Wed, 21 Foo 2015 07:28:30 GMT", t), -1,
	    "a bad month is no date");
	is_int(http_retry_after("soon", t), -1, "a word is neither form");
	is_int(http_retry_after("-5", t), -1, "a negative number is neither");
	ok(http_retry_after("99999999999999999999999", t) == LONG_MAX,
	    "a huge number is clamped, not wrapped");
}

static void
test_errors(void)
{
	json_t *rate = json_loads(
	    "{\"error\": {\"code\": 403, \"message\": "
	    "\"User-rate limit exceeded.\", \"errors\": [{\"domain\": "
	    "\"usageLimits\", \"reason\": \"userRateLimitExceeded\", "
	    "\"message\": \"User-rate limit exceeded.\"}], \"status\": "
	    "\"PERMISSION_DENIED\"}}",
	    0, NULL);
	json_t *perm = json_loads("{\"error\": {\"code\": 403, \"message\": "
				  "\"Insufficient Permission\", \"errors\": "
				  "[{\"domain\": \"global\", "
				  "\"reason\": \"insufficientPermissions\"}]}}",
	    0, NULL);
	char *s;

	ok(gmail_is_rate_limited(429, NULL),
	    "429 is a rate limit, whatever the body");
	ok(gmail_is_rate_limited(403, rate),
	    "403 userRateLimitExceeded is one");
	ok(!gmail_is_rate_limited(403, perm),
	    "403 insufficientPermissions is not");
	ok(!gmail_is_rate_limited(500, rate), "500 is not");
	s = gmail_error_text(403, perm);
	is_str(s,
	    "HTTP 403: Insufficient Permission (reason "
	    "insufficientPermissions)",
	    "Google's message and reason");
	free(s);
	s = gmail_error_text(502, NULL);
	is_str(s, "HTTP 502: no error message", "an answer without a body");
	free(s);
	json_decref(rate);
	json_decref(perm);
}

int
main(void)
{
	test_base64url();
	test_jwt();
	test_bucket();
	test_bucket_rate();
	test_rate();
	test_retry_after();
	test_token_life();
	test_errors();
	return tap_done();
}
