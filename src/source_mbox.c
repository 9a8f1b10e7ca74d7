/*
 * The mailbox import driver (inboxctl import): an mbox file or a
 * Maildir directory, read one message at a time and fed to the same
 * pipeline as live mail. Importing twice stores nothing twice: rows
 * are matched by Message-ID. Each batch tells how far the import has
 * got: of an mbox, the bytes read of the file's size; of a Maildir,
 * the files read of those listed.
 *
 *   mbox_sync -> read_next -> (batch full) batch_committed -> read_next
 *     -> ... -> end of input -> last batch committed -> done
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "config.h"
#include "ingest.h"
#include "log.h"
#include "source.h"
#include "util.h"

struct source {
	struct source_env env;
	char *path;
	char *mailbox; /* "import" */
	FILE *mbox; /* mbox input, or NULL for a Maildir */
	char **files; /* Maildir input, sorted */
	size_t n_files, next_file;
	bool eof;
	int64_t started_us; /* when the input was opened */
	int64_t size; /* of the mbox file */
	struct ingest_batch *batch;
	size_t count;
	bool stopping;
	source_done_fn *done;
	void *arg;
	struct event *tick; /* yields to the loop between batches */
};

static struct source *
mbox_create(const struct source_env *env)
{
	struct source *s = xcalloc(1, sizeof(*s));

	s->env = *env;
	s->path = xstrdup(env->path);
	s->mailbox = xstrdup("import");
	return s;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
add_dir(struct source *s, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		s->files =
		    xreallocarray(s->files, s->n_files + 1, sizeof(char *));
		s->files[s->n_files++] = xasprintf("%s/%s", dir, e->d_name);
	}
	closedir(d);
}

static int
open_input(struct source *s, char **err)
{
	struct stat st;

	if (stat(s->path, &st) == -1) {
		*err = xasprintf("%s: %s", s->path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		char *cur = xasprintf("%s/cur", s->path);
		char *new = xasprintf("%s/new", s->path);

		add_dir(s, cur);
		add_dir(s, new);
		free(cur);
		free(new);
		qsort(s->files, s->n_files, sizeof(char *), name_cmp);
		if (s->n_files == 0) {
			*err = xasprintf("%s: not a Maildir (no messages in "
					 "cur/ or new/)",
			    s->path);
			return -1;
		}
		return 0;
	}
	if ((s->mbox = fopen(s->path, "r")) == NULL) {
		*err = xasprintf("%s: %s", s->path, strerror(errno));
		return -1;
	}
	s->size = (int64_t)st.st_size;
	return 0;
}

static bool
is_from_line(const char *line, size_t n)
{
	return n >= 5 && memcmp(line, "From ", 5) == 0;
}

/*
 * The next message of the mbox: from after a "From " separator to the
 * next one. ">From " quoting (mboxrd) is undone for one level.
 */
static bool
next_mbox_message(struct source *s, struct buf *msg)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool have = false;

	while ((n = getline(&line, &cap, s->mbox)) != -1) {
		if (is_from_line(line, (size_t)n)) {
			if (have)
				break;
			have = true;
			continue;
		}
		have = true;
		if (n > 1 && line[0] == '>') {
			size_t k = 0;

			while (k < (size_t)n && line[k] == '>')
				k++;
			if ((size_t)n - k >= 5 &&
			    memcmp(line + k, "From ", 5) == 0) {
				buf_append(msg, line + 1, (size_t)n - 1);
				continue;
			}
		}
		buf_append(msg, line, (size_t)n);
	}
	free(line);
	return have && msg->len > 0;
}

static bool
next_maildir_message(struct source *s, struct buf *msg)
{
	while (s->next_file < s->n_files) {
		size_t len;
		char *data = file_read_all(s->files[s->next_file++], &len);

		if (data == NULL) {
			log_warn("import: %s", s->files[s->next_file - 1]);
			continue;
		}
		buf_append(msg, data, len);
		free(data);
		return true;
	}
	return false;
}

static void read_next(evutil_socket_t fd, short what, void *arg);

/* How far the input has been read, after the batch at hand. */
static void
progress_fill(const struct source *s, struct source_progress *p)
{
	long at;

	p->listed_us = s->started_us;
	if (s->mbox == NULL) {
		p->total = (int64_t)s->n_files;
		p->done = (int64_t)s->next_file;
		return;
	}
	p->done = (int64_t)s->count;
	p->bytes_total = s->size;
	if ((at = ftell(s->mbox)) >= 0)
		p->bytes_done = at;
}

static void
finish(struct source *s, bool ok, const char *error)
{
	log_info("import: %zu messages read from %s", s->count, s->path);
	s->done(ok, ok ? NULL : s->mailbox, error, s->arg);
}

static void
batch_committed(bool ok, const char *error, void *arg)
{
	struct source *s = arg;

	if (!ok) {
		finish(s, false, error);
		return;
	}
	if (s->eof || s->stopping) {
		finish(s, true, NULL);
		return;
	}
	event_active(s->tick, EV_TIMEOUT, 0);
}

static void
read_next(evutil_socket_t fd, short what, void *arg)
{
	struct source *s = arg;
	const struct account_conf *c = s->env.conf;
	struct ingest_meta meta;
	struct source_cursor cur;
	struct buf msg;
	struct ingest_batch *b;

	b = ingest_batch_new(c, s->mailbox);
	memset(&meta, 0, sizeof(meta));
	buf_init(&msg);
	while (ingest_batch_count(b) < (size_t)c->batch_size &&
	    ingest_batch_bytes(b) < c->batch_bytes) {
		bool got = s->mbox ? next_mbox_message(s, &msg)
				   : next_maildir_message(s, &msg);

		if (!got) {
			s->eof = true;
			break;
		}
		ingest_batch_add(b, msg.data, msg.len, false, &meta);
		s->count++;
		buf_reset(&msg);
	}
	buf_free(&msg);
	/* Imported mail has no cursor to advance, only its progress. */
	memset(&cur, 0, sizeof(cur));
	progress_fill(s, &cur.progress);
	source_commit(&s->env, b, &cur, batch_committed, s);
}

static void
mbox_sync(struct source *s, source_done_fn *done, void *arg)
{
	char *err = NULL;

	s->done = done;
	s->arg = arg;
	s->started_us = now_usec();
	if (open_input(s, &err) == -1) {
		done(false, s->mailbox, err, arg);
		free(err);
		return;
	}
	s->tick = event_new(s->env.base, -1, 0, read_next, s);
	event_active(s->tick, EV_TIMEOUT, 0);
}

static void
mbox_stop(struct source *s)
{
	s->stopping = true;
}

static void
mbox_destroy(struct source *s)
{
	if (s == NULL)
		return;
	if (s->mbox)
		fclose(s->mbox);
	for (size_t i = 0; i < s->n_files; i++)
		free(s->files[i]);
	free(s->files);
	if (s->tick)
		event_free(s->tick);
	free(s->path);
	free(s->mailbox);
	free(s);
}

const struct source_ops source_mbox_ops = {
    .type = "import",
    .create = mbox_create,
    .sync = mbox_sync,
    .stop = mbox_stop,
    .watch = NULL,
    .destroy = mbox_destroy,
};
