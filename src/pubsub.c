/*
 * The Pub/Sub REST client. A request's life:
 *   request -> token_ready -> answered -> (401 once: token_ready again)
 *     -> done
 * Requests are not retried here: the pull loop (gmail_push.c) backs off
 * as a whole, and an answer lost is a message Pub/Sub delivers again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "config.h"
#include "gmail_message.h"
#include "http.h"
#include "log.h"
#include "oauth.h"
#include "pubsub.h"
#include "util.h"

/* A pull may be held open by the server until messages arrive. */
#define REQUEST_TIMEOUT_MS 120000
#define MAX_ANSWER (16 * 1024 * 1024)

struct request {
	TAILQ_ENTRY(request) entry;
	struct pubsub *p;
	char *url;
	char *body;
	char *token;
	bool reauthed;
	struct xfer *x;
	pubsub_done_fn *done;
	void *arg;
};
TAILQ_HEAD(request_list, request);

struct pubsub {
	struct http *http;
	const struct account_conf *auth;
	struct oauth *oauth;
	char *sub_url; /* ".../v1/projects/P/subscriptions/S" */
	struct request_list requests;
};

struct pubsub *
pubsub_new(struct event_base *base, struct http *http, const char *api_base,
    const char *subscription, const struct account_conf *auth)
{
	struct pubsub *p = xcalloc(1, sizeof(*p));
	size_t len = strlen(api_base);

	while (len > 0 && api_base[len - 1] == '/')
		len--;
	p->http = http;
	p->auth = auth;
	p->oauth = oauth_new(base, http, auth, OAUTH_SCOPE_PUBSUB);
	p->sub_url = xasprintf("%.*s/v1/%s", (int)len, api_base, subscription);
	TAILQ_INIT(&p->requests);
	return p;
}

static void
request_free(struct request *r)
{
	TAILQ_REMOVE(&r->p->requests, r, entry);
	if (r->x != NULL)
		http_cancel(r->x);
	if (r->token != NULL) {
		explicit_bzero(r->token, strlen(r->token));
		free(r->token);
	}
	free(r->url);
	free(r->body);
	free(r);
}

void
pubsub_free(struct pubsub *p)
{
	struct request *r;

	if (p == NULL)
		return;
	while ((r = TAILQ_FIRST(&p->requests)) != NULL) {
		oauth_cancel(p->oauth, r);
		request_free(r);
	}
	oauth_free(p->oauth);
	free(p->sub_url);
	free(p);
}

static void
finish(struct request *r, long status, json_t *j, const char *error)
{
	struct pubsub_result res = {status, j, error};
	pubsub_done_fn *done = r->done;
	void *arg = r->arg;

	request_free(r);
	done(&res, arg);
}

static xfer_done_fn answered;

static void
token_ready(const char *token, const char *error, void *arg)
{
	static const char *const headers[] = {
	    "Content-Type: application/json", NULL};
	struct request *r = arg;
	struct xfer_opts o;

	if (token == NULL) {
		finish(r, 0, NULL, error);
		return;
	}
	free(r->token);
	r->token = xstrdup(token);
	memset(&o, 0, sizeof(o));
	o.url = r->url;
	o.bearer = r->token;
	o.tls = XFER_TLS_IMPLICIT;
	o.verify = r->p->auth->tls_verify;
	o.ca_file = r->p->auth->ca_file;
	o.custom_request = "POST";
	o.post_fields = r->body;
	o.headers = headers;
	o.timeout_ms = REQUEST_TIMEOUT_MS;
	o.max_body = MAX_ANSWER;
	r->x = http_start(r->p->http, &o, answered, r);
}

static void
answered(struct xfer_result *x, void *arg)
{
	struct request *r = arg;
	json_t *j = NULL;

	r->x = NULL;
	if (!x->ok) {
		finish(r, 0, NULL, x->error);
		return;
	}
	if (x->truncated) {
		buf_free(&x->body);
		finish(r, 0, NULL, "the answer is too large");
		return;
	}
	if (x->body.len > 0)
		j = json_loadb(x->body.data, x->body.len, 0, NULL);
	buf_free(&x->body);
	if (x->status == 401 && !r->reauthed) {
		/* The token expired early, or was revoked: one more try. */
		r->reauthed = true;
		oauth_invalidate(r->p->oauth, r->token);
		json_decref(j);
		oauth_get(r->p->oauth, token_ready, r);
		return;
	}
	if (x->status >= 200 && x->status < 300 && j == NULL)
		finish(r, 0, NULL, "the answer is not JSON");
	else
		finish(r, x->status, j, NULL);
	json_decref(j);
}

/* Sends verb (":pull", ...) with body, which it takes. */
static void
request(struct pubsub *p, const char *verb, json_t *body, pubsub_done_fn *done,
    void *arg)
{
	struct request *r = xcalloc(1, sizeof(*r));

	r->p = p;
	r->url = xasprintf("%s:%s", p->sub_url, verb);
	r->body = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (r->body == NULL)
		fatalx("pubsub: cannot encode a %s request", verb);
	r->done = done;
	r->arg = arg;
	TAILQ_INSERT_TAIL(&p->requests, r, entry);
	oauth_get(p->oauth, token_ready, r);
}

void
pubsub_pull(struct pubsub *p, int max, pubsub_done_fn *done, void *arg)
{
	request(p, "pull", json_pack("{s:i}", "maxMessages", max), done, arg);
}

static json_t *
id_array(const char *const *ids, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(ids[i]));
	return a;
}

void
pubsub_ack(struct pubsub *p, const char *const *ack_ids, size_t n,
    pubsub_done_fn *done, void *arg)
{
	request(p, "acknowledge",
	    json_pack("{s:o}", "ackIds", id_array(ack_ids, n)), done, arg);
}

void
pubsub_modify_deadline(struct pubsub *p, const char *const *ack_ids, size_t n,
    int seconds, pubsub_done_fn *done, void *arg)
{
	request(p, "modifyAckDeadline",
	    json_pack("{s:o,s:i}", "ackIds", id_array(ack_ids, n),
		"ackDeadlineSeconds", seconds),
	    done, arg);
}

bool
pubsub_result_ok(const struct pubsub_result *res)
{
	return res->status >= 200 && res->status < 300;
}

char *
pubsub_result_why(const char *verb, const struct pubsub_result *res)
{
	char *detail, *s;

	if (res->status == 0)
		return xasprintf("%s: %s", verb, res->error);
	/* Pub/Sub's errors have the shape of Gmail's. */
	detail = gmail_error_text(res->status, res->json);
	s = xasprintf("%s: %s", verb, detail);
	free(detail);
	return s;
}
