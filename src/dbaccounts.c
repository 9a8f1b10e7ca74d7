/*
 * Database accounts (dbaccounts.h). One query reads every database
 * account with its settings and its encrypted secrets; each row becomes
 * an account_conf through config.c's key table, so that a row is
 * checked exactly as an [account] group of the file is. A notification
 * starts a reading 50 ms later, so that a burst of changes (an app's
 * transaction touching several rows) costs one reading. An RSA
 * decryption costs a few milliseconds: a secret is decrypted once and
 * kept by its ciphertext, so that a reading of a thousand accounts
 * decrypts only what changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <glib.h>
#include <jansson.h>

#include "account_key.h"
#include "config.h"
#include "db.h"
#include "dbaccounts.h"
#include "log.h"
#include "pgp.h"
#include "secret.h"
#include "store.h"
#include "util.h"

#define DEBOUNCE_MS 50
#define RESYNC_MS 30000

/* The columns that hold account keys, in the query's order from 3. */
static const char *const column_keys[] = {"host", "port", "tls", "tls_verify",
    "username", "auth", "addresses", "folders", "sent_folder", "poll_interval"};

enum {
	COL_NAME,
	COL_TYPE,
	COL_ENABLED,
	COL_FIRST_KEY,
	COL_SETTINGS = COL_FIRST_KEY + (int)nitems(column_keys),
	COL_SECRETS,
	COL_STATE,
	COL_ERROR,
};

static const char sql_accounts[] =
    "SELECT a.name, a.type, a.enabled,"
    " a.host, a.port::text, a.tls,"
    " CASE WHEN a.tls_verify THEN 'true' WHEN NOT a.tls_verify"
    "  THEN 'false' END,"
    " a.username, a.auth, array_to_string(a.addresses, ','),"
    " array_to_string(a.folders, ','), a.sent_folder,"
    " extract(epoch FROM a.poll_interval)::bigint::text,"
    " a.settings::text,"
    " (SELECT json_object_agg(s.kind, '\\x' || encode(s.ciphertext, 'hex'))"
    "  FROM account_secrets s WHERE s.account_id = a.id)::text,"
    " a.state, a.last_error"
    " FROM mail_accounts a WHERE a.source = 'database' ORDER BY a.name";

/* A row's state as the daemon sees it, to write back. */
struct row_state {
	char *name;
	const char *state; /* "failing" or "disabled" */
	char *error;
};

/* What a reading takes from the configuration file. */
struct read_conf {
	char *secrets_dir;
	char *client_id; /* [gmail] client_id, or NULL */
	char *client_secret;
};

static struct {
	struct event_base *base;
	struct store *store;
	struct read_conf rc;
	dbaccounts_fn *fn;
	void *arg;
	struct event *timer;
	bool reading;
	bool again; /* a change came in during a reading */
} D;

void
dbaccounts_free(struct dbaccounts *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		account_conf_free(&d->accounts[i]);
	free(d->accounts);
	free(d);
}

/* A JSON value of settings as the text a configuration file would hold. */
static char *
setting_text(json_t *v)
{
	struct buf b;
	size_t i;
	json_t *item;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return xstrdup(json_string_value(v));
	case JSON_INTEGER:
		return xasprintf("%lld", (long long)json_integer_value(v));
	case JSON_TRUE:
		return xstrdup("true");
	case JSON_FALSE:
		return xstrdup("false");
	case JSON_ARRAY:
		buf_init(&b);
		buf_appends(&b, "");
		json_array_foreach(v, i, item) {
			if (!json_is_string(item)) {
				buf_free(&b);
				return NULL;
			}
			buf_printf(
			    &b, "%s%s", i ? "," : "", json_string_value(item));
		}
		return buf_steal(&b);
	default:
		return NULL;
	}
}

/* The decrypted secret of kind, or NULL; a failure is added to *err. */
static void
read_conf_clear(struct read_conf *rc)
{
	free(rc->secrets_dir);
	free(rc->client_id);
	if (rc->client_secret)
		explicit_bzero(rc->client_secret, strlen(rc->client_secret));
	free(rc->client_secret);
	memset(rc, 0, sizeof(*rc));
}

static void
read_conf_set(struct read_conf *rc, const struct config *c)
{
	read_conf_clear(rc);
	rc->secrets_dir = xstrdup(c->secrets_dir);
	rc->client_id = c->gmail_client_id ? xstrdup(c->gmail_client_id) : NULL;
	rc->client_secret =
	    c->gmail_client_secret ? xstrdup(c->gmail_client_secret) : NULL;
}

/* Plaintexts by ciphertext: those of the last reading (known), and
 * those of this one (seen), which replace them when it ends. */
static GHashTable *known, *seen;

static void
secret_destroy(gpointer p)
{
	char *s = p;

	explicit_bzero(s, strlen(s));
	free(s);
}

static GHashTable *
secret_table(void)
{
	return g_hash_table_new_full(
	    g_str_hash, g_str_equal, free, secret_destroy);
}

static void
secrets_begin(void)
{
	if (known == NULL)
		known = secret_table();
	seen = secret_table();
}

static void
secrets_end(void)
{
	g_hash_table_destroy(known);
	known = seen;
	seen = NULL;
}

static char *
secret_of(json_t *secrets, const char *kind, struct pgp_key **key,
    const char *secrets_dir, char **err)
{
	json_t *v = json_object_get(secrets, kind);
	unsigned char *msg;
	size_t msg_len, len;
	char *why = NULL, *plain;
	const char *cached;

	if (v == NULL || !json_is_string(v))
		return NULL;
	if ((cached = g_hash_table_lookup(known, json_string_value(v))) !=
		NULL ||
	    (cached = g_hash_table_lookup(seen, json_string_value(v))) !=
		NULL) {
		if (!g_hash_table_contains(seen, json_string_value(v)))
			g_hash_table_insert(seen, xstrdup(json_string_value(v)),
			    xstrdup(cached));
		return xstrdup(cached);
	}
	if (*key == NULL &&
	    (*key = account_key_load(secrets_dir, &why)) == NULL) {
		*err = why;
		return NULL;
	}
	if ((msg = pgp_bytea_decode(json_string_value(v), &msg_len)) == NULL) {
		*err = xasprintf("secret %s: not bytea", kind);
		return NULL;
	}
	plain = pgp_decrypt(*key, msg, msg_len, &len, &why);
	free(msg);
	if (plain != NULL)
		g_hash_table_insert(
		    seen, xstrdup(json_string_value(v)), xstrdup(plain));
	if (plain == NULL) {
		*err = xasprintf("secret %s cannot be decrypted: %s; set it "
				 "again",
		    kind, why);
		free(why);
	}
	return plain;
}

/* Joins an error's lines, for last_error. */
static char *
one_line(char *err)
{
	for (char *p = err; *p; p++)
		if (*p == '\n')
			*p = ';';
	return err;
}

/*
 * Row i into a; NULL when it can run, else what to fix (malloc'd).
 * key: the account key, loaded on first need.
 */
static char *
read_row(const struct db_res *r, int i, struct account_conf *a,
    struct pgp_key **key, const struct read_conf *rc)
{
	const char *values[nitems(column_keys)];
	const char **skeys = NULL, **svals = NULL;
	char *secret[4] = {NULL}, *err = NULL;
	static const char *const kinds[4] = {
	    "password", "refresh_token", "client_secret", "service_account"};
	struct account_row row = {0};
	json_t *settings, *secrets = NULL, *v;
	const char *k;
	size_t n = 0;

	for (size_t c = 0; c < nitems(column_keys); c++)
		values[c] = db_value(r, i, COL_FIRST_KEY + (int)c);
	settings = json_loads(db_value(r, i, COL_SETTINGS), 0, NULL);
	if (settings == NULL || !json_is_object(settings)) {
		json_decref(settings);
		memset(a, 0, sizeof(*a));
		return xstrdup("settings: not a JSON object");
	}
	skeys = xcalloc(json_object_size(settings) + 1, sizeof(char *));
	svals = xcalloc(json_object_size(settings) + 1, sizeof(char *));
	json_object_foreach(settings, k, v) {
		char *text = setting_text(v);

		if (text == NULL && err == NULL)
			err =
			    xasprintf("settings.%s: expected a string, a "
				      "whole number, true or false, or a list "
				      "of strings",
				k);
		if (text == NULL)
			continue;
		skeys[n] = k;
		svals[n++] = text;
	}
	if (db_value(r, i, COL_SECRETS) != NULL)
		secrets = json_loads(db_value(r, i, COL_SECRETS), 0, NULL);
	for (size_t s = 0; s < nitems(kinds) && err == NULL; s++)
		secret[s] =
		    secret_of(secrets, kinds[s], key, rc->secrets_dir, &err);
	row.name = db_value(r, i, COL_NAME);
	row.type = db_value(r, i, COL_TYPE);
	row.column_keys = (const char *const *)column_keys;
	row.column_values = values;
	row.n_columns = nitems(column_keys);
	row.setting_keys = skeys;
	row.setting_values = svals;
	row.n_settings = n;
	row.password = secret[0];
	row.refresh_token = secret[1];
	row.client_secret = secret[2];
	row.service_account = secret[3];
	row.default_client_id = rc->client_id;
	row.default_client_secret = rc->client_secret;
	if (err == NULL)
		err = config_account_from_row(a, &row);
	else
		memset(a, 0, sizeof(*a));
	for (size_t s = 0; s < nitems(kinds); s++)
		free_secret(secret[s]);
	for (size_t j = 0; j < n; j++)
		free((char *)svals[j]);
	free(skeys);
	free(svals);
	json_decref(settings);
	json_decref(secrets);
	return err ? one_line(err) : NULL;
}

/*
 * The usable accounts of a reading; the states of the others go to
 * states (NULL: not wanted).
 */
static struct dbaccounts *
read_rows(const struct db_res *r, const struct read_conf *rc,
    struct row_state **states, size_t *n_states)
{
	struct dbaccounts *d = xcalloc(1, sizeof(*d));
	int rows = db_ntuples(r);
	struct pgp_key *key = NULL;

	secrets_begin();
	d->accounts = xcalloc((size_t)rows + 1, sizeof(*d->accounts));
	if (states != NULL) {
		*states = xcalloc((size_t)rows + 1, sizeof(**states));
		*n_states = 0;
	}
	for (int i = 0; i < rows; i++) {
		const char *name = db_value(r, i, COL_NAME);
		struct account_conf *a = &d->accounts[d->n];
		struct row_state *st = NULL;
		char *err;

		if (states != NULL)
			st = &(*states)[*n_states];
		if (strcmp(db_value(r, i, COL_ENABLED), "t") != 0) {
			if (st != NULL) {
				st->name = xstrdup(name);
				st->state = "disabled";
				(*n_states)++;
			}
			continue;
		}
		if ((err = read_row(r, i, a, &key, rc)) == NULL) {
			d->n++;
			continue;
		}
		account_conf_free(a);
		log_warnx("account=%s: cannot be used: %s", name, err);
		if (st != NULL) {
			st->name = xstrdup(name);
			st->state = "failing";
			st->error = err;
			(*n_states)++;
		} else
			free(err);
	}
	pgp_key_free(key);
	secrets_end();
	return d;
}

struct dbaccounts *
dbaccounts_read_sync(struct db *db, const struct config *c, char **err)
{
	struct read_conf rc = {0};
	struct db_res *r;
	struct dbaccounts *d;

	if ((r = db_query(db, sql_accounts, 0, NULL, err)) == NULL)
		return NULL;
	read_conf_set(&rc, c);
	d = read_rows(r, &rc, NULL, NULL);
	read_conf_clear(&rc);
	db_res_free(r);
	return d;
}

static void
state_written(bool ok, const char *error, const struct db_res *r, void *arg)
{
	if (!ok)
		log_warnx("database accounts: cannot write a state: %s", error);
}

static void
write_states(struct row_state *states, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *params[3] = {
		    states[i].name, states[i].state, states[i].error};

		store_exec(D.store,
		    "UPDATE mail_accounts SET state = $2::text, last_error ="
		    "  coalesce($3::text, last_error)"
		    " WHERE name = $1 AND source = 'database'"
		    "  AND (state IS DISTINCT FROM $2::text"
		    "   OR ($3::text IS NOT NULL"
		    "    AND last_error IS DISTINCT FROM $3::text))",
		    3, params, state_written, NULL);
		free(states[i].name);
		free(states[i].error);
	}
	free(states);
}

static void
schedule_read(unsigned ms)
{
	timer_add_ms(D.timer, ms);
}

static void
read_done(bool ok, const char *error, const struct db_res *r, void *arg)
{
	struct row_state *states = NULL;
	size_t n_states = 0;
	struct dbaccounts *d;

	D.reading = false;
	if (!ok) {
		log_warnx("database accounts: cannot read them: %s", error);
		schedule_read(1000);
		return;
	}
	d = read_rows(r, &D.rc, &states, &n_states);
	write_states(states, n_states);
	D.fn(d, D.arg);
	schedule_read(D.again ? DEBOUNCE_MS : RESYNC_MS);
	D.again = false;
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	if (D.reading) {
		D.again = true;
		return;
	}
	D.reading = true;
	store_exec(D.store, sql_accounts, 0, NULL, read_done, NULL);
}

static void
changed(const char *payload, void *arg)
{
	if (payload != NULL)
		log_debug("database accounts: %s changed", payload);
	else
		log_debug("database accounts: read again after a reconnect");
	dbaccounts_refresh();
}

void
dbaccounts_refresh(void)
{
	if (D.reading)
		D.again = true;
	else
		schedule_read(DEBOUNCE_MS);
}

void
dbaccounts_setup(struct event_base *base, struct store *store,
    const struct config *c, dbaccounts_fn *fn, void *arg)
{
	D.base = base;
	D.store = store;
	read_conf_set(&D.rc, c);
	D.fn = fn;
	D.arg = arg;
	D.timer = evtimer_new(base, timer_cb, NULL);
	store_listen(store, "inboxd_accounts", changed, NULL);
	/* The first reading writes the states the start-up one did not. */
	schedule_read(0);
}

void
dbaccounts_configure(const struct config *c)
{
	read_conf_set(&D.rc, c);
}

void
dbaccounts_teardown(void)
{
	if (D.timer)
		event_free(D.timer);
	D.timer = NULL;
	read_conf_clear(&D.rc);
	if (known != NULL)
		g_hash_table_destroy(known);
	known = NULL;
}
