/*
 * Configuration loading. Each key is declared once in a table: its
 * group, type, default and where it lands in the structs. Validation
 * walks the file's keys against the table, so an unknown key, a missing
 * required key or a bad value is reported as "file:line: [group] key:
 * why".
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <event2/util.h>
#include <glib.h>

#include "config_int.h"
#include "log.h"
#include "secret.h"
#include "util.h"

enum key_type {
	KT_STRING,
	KT_INT,
	KT_BOOL,
	KT_SIZE, /* bytes, with optional K/M/G suffix */
	KT_DURATION, /* seconds, with optional s/m/h/d suffix */
	KT_LIST, /* comma-separated strings */
	KT_ENUM,
	KT_LOGLEVEL,
	KT_SYNC, /* "all" or a number of days */
};

enum key_scope {
	SCOPE_DATABASE,
	SCOPE_DAEMON,
	SCOPE_ACCOUNT,
	SCOPE_GMAIL,
};

struct key_spec {
	enum key_scope scope;
	const char *name;
	enum key_type type;
	const char *def; /* NULL: no default */
	bool reloadable; /* RELOAD or RESTART */
	bool required;
	size_t offset; /* into struct config or account_conf */
	const char *const *choices; /* KT_ENUM: names, index = value */
	unsigned types; /* accounts: bit per account_type */
};

/* Whether a SIGHUP applies a new value (RELOAD), or the value is read
 * at start only and kept until a restart (RESTART). */
#define RELOAD true
#define RESTART false

#define T_IMAP (1u << ACCOUNT_IMAP)
#define T_GMAIL (1u << ACCOUNT_GMAIL)
#define T_ALL (T_IMAP | T_GMAIL)
#define C(f) offsetof(struct config, f)
#define A(f) offsetof(struct account_conf, f)

static const char *const scope_names[] = {
    "database", "daemon", "account", "gmail"};
static const char *const type_names[] = {"imap", "gmail", NULL};
static const char *const tls_names[] = {"implicit", "starttls", "none", NULL};
static const char *const auth_names[] = {"password", "xoauth2", NULL};
static const char *const sasl_names[] = {
    "auto", "plain", "login", "cram-md5", "digest-md5", "login-command", NULL};

/*
 * Every key. Keys of [database] and [daemon] marked RESTART are read by
 * the *_setup() calls at start only; account keys all reload, as
 * accounts_apply() restarts an account whose configuration changed.
 */
static const struct key_spec keys[] = {
    {SCOPE_DATABASE, "conninfo", KT_STRING, NULL, RESTART, true, C(conninfo),
	NULL, 0},

    {SCOPE_DAEMON, "log_level", KT_LOGLEVEL, "info", RELOAD, false,
	C(log_level), NULL, 0},
    {SCOPE_DAEMON, "metrics_listen", KT_STRING, "127.0.0.1:9464", RESTART,
	false, C(metrics_listen), NULL, 0},
    {SCOPE_DAEMON, "max_message_size", KT_SIZE, "25M", RESTART, false,
	C(max_message_size), NULL, 0},
    {SCOPE_DAEMON, "job_retention", KT_DURATION, "1d", RESTART, false,
	C(job_retention), NULL, 0},
    {SCOPE_DAEMON, "job_lease_check", KT_DURATION, "30s", RESTART, false,
	C(job_lease_check), NULL, 0},
    {SCOPE_DAEMON, "instance_name", KT_STRING, NULL, RESTART, false,
	C(instance_name), NULL, 0},
    {SCOPE_DAEMON, "secrets_dir", KT_STRING, "/etc/inboxd/secrets", RELOAD,
	false, C(secrets_dir), NULL, 0},

    {SCOPE_GMAIL, "client_id", KT_STRING, NULL, RELOAD, false,
	C(gmail_client_id), NULL, 0},
    {SCOPE_GMAIL, "client_secret_file", KT_STRING, NULL, RELOAD, false,
	C(gmail_client_secret_file), NULL, 0},
    {SCOPE_GMAIL, "project_quota", KT_INT, "20000", RELOAD, false,
	C(gmail_project_quota), NULL, 0},
    {SCOPE_GMAIL, "pubsub_topic", KT_STRING, NULL, RESTART, false,
	C(pubsub_topic), NULL, 0},
    {SCOPE_GMAIL, "pubsub_subscription", KT_STRING, NULL, RESTART, false,
	C(pubsub_subscription), NULL, 0},
    {SCOPE_GMAIL, "pubsub_service_account_file", KT_STRING, NULL, RESTART,
	false, C(pubsub_service_account_file), NULL, 0},
    {SCOPE_GMAIL, "pubsub_token_url", KT_STRING,
	"https://oauth2.googleapis.com/token", RESTART, false,
	C(pubsub_token_url), NULL, 0},
    {SCOPE_GMAIL, "pubsub_api_base", KT_STRING, "https://pubsub.googleapis.com",
	RESTART, false, C(pubsub_api_base), NULL, 0},

    {SCOPE_ACCOUNT, "type", KT_ENUM, NULL, RELOAD, true, A(type), type_names,
	T_ALL},
    {SCOPE_ACCOUNT, "host", KT_STRING, NULL, RELOAD, true, A(host), NULL,
	T_IMAP},
    {SCOPE_ACCOUNT, "port", KT_INT, "0", RELOAD, false, A(port), NULL, T_IMAP},
    {SCOPE_ACCOUNT, "tls", KT_ENUM, "implicit", RELOAD, false, A(tls),
	tls_names, T_IMAP},
    {SCOPE_ACCOUNT, "tls_verify", KT_BOOL, "true", RELOAD, false, A(tls_verify),
	NULL, T_ALL},
    {SCOPE_ACCOUNT, "ca_file", KT_STRING, NULL, RELOAD, false, A(ca_file), NULL,
	T_ALL},
    {SCOPE_ACCOUNT, "username", KT_STRING, NULL, RELOAD, true, A(username),
	NULL, T_ALL},
    {SCOPE_ACCOUNT, "auth", KT_ENUM, "password", RELOAD, false, A(auth),
	auth_names, T_IMAP},
    {SCOPE_ACCOUNT, "password_file", KT_STRING, NULL, RELOAD, false,
	A(password_file), NULL, T_IMAP},
    {SCOPE_ACCOUNT, "sasl_mechanism", KT_ENUM, "auto", RELOAD, false,
	A(sasl_mechanism), sasl_names, T_IMAP},
    {SCOPE_ACCOUNT, "sent_folder", KT_STRING, NULL, RELOAD, false,
	A(sent_folder), NULL, T_IMAP},
    {SCOPE_ACCOUNT, "folders", KT_LIST, NULL, RELOAD, false, A(folders), NULL,
	T_IMAP},
    {SCOPE_ACCOUNT, "connections", KT_INT, "4", RELOAD, false, A(connections),
	NULL, T_IMAP},
    {SCOPE_ACCOUNT, "idle", KT_BOOL, "true", RELOAD, false, A(idle), NULL,
	T_IMAP},
    {SCOPE_ACCOUNT, "io_timeout", KT_DURATION, "60s", RELOAD, false,
	A(io_timeout), NULL, T_IMAP},
    {SCOPE_ACCOUNT, "mirror_archive", KT_BOOL, "false", RELOAD, false,
	A(mirror_archive), NULL, T_ALL},

    {SCOPE_ACCOUNT, "client_id", KT_STRING, NULL, RELOAD, false, A(client_id),
	NULL, T_ALL},
    {SCOPE_ACCOUNT, "client_secret_file", KT_STRING, NULL, RELOAD, false,
	A(client_secret_file), NULL, T_ALL},
    {SCOPE_ACCOUNT, "refresh_token_file", KT_STRING, NULL, RELOAD, false,
	A(refresh_token_file), NULL, T_ALL},
    {SCOPE_ACCOUNT, "service_account_file", KT_STRING, NULL, RELOAD, false,
	A(service_account_file), NULL, T_ALL},
    {SCOPE_ACCOUNT, "subject", KT_STRING, NULL, RELOAD, false, A(subject), NULL,
	T_ALL},
    {SCOPE_ACCOUNT, "token_url", KT_STRING,
	"https://oauth2.googleapis.com/token", RELOAD, false, A(token_url),
	NULL, T_ALL},
    {SCOPE_ACCOUNT, "api_base", KT_STRING, "https://gmail.googleapis.com",
	RELOAD, false, A(api_base), NULL, T_GMAIL},
    {SCOPE_ACCOUNT, "quota_units", KT_INT, "250", RELOAD, false, A(quota_units),
	NULL, T_GMAIL},
    {SCOPE_ACCOUNT, "history_margin", KT_DURATION, "1d", RELOAD, false,
	A(history_margin), NULL, T_GMAIL},
    {SCOPE_ACCOUNT, "push", KT_BOOL, "true", RELOAD, false, A(push), NULL,
	T_GMAIL},

    {SCOPE_ACCOUNT, "addresses", KT_LIST, NULL, RELOAD, false, A(addresses),
	NULL, T_ALL},
    {SCOPE_ACCOUNT, "poll_interval", KT_DURATION, "60", RELOAD, false,
	A(poll_interval), NULL, T_ALL},
    {SCOPE_ACCOUNT, "batch_size", KT_INT, "500", RELOAD, false, A(batch_size),
	NULL, T_ALL},
    {SCOPE_ACCOUNT, "batch_bytes", KT_SIZE, "8M", RELOAD, false, A(batch_bytes),
	NULL, T_ALL},
    {SCOPE_ACCOUNT, "initial_sync", KT_SYNC, "all", RELOAD, false,
	A(initial_sync_days), NULL, T_ALL},
    {SCOPE_ACCOUNT, "thread_by_subject", KT_BOOL, "false", RELOAD, false,
	A(thread_by_subject), NULL, T_ALL},
    {SCOPE_ACCOUNT, "subject_window", KT_INT, "14", RELOAD, false,
	A(subject_window), NULL, T_ALL},
    {SCOPE_ACCOUNT, "create_leads", KT_BOOL, "true", RELOAD, false,
	A(create_leads), NULL, T_ALL},
};

static int
parse_scaled(
    const char *s, const char *units, const long long *mult, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v < 0)
		return -1;
	while (*end == ' ')
		end++;
	if (*end != '\0') {
		const char *u = strchr(units, g_ascii_tolower(*end));

		if (u == NULL || end[1] != '\0')
			return -1;
		if (v > LLONG_MAX / mult[u - units])
			return -1;
		v *= mult[u - units];
	}
	*out = v;
	return 0;
}

static char **
parse_list(const char *s, bool lower)
{
	gchar **parts = g_strsplit(s, ",", -1);
	size_t n = 0;
	char **out;

	out = xcalloc(g_strv_length(parts) + 1, sizeof(char *));
	for (gchar **p = parts; *p; p++) {
		char *item = str_trim(*p);

		if (*item == '\0')
			continue;
		out[n] = xstrdup(item);
		if (lower)
			str_lower(out[n]);
		n++;
	}
	g_strfreev(parts);
	return out;
}

static void
free_list(char **list)
{
	if (list == NULL)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
}

/* Parses raw as key k's type into its field of base; returns NULL on
 * success or a static reason. */
static const char *
parse_into_field(const struct key_spec *k, const char *raw, void *base)
{
	char *field = (char *)base + k->offset;
	static const long long size_mult[] = {
	    1024LL, 1024LL * 1024, 1024LL * 1024 * 1024};
	static const long long dur_mult[] = {1, 60, 3600, 86400};
	long long v;
	char *end;

	switch (k->type) {
	case KT_STRING:
		free(*(char **)(void *)field);
		*(char **)(void *)field = xstrdup(raw);
		return NULL;
	case KT_INT:
		errno = 0;
		v = strtoll(raw, &end, 10);
		if (errno || end == raw || *end != '\0' || v < 0 || v > INT_MAX)
			return "expected a non-negative integer";
		*(int *)(void *)field = (int)v;
		return NULL;
	case KT_BOOL:
		if (str_iequal(raw, "true") || str_iequal(raw, "yes") ||
		    strcmp(raw, "1") == 0 || str_iequal(raw, "on"))
			*(bool *)(void *)field = true;
		else if (str_iequal(raw, "false") || str_iequal(raw, "no") ||
		    strcmp(raw, "0") == 0 || str_iequal(raw, "off"))
			*(bool *)(void *)field = false;
		else
			return "expected true or false";
		return NULL;
	case KT_SIZE:
		if (parse_scaled(raw, "kmg", size_mult, &v) == -1)
			return "expected a size such as 25M";
		*(size_t *)(void *)field = (size_t)v;
		return NULL;
	case KT_DURATION:
		if (parse_scaled(raw, "smhd", dur_mult, &v) == -1 ||
		    v > INT_MAX)
			return "expected a duration such as 60, 30s, 5m, 1d";
		*(int *)(void *)field = (int)v;
		return NULL;
	case KT_LIST:
		free_list(*(char ***)(void *)field);
		*(char ***)(void *)field =
		    parse_list(raw, strcmp(k->name, "addresses") == 0);
		return NULL;
	case KT_ENUM:
		for (int i = 0; k->choices[i]; i++) {
			if (str_iequal(raw, k->choices[i])) {
				*(int *)(void *)field = i;
				return NULL;
			}
		}
		return "not one of the allowed values";
	case KT_LOGLEVEL:
		if (log_level_parse(raw, (enum log_level *)(void *)field) == -1)
			return "expected error, warning, info or debug";
		return NULL;
	case KT_SYNC:
		if (str_iequal(raw, "all")) {
			*(int *)(void *)field = 0;
			return NULL;
		}
		errno = 0;
		v = strtoll(raw, &end, 10);
		if (errno || end == raw || *end != '\0' || v <= 0 || v > 36500)
			return "expected \"all\" or a number of days";
		*(int *)(void *)field = (int)v;
		return NULL;
	}
	return "unknown key type";
}

static const struct key_spec *
find_key(enum key_scope scope, const char *name)
{
	for (size_t i = 0; i < nitems(keys); i++)
		if (keys[i].scope == scope && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Keys may carry an inline "; comment" after the value. */
static char *
key_value(GKeyFile *kf, const char *group, const char *key)
{
	gchar *v = g_key_file_get_value(kf, group, key, NULL);
	char *semi, *out;

	if (v == NULL)
		return NULL;
	if ((semi = strstr(v, " ;")) != NULL ||
	    (semi = strstr(v, "\t;")) != NULL)
		*semi = '\0';
	out = xstrdup(v);
	g_free(v);
	return str_trim(out);
}

static void
apply_defaults(enum key_scope scope, void *base, unsigned type_bit)
{
	for (size_t i = 0; i < nitems(keys); i++) {
		if (keys[i].scope != scope || keys[i].def == NULL)
			continue;
		if (scope == SCOPE_ACCOUNT && !(keys[i].types & type_bit))
			continue;
		if (parse_into_field(&keys[i], keys[i].def, base) != NULL)
			fatalx("config: bad built-in default for %s",
			    keys[i].name);
	}
}

static bool
listed_before(gchar **names, gchar **n)
{
	for (gchar **p = names; p < n; p++)
		if (strcmp(*p, *n) == 0)
			return true;
	return false;
}

/* Reads every key of a group into base, checking names and values. */
static void
load_group(GKeyFile *kf, const char *path, const char *group,
    enum key_scope scope, void *base, unsigned type_bit, char **err)
{
	gchar **names = g_key_file_get_keys(kf, group, NULL, NULL);

	for (gchar **n = names; n && *n; n++) {
		const struct key_spec *k = find_key(scope, *n);
		const char *why;
		char *raw;

		/* A key given twice is listed twice; config_check_duplicates()
		 * reports it, and its value is checked once. */
		if (listed_before(names, n))
			continue;
		if (k == NULL) {
			config_error(err, path, group, *n, "unknown key");
			continue;
		}
		if (scope == SCOPE_ACCOUNT && !(k->types & type_bit)) {
			config_error(err, path, group, *n,
			    "not valid for this account type");
			continue;
		}
		raw = key_value(kf, group, *n);
		if (*raw == '\0' && k->type != KT_STRING && k->type != KT_LIST)
			why = "empty value";
		else
			why = parse_into_field(k, raw, base);
		if (why != NULL)
			config_error(
			    err, path, group, *n, "%s: \"%s\"", why, raw);
		free(raw);
	}
	g_strfreev(names);
	for (size_t i = 0; i < nitems(keys); i++) {
		if (keys[i].scope != scope || !keys[i].required)
			continue;
		if (scope == SCOPE_ACCOUNT && !(keys[i].types & type_bit))
			continue;
		if (!g_key_file_has_key(kf, group, keys[i].name, NULL))
			config_error(err, path, group, NULL,
			    "missing required key \"%s\"", keys[i].name);
	}
}

/*
 * Secrets come from files only (secret.c says which files are refused);
 * a secret of the configuration is one line.
 */
static char *
read_secret(const char *path, const char *cfg, const char *group,
    const char *key, char **err)
{
	char *why = NULL, *s = secret_read(path, true, &why);

	if (s == NULL) {
		config_error(err, cfg, group, key, "%s", why);
		free(why);
	}
	return s;
}

static void
check_account_values(
    struct account_conf *a, const char *path, const char *group, char **err)
{
	const char *why;

	if (a->type == ACCOUNT_IMAP) {
		if (a->port == 0)
			a->port = a->tls == TLS_IMPLICIT ? 993 : 143;
		if (a->port > 65535)
			config_error(err, path, group, "port", "out of range");
		if (a->auth == AUTH_PASSWORD && a->password_file == NULL &&
		    path != NULL)
			config_error(err, path, group, NULL,
			    "missing required key \"password_file\"");
		if (a->connections < 1 || a->connections > 32)
			config_error(err, path, group, "connections",
			    "must be between 1 and 32");
		if (a->io_timeout < 1 || a->io_timeout > 3600)
			config_error(err, path, group, "io_timeout",
			    "must be between 1s and 1h");
	}
	if ((a->type == ACCOUNT_GMAIL || a->auth == AUTH_XOAUTH2) &&
	    path != NULL) {
		if (a->service_account_file == NULL &&
		    (a->client_id == NULL || a->client_secret_file == NULL ||
			a->refresh_token_file == NULL))
			config_error(err, path, group, NULL,
			    "needs client_id, client_secret_file and "
			    "refresh_token_file, or service_account_file");
	}
	if (a->token_url && (why = config_check_url(a->token_url)) != NULL)
		config_error(err, path, group, "token_url", "%s: \"%s\"", why,
		    a->token_url);
	if (a->api_base && (why = config_check_url(a->api_base)) != NULL)
		config_error(err, path, group, "api_base", "%s: \"%s\"", why,
		    a->api_base);
	/* A batch's flags are read in one IMAP answer line: keep it short. */
	if (a->batch_size < 1 || a->batch_size > 1000)
		config_error(err, path, group, "batch_size",
		    "must be between 1 and 1000");
	if (a->poll_interval < 1)
		config_error(err, path, group, "poll_interval",
		    "must be at least 1 second");
}

static void
check_account(
    struct account_conf *a, const char *path, const char *group, char **err)
{
	check_account_values(a, path, group, err);
	if (a->addresses == NULL || a->addresses[0] == NULL) {
		/* The login is the obvious own address when it is one. */
		free_list(a->addresses);
		a->addresses = xcalloc(2, sizeof(char *));
		if (a->username && strchr(a->username, '@'))
			a->addresses[0] = str_lower(xstrdup(a->username));
	}
	if (a->password_file)
		a->password = read_secret(
		    a->password_file, path, group, "password_file", err);
	if (a->client_secret_file)
		a->client_secret = read_secret(a->client_secret_file, path,
		    group, "client_secret_file", err);
	if (a->refresh_token_file)
		a->refresh_token = read_secret(a->refresh_token_file, path,
		    group, "refresh_token_file", err);
}

static bool
valid_account_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!g_ascii_isalnum(*s) && *s != '-' && *s != '_' &&
		    *s != '.' && *s != '@')
			return false;
	return true;
}

/* Checks group g's name and reads its type into *type; false after
 * reporting why the group cannot be read as an account. */
static bool
account_group_type(GKeyFile *kf, struct config *c, const char *g,
    enum account_type *type, char **err)
{
	struct account_conf probe = {0};
	char *raw;

	if (strncmp(g, "account ", 8) != 0) {
		config_error(err, c->path, g, NULL,
		    "unknown group (expected [database], [daemon], [gmail] "
		    "or [account NAME])");
		return false;
	}
	if (!valid_account_name(g + 8)) {
		config_error(err, c->path, g, NULL,
		    "account name may use letters, digits and -_.@");
		return false;
	}
	if ((raw = key_value(kf, g, "type")) == NULL) {
		config_error(
		    err, c->path, g, NULL, "missing required key \"type\"");
		return false;
	}
	if (parse_into_field(find_key(SCOPE_ACCOUNT, "type"), raw, &probe) !=
	    NULL) {
		config_error(err, c->path, g, "type",
		    "expected imap or gmail: \"%s\"", raw);
		free(raw);
		return false;
	}
	free(raw);
	*type = probe.type;
	return true;
}

/* The app's OAuth client, given once in [gmail], serves every Gmail
 * and XOAUTH2 account that names none. */
static void
default_client(struct account_conf *a, const struct config *c)
{
	if (a->type != ACCOUNT_GMAIL && a->auth != AUTH_XOAUTH2)
		return;
	if (a->service_account_file != NULL || a->client_id != NULL)
		return;
	if (c->gmail_client_id != NULL)
		a->client_id = xstrdup(c->gmail_client_id);
	if (a->client_secret_file == NULL && c->gmail_client_secret_file)
		a->client_secret_file = xstrdup(c->gmail_client_secret_file);
}

static void
load_accounts(GKeyFile *kf, struct config *c, char **err)
{
	gchar **groups = g_key_file_get_groups(kf, NULL);
	size_t n = g_strv_length(groups);

	c->accounts = xcalloc(n ? n : 1, sizeof(*c->accounts));
	for (gchar **g = groups; *g; g++) {
		struct account_conf *a;
		enum account_type type;

		if (strcmp(*g, "database") == 0 || strcmp(*g, "daemon") == 0 ||
		    strcmp(*g, "gmail") == 0)
			continue;
		if (!account_group_type(kf, c, *g, &type, err))
			continue;
		a = &c->accounts[c->n_accounts++];
		a->name = xstrdup(*g + 8);
		a->type = type;
		apply_defaults(SCOPE_ACCOUNT, a, 1u << type);
		load_group(kf, c->path, *g, SCOPE_ACCOUNT, a, 1u << type, err);
		default_client(a, c);
		check_account(a, c->path, *g, err);
	}
	g_strfreev(groups);
}

struct config *
config_load(const char *path, char **err)
{
	struct config *c = xcalloc(1, sizeof(*c));
	GKeyFile *kf = g_key_file_new();
	GError *gerr = NULL;

	*err = NULL;
	c->refs = 1;
	c->path = xstrdup(path);
	apply_defaults(SCOPE_DATABASE, c, 0);
	apply_defaults(SCOPE_DAEMON, c, 0);
	apply_defaults(SCOPE_GMAIL, c, 0);
	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &gerr)) {
		if (gerr->domain == G_FILE_ERROR)
			config_error(
			    err, path, NULL, NULL, "%s", gerr->message);
		else
			config_error(err, path, NULL, NULL, "syntax error: %s",
			    gerr->message);
		g_error_free(gerr);
		goto out;
	}
	config_check_duplicates(path, err);
	if (!g_key_file_has_group(kf, "database"))
		config_error(err, path, NULL, NULL, "missing [database] group");
	else
		load_group(kf, path, "database", SCOPE_DATABASE, c, 0, err);
	if (g_key_file_has_group(kf, "daemon"))
		load_group(kf, path, "daemon", SCOPE_DAEMON, c, 0, err);
	if (g_key_file_has_group(kf, "gmail"))
		load_group(kf, path, "gmail", SCOPE_GMAIL, c, 0, err);
	config_check_conninfo(c, err);
	config_check_metrics_listen(c, err);
	config_check_pubsub(c, err);
	if (c->gmail_client_secret_file != NULL)
		c->gmail_client_secret =
		    read_secret(c->gmail_client_secret_file, path, "gmail",
			"client_secret_file", err);
	load_accounts(kf, c, err);
out:
	g_key_file_free(kf);
	if (*err != NULL) {
		config_free(c);
		return NULL;
	}
	return c;
}

static void
account_conf_clear(struct account_conf *a)
{
	for (size_t i = 0; i < nitems(keys); i++) {
		char *field = (char *)a + keys[i].offset;

		if (keys[i].scope != SCOPE_ACCOUNT)
			continue;
		if (keys[i].type == KT_STRING)
			free(*(char **)(void *)field);
		else if (keys[i].type == KT_LIST)
			free_list(*(char ***)(void *)field);
	}
	free(a->name);
	free_secret(a->password);
	free_secret(a->client_secret);
	free_secret(a->refresh_token);
	free_secret(a->service_account);
}

struct config *
config_ref(struct config *c)
{
	c->refs++;
	return c;
}

void
config_free(struct config *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	for (size_t i = 0; i < c->n_accounts; i++)
		account_conf_clear(&c->accounts[i]);
	free(c->accounts);
	free(c->conninfo);
	free(c->metrics_listen);
	free(c->instance_name);
	free(c->warnings);
	free(c->secrets_dir);
	free(c->gmail_client_id);
	free(c->gmail_client_secret_file);
	if (c->gmail_client_secret)
		explicit_bzero(
		    c->gmail_client_secret, strlen(c->gmail_client_secret));
	free(c->gmail_client_secret);
	free(c->pubsub_topic);
	free(c->pubsub_subscription);
	free(c->pubsub_service_account_file);
	free(c->pubsub_token_url);
	free(c->pubsub_api_base);
	free(c->path);
	free(c);
}

const struct account_conf *
config_account(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_accounts; i++)
		if (c->accounts[i].name &&
		    strcmp(c->accounts[i].name, name) == 0)
			return &c->accounts[i];
	return NULL;
}

bool
account_is_own_address(const struct account_conf *a, const char *addr)
{
	if (addr == NULL || a->addresses == NULL)
		return false;
	for (char **p = a->addresses; *p; p++)
		if (str_iequal(*p, addr))
			return true;
	return false;
}

static bool
str_equal_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
list_equal(char **a, char **b)
{
	if (a == NULL || b == NULL)
		return a == b;
	for (; *a && *b; a++, b++)
		if (strcmp(*a, *b) != 0)
			return false;
	return *a == *b;
}

/* True when key k's field holds the same value in base a and base b. */
static bool
field_equal(const struct key_spec *k, const void *a, const void *b)
{
	const char *fa = (const char *)a + k->offset;
	const char *fb = (const char *)b + k->offset;

	switch (k->type) {
	case KT_STRING:
		return str_equal_null(*(char *const *)(const void *)fa,
		    *(char *const *)(const void *)fb);
	case KT_LIST:
		return list_equal(*(char **const *)(const void *)fa,
		    *(char **const *)(const void *)fb);
	case KT_BOOL:
		return *(const bool *)(const void *)fa ==
		    *(const bool *)(const void *)fb;
	case KT_SIZE:
		return *(const size_t *)(const void *)fa ==
		    *(const size_t *)(const void *)fb;
	default:
		return *(const int *)(const void *)fa ==
		    *(const int *)(const void *)fb;
	}
}

static char **
copy_list(char **list)
{
	size_t n = 0;
	char **out;

	if (list == NULL)
		return NULL;
	while (list[n] != NULL)
		n++;
	out = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(list[i]);
	return out;
}

/* Replaces key k's field in base dst with a copy of the one in src. */
static void
field_copy(const struct key_spec *k, void *dst, const void *src)
{
	char *fd = (char *)dst + k->offset;
	const char *fs = (const char *)src + k->offset;
	char *str;
	char **list;

	switch (k->type) {
	case KT_STRING:
		str = *(char *const *)(const void *)fs;
		free(*(char **)(void *)fd);
		*(char **)(void *)fd = str ? xstrdup(str) : NULL;
		break;
	case KT_LIST:
		list = *(char **const *)(const void *)fs;
		free_list(*(char ***)(void *)fd);
		*(char ***)(void *)fd = copy_list(list);
		break;
	case KT_BOOL:
		*(bool *)(void *)fd = *(const bool *)(const void *)fs;
		break;
	case KT_SIZE:
		*(size_t *)(void *)fd = *(const size_t *)(const void *)fs;
		break;
	default:
		*(int *)(void *)fd = *(const int *)(const void *)fs;
		break;
	}
}

bool
account_conf_equal(const struct account_conf *a, const struct account_conf *b)
{
	for (size_t i = 0; i < nitems(keys); i++)
		if (keys[i].scope == SCOPE_ACCOUNT &&
		    !field_equal(&keys[i], a, b))
			return false;
	return str_equal_null(a->password, b->password) &&
	    str_equal_null(a->client_secret, b->client_secret) &&
	    str_equal_null(a->refresh_token, b->refresh_token) &&
	    str_equal_null(a->service_account, b->service_account);
}

bool
config_key_reloadable(const char *group, const char *key)
{
	for (size_t i = 0; i < nitems(keys); i++)
		if (strcmp(scope_names[keys[i].scope], group) == 0 &&
		    strcmp(keys[i].name, key) == 0)
			return keys[i].reloadable;
	return false;
}

size_t
config_keep_restart_keys(struct config *next, const struct config *running,
    config_restart_fn *restart_needed, void *arg)
{
	size_t changed = 0;

	for (size_t i = 0; i < nitems(keys); i++) {
		const struct key_spec *k = &keys[i];

		/* Account keys all reload (see the table); the others
		 * live in struct config itself. */
		if (k->reloadable || k->scope == SCOPE_ACCOUNT)
			continue;
		if (field_equal(k, next, running))
			continue;
		field_copy(k, next, running);
		if (restart_needed != NULL)
			restart_needed(scope_names[k->scope], k->name, arg);
		changed++;
	}
	return changed;
}

/* Database accounts ---------------------------------------------------- */

/* Keys a row sets in its own columns, not in settings. */
static const char *const column_keys[] = {"host", "port", "tls", "tls_verify",
    "username", "auth", "addresses", "folders", "sent_folder", "poll_interval",
    NULL};

static bool
is_column_key(const char *key)
{
	for (const char *const *k = column_keys; *k; k++)
		if (strcmp(*k, key) == 0)
			return true;
	return false;
}

/* One value of a row into a; an error names where the value came from. */
static void
row_value(struct account_conf *a, const char *where, const char *key,
    const char *raw, unsigned type_bit, char **err)
{
	const struct key_spec *k = find_key(SCOPE_ACCOUNT, key);
	const char *why;
	size_t n = strlen(key);

	if (k == NULL || strcmp(key, "type") == 0) {
		config_error(
		    err, NULL, NULL, NULL, "%s%s: unknown key", where, key);
		return;
	}
	if (n > 5 && strcmp(key + n - 5, "_file") == 0 &&
	    strcmp(key, "ca_file") != 0) {
		config_error(err, NULL, NULL, NULL,
		    "%s%s: a database account takes its secrets from "
		    "inboxd.set_account_secret(), not from files",
		    where, key);
		return;
	}
	if (!(k->types & type_bit)) {
		config_error(err, NULL, NULL, NULL,
		    "%s%s: not valid for this account type", where, key);
		return;
	}
	if (*raw == '\0' && k->type != KT_STRING && k->type != KT_LIST)
		why = "empty value";
	else
		why = parse_into_field(k, raw, a);
	if (why != NULL)
		config_error(err, NULL, NULL, NULL, "%s%s: %s: \"%s\"", where,
		    key, why, raw);
}

/* The secrets a row needs that it does not have. */
static void
row_secrets(struct account_conf *a, const struct account_row *r, char **err)
{
	a->password = r->password ? xstrdup(r->password) : NULL;
	/* A service account key acts for its subject (settings "subject",
	 * else the username) and needs no client or refresh token. */
	if (r->service_account != NULL) {
		a->service_account = xstrdup(r->service_account);
		return;
	}
	if (r->client_secret == NULL && a->client_id == NULL &&
	    r->default_client_id != NULL) {
		a->client_id = xstrdup(r->default_client_id);
		a->client_secret = r->default_client_secret
		    ? xstrdup(r->default_client_secret)
		    : NULL;
	} else
		a->client_secret =
		    r->client_secret ? xstrdup(r->client_secret) : NULL;
	a->refresh_token = r->refresh_token ? xstrdup(r->refresh_token) : NULL;
	if (a->type == ACCOUNT_IMAP && a->auth == AUTH_PASSWORD &&
	    a->password == NULL)
		config_error(err, NULL, NULL, NULL,
		    "missing secret: password (SELECT "
		    "inboxd.set_account_secret('%s', 'password', ...))",
		    a->name);
	if (a->type == ACCOUNT_GMAIL || a->auth == AUTH_XOAUTH2) {
		if (a->client_id == NULL)
			config_error(err, NULL, NULL, NULL,
			    "missing setting: client_id (settings "
			    "{\"client_id\": ...})");
		if (a->client_secret == NULL)
			config_error(err, NULL, NULL, NULL,
			    "missing secret: client_secret (SELECT "
			    "inboxd.set_account_secret('%s', "
			    "'client_secret', ...))",
			    a->name);
		if (a->refresh_token == NULL)
			config_error(err, NULL, NULL, NULL,
			    "missing secret: refresh_token (SELECT "
			    "inboxd.set_account_secret('%s', "
			    "'refresh_token', ...))",
			    a->name);
	}
}

char *
config_account_from_row(struct account_conf *a, const struct account_row *r)
{
	struct account_conf probe = {0};
	char *err = NULL;
	unsigned bit;

	memset(a, 0, sizeof(*a));
	a->name = xstrdup(r->name);
	a->from_database = true;
	if (!valid_account_name(r->name))
		config_error(&err, NULL, NULL, NULL,
		    "name: may use letters, digits and -_.@");
	if (parse_into_field(
		find_key(SCOPE_ACCOUNT, "type"), r->type, &probe) != NULL) {
		config_error(&err, NULL, NULL, NULL,
		    "type: expected imap or gmail: \"%s\"", r->type);
		return err;
	}
	a->type = probe.type;
	bit = 1u << a->type;
	apply_defaults(SCOPE_ACCOUNT, a, bit);
	for (size_t i = 0; i < r->n_columns; i++)
		if (r->column_values[i] != NULL)
			row_value(a, "", r->column_keys[i], r->column_values[i],
			    bit, &err);
	for (size_t i = 0; i < r->n_settings; i++) {
		if (is_column_key(r->setting_keys[i]))
			config_error(&err, NULL, NULL, NULL,
			    "settings.%s: set the column %s instead",
			    r->setting_keys[i], r->setting_keys[i]);
		else
			row_value(a, "settings.", r->setting_keys[i],
			    r->setting_values[i], bit, &err);
	}
	if (a->type == ACCOUNT_IMAP && a->host == NULL)
		config_error(&err, NULL, NULL, NULL, "host: not set");
	if (a->username == NULL)
		config_error(&err, NULL, NULL, NULL, "username: not set");
	check_account_values(a, NULL, NULL, &err);
	if (a->addresses == NULL || a->addresses[0] == NULL) {
		free_list(a->addresses);
		a->addresses = xcalloc(2, sizeof(char *));
		if (a->username && strchr(a->username, '@'))
			a->addresses[0] = str_lower(xstrdup(a->username));
	}
	row_secrets(a, r, &err);
	return err;
}

void
account_conf_free(struct account_conf *a)
{
	account_conf_clear(a);
	memset(a, 0, sizeof(*a));
}

static void
account_conf_copy(struct account_conf *dst, const struct account_conf *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < nitems(keys); i++)
		if (keys[i].scope == SCOPE_ACCOUNT)
			field_copy(&keys[i], dst, src);
	dst->name = xstrdup(src->name);
	dst->from_database = src->from_database;
	dst->password = src->password ? xstrdup(src->password) : NULL;
	dst->client_secret =
	    src->client_secret ? xstrdup(src->client_secret) : NULL;
	dst->refresh_token =
	    src->refresh_token ? xstrdup(src->refresh_token) : NULL;
	dst->service_account =
	    src->service_account ? xstrdup(src->service_account) : NULL;
}

struct config *
config_merge(
    const struct config *file, const struct account_conf *extra, size_t n_extra)
{
	struct config *c = xcalloc(1, sizeof(*c));

	c->refs = 1;
	c->path = xstrdup(file->path);
	for (size_t i = 0; i < nitems(keys); i++)
		if (keys[i].scope != SCOPE_ACCOUNT)
			field_copy(&keys[i], c, file);
	if (file->gmail_client_secret != NULL)
		c->gmail_client_secret = xstrdup(file->gmail_client_secret);
	c->accounts =
	    xcalloc(file->n_accounts + n_extra + 1, sizeof(*c->accounts));
	for (size_t i = 0; i < file->n_accounts; i++)
		account_conf_copy(
		    &c->accounts[c->n_accounts++], &file->accounts[i]);
	/* The file owns an account it names. */
	for (size_t i = 0; i < n_extra; i++)
		if (config_account(file, extra[i].name) == NULL)
			account_conf_copy(
			    &c->accounts[c->n_accounts++], &extra[i]);
	return c;
}
