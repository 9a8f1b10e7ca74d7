/*
 * Metrics. Values live in small tables; the HTTP handler formats them.
 * Nothing here blocks: the job gauges are refreshed by jobs.c's timer.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

struct account_metrics {
	char *name;
	uint64_t messages;
	uint64_t bytes;
	uint64_t sync_ok;
	uint64_t sync_failed;
	int64_t newest_sent_at; /* seconds; 0 when unknown */
	int64_t last_success; /* seconds; 0 when never */
};

struct counter {
	char *name;
	uint64_t n;
};

struct job_gauge {
	char *kind;
	char *state;
	long n;
};

static struct {
	struct evhttp *http;
	struct account_metrics *acc;
	size_t n_acc;
	struct counter *errors;
	size_t n_errors;
	struct job_gauge *jobs;
	size_t n_jobs;
	double db_rtt;
	bool db_up;
	bool (*db_probe)(void *);
	void *db_probe_arg;
	int64_t started;
} M;

static struct account_metrics *
account(const char *name)
{
	for (size_t i = 0; i < M.n_acc; i++)
		if (strcmp(M.acc[i].name, name) == 0)
			return &M.acc[i];
	M.acc = xreallocarray(M.acc, M.n_acc + 1, sizeof(*M.acc));
	memset(&M.acc[M.n_acc], 0, sizeof(*M.acc));
	M.acc[M.n_acc].name = xstrdup(name);
	return &M.acc[M.n_acc++];
}

void
metrics_ingested(
    const char *name, size_t messages, size_t bytes, int64_t newest)
{
	struct account_metrics *a = account(name);

	a->messages += messages;
	a->bytes += bytes;
	if (newest > a->newest_sent_at)
		a->newest_sent_at = newest;
}

void
metrics_sync_result(const char *name, bool ok)
{
	struct account_metrics *a = account(name);

	if (ok) {
		a->sync_ok++;
		a->last_success = time(NULL);
	} else
		a->sync_failed++;
}

void
metrics_error(const char *kind)
{
	for (size_t i = 0; i < M.n_errors; i++) {
		if (strcmp(M.errors[i].name, kind) == 0) {
			M.errors[i].n++;
			return;
		}
	}
	M.errors = xreallocarray(M.errors, M.n_errors + 1, sizeof(*M.errors));
	M.errors[M.n_errors].name = xstrdup(kind);
	M.errors[M.n_errors++].n = 1;
}

void
metrics_jobs_clear(void)
{
	for (size_t i = 0; i < M.n_jobs; i++) {
		free(M.jobs[i].kind);
		free(M.jobs[i].state);
	}
	free(M.jobs);
	M.jobs = NULL;
	M.n_jobs = 0;
}

void
metrics_jobs_set(const char *kind, const char *state, long n)
{
	M.jobs = xreallocarray(M.jobs, M.n_jobs + 1, sizeof(*M.jobs));
	M.jobs[M.n_jobs].kind = xstrdup(kind);
	M.jobs[M.n_jobs].state = xstrdup(state);
	M.jobs[M.n_jobs++].n = n;
}

long
metrics_queue_depth(void)
{
	long n = 0;

	for (size_t i = 0; i < M.n_jobs; i++)
		if (strcmp(M.jobs[i].state, "queued") == 0 ||
		    strcmp(M.jobs[i].state, "failed") == 0)
			n += M.jobs[i].n;
	return n;
}

void
metrics_db_rtt(double seconds)
{
	M.db_rtt = seconds;
}

void
metrics_db_up(bool up)
{
	M.db_up = up;
}

void
metrics_set_db_probe(bool (*probe)(void *arg), void *arg)
{
	M.db_probe = probe;
	M.db_probe_arg = arg;
}

/* Both must hold: connected now, and the last query worked. */
static bool
db_is_up(void)
{
	if (M.db_probe != NULL && !M.db_probe(M.db_probe_arg))
		return false;
	return M.db_up;
}

/* Label values are account names and job kinds: escape \, " and \n. */
static void
label(struct evbuffer *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(b, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, s, 1);
	}
}

static void
header(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(
	    b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
per_account(struct evbuffer *b, const char *name, const char *type,
    const char *help, size_t field)
{
	header(b, name, type, help);
	for (size_t i = 0; i < M.n_acc; i++) {
		evbuffer_add_printf(b, "%s{account=\"", name);
		label(b, M.acc[i].name);
		evbuffer_add_printf(b, "\"} %llu\n",
		    (unsigned long long)*(
			uint64_t *)(void *)((char *)&M.acc[i] + field));
	}
}

/* A gauge of now minus a per-account time, for accounts that have one. */
static void
per_account_age(struct evbuffer *b, const char *name, const char *help,
    size_t field, int64_t now)
{
	header(b, name, "gauge", help);
	for (size_t i = 0; i < M.n_acc; i++) {
		int64_t t = *(int64_t *)(void *)((char *)&M.acc[i] + field);

		if (t == 0)
			continue;
		evbuffer_add_printf(b, "%s{account=\"", name);
		label(b, M.acc[i].name);
		evbuffer_add_printf(b, "\"} %lld\n", (long long)(now - t));
	}
}

static void
format_metrics(struct evbuffer *b)
{
	int64_t now = time(NULL);

	per_account(b, "inboxd_messages_ingested_total", "counter",
	    "Messages stored or recognized as already stored.",
	    offsetof(struct account_metrics, messages));
	per_account(b, "inboxd_bytes_ingested_total", "counter",
	    "Raw message bytes fetched and stored.",
	    offsetof(struct account_metrics, bytes));
	per_account(b, "inboxd_sync_passes_total", "counter",
	    "Successful sync passes.",
	    offsetof(struct account_metrics, sync_ok));
	per_account(b, "inboxd_sync_failures_total", "counter",
	    "Failed sync passes.",
	    offsetof(struct account_metrics, sync_failed));
	per_account_age(b, "inboxd_sync_lag_seconds",
	    "Now minus the newest committed message of the account.",
	    offsetof(struct account_metrics, newest_sent_at), now);
	per_account_age(b, "inboxd_cursor_age_seconds",
	    "Seconds since the account's last successful sync pass.",
	    offsetof(struct account_metrics, last_success), now);
	header(b, "inboxd_errors_total", "counter", "Errors by kind.");
	for (size_t i = 0; i < M.n_errors; i++) {
		evbuffer_add(b, "inboxd_errors_total{kind=\"", 26);
		label(b, M.errors[i].name);
		evbuffer_add_printf(
		    b, "\"} %llu\n", (unsigned long long)M.errors[i].n);
	}
	header(b, "inboxd_jobs", "gauge", "Jobs by kind and state.");
	for (size_t i = 0; i < M.n_jobs; i++) {
		evbuffer_add(b, "inboxd_jobs{kind=\"", 18);
		label(b, M.jobs[i].kind);
		evbuffer_add(b, "\",state=\"", 9);
		label(b, M.jobs[i].state);
		evbuffer_add_printf(b, "\"} %ld\n", M.jobs[i].n);
	}
	header(b, "inboxd_db_roundtrip_seconds", "gauge",
	    "Duration of the last maintenance query.");
	evbuffer_add_printf(b, "inboxd_db_roundtrip_seconds %.6f\n", M.db_rtt);
	header(b, "inboxd_db_up", "gauge", "1 when the database is reachable.");
	evbuffer_add_printf(b, "inboxd_db_up %d\n", db_is_up() ? 1 : 0);
	header(b, "inboxd_uptime_seconds", "gauge", "Seconds since start.");
	evbuffer_add_printf(
	    b, "inboxd_uptime_seconds %lld\n", (long long)(now - M.started));
}

static void
serve(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_request_get_uri(req);
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		evbuffer_free(b);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		format_metrics(b);
		evhttp_add_header(h, "Content-Type",
		    "text/plain; version=0.0.4; charset=utf-8");
		evhttp_send_reply(req, 200, "OK", b);
	} else if (strcmp(path, "/healthz") == 0) {
		bool up = db_is_up();

		evhttp_add_header(h, "Content-Type", "text/plain");
		evbuffer_add_printf(b, "%s\n", up ? "ok" : "database down");
		evhttp_send_reply(
		    req, up ? 200 : 503, up ? "OK" : "Service Unavailable", b);
	} else
		evhttp_send_error(req, 404, "Not Found");
	evbuffer_free(b);
}

int
metrics_setup(struct event_base *base, const char *listen)
{
	char *host, *colon;
	long port;

	M.started = time(NULL);
	M.db_up = true;
	if (listen == NULL)
		return 0;
	host = xstrdup(listen);
	if ((colon = strrchr(host, ':')) == NULL ||
	    (port = strtol(colon + 1, NULL, 10)) <= 0 || port > 65535) {
		log_warnx("metrics_listen %s: expected HOST:PORT", listen);
		free(host);
		return -1;
	}
	*colon = '\0';
	/* "[::1]" names an IPv6 address. */
	if (host[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	M.http = evhttp_new(base);
	evhttp_set_allowed_methods(M.http, EVHTTP_REQ_GET);
	evhttp_set_gencb(M.http, serve, NULL);
	if (evhttp_bind_socket(M.http, host, (ev_uint16_t)port) != 0) {
		log_warnx(
		    "metrics: cannot listen on %s; metrics are off", listen);
		evhttp_free(M.http);
		M.http = NULL;
		free(host);
		return -1;
	}
	log_info("metrics on http://%s/metrics", listen);
	free(host);
	return 0;
}

void
metrics_teardown(void)
{
	if (M.http)
		evhttp_free(M.http);
	M.http = NULL;
	for (size_t i = 0; i < M.n_acc; i++)
		free(M.acc[i].name);
	free(M.acc);
	for (size_t i = 0; i < M.n_errors; i++)
		free(M.errors[i].name);
	free(M.errors);
	metrics_jobs_clear();
	memset(&M, 0, sizeof(M));
}
