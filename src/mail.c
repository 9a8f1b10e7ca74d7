/*
 * The parsed mail: freeing, header lookup and the JSON texts stored in
 * the headers and attachments columns. No GMime here.
 */
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "mail.h"
#include "util.h"

void
mail_free(struct mail *m)
{
	if (m == NULL)
		return;
	free(m->message_id);
	free(m->in_reply_to);
	for (size_t i = 0; i < m->n_references; i++)
		free(m->references[i]);
	free(m->references);
	free(m->subject);
	free(m->from_email);
	free(m->from_name);
	free(m->to_email);
	free(m->to_list);
	free(m->cc_list);
	free(m->text);
	free(m->html);
	for (size_t i = 0; i < m->n_headers; i++) {
		free(m->headers[i].name);
		free(m->headers[i].value);
	}
	free(m->headers);
	for (size_t i = 0; i < m->n_attachments; i++) {
		free(m->attachments[i].filename);
		free(m->attachments[i].content_type);
		free(m->attachments[i].disposition);
		free(m->attachments[i].content_id);
	}
	free(m->attachments);
	free(m->dsn_fields);
	free(m->returned_headers);
	free(m->content_type);
	free(m->parse_problem);
	free(m);
}

const char *
mail_header(const struct mail *m, const char *name)
{
	for (size_t i = 0; i < m->n_headers; i++)
		if (str_iequal(m->headers[i].name, name))
			return m->headers[i].value;
	return NULL;
}

/*
 * Every mail string is valid UTF-8 already (mime.c repairs what is
 * not), so the fast writer can copy them as they are.
 */
char *
mail_headers_json(const struct mail *m)
{
	struct buf o;

	buf_init(&o);
	buf_append(&o, "[", 1);
	for (size_t i = 0; i < m->n_headers; i++) {
		const struct mail_header *h = &m->headers[i];

		jsonw_sep(&o);
		buf_append(&o, "{", 1);
		jsonw_kstr(&o, "name", h->name ? h->name : "");
		jsonw_kstr(&o, "value", h->value ? h->value : "");
		buf_append(&o, "}", 1);
	}
	buf_append(&o, "]", 1);
	return buf_steal(&o);
}

char *
mail_attachments_json(const struct mail *m)
{
	struct buf o;

	buf_init(&o);
	buf_append(&o, "[", 1);
	for (size_t i = 0; i < m->n_attachments; i++) {
		const struct mail_attachment *a = &m->attachments[i];

		jsonw_sep(&o);
		buf_append(&o, "{", 1);
		jsonw_kstr(&o, "filename", a->filename);
		jsonw_kstr(&o, "content_type",
		    a->content_type ? a->content_type
				    : "application/octet-stream");
		jsonw_kint(&o, "size", (int64_t)a->size);
		jsonw_kstr(&o, "disposition", a->disposition);
		jsonw_kstr(&o, "content_id", a->content_id);
		buf_append(&o, "}", 1);
	}
	buf_append(&o, "]", 1);
	return buf_steal(&o);
}
