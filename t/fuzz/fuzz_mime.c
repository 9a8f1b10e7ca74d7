/*
 * libFuzzer target for mime_parse(): any input must parse without a
 * crash, a leak or a sanitizer report, and every string it stores must
 * be clean UTF-8. See README.md for running it with a seed corpus.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "mail.h"
#include "mime.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
require_clean(const char *s)
{
	if (s != NULL && !text_is_clean(s, strlen(s)))
		abort();
}

static void
check_mail(const struct mail *m)
{
	char *json;

	if (m->message_id == NULL || m->content_type == NULL)
		abort();
	require_clean(m->message_id);
	require_clean(m->in_reply_to);
	for (size_t i = 0; i < m->n_references; i++) {
		if (m->references[i] == NULL)
			abort();
		require_clean(m->references[i]);
	}
	require_clean(m->subject);
	require_clean(m->from_email);
	require_clean(m->from_name);
	require_clean(m->to_email);
	require_clean(m->to_list);
	require_clean(m->cc_list);
	require_clean(m->text);
	require_clean(m->html);
	require_clean(m->content_type);
	require_clean(m->parse_problem);
	for (size_t i = 0; i < m->n_headers; i++) {
		if (m->headers[i].name == NULL || m->headers[i].value == NULL)
			abort();
		require_clean(m->headers[i].name);
		require_clean(m->headers[i].value);
	}
	for (size_t i = 0; i < m->n_attachments; i++) {
		require_clean(m->attachments[i].filename);
		require_clean(m->attachments[i].content_type);
		require_clean(m->attachments[i].disposition);
		require_clean(m->attachments[i].content_id);
	}
	json = mail_headers_json(m);
	require_clean(json);
	free(json);
	json = mail_attachments_json(m);
	require_clean(json);
	free(json);
}

static void
quiet_log(
    const gchar *domain, GLogLevelFlags flags, const gchar *msg, gpointer arg)
{
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mime_opts opts = {
	    .max_message_size = 1 << 20,
	    .fallback_date = 1700000000,
	};
	static int initialized;
	struct mail *m;

	if (!initialized) {
		/* GLib warnings about odd input are expected, not findings. */
		g_log_set_default_handler(quiet_log, NULL);
		mime_init();
		initialized = 1;
	}
	m = mime_parse((const char *)data, size, false, &opts);
	check_mail(m);
	mail_free(m);
	return 0;
}
