/*
 * OAuth2 access tokens: one cache per account, refreshed through http.c.
 *
 * Getting a token reads as a story:
 *   oauth_get -> refresh_start -> (key_loaded -> assertion signed)
 *     -> token_answered -> token_stored -> waiters called
 * A transient failure (no answer, 5xx, 429) is retried a few times with
 * backoff; a refusal (invalid_grant, invalid_client) is reported at once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "oauth.h"
#include "oauth_token.h"
#include "secret.h"
#include "util.h"

#define TOKEN_ATTEMPTS 4 /* transient failures before giving up */
#define TOKEN_TIMEOUT_MS 30000
#define DEFAULT_LIFETIME 3600 /* seconds, when expires_in is missing */
#define MAX_LIFETIME 86400 /* seconds; Google's tokens live an hour */
#define JWT_LIFETIME 3600 /* Google accepts at most one hour */

struct waiter {
	oauth_token_fn *done;
	void *arg;
};

struct oauth {
	struct event_base *base;
	struct http *http;
	const struct account_conf *conf;
	char *scope;

	char *token; /* the cached access token, or NULL */
	int64_t fresh_until; /* monotonic ms: refresh from then on */

	struct xfer *x; /* the refresh in flight */
	int64_t asked_at; /* monotonic ms the refresh was sent */
	struct event *retry; /* a refresh waiting after a failure */
	unsigned attempts;
	struct waiter *waiters;
	size_t n_waiters;

	/* A service account's key, read at the first refresh. */
	char *sa_email;
	char *sa_key;
};

static void refresh_start(struct oauth *o);

static const char *
account_name(const struct oauth *o)
{
	return o->conf->name;
}

struct oauth *
oauth_new(struct event_base *base, struct http *http,
    const struct account_conf *conf, const char *scope)
{
	struct oauth *o = xcalloc(1, sizeof(*o));

	o->base = base;
	o->http = http;
	o->conf = conf;
	o->scope = xstrdup(scope);
	return o;
}

void
oauth_free(struct oauth *o)
{
	if (o == NULL)
		return;
	http_cancel(o->x);
	if (o->retry)
		event_free(o->retry);
	free_secret(o->token);
	free_secret(o->sa_key);
	free(o->sa_email);
	free(o->waiters);
	free(o->scope);
	free(o);
}

void
oauth_get(struct oauth *o, oauth_token_fn *done, void *arg)
{
	if (o->token != NULL && mono_msec() < o->fresh_until) {
		done(o->token, NULL, arg);
		return;
	}
	o->waiters =
	    xreallocarray(o->waiters, o->n_waiters + 1, sizeof(*o->waiters));
	o->waiters[o->n_waiters].done = done;
	o->waiters[o->n_waiters].arg = arg;
	o->n_waiters++;
	if (o->x == NULL &&
	    (o->retry == NULL || !evtimer_pending(o->retry, NULL)))
		refresh_start(o);
}

void
oauth_cancel(struct oauth *o, void *arg)
{
	size_t keep = 0;

	for (size_t i = 0; i < o->n_waiters; i++)
		if (o->waiters[i].arg != arg)
			o->waiters[keep++] = o->waiters[i];
	o->n_waiters = keep;
	if (keep == 0 && o->x != NULL) {
		http_cancel(o->x);
		o->x = NULL;
	}
}

void
oauth_invalidate(struct oauth *o, const char *token)
{
	if (o->token == NULL || token == NULL || strcmp(o->token, token) != 0)
		return;
	log_info("account=%s: the access token was refused; refreshing it",
	    account_name(o));
	free_secret(o->token);
	o->token = NULL;
}

/* Calls every waiter once; callbacks may add new waiters. */
static void
notify_waiters(struct oauth *o, const char *token, const char *error)
{
	struct waiter *w = o->waiters;
	size_t n = o->n_waiters;
	char *copy = token ? xstrdup(token) : NULL;

	o->waiters = NULL;
	o->n_waiters = 0;
	for (size_t i = 0; i < n; i++)
		w[i].done(copy, error, w[i].arg);
	free_secret(copy);
	free(w);
}

static __attribute__((format(printf, 2, 3))) void
refresh_failed(struct oauth *o, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	o->attempts = 0;
	notify_waiters(o, NULL, msg);
	free(msg);
}

static void
retry_due(evutil_socket_t fd, short what, void *arg)
{
	struct oauth *o = arg;

	if (o->n_waiters > 0)
		refresh_start(o);
}

/* A failure that may pass: try again after a while, a few times. */
static __attribute__((format(printf, 2, 3))) void
refresh_transient(struct oauth *o, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	unsigned ms;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (++o->attempts >= TOKEN_ATTEMPTS) {
		refresh_failed(
		    o, "%s (gave up after %u attempts)", msg, o->attempts);
		free(msg);
		return;
	}
	ms = backoff_msec(o->attempts, 1000, 8000);
	log_warnx(
	    "account=%s: %s; asking again in %u ms", account_name(o), msg, ms);
	free(msg);
	if (o->retry == NULL)
		o->retry = evtimer_new(o->base, retry_due, o);
	timer_add_ms(o->retry, ms);
}

/* Service accounts ---------------------------------------------------------- */

/* The key comes from a file (the configuration) or from the database. */
static bool
uses_service_account(const struct oauth *o)
{
	return o->conf->service_account_file != NULL ||
	    o->conf->service_account != NULL;
}

/* Reads the JSON key file once; NULL on success or a malloc'd reason. */
static char *
load_key(struct oauth *o)
{
	const char *path = o->conf->service_account_file;
	const char *email, *key;
	json_error_t jerr;
	json_t *j;
	char *text, *why = NULL;

	if (o->sa_key != NULL)
		return NULL;
	if (o->conf->service_account != NULL) {
		path = "from the database";
		text = xstrdup(o->conf->service_account);
	}
	/* A key file is checked as any secret file is, but it is JSON of
	 * many lines. */
	else if ((text = secret_read(path, false, &why)) == NULL) {
		char *msg =
		    xasprintf("the service account key is unusable: %s", why);

		free(why);
		return msg;
	}
	j = json_loads(text, 0, &jerr);
	free_secret(text);
	if (j == NULL)
		return xasprintf("the service account key %s is not JSON: "
				 "line %d: %s",
		    path, jerr.line, jerr.text);
	email = json_string_value(json_object_get(j, "client_email"));
	key = json_string_value(json_object_get(j, "private_key"));
	if (email == NULL || key == NULL)
		why = xasprintf("the service account key %s lacks client_email "
				"or private_key",
		    path);
	else {
		o->sa_email = xstrdup(email);
		o->sa_key = xstrdup(key);
	}
	/* The decoded key lives in jansson's copy too; wipe it. */
	if (key != NULL)
		explicit_bzero((char *)key, strlen(key));
	json_decref(j);
	return why;
}

/* Whom the token is for: a service account acts for its subject. */
static const char *
subject(const struct oauth *o)
{
	return o->conf->subject ? o->conf->subject : o->conf->username;
}

static char *
assertion_body(struct oauth *o, char **why)
{
	char *jwt, *body;

	if ((*why = load_key(o)) != NULL)
		return NULL;
	jwt = oauth_jwt_assertion(o->sa_key, o->sa_email, subject(o), o->scope,
	    o->conf->token_url, (int64_t)time(NULL), why);
	if (jwt == NULL)
		return NULL;
	body = xasprintf("grant_type=%s&assertion=%s",
	    "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer", jwt);
	free_secret(jwt);
	return body;
}

/* Refresh tokens ------------------------------------------------------------ */

static char *
refresh_body(struct oauth *o)
{
	char *id = http_escape(o->conf->client_id);
	char *secret = http_escape(o->conf->client_secret);
	char *token = http_escape(o->conf->refresh_token);
	char *body;

	body = xasprintf("grant_type=refresh_token&client_id=%s"
			 "&client_secret=%s&refresh_token=%s",
	    id, secret, token);
	free(id);
	free_secret(secret);
	free_secret(token);
	return body;
}

/* The exchange ------------------------------------------------------------- */

static void token_answered(struct xfer_result *r, void *arg);

static void
refresh_start(struct oauth *o)
{
	static const char *const headers[] = {"Accept: application/json", NULL};
	struct xfer_opts opts;
	char *body, *why = NULL;

	if (uses_service_account(o))
		body = assertion_body(o, &why);
	else if (o->conf->client_id == NULL || o->conf->client_secret == NULL ||
	    o->conf->refresh_token == NULL) {
		why = xstrdup("no client_id, client_secret_file and "
			      "refresh_token_file, nor service_account_file");
		body = NULL;
	} else
		body = refresh_body(o);
	if (body == NULL) {
		refresh_failed(o, "cannot get an access token: %s", why);
		free(why);
		return;
	}
	log_debug("account=%s: asking %s for an access token", account_name(o),
	    o->conf->token_url);
	memset(&opts, 0, sizeof(opts));
	opts.url = o->conf->token_url;
	opts.post_fields = body;
	opts.headers = headers;
	opts.tls = XFER_TLS_IMPLICIT;
	opts.verify = o->conf->tls_verify;
	opts.ca_file = o->conf->ca_file;
	opts.timeout_ms = TOKEN_TIMEOUT_MS;
	opts.max_body = 1024 * 1024;
	o->asked_at = mono_msec();
	o->x = http_start(o->http, &opts, token_answered, o);
	free_secret(body);
}

/* The error body of an answer, in words. */
static char *
token_error(const struct xfer_result *r)
{
	return oauth_token_error(r->body.data ? r->body.data : "", r->body.len);
}

int64_t
oauth_token_use_ms(long long expires_in)
{
	int64_t life, margin;

	/* A server that claims a lifetime of centuries would overflow the
	 * arithmetic below; no token is trusted for more than a day. */
	if (expires_in <= 0)
		expires_in = DEFAULT_LIFETIME;
	else if (expires_in > MAX_LIFETIME)
		expires_in = MAX_LIFETIME;
	life = (int64_t)expires_in * 1000;
	/* Refresh ahead of expiry: a fifth of the lifetime, at most a
	 * minute, so that a request never leaves with a dying token. */
	margin = life / 5 < 60000 ? life / 5 : 60000;
	return life - margin;
}

static void
token_stored(struct oauth *o, const char *token, json_int_t expires_in)
{
	free_secret(o->token);
	o->token = xstrdup(token);
	o->fresh_until = o->asked_at + oauth_token_use_ms(expires_in);
	o->attempts = 0;
	log_debug("account=%s: new access token, valid %lld s", account_name(o),
	    (long long)expires_in);
	notify_waiters(o, o->token, NULL);
}

static void
token_answered(struct xfer_result *r, void *arg)
{
	struct oauth *o = arg;
	const char *what = uses_service_account(o)
	    ? "the service account's assertion"
	    : "the refresh token";
	long long expires_in;
	char *token, *why;

	o->x = NULL;
	if (!r->ok) {
		refresh_transient(o, "cannot reach the token endpoint %s: %s",
		    o->conf->token_url, r->error);
		return;
	}
	if (r->status == 429 || r->status >= 500) {
		why = token_error(r);
		refresh_transient(o,
		    "the token endpoint %s answered HTTP %ld (%s)",
		    o->conf->token_url, r->status, why);
		free(why);
		return;
	}
	if (r->status != 200) {
		why = token_error(r);
		refresh_failed(o,
		    "the token endpoint %s refused %s for %s (HTTP %ld: %s)",
		    o->conf->token_url, what, subject(o), r->status, why);
		free(why);
		return;
	}
	token = oauth_token_read(
	    r->body.data ? r->body.data : "", r->body.len, &expires_in);
	if (token == NULL)
		refresh_failed(o,
		    "the token endpoint %s answered without an access_token",
		    o->conf->token_url);
	else
		token_stored(o, token, expires_in);
	free_secret(token);
	if (r->body.data != NULL)
		explicit_bzero(r->body.data, r->body.len);
}

/* Base64url ----------------------------------------------------------------- */

char *
base64url_encode(const void *data, size_t len)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = data;
	char *out = xmalloc(len / 3 * 4 + 5), *q = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*q++ = abc[p[i] >> 2];
		*q++ = abc[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*q++ = abc[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*q++ = abc[p[i + 2] & 63];
	}
	if (len - i == 1) {
		*q++ = abc[p[i] >> 2];
		*q++ = abc[(p[i] & 3) << 4];
	} else if (len - i == 2) {
		*q++ = abc[p[i] >> 2];
		*q++ = abc[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*q++ = abc[(p[i + 1] & 15) << 2];
	}
	*q = '\0';
	return out;
}

/* JWT ----------------------------------------------------------------------- */

static char *
openssl_why(const char *what)
{
	char buf[256];
	unsigned long e = ERR_peek_last_error();

	ERR_clear_error();
	if (e == 0)
		return xstrdup(what);
	ERR_error_string_n(e, buf, sizeof(buf));
	return xasprintf("%s: %s", what, buf);
}

/* An RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256), base64url. */
static char *
sign_rs256(const char *pem_key, const char *input, char **err)
{
	BIO *bio = BIO_new_mem_buf(pem_key, -1);
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	char *out = NULL;

	if (bio == NULL ||
	    (key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
		*err = openssl_why("the service account's private_key is not "
				   "a PEM private key");
		goto out;
	}
	if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
		*err = xstrdup("the service account's private_key is not an "
			       "RSA key");
		goto out;
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &sig_len, (const unsigned char *)input,
		strlen(input)) != 1) {
		*err = openssl_why("cannot sign the assertion");
		goto out;
	}
	sig = xmalloc(sig_len);
	if (EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)input,
		strlen(input)) != 1) {
		*err = openssl_why("cannot sign the assertion");
		goto out;
	}
	out = base64url_encode(sig, sig_len);
out:
	free(sig);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	BIO_free(bio);
	return out;
}

char *
oauth_jwt_assertion(const char *pem_key, const char *issuer,
    const char *subject, const char *scope, const char *audience, int64_t now,
    char **err)
{
	static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
	json_t *claims = json_object();
	char *text, *h64, *c64, *input, *sig, *jwt = NULL;

	*err = NULL;
	json_object_set_new(claims, "iss", json_string(issuer));
	if (subject != NULL)
		json_object_set_new(claims, "sub", json_string(subject));
	json_object_set_new(claims, "scope", json_string(scope));
	json_object_set_new(claims, "aud", json_string(audience));
	json_object_set_new(claims, "iat", json_integer(now));
	json_object_set_new(claims, "exp", json_integer(now + JWT_LIFETIME));
	text = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(claims);
	if (text == NULL)
		fatalx("json_dumps failed");
	h64 = base64url_encode(header, strlen(header));
	c64 = base64url_encode(text, strlen(text));
	input = xasprintf("%s.%s", h64, c64);
	if ((sig = sign_rs256(pem_key, input, err)) != NULL)
		jwt = xasprintf("%s.%s", input, sig);
	free(text);
	free(h64);
	free(c64);
	free(input);
	free(sig);
	return jwt;
}
