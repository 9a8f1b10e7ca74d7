/*
 * Database accounts as config.c reads them: a good row gets the file's
 * defaults and its values; a bad one is refused with what to fix (an
 * unknown key, a file key, a column key in settings, a bad value, a
 * missing secret), each problem named; a file without [account] groups
 * loads; config_merge() lets the file own a name it has.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"
#include "util.h"

static const char *const cols[] = {
    "host", "port", "tls", "username", "addresses", "poll_interval"};

static struct account_row
imap_row(const char *const *vals, const char *const *skeys,
    const char *const *svals, size_t nset, const char *password)
{
	struct account_row r = {0};

	r.name = "box";
	r.type = "imap";
	r.column_keys = cols;
	r.column_values = vals;
	r.n_columns = nitems(cols);
	r.setting_keys = skeys;
	r.setting_values = svals;
	r.n_settings = nset;
	r.password = password;
	return r;
}

static const char *const good_vals[] = {"imap.example.com", "1143", "none",
    "Box@Example.com", "box@example.com,alias@example.com", "30"};

static char *
row_error(const char *const *skeys, const char *const *svals, size_t n,
    const char *password)
{
	struct account_conf a;
	struct account_row r = imap_row(good_vals, skeys, svals, n, password);
	char *err = config_account_from_row(&a, &r);

	account_conf_free(&a);
	return err;
}

static void
test_good_row(void)
{
	static const char *const skeys[] = {"idle", "batch_size"};
	static const char *const svals[] = {"false", "50"};
	struct account_row r = imap_row(good_vals, skeys, svals, 2, "pw");
	struct account_conf a;
	char *err = config_account_from_row(&a, &r);

	ok(err == NULL, "a good row is accepted (%s)", err ? err : "");
	is_str(a.host, "imap.example.com", "host from its column");
	is_int(a.port, 1143, "port from its column");
	is_int(a.tls, TLS_NONE, "tls from its column");
	is_int(a.poll_interval, 30, "poll_interval in seconds");
	is_str(a.addresses[1], "alias@example.com", "addresses from the list");
	ok(!a.idle, "settings.idle applied");
	is_int(a.batch_size, 50, "settings.batch_size applied");
	is_int(a.connections, 4, "the file's default for connections");
	ok(a.tls_verify, "the file's default for tls_verify");
	is_str(a.password, "pw", "the secret is the password");
	free(err);
	account_conf_free(&a);
}

static void
test_bad_rows(void)
{
	static const char *const unknown[] = {"no_such_key"};
	static const char *const file[] = {"password_file"};
	static const char *const column[] = {"host"};
	static const char *const badval[] = {"batch_size"};
	static const char *const gmail_only[] = {"quota_units"};
	static const char *const v1[] = {"1"};
	static const char *const vx[] = {"many"};
	char *err;

	err = row_error(unknown, v1, 1, "pw");
	ok(err && strstr(err, "settings.no_such_key: unknown key"),
	    "an unknown settings key is named (%s)", err ? err : "");
	free(err);
	err = row_error(file, v1, 1, "pw");
	ok(err &&
		strstr(err,
		    "settings.password_file: a database account "
		    "takes its secrets from "
		    "inboxd.set_account_secret()"),
	    "a file key is refused (%s)", err ? err : "");
	free(err);
	err = row_error(column, v1, 1, "pw");
	ok(err && strstr(err, "settings.host: set the column host instead"),
	    "a key with a column of its own is refused (%s)", err ? err : "");
	free(err);
	err = row_error(badval, vx, 1, "pw");
	ok(err &&
		strstr(err,
		    "settings.batch_size: expected a non-negative "
		    "integer: \"many\""),
	    "a bad value is named (%s)", err ? err : "");
	free(err);
	err = row_error(gmail_only, v1, 1, "pw");
	ok(err &&
		strstr(err,
		    "settings.quota_units: not valid for this "
		    "account type"),
	    "a key of the other type is refused (%s)", err ? err : "");
	free(err);
	err = row_error(NULL, NULL, 0, NULL);
	ok(err &&
		strstr(err,
		    "missing secret: password (SELECT "
		    "inboxd.set_account_secret('box', 'password'"),
	    "a missing password says how to set it (%s)", err ? err : "");
	free(err);
	err = row_error(unknown, v1, 1, NULL);
	ok(err && strstr(err, "unknown key") && strstr(err, "missing secret"),
	    "every problem is reported");
	free(err);
}

static void
test_bad_columns(void)
{
	static const char *const vals[] = {
	    NULL, "99999", "bogus", NULL, NULL, "0"};
	struct account_row r = imap_row(vals, NULL, NULL, 0, "pw");
	struct account_conf a;
	char *err = config_account_from_row(&a, &r);

	ok(err && strstr(err, "host: not set"), "a missing host is named");
	ok(err && strstr(err, "tls: not one of the allowed values: \"bogus\""),
	    "a bad tls is named (%s)", err ? err : "");
	ok(err && strstr(err, "port: out of range"), "a bad port is named");
	ok(err && strstr(err, "username: not set"), "a missing username");
	free(err);
	account_conf_free(&a);
}

static void
test_gmail_row(void)
{
	static const char *const gcols[] = {"username"};
	static const char *const gvals[] = {"me@gmail.com"};
	static const char *const skeys[] = {"client_id"};
	static const char *const svals[] = {"id.apps"};
	struct account_row r = {0};
	struct account_conf a;
	char *err;

	r.name = "g";
	r.type = "gmail";
	r.column_keys = gcols;
	r.column_values = gvals;
	r.n_columns = 1;
	err = config_account_from_row(&a, &r);
	ok(err && strstr(err, "missing setting: client_id") &&
		strstr(err, "missing secret: refresh_token"),
	    "a Gmail row without its OAuth client and token");
	free(err);
	account_conf_free(&a);
	r.setting_keys = skeys;
	r.setting_values = svals;
	r.n_settings = 1;
	r.client_secret = "cs";
	r.refresh_token = "rt";
	err = config_account_from_row(&a, &r);
	ok(err == NULL, "a Gmail row with them (%s)", err ? err : "");
	free(err);
	account_conf_free(&a);

	r.setting_keys = NULL;
	r.setting_values = NULL;
	r.n_settings = 0;
	r.client_secret = NULL;
	r.default_client_id = "default.apps";
	r.default_client_secret = "default-secret";
	err = config_account_from_row(&a, &r);
	ok(err == NULL,
	    "a Gmail row without a client takes the [gmail] one (%s)",
	    err ? err : "");
	is_str(a.client_id, "default.apps", "its client_id");
	is_str(a.client_secret, "default-secret", "and client secret");
	free(err);
	account_conf_free(&a);

	/* A service account key needs neither client nor refresh token. */
	r.default_client_id = NULL;
	r.default_client_secret = NULL;
	r.refresh_token = NULL;
	r.service_account = "{\"type\": \"service_account\"}";
	err = config_account_from_row(&a, &r);
	ok(err == NULL, "a Gmail row with a service account key (%s)",
	    err ? err : "");
	is_str(a.service_account, r.service_account, "the key is kept");
	ok(a.client_id == NULL && a.refresh_token == NULL,
	    "and no client or refresh token is asked for");
	free(err);
	account_conf_free(&a);
}

static void
test_no_accounts_and_merge(void)
{
	char path[] = "/tmp/inboxd-test-row.XXXXXX";
	int fd = mkstemp(path);
	struct account_row r = imap_row(good_vals, NULL, NULL, 0, "pw");
	struct account_conf extra[2];
	struct config *c, *m;
	char *err = NULL;

	if (fd == -1)
		abort();
	dprintf(fd, "[database]\nconninfo = dbname=x\n");
	close(fd);
	c = config_load(path, &err);
	ok(c != NULL && c->n_accounts == 0,
	    "a file without [account] groups loads (%s)", err ? err : "");
	free(err);
	free(config_account_from_row(&extra[0], &r));
	r.name = "other";
	free(config_account_from_row(&extra[1], &r));
	m = config_merge(c, extra, 2);
	is_int(m->n_accounts, 2, "merged: the database's accounts");
	is_str(m->accounts[1].name, "other", "in their order");
	is_str(m->conninfo, "dbname=x", "with the file's settings");
	ok(account_conf_equal(&m->accounts[0], &extra[0]), "copied whole");
	config_free(m);
	account_conf_free(&extra[0]);
	account_conf_free(&extra[1]);
	config_free(c);
	unlink(path);
}

int
main(void)
{
	test_good_row();
	test_bad_rows();
	test_bad_columns();
	test_gmail_row();
	test_no_accounts_and_merge();
	return tap_done();
}
