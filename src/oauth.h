/*
 * OAuth2 access tokens for one account, through http.c: the
 * refresh-token flow (client_id, client_secret_file, refresh_token_file)
 * or a service account with domain-wide delegation (service_account_file
 * and subject: a JWT assertion signed with RS256). The token is cached
 * and refreshed shortly before it expires, or when a server refused it.
 *
 * Used by the Gmail driver for the REST API and by IMAP accounts with
 * auth = xoauth2 (the token goes into xfer_opts.bearer).
 */
#ifndef INBOXD_OAUTH_H
#define INBOXD_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct account_conf;
struct event_base;
struct http;
struct oauth;

/* Scopes asked for by a service account (a refresh token has its own). */
#define OAUTH_SCOPE_GMAIL_READONLY \
	"https://www.googleapis.com/auth/gmail.readonly"
#define OAUTH_SCOPE_MAIL "https://mail.google.com/"

/* token is NULL on failure; error then says why (it names neither the
 * token nor any secret). Both are valid only during the call. */
typedef void oauth_token_fn(const char *token, const char *error, void *arg);

/*
 * Never fails: a missing or unreadable key file is reported by the
 * first oauth_get(). conf must outlive the object.
 */
struct oauth *oauth_new(struct event_base *base, struct http *http,
    const struct account_conf *conf, const char *scope);
/* Cancels a refresh in flight; waiters are not called. */
void oauth_free(struct oauth *o);

/*
 * Calls done exactly once with a valid access token: at once, before
 * oauth_get returns, when the cached one is still good; otherwise from
 * the event loop after a refresh (one refresh serves every waiter).
 */
void oauth_get(struct oauth *o, oauth_token_fn *done, void *arg);
/* Forgets the waiters with this arg (their owner goes away). */
void oauth_cancel(struct oauth *o, void *arg);
/*
 * A server refused this token (HTTP 401, IMAP login failure): the next
 * oauth_get refreshes. A token that is no longer the cached one is
 * ignored, so many requests failing together cause one refresh.
 */
void oauth_invalidate(struct oauth *o, const char *token);

/* Pure helpers, exposed for the unit tests. ------------------------------ */

/* Base64url without padding (RFC 4648 section 5); malloc'd. */
char *base64url_encode(const void *data, size_t len);

/*
 * How long a token whose answer said expires_in seconds is used, in
 * milliseconds: its lifetime, 3600 s when missing and a day at most,
 * less a fifth of it (a minute at most) to refresh ahead of expiry.
 */
int64_t oauth_token_use_ms(long long expires_in);

/*
 * A signed JWT (RS256) asking for an access token as a service account:
 * header.claims.signature. NULL and a malloc'd *err when the PEM key
 * cannot be used.
 */
char *oauth_jwt_assertion(const char *pem_key, const char *issuer,
    const char *subject, const char *scope, const char *audience, int64_t now,
    char **err);

#endif
