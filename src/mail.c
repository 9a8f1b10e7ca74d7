/*
 * The parsed mail: freeing, header lookup and the JSON texts stored in
 * the headers and attachments columns. No GMime here.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
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
 * Mail strings are valid UTF-8 already, so jansson accepts them; should
 * one slip through anyway, an empty string is better than a lost row.
 */
static json_t *
json_text(const char *s)
{
	json_t *j;

	if (s == NULL)
		return json_null();
	if ((j = json_stringn(s, strlen(s))) == NULL) {
		log_warnx("mail: string is not valid UTF-8; stored as empty");
		j = json_string("");
	}
	return j;
}

static char *
json_finish(json_t *arr)
{
	char *s;

	s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (s == NULL)
		fatalx("json_dumps: out of memory");
	return s;
}

char *
mail_headers_json(const struct mail *m)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < m->n_headers; i++) {
		const struct mail_header *h = &m->headers[i];
		json_t *o = json_object();

		json_object_set_new(
		    o, "name", json_text(h->name ? h->name : ""));
		json_object_set_new(
		    o, "value", json_text(h->value ? h->value : ""));
		json_array_append_new(arr, o);
	}
	return json_finish(arr);
}

char *
mail_attachments_json(const struct mail *m)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < m->n_attachments; i++) {
		const struct mail_attachment *a = &m->attachments[i];
		json_t *o = json_object();

		json_object_set_new(o, "filename", json_text(a->filename));
		json_object_set_new(o, "content_type",
		    json_text(a->content_type ? a->content_type
					      : "application/octet-stream"));
		json_object_set_new(
		    o, "size", json_integer((json_int_t)a->size));
		json_object_set_new(
		    o, "disposition", json_text(a->disposition));
		json_object_set_new(o, "content_id", json_text(a->content_id));
		json_array_append_new(arr, o);
	}
	return json_finish(arr);
}
