/*
 * The configuration: one INI file read with GLib's GKeyFile. Every key
 * is described once, in config.c's table (type, default, whether a
 * reload may change it); this header is what the rest of the daemon
 * sees. One struct config is live at a time, owned by main.c.
 */
#ifndef INBOXD_CONFIG_H
#define INBOXD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

enum account_type {
	ACCOUNT_IMAP,
	ACCOUNT_GMAIL,
};

enum tls_mode {
	TLS_IMPLICIT,
	TLS_STARTTLS,
	TLS_NONE,
};

enum auth_mode {
	AUTH_PASSWORD,
	AUTH_XOAUTH2,
};

/* How a password logs in: a SASL mechanism, the LOGIN command, or
 * whatever libcurl picks among those the server offers. */
enum sasl_mech {
	SASL_AUTO,
	SASL_PLAIN,
	SASL_LOGIN,
	SASL_CRAM_MD5,
	SASL_DIGEST_MD5,
	SASL_LOGIN_COMMAND,
};

struct account_conf {
	char *name; /* from "[account NAME]" */
	enum account_type type;

	/* IMAP */
	char *host;
	int port; /* 0: 993 for implicit TLS, else 143 */
	enum tls_mode tls;
	bool tls_verify;
	char *ca_file;
	char *username;
	enum auth_mode auth;
	char *password_file;
	char *password; /* read from password_file at load */
	char *sent_folder; /* NULL: found by SPECIAL-USE \Sent */
	char **folders; /* extra folders; NULL-terminated */
	enum sasl_mech sasl_mechanism;
	int connections; /* FETCH commands in flight */
	bool idle;
	int io_timeout; /* seconds the server may keep an answer waiting */
	bool mirror_archive; /* archived in INBOX: archived here */

	/* Gmail and XOAUTH2 */
	char *client_id;
	char *client_secret_file;
	char *client_secret;
	char *refresh_token_file;
	char *refresh_token;
	char *service_account_file;
	char *service_account; /* key JSON, a database account's secret */
	char *subject;
	char *token_url;
	char *api_base;
	int quota_units; /* per second */
	int history_margin; /* seconds before the newest mail, on catch-up */
	bool push; /* Gmail push, when [gmail] sets it up */

	/* Both */
	char **addresses; /* lower-cased; NULL-terminated */
	int poll_interval; /* seconds */
	int batch_size; /* messages per transaction */
	size_t batch_bytes; /* raw bytes per transaction */
	int initial_sync_days; /* 0: all history */
	bool thread_by_subject;
	int subject_window; /* days */
	bool create_leads;

	bool from_database; /* a mail_accounts row, not an [account] group */
};

struct config {
	int refs; /* accounts keep the config they run */
	char *path;

	/* [database] */
	char *conninfo;

	/* [daemon] */
	enum log_level log_level;
	char *metrics_listen; /* "127.0.0.1:9464" or NULL for off */
	size_t max_message_size;
	int job_retention; /* seconds */
	int job_lease_check; /* seconds between lease sweeps */
	char *instance_name;
	char *secrets_dir; /* holds the account key (inboxctl keygen) */

	/* [gmail] */
	int gmail_project_quota; /* units per second, all accounts */
	char *gmail_client_id; /* the default OAuth client */
	char *gmail_client_secret_file;
	char *gmail_client_secret; /* read from gmail_client_secret_file */
	/* Push through Cloud Pub/Sub: both names, or neither (off). */
	char *pubsub_topic; /* "projects/P/topics/T" */
	char *pubsub_subscription; /* "projects/P/subscriptions/S" */
	char *pubsub_service_account_file; /* the subscriber's key */
	char *pubsub_token_url;
	char *pubsub_api_base;

	struct account_conf *accounts;
	size_t n_accounts;

	/* What loads but is likely a mistake or a risk: one line each,
	 * "path:line: [group] key: why", or NULL. */
	char *warnings;
};

/*
 * Reads and validates path. On error returns NULL and sets *err to a
 * malloc'd message of one line per error found, each naming the file,
 * line, group and key.
 */
struct config *config_load(const char *path, char **err);
/* True when listen ("ADDRESS:PORT") is a loopback address, which
 * other hosts cannot reach. */
bool config_listen_is_loopback(const char *listen);
/* config_free drops one reference; config_ref adds one. */
struct config *config_ref(struct config *c);
void config_free(struct config *c);

const struct account_conf *config_account(
    const struct config *c, const char *name);

/* True when the address (any case) is one of the account's own. */
bool account_is_own_address(const struct account_conf *a, const char *addr);

/* True when two account configurations would sync the same way. */
bool account_conf_equal(
    const struct account_conf *a, const struct account_conf *b);

/* True when a reload may change key of group ("database", "daemon",
 * "account"); false for a key read at start only, or an unknown one. */
bool config_key_reloadable(const char *group, const char *key);

typedef void config_restart_fn(const char *group, const char *key, void *arg);

/*
 * Readies next, just loaded, to replace running on a reload: each key
 * a reload cannot change keeps its running value, and restart_needed
 * (if not NULL) is called for each whose value in the file differs.
 * Returns how many differed.
 */
size_t config_keep_restart_keys(struct config *next,
    const struct config *running, config_restart_fn *restart_needed, void *arg);

/*
 * A database account's row (mail_accounts), its values as text: the
 * columns that hold account keys (by key name), the settings object's
 * keys, and its decrypted secrets (NULL when not set).
 */
struct account_row {
	const char *name;
	const char *type;
	const char *const *column_keys;
	const char *const *column_values; /* NULL: SQL NULL, the default */
	size_t n_columns;
	const char *const *setting_keys;
	const char *const *setting_values;
	size_t n_settings;
	const char *password;
	const char *refresh_token;
	const char *client_secret;
	const char *service_account;
	/* The [gmail] OAuth client, for a row that names none. */
	const char *default_client_id;
	const char *default_client_secret;
};

/*
 * Reads a row into a with the checks of the file's accounts. Returns
 * NULL, or a malloc'd text of what to fix, one line per problem; a is
 * to be freed with account_conf_free() either way.
 */
char *config_account_from_row(
    struct account_conf *a, const struct account_row *r);
void account_conf_free(struct account_conf *a);

/* A new configuration: file's, with the accounts of extra that the file
 * does not name (the file owns an account it names). */
struct config *config_merge(const struct config *file,
    const struct account_conf *extra, size_t n_extra);

#endif
