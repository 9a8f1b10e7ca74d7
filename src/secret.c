/*
 * Secret files. A secret is read only from a regular file (not a
 * symbolic link, not a FIFO that would block the daemon), that others can
 * neither read (the secret would be leaked already) nor write, and of a
 * size a secret has. The file is opened without following links and
 * checked through the open descriptor, so the file checked is the file
 * read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"
#include "util.h"

/* Longer than any password or token; a bigger file is not a secret. */
#define SECRET_MAX 65536

/*
 * Opens a secret file without following a symbolic link and without
 * waiting on a FIFO, and checks what it is through the open descriptor,
 * so that the file checked is the file read. Returns the descriptor,
 * or -1 with *why set.
 */
static int
open_secret(const char *path, char **why)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno == ELOOP) {
		*why = xasprintf(
		    "%s is a symbolic link; name the file itself", path);
		return -1;
	}
	if (fd == -1) {
		*why = xasprintf("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1)
		*why = xasprintf("cannot read %s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		*why = xasprintf("%s is not a regular file", path);
	else if (st.st_mode & (S_IROTH | S_IWOTH))
		*why = xasprintf("%s is %s by others (mode %04o); "
				 "run chmod 0640 (or 0600) on it",
		    path, st.st_mode & S_IROTH ? "readable" : "writable",
		    (unsigned)(st.st_mode & 07777));
	else if (st.st_size > SECRET_MAX)
		*why = xasprintf("%s is too large for a secret", path);
	else
		return fd;
	close(fd);
	return -1;
}

/* Reads all of fd, at most SECRET_MAX bytes; returns the length or -1. */
static ssize_t
read_secret_fd(int fd, char *buf)
{
	size_t len = 0;
	ssize_t n;

	while (len <= SECRET_MAX) {
		n = read(fd, buf + len, SECRET_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return (ssize_t)len;
		len += (size_t)n;
	}
	errno = EFBIG;
	return -1;
}

/*
 * The secret as the file holds it, less one trailing newline (an
 * editor's, not part of the secret) when it is one line.
 */
static char *
secret_from_bytes(
    char *buf, size_t len, bool one_line, const char *path, char **why)
{
	if (one_line && len > 0 && buf[len - 1] == '\n')
		len--;
	buf[len] = '\0';
	if (len == 0)
		*why = xasprintf("%s is empty", path);
	else if (memchr(buf, '\0', len) != NULL)
		*why = xasprintf("%s holds a NUL byte", path);
	else if (one_line && strpbrk(buf, "\r\n") != NULL)
		*why = xasprintf("%s holds more than one line (or a CR); "
				 "a secret is one line",
		    path);
	else
		return xstrdup(buf);
	return NULL;
}

char *
secret_read(const char *path, bool one_line, char **why)
{
	char *buf, *s = NULL;
	ssize_t len;
	int fd;

	if ((fd = open_secret(path, why)) == -1)
		return NULL;
	buf = xmalloc(SECRET_MAX + 2);
	if ((len = read_secret_fd(fd, buf)) == -1)
		*why = xasprintf("cannot read %s: %s", path, strerror(errno));
	else
		s = secret_from_bytes(buf, (size_t)len, one_line, path, why);
	explicit_bzero(buf, SECRET_MAX + 2);
	free(buf);
	close(fd);
	return s;
}

void
free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
