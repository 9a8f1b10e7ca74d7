/*
 * The account key file (account_key.h). The file is checked as every
 * secret file is (secret.c); a new one is written beside the old and
 * renamed over it by the caller, so that a reader never sees half a
 * key.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account_key.h"
#include "pgp.h"
#include "secret.h"
#include "util.h"

char *
account_key_path(const char *dir)
{
	return xasprintf("%s/accounts.key", dir);
}

struct pgp_key *
account_key_load(const char *dir, char **why)
{
	char *path = account_key_path(dir), *pem, *err = NULL;
	struct pgp_key *k = NULL;

	if ((pem = secret_read(path, false, &err)) == NULL) {
		*why =
		    xasprintf("no account key: %s (run inboxctl keygen)", err);
		free(err);
	} else if ((k = pgp_key_load(pem, &err)) == NULL) {
		*why = xasprintf("%s: %s", path, err);
		free(err);
	}
	if (pem != NULL) {
		explicit_bzero(pem, strlen(pem));
		free(pem);
	}
	free(path);
	return k;
}

int
account_key_write(const char *path, const char *pem, char **why)
{
	struct passwd *pw;
	size_t len = strlen(pem), off = 0;
	ssize_t n;
	int fd;

	if (unlink(path) == -1 && errno != ENOENT) {
		*why =
		    xasprintf("cannot replace %s: %s", path, strerror(errno));
		return -1;
	}
	fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		*why = xasprintf("cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	/* The daemon runs as inboxd; root makes the key for it. */
	if (geteuid() == 0 && (pw = getpwnam("inboxd")) != NULL &&
	    fchown(fd, pw->pw_uid, pw->pw_gid) == -1) {
		*why = xasprintf(
		    "cannot give %s to inboxd: %s", path, strerror(errno));
		goto fail;
	}
	while (off < len) {
		if ((n = write(fd, pem + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			*why = xasprintf(
			    "cannot write %s: %s", path, strerror(errno));
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		*why = xasprintf("cannot write %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
fail:
	close(fd);
	unlink(path);
	return -1;
}
