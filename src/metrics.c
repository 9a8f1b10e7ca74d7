/*
 * Metrics. Values live in small tables; the HTTP handler formats them.
 * Nothing here blocks: the job gauges are refreshed by jobs.c's timer.
 */
#include <ctype.h>
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "autoconf.h"
#include "config.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/*
 * An account is healthy while its last successful pass is at most this
 * many poll intervals old: one failed pass, retried with back-off, is
 * not yet worth waking anyone.
 */
#define HEALTH_POLL_INTERVALS 3
#define STR(x) STR_(x)
#define STR_(x) #x

struct account_metrics {
	char *name;
	uint64_t messages;
	uint64_t bytes;
	uint64_t sync_ok;
	uint64_t sync_failed;
	int64_t lag; /* seconds, of the newest mail stored; -1 unknown */
	int64_t last_success; /* seconds; 0 when never */
	bool enabled; /* configured and running */
	int64_t enabled_at; /* seconds */
	int poll_interval; /* seconds */
	char *last_error; /* of the last pass, NULL after a good one */
	enum metrics_account_state state;
	int watching; /* push connections up */
};

/* Upper bounds of the latency histograms' buckets, in seconds. */
static const double latency_bounds[] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define N_BOUNDS (sizeof(latency_bounds) / sizeof(latency_bounds[0]))

struct histogram {
	uint64_t buckets[N_BOUNDS]; /* not cumulative; summed when served */
	uint64_t count;
	double sum;
};

/* Transfers of one protocol (URL scheme, lower case). */
struct transfer_counts {
	char *protocol;
	uint64_t requests;
	uint64_t received;
};

/* Oldest waiting job of a kind. */
struct job_age {
	char *kind;
	long seconds;
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
	struct job_age *job_ages;
	size_t n_job_ages;
	struct transfer_counts *xfers;
	size_t n_xfers;
	struct histogram fetch_latency;
	struct histogram store_latency;
	struct histogram fetch_to_notify;
	unsigned long long batches; /* stored */
	unsigned long long batches_grouped; /* in a shared transaction */
	double db_rtt;
	bool db_up;
	bool (*db_probe)(void *);
	void *db_probe_arg;
	int64_t started;
	size_t accounts_held;
	size_t instances_live; /* 0 until the first heartbeat */
	size_t share;
	bool push_on; /* Gmail push is set up */
	bool push_up;
	unsigned long long push_received;
	unsigned long long push_acked;
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
	M.acc[M.n_acc].lag = -1;
	return &M.acc[M.n_acc++];
}

void
metrics_account_enabled(const char *name, int poll_interval)
{
	struct account_metrics *a = account(name);

	a->enabled = true;
	a->enabled_at = time(NULL);
	a->state = METRICS_ACCOUNT_STARTING;
	a->poll_interval = poll_interval;
}

void
metrics_account_disabled(const char *name)
{
	account(name)->enabled = false;
}

void
metrics_account_state(const char *name, enum metrics_account_state state)
{
	account(name)->state = state;
}

void
metrics_account_watching(const char *name, bool up)
{
	account(name)->watching += up ? 1 : -1;
}

static void
observe(struct histogram *h, double seconds)
{
	size_t i = 0;

	while (i < N_BOUNDS && seconds > latency_bounds[i])
		i++;
	if (i < N_BOUNDS)
		h->buckets[i]++;
	h->count++;
	h->sum += seconds;
}

void
metrics_batch_stored(
    double store_seconds, double since_fetch_seconds, size_t group)
{
	/* The rest of a batch is fetched and parsed before it is stored. */
	observe(&M.fetch_latency,
	    since_fetch_seconds > store_seconds
		? since_fetch_seconds - store_seconds
		: 0);
	observe(&M.store_latency, store_seconds);
	observe(&M.fetch_to_notify, since_fetch_seconds);
	M.batches++;
	if (group > 1)
		M.batches_grouped++;
}

void
metrics_ingested(const char *name, size_t messages, size_t bytes, int64_t lag)
{
	struct account_metrics *a = account(name);

	a->messages += messages;
	a->bytes += bytes;
	if (lag >= 0)
		a->lag = lag;
}

void
metrics_sync_result(const char *name, bool ok, const char *error)
{
	struct account_metrics *a = account(name);

	free(a->last_error);
	a->last_error = NULL;
	if (ok) {
		a->sync_ok++;
		a->last_success = time(NULL);
	} else {
		a->sync_failed++;
		a->last_error = xstrdup(error ? error : "unknown error");
	}
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

static struct transfer_counts *
transfer_counts(const char *protocol)
{
	struct transfer_counts *t;

	for (size_t i = 0; i < M.n_xfers; i++)
		if (strcasecmp(M.xfers[i].protocol, protocol) == 0)
			return &M.xfers[i];
	M.xfers = xreallocarray(M.xfers, M.n_xfers + 1, sizeof(*M.xfers));
	t = &M.xfers[M.n_xfers++];
	memset(t, 0, sizeof(*t));
	t->protocol = xstrdup(protocol);
	for (char *p = t->protocol; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return t;
}

void
metrics_transfer(const char *protocol, uint64_t received)
{
	struct transfer_counts *t = transfer_counts(protocol);

	t->requests++;
	t->received += received;
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
	for (size_t i = 0; i < M.n_job_ages; i++)
		free(M.job_ages[i].kind);
	free(M.job_ages);
	M.job_ages = NULL;
	M.n_job_ages = 0;
}

void
metrics_job_oldest(const char *kind, long seconds)
{
	M.job_ages =
	    xreallocarray(M.job_ages, M.n_job_ages + 1, sizeof(*M.job_ages));
	M.job_ages[M.n_job_ages].kind = xstrdup(kind);
	M.job_ages[M.n_job_ages++].seconds = seconds;
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
metrics_accounts_held(size_t n)
{
	M.accounts_held = n;
}

void
metrics_push_up(bool up)
{
	M.push_on = true;
	M.push_up = up;
}

void
metrics_push_received(void)
{
	M.push_received++;
}

void
metrics_push_acked(size_t n)
{
	M.push_acked += n;
}

void
metrics_share(size_t live, size_t target)
{
	M.instances_live = live;
	M.share = target;
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

/* The start of a sample line: METRIC{account="NAME"} and a space. */
static void
account_series(struct evbuffer *b, const char *metric, const char *name)
{
	evbuffer_add_printf(b, "%s{account=\"", metric);
	label(b, name);
	evbuffer_add(b, "\"} ", 3);
}

/* Seconds since the account's last good pass, for those that had one. */
static void
cursor_age(struct evbuffer *b, int64_t now)
{
	header(b, "inboxd_cursor_age_seconds", "gauge",
	    "Seconds since the account's last successful sync pass.");
	for (size_t i = 0; i < M.n_acc; i++) {
		if (M.acc[i].last_success == 0)
			continue;
		account_series(b, "inboxd_cursor_age_seconds", M.acc[i].name);
		evbuffer_add_printf(
		    b, "%lld\n", (long long)(now - M.acc[i].last_success));
	}
}

/* Every account has a sample; 0 says it never synced. */
static void
last_success(struct evbuffer *b)
{
	header(b, "inboxd_last_sync_success_timestamp_seconds", "gauge",
	    "Unix time of the account's last successful sync pass; 0 when "
	    "none.");
	for (size_t i = 0; i < M.n_acc; i++) {
		account_series(b, "inboxd_last_sync_success_timestamp_seconds",
		    M.acc[i].name);
		evbuffer_add_printf(
		    b, "%lld\n", (long long)M.acc[i].last_success);
	}
}

static void
sync_lag(struct evbuffer *b)
{
	header(b, "inboxd_sync_lag_seconds", "gauge",
	    "Seconds between the server receiving the newest mail of the "
	    "last stored batch and its storing.");
	for (size_t i = 0; i < M.n_acc; i++) {
		if (M.acc[i].lag < 0)
			continue;
		account_series(b, "inboxd_sync_lag_seconds", M.acc[i].name);
		evbuffer_add_printf(b, "%lld\n", (long long)M.acc[i].lag);
	}
}

/* The states served; "connected" is idle with a push connection up. */
static const char *const state_names[] = {"starting", "connected", "idle",
    "syncing", "failing", "auth_failed", "standing_by"};

static const char *
state_name(const struct account_metrics *a)
{
	switch (a->state) {
	case METRICS_ACCOUNT_STARTING:
		return "starting";
	case METRICS_ACCOUNT_IDLE:
		return a->watching > 0 ? "connected" : "idle";
	case METRICS_ACCOUNT_SYNCING:
		return "syncing";
	case METRICS_ACCOUNT_FAILING:
		return "failing";
	case METRICS_ACCOUNT_AUTH_FAILED:
		return "auth_failed";
	case METRICS_ACCOUNT_STANDING_BY:
		return "standing_by";
	}
	return "starting";
}

/* A gauge set: for each running account, 1 for its state, 0 for others. */
static void
account_states(struct evbuffer *b)
{
	header(b, "inboxd_account_state", "gauge",
	    "1 for the state each running account is in, 0 for the others.");
	for (size_t i = 0; i < M.n_acc; i++) {
		const char *now;

		if (!M.acc[i].enabled)
			continue;
		now = state_name(&M.acc[i]);
		for (size_t s = 0; s < nitems(state_names); s++) {
			evbuffer_add_printf(
			    b, "inboxd_account_state{account=\"");
			label(b, M.acc[i].name);
			evbuffer_add_printf(b, "\",state=\"%s\"} %d\n",
			    state_names[s], strcmp(now, state_names[s]) == 0);
		}
	}
}

static void
histogram(struct evbuffer *b, const char *name, const char *help,
    const struct histogram *h)
{
	uint64_t n = 0;

	header(b, name, "histogram", help);
	for (size_t i = 0; i < N_BOUNDS; i++) {
		n += h->buckets[i];
		evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
		    latency_bounds[i], (unsigned long long)n);
	}
	evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	    (unsigned long long)h->count);
	evbuffer_add_printf(b, "%s_sum %.6f\n", name, h->sum);
	evbuffer_add_printf(
	    b, "%s_count %llu\n", name, (unsigned long long)h->count);
}

static void
per_protocol(
    struct evbuffer *b, const char *name, const char *help, size_t field)
{
	header(b, name, "counter", help);
	for (size_t i = 0; i < M.n_xfers; i++) {
		evbuffer_add_printf(b, "%s{protocol=\"", name);
		label(b, M.xfers[i].protocol);
		evbuffer_add_printf(b, "\"} %llu\n",
		    (unsigned long long)*(
			uint64_t *)(void *)((char *)&M.xfers[i] + field));
	}
}

static void
push_metrics(struct evbuffer *b)
{
	header(b, "inboxd_gmail_push_up", "gauge",
	    "1 while the Pub/Sub pull of Gmail push works.");
	evbuffer_add_printf(b, "inboxd_gmail_push_up %d\n", M.push_up ? 1 : 0);
	header(b, "inboxd_gmail_push_received_total", "counter",
	    "Messages received from the Gmail push subscription.");
	evbuffer_add_printf(
	    b, "inboxd_gmail_push_received_total %llu\n", M.push_received);
	header(b, "inboxd_gmail_push_acked_total", "counter",
	    "Gmail push notices acknowledged after a pass stored their mail.");
	evbuffer_add_printf(
	    b, "inboxd_gmail_push_acked_total %llu\n", M.push_acked);
}

static void
transfers(struct evbuffer *b)
{
	per_protocol(b, "inboxd_transfers_total",
	    "IMAP commands and HTTP requests finished, by protocol.",
	    offsetof(struct transfer_counts, requests));
	per_protocol(b, "inboxd_received_bytes_total",
	    "Bytes of IMAP answers and HTTP responses, by protocol.",
	    offsetof(struct transfer_counts, received));
}

static void
job_ages(struct evbuffer *b)
{
	header(b, "inboxd_job_oldest_queued_age_seconds", "gauge",
	    "Seconds the oldest due, queued job of each kind has waited.");
	for (size_t i = 0; i < M.n_job_ages; i++) {
		evbuffer_add_printf(
		    b, "inboxd_job_oldest_queued_age_seconds{kind=\"");
		label(b, M.job_ages[i].kind);
		evbuffer_add_printf(b, "\"} %ld\n", M.job_ages[i].seconds);
	}
}

/* Resident set size in bytes, from /proc; 0 when unknown. */
static long long
resident_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long long pages = 0, rss = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%lld %lld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * sysconf(_SC_PAGESIZE);
}

static long
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* The process metrics every Prometheus client library exports. */
static void
process_metrics(struct evbuffer *b)
{
	struct rusage ru;
	struct rlimit rl;
	double cpu = 0;

	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	header(b, "process_cpu_seconds_total", "counter",
	    "User and system CPU time spent in seconds.");
	evbuffer_add_printf(b, "process_cpu_seconds_total %.3f\n", cpu);
	header(b, "process_resident_memory_bytes", "gauge",
	    "Resident memory size in bytes.");
	evbuffer_add_printf(
	    b, "process_resident_memory_bytes %lld\n", resident_bytes());
	header(
	    b, "process_open_fds", "gauge", "Number of open file descriptors.");
	evbuffer_add_printf(b, "process_open_fds %ld\n", open_fds());
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		header(b, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.");
		evbuffer_add_printf(b, "process_max_fds %llu\n",
		    (unsigned long long)rl.rlim_cur);
	}
	header(b, "process_start_time_seconds", "gauge",
	    "Start time of the process since the Unix epoch in seconds.");
	evbuffer_add_printf(
	    b, "process_start_time_seconds %lld\n", (long long)M.started);
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
	sync_lag(b);
	cursor_age(b, now);
	last_success(b);
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
	account_states(b);
	header(b, "inboxd_accounts_held", "gauge",
	    "Accounts this instance holds (and runs).");
	evbuffer_add_printf(b, "inboxd_accounts_held %zu\n", M.accounts_held);
	if (M.instances_live > 0) {
		header(b, "inboxd_instances_live", "gauge",
		    "Live inboxd instances on the database, this one included.");
		evbuffer_add_printf(
		    b, "inboxd_instances_live %zu\n", M.instances_live);
		header(b, "inboxd_accounts_share", "gauge",
		    "The accounts this instance should hold at most: its fair "
		    "share, ceil(accounts / live instances).");
		evbuffer_add_printf(b, "inboxd_accounts_share %zu\n", M.share);
	}
	if (M.push_on)
		push_metrics(b);
	transfers(b);
	job_ages(b);
	histogram(b, "inboxd_batch_fetch_duration_seconds",
	    "Time from fetching a batch's first message to handing the batch "
	    "to the store.",
	    &M.fetch_latency);
	histogram(b, "inboxd_batch_store_duration_seconds",
	    "Time from handing a batch to the store to its commit.",
	    &M.store_latency);
	histogram(b, "inboxd_fetch_to_notify_seconds",
	    "Time from fetching a batch's first message to the commit "
	    "that notifies consumers of it.",
	    &M.fetch_to_notify);
	header(b, "inboxd_batches_stored_total", "counter",
	    "Batches of mail committed.");
	evbuffer_add_printf(b, "inboxd_batches_stored_total %llu\n", M.batches);
	header(b, "inboxd_batches_grouped_total", "counter",
	    "Batches committed in a transaction shared with others "
	    "(group commit).");
	evbuffer_add_printf(
	    b, "inboxd_batches_grouped_total %llu\n", M.batches_grouped);
	header(b, "inboxd_build_info", "gauge",
	    "Always 1; the version of the running daemon as a label.");
	evbuffer_add_printf(
	    b, "inboxd_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	process_metrics(b);
}

/*
 * Why an enabled account is not healthy, or NULL when it is: no
 * successful pass within HEALTH_POLL_INTERVALS poll intervals, counted
 * from its start while it never had one. Its first pass may take hours
 * on a large mailbox, so an account is judged only once a pass ended;
 * one that another instance holds is not judged here.
 */
static const char *
account_problem(const struct account_metrics *a, int64_t now)
{
	int64_t since = a->last_success ? a->last_success : a->enabled_at;
	int64_t window = (int64_t)HEALTH_POLL_INTERVALS * a->poll_interval;

	/* Another instance holds it: that one's health is about it. */
	if (a->state == METRICS_ACCOUNT_STANDING_BY)
		return NULL;
	if (a->sync_ok == 0 && a->sync_failed == 0)
		return NULL;
	if (now - since <= window)
		return NULL;
	if (a->last_success == 0)
		return "no successful sync since it started";
	return "no successful sync within " STR(
	    HEALTH_POLL_INTERVALS) " poll intervals";
}

static void
account_health(struct buf *j, const struct account_metrics *a, int64_t now)
{
	const char *problem = account_problem(a, now);

	jsonw_sep(j);
	buf_appends(j, "{");
	jsonw_kstr(j, "account", a->name);
	jsonw_kstr(j, "state", state_name(a));
	jsonw_kbool(j, "healthy", problem == NULL);
	jsonw_key(j, "last_success");
	if (a->last_success)
		jsonw_int(j, a->last_success);
	else
		jsonw_null(j);
	jsonw_kstr(j, "problem", problem);
	jsonw_kstr(j, "last_error", a->last_error);
	buf_appends(j, "}");
}

/* The /healthz body; returns whether everything is healthy. */
static bool
format_health(struct buf *j)
{
	int64_t now = time(NULL);
	bool db = db_is_up(), healthy = db;

	for (size_t i = 0; i < M.n_acc; i++)
		if (M.acc[i].enabled && account_problem(&M.acc[i], now))
			healthy = false;
	buf_appends(j, "{");
	jsonw_kstr(j, "status", healthy ? "ok" : "unhealthy");
	jsonw_kstr(j, "database", db ? "up" : "down");
	jsonw_key(j, "accounts");
	buf_appends(j, "[");
	for (size_t i = 0; i < M.n_acc; i++)
		if (M.acc[i].enabled)
			account_health(j, &M.acc[i], now);
	buf_appends(j, "]}\n");
	return healthy;
}

static void
serve_health(struct evhttp_request *req, struct evbuffer *b)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct buf j;
	bool healthy;

	buf_init(&j);
	healthy = format_health(&j);
	evbuffer_add(b, j.data, j.len);
	buf_free(&j);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_send_reply(req, healthy ? 200 : 503,
	    healthy ? "OK" : "Service Unavailable", b);
}

static void
serve_metrics(struct evhttp_request *req, struct evbuffer *b)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	format_metrics(b);
	evhttp_add_header(
	    h, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", b);
}

/* GET and HEAD (libevent leaves out the body); a query is ignored. */
static void
serve(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *b;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	b = evbuffer_new();
	if (path != NULL && strcmp(path, "/metrics") == 0)
		serve_metrics(req, b);
	else if (path != NULL && strcmp(path, "/healthz") == 0)
		serve_health(req, b);
	else
		evhttp_send_error(req, 404, "Not Found");
	evbuffer_free(b);
}

/*
 * The address was checked with the configuration; it is parsed here by
 * the same function, evutil_parse_sockaddr_port(), so that what
 * --check-config accepts is what is bound.
 */
int
metrics_setup(struct event_base *base, const char *listen)
{
	struct sockaddr_storage ss;
	int len = (int)sizeof(ss);
	struct evconnlistener *l;

	M.started = time(NULL);
	M.db_up = true;
	if (listen == NULL)
		return 0;
	if (evutil_parse_sockaddr_port(listen, (struct sockaddr *)&ss, &len) ==
	    -1) {
		log_warnx("metrics_listen %s: expected ADDRESS:PORT", listen);
		return -1;
	}
	l = evconnlistener_new_bind(base, NULL, NULL,
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    -1, (struct sockaddr *)&ss, len);
	if (l == NULL) {
		log_warn(
		    "metrics: cannot listen on %s; metrics are off", listen);
		return -1;
	}
	M.http = evhttp_new(base);
	evhttp_set_allowed_methods(M.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(M.http, serve, NULL);
	if (evhttp_bind_listener(M.http, l) == NULL) {
		log_warnx(
		    "metrics: cannot listen on %s; metrics are off", listen);
		evconnlistener_free(l);
		evhttp_free(M.http);
		M.http = NULL;
		return -1;
	}
	if (config_listen_is_loopback(listen))
		log_info("metrics on http://%s/metrics", listen);
	else
		log_warnx("metrics on http://%s/metrics, reachable from other "
			  "hosts and without authentication (/metrics and "
			  "/healthz); set metrics_listen = 127.0.0.1:PORT "
			  "unless a firewall or proxy guards the port",
		    listen);
	return 0;
}

void
metrics_teardown(void)
{
	if (M.http)
		evhttp_free(M.http);
	M.http = NULL;
	for (size_t i = 0; i < M.n_acc; i++) {
		free(M.acc[i].name);
		free(M.acc[i].last_error);
	}
	free(M.acc);
	for (size_t i = 0; i < M.n_errors; i++)
		free(M.errors[i].name);
	free(M.errors);
	for (size_t i = 0; i < M.n_xfers; i++)
		free(M.xfers[i].protocol);
	free(M.xfers);
	metrics_jobs_clear();
	memset(&M, 0, sizeof(M));
}
