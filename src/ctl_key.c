/*
 * inboxctl keygen and rekey: the account key. The private key is a
 * file of the secrets directory; the public key is the one row of
 * inboxd.account_key, which inboxd.set_account_secret() encrypts with.
 *
 * A new key file is written beside the old one (accounts.key.new) and
 * renamed over it just before the transaction that stores its public
 * key commits; if the commit fails, the old file is put back.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "account_key.h"
#include "config.h"
#include "db.h"
#include "inboxctl.h"
#include "migrate.h"
#include "pgp.h"
#include "util.h"

#define DEFAULT_BITS 3072

struct key_opts {
	bool force;
	int bits;
};

static void
key_options(int argc, char **argv, bool allow_force, struct key_opts *o)
{
	char *end;
	long v;

	o->force = false;
	o->bits = DEFAULT_BITS;
	for (int i = 1; i < argc; i++) {
		if (allow_force && strcmp(argv[i], "--force") == 0)
			o->force = true;
		else if (strcmp(argv[i], "--bits") == 0 && i + 1 < argc) {
			v = strtol(argv[++i], &end, 10);
			if (*end != '\0' || v < 2048 || v > 8192)
				ctl_usage_error("--bits: 2048 to 8192");
			o->bits = (int)v;
		} else
			ctl_usage_error(
			    "%s: unexpected argument \"%s\"", argv[0], argv[i]);
	}
}

/* Runs a statement whose rows do not matter; -1 after printing why. */
static int
run(struct db *db, const char *what, const char *sql, int n,
    const char *const *params)
{
	struct db_res *r;
	char *err = NULL;

	if ((r = db_query(db, sql, n, params, &err)) == NULL) {
		ctl_db_error(what, err);
		return -1;
	}
	db_res_free(r);
	return 0;
}

static void
rollback(struct db *db)
{
	char *err = NULL;

	db_exec_script(db, "ROLLBACK", &err);
	free(err);
}

static int
migrated(struct db *db)
{
	char *err = NULL;

	if (db_migrate(db, db_sql_dir(), &err) < 0)
		return ctl_db_error("migrate", err);
	return 0;
}

/* A new pair: the private key in tmp, the public key in *pub_hex. */
static int
new_pair(int bits, const char *tmp, char **pub_hex)
{
	char *pem = NULL, *why = NULL;
	unsigned char *pub = NULL;
	size_t pub_len = 0;

	if (pgp_keygen(bits, (int64_t)time(NULL), &pem, &pub, &pub_len, &why) ==
		-1 ||
	    account_key_write(tmp, pem, &why) == -1) {
		fprintf(stderr, "inboxctl: %s\n", why);
		free(why);
		if (pem)
			explicit_bzero(pem, strlen(pem));
		free(pem);
		free(pub);
		return -1;
	}
	explicit_bzero(pem, strlen(pem));
	free(pem);
	*pub_hex = pgp_bytea_encode(pub, pub_len);
	free(pub);
	return 0;
}

static int
ensure_dir(const char *dir)
{
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		fprintf(stderr, "inboxctl: cannot create %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Puts the new key file in place and commits; on a failed commit the
 * old file (if any) comes back. Returns 0 or 1.
 */
static int
install_and_commit(struct db *db, const char *path, const char *tmp)
{
	char *old = xasprintf("%s.old", path), *err = NULL;
	bool had_old = link(path, old) == 0;
	int rc = 0;

	if (rename(tmp, path) == -1) {
		fprintf(stderr, "inboxctl: cannot rename %s: %s\n", tmp,
		    strerror(errno));
		rollback(db);
		rc = 1;
	} else if (db_exec_script(db, "COMMIT", &err) == -1) {
		ctl_db_error("commit", err);
		if (had_old)
			rename(old, path);
		else
			unlink(path);
		rc = 1;
	}
	if (had_old)
		unlink(old);
	unlink(tmp);
	free(old);
	return rc;
}

int
cmd_keygen(struct db *db, int argc, char **argv)
{
	const struct config *c = ctl_config();
	struct key_opts o;
	char *path, *tmp, *pub = NULL, *err = NULL;
	const char *params[1];
	struct db_res *r;
	long lost = 0;
	int rc = 1;

	key_options(argc, argv, true, &o);
	if (migrated(db) != 0)
		return 1;
	path = account_key_path(c->secrets_dir);
	tmp = xasprintf("%s.new", path);
	if (!o.force && access(path, F_OK) == 0) {
		fprintf(stderr,
		    "inboxctl: %s exists; inboxctl rekey replaces the key and "
		    "keeps the secrets (keygen --force makes a new key and "
		    "the secrets set so far can no longer be read)\n",
		    path);
		goto out;
	}
	if (ensure_dir(c->secrets_dir) == -1 || new_pair(o.bits, tmp, &pub))
		goto out;
	params[0] = pub;
	if (db_exec_script(db, "BEGIN", &err) == -1) {
		ctl_db_error("begin", err);
		unlink(tmp);
		goto out;
	}
	if (run(db, "store the public key",
		"INSERT INTO inboxd.account_key (public_key)"
		" VALUES ($1::bytea) ON CONFLICT (id) DO UPDATE"
		" SET public_key = EXCLUDED.public_key, created_at = now()",
		1, params) == -1) {
		rollback(db);
		unlink(tmp);
		goto out;
	}
	if ((r = db_query(db, "SELECT count(*) FROM account_secrets", 0, NULL,
		 &err)) != NULL) {
		lost = strtol(db_value(r, 0, 0), NULL, 10);
		db_res_free(r);
	} else
		free(err);
	if ((rc = install_and_commit(db, path, tmp)) != 0)
		goto out;
	printf("account key written to %s; its public key is in the "
	       "database\n",
	    path);
	if (lost > 0)
		printf("warning: %ld account secrets were encrypted for the "
		       "old key and cannot be read: set them again\n",
		    lost);
out:
	free(pub);
	free(tmp);
	free(path);
	return rc;
}

/* Encrypts every secret again for the key now stored; -1 on error. */
static int
reencrypt_all(struct db *db, const struct pgp_key *old)
{
	struct db_res *r;
	char *err = NULL, *why = NULL, *plain;
	unsigned char *msg;
	size_t msg_len, len;
	int rc = 0;

	if ((r = db_query(db,
		 "SELECT a.name, s.kind, s.ciphertext FROM account_secrets s"
		 " JOIN mail_accounts a ON a.id = s.account_id"
		 " ORDER BY a.name, s.kind FOR UPDATE OF s",
		 0, NULL, &err)) == NULL) {
		ctl_db_error("read the secrets", err);
		return -1;
	}
	for (int i = 0; i < db_ntuples(r) && rc == 0; i++) {
		const char *params[3] = {db_value(r, i, 0), db_value(r, i, 1)};

		if ((msg = pgp_bytea_decode(db_value(r, i, 2), &msg_len)) ==
		    NULL) {
			fprintf(stderr, "inboxctl: account %s: %s: not bytea\n",
			    params[0], params[1]);
			rc = -1;
			break;
		}
		plain = pgp_decrypt(old, msg, msg_len, &len, &why);
		free(msg);
		if (plain == NULL) {
			fprintf(stderr,
			    "inboxctl: account %s: %s: %s; set it again "
			    "(inboxctl account set-secret) and rekey\n",
			    params[0], params[1], why);
			free(why);
			rc = -1;
			break;
		}
		params[2] = plain;
		rc = run(db, "encrypt a secret",
		    "SELECT inboxd.set_account_secret($1, $2, $3)", 3, params);
		explicit_bzero(plain, len);
		free(plain);
	}
	if (rc == 0)
		printf("%d account secret%s encrypted for the new key\n",
		    db_ntuples(r), db_ntuples(r) == 1 ? "" : "s");
	db_res_free(r);
	return rc;
}

int
cmd_rekey(struct db *db, int argc, char **argv)
{
	const struct config *c = ctl_config();
	struct key_opts o;
	struct pgp_key *old;
	char *path, *tmp, *pub = NULL, *why = NULL, *err = NULL;
	const char *params[1];
	int rc = 1;

	key_options(argc, argv, false, &o);
	if (migrated(db) != 0)
		return 1;
	if ((old = account_key_load(c->secrets_dir, &why)) == NULL) {
		fprintf(stderr, "inboxctl: %s\n", why);
		free(why);
		return 1;
	}
	path = account_key_path(c->secrets_dir);
	tmp = xasprintf("%s.new", path);
	if (new_pair(o.bits, tmp, &pub) == -1)
		goto out;
	params[0] = pub;
	if (db_exec_script(db, "BEGIN", &err) == -1) {
		ctl_db_error("begin", err);
		unlink(tmp);
		goto out;
	}
	if (run(db, "store the public key",
		"UPDATE inboxd.account_key SET public_key = $1::bytea,"
		" created_at = now()",
		1, params) == -1 ||
	    reencrypt_all(db, old) == -1) {
		rollback(db);
		unlink(tmp);
		goto out;
	}
	if ((rc = install_and_commit(db, path, tmp)) == 0)
		printf("account key replaced: %s\n", path);
out:
	pgp_key_free(old);
	free(pub);
	free(tmp);
	free(path);
	return rc;
}
