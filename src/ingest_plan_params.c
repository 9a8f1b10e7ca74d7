/*
 * The ingest plan: the JSON parameter of every statement of the
 * transaction, written with the fast writer (jsonw.h) from a placed
 * plan.
 */
#include <stdlib.h>
#include <string.h>

#include "bounce.h"
#include "config.h"
#include "flags.h"
#include "ingest_plan.h"
#include "ingest_plan_int.h"
#include "jsonw.h"
#include "mail.h"
#include "reply_text.h"
#include "thread.h"
#include "util.h"

/* Statement parameters ----------------------------------------------------- */

/* A member left out when its value is NULL, as consumers of event
 * payloads expect. */
static void
kstr_if(struct buf *o, const char *key, const char *s)
{
	if (s != NULL)
		jsonw_kstr(o, key, s);
}

/* Seconds, or null for INT64_MIN ("none"). */
static void
ktime(struct buf *o, const char *key, int64_t t)
{
	jsonw_key(o, key);
	if (t == INT64_MIN)
		jsonw_null(o);
	else
		jsonw_int(o, t);
}

static void
begin_array(struct buf *o)
{
	buf_init(o);
	buf_append(o, "[", 1);
}

static char *
end_array(struct buf *o)
{
	buf_append(o, "]", 1);
	return buf_steal(o);
}

/* Opens an object as the next element of an array. */
static void
begin_element(struct buf *o)
{
	jsonw_sep(o);
	buf_append(o, "{", 1);
}

static void
end_object(struct buf *o)
{
	buf_append(o, "}", 1);
}

/* The people the batch's human messages are with, for leads. */
char *
ingest_plan_leads(const struct ingest_plan *p)
{
	struct buf o;
	const char *lead;

	begin_array(&o);
	for (size_t i = 0; i < p->plan->n_convs; i++) {
		if (p->plan->convs[i].merged_into >= 0 ||
		    (lead = p->leads[i]) == NULL)
			continue;
		jsonw_sep(&o);
		jsonw_str(&o, lead);
	}
	return end_array(&o);
}

char *
ingest_plan_new_convs(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->plan->n_convs; i++) {
		const struct thr_conv *c = &p->plan->convs[i];
		const struct store_item *it;

		if (!c->is_new)
			continue;
		it = &p->b->items[c->first_msg];
		begin_element(&o);
		jsonw_kstr(&o, "id", p->conv_ids[i]);
		jsonw_kstr(&o, "subject", it->mail->subject);
		jsonw_kstr(&o, "counterparty", ingest_plan_counterparty(it));
		jsonw_kstr(&o, "gmail_thread_id", it->gmail_thread_id);
		jsonw_kstr(&o, "subject_key",
		    p->subject_keys ? p->subject_keys[c->first_msg] : NULL);
		jsonw_kstr(&o, "status", conv_status_name(c->new_status));
		jsonw_kstr(
		    &o, "lead", c->merged_into >= 0 ? NULL : p->leads[i]);
		end_object(&o);
	}
	return end_array(&o);
}

char *
ingest_plan_merges(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->plan->n_merges; i++) {
		begin_element(&o);
		jsonw_kstr(&o, "loser", p->conv_ids[p->plan->merges[i].from]);
		jsonw_kstr(
		    &o, "survivor", p->conv_ids[p->plan->merges[i].into]);
		end_object(&o);
	}
	return end_array(&o);
}

/* An IMAP number, or null for 0 (not IMAP). */
static void
kimap(struct buf *o, const char *key, uint32_t v)
{
	jsonw_key(o, key);
	if (v != 0)
		jsonw_int(o, v);
	else
		jsonw_null(o);
}

static const char *
bounce_kind_name(const struct bounce *bn)
{
	if (bn == NULL)
		return NULL;
	return bn->kind == BOUNCE_FAILED ? "failed"
	    : bn->kind == BOUNCE_DELAYED ? "delayed"
					 : NULL;
}

/* What a notice of failure or delay says, in the bounce_* columns. */
static void
write_bounce_fields(struct buf *o, const struct bounce *bn)
{
	jsonw_kstr(o, "bounce_kind", bounce_kind_name(bn));
	jsonw_key(o, "bounce_recipients");
	if (bn != NULL && bn->n_recipients > 0)
		jsonw_strv(
		    o, (const char *const *)bn->recipients, bn->n_recipients);
	else
		jsonw_null(o);
	jsonw_kstr(o, "bounce_status", bn ? bn->status : NULL);
	jsonw_kstr(o, "bounce_diagnostic", bn ? bn->diagnostic : NULL);
	jsonw_kstr(o, "bounce_original_id", bn ? bn->original_id : NULL);
}

static void
write_message(struct buf *o, const struct ingest_plan *p, size_t i)
{
	const struct store_item *it = &p->b->items[i];
	const struct mail *m = it->mail;
	char *hs = mail_headers_json(m), *as = mail_attachments_json(m);
	char *rt =
	    m->text != NULL ? reply_text(m->text, strlen(m->text)) : NULL;

	begin_element(o);
	jsonw_kstr(o, "id", p->msgs[i].row_id);
	jsonw_kstr(o, "conversation_id", ingest_plan_conv_id(p, i));
	jsonw_kstr(o, "direction", ingest_plan_direction_name(it->outbound));
	jsonw_kstr(o, "content", m->text);
	jsonw_kstr(o, "html_content", m->html);
	jsonw_kint(o, "sent_at", m->sent_at);
	jsonw_kstr(o, "sender_email", m->from_email);
	jsonw_kstr(o, "recipient_email", m->to_email);
	jsonw_kstr(o, "gmail_message_id", it->gmail_message_id);
	jsonw_kstr(o, "gmail_thread_id", it->gmail_thread_id);
	jsonw_key(o, "gmail_labels");
	jsonw_strz(o, it->gmail_labels);
	jsonw_key(o, "headers");
	jsonw_raw(o, hs);
	jsonw_key(o, "attachments");
	jsonw_raw(o, as);
	jsonw_kstr(o, "mailbox", p->b->mailbox);
	kimap(o, "uidvalidity", p->b->uidvalidity);
	kimap(o, "imap_uid", it->uid);
	jsonw_kstr(o, "rfc_message_id", m->message_id);
	jsonw_kstr(o, "content_hash", p->hashes[i]);
	jsonw_kstr(o, "in_reply_to", m->in_reply_to);
	jsonw_key(o, "reference_ids");
	jsonw_strv(o, (const char *const *)m->references, m->n_references);
	jsonw_kstr(o, "subject", m->subject);
	jsonw_kstr(o, "cc", m->cc_list);
	jsonw_kbool(o, "is_automated", it->automated != NULL);
	jsonw_kstr(o, "automated_reason", it->automated);
	jsonw_kint(o, "size_bytes", (int64_t)m->size_bytes);
	jsonw_kbool(o, "truncated", m->truncated);
	jsonw_kstr(o, "reply_text", rt);
	write_bounce_fields(o, it->bounce);
	end_object(o);
	free(hs);
	free(as);
	free(rt);
}

/* The new rows; duplicates are not inserted again. */
char *
ingest_plan_messages(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->b->n_items; i++)
		if (!p->msgs[i].duplicate)
			write_message(&o, p, i);
	return end_array(&o);
}

static void
write_thread_id(
    struct buf *o, const char *key, const char *conv, const char *row)
{
	begin_element(o);
	jsonw_kstr(o, "k", key);
	jsonw_kstr(o, "c", conv);
	jsonw_kstr(o, "r", row);
	end_object(o);
}

/* Every id a message carries or references now points at its
 * conversation; an own id also points at its row. */
char *
ingest_plan_thread_ids(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->b->n_items; i++) {
		const struct mail *m = p->b->items[i].mail;
		const char *cid = ingest_plan_conv_id(p, i);

		write_thread_id(&o, m->message_id, cid, p->msgs[i].row_id);
		for (size_t j = 0; j < m->n_references; j++)
			write_thread_id(&o, m->references[j], cid, NULL);
	}
	return end_array(&o);
}

char *
ingest_plan_locations(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->b->n_items; i++) {
		if (p->b->items[i].uid == 0)
			continue;
		begin_element(&o);
		jsonw_kint(&o, "uid", p->b->items[i].uid);
		jsonw_kstr(&o, "row", p->msgs[i].row_id);
		jsonw_key(&o, "flags");
		flags_json(&o, p->b->items[i].flags);
		end_object(&o);
	}
	return end_array(&o);
}

char *
ingest_plan_gmail_locations(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->b->n_items; i++) {
		if (p->b->items[i].gmail_message_id == NULL)
			continue;
		begin_element(&o);
		jsonw_kstr(&o, "gid", p->b->items[i].gmail_message_id);
		jsonw_kstr(&o, "row", p->msgs[i].row_id);
		jsonw_key(&o, "flags");
		jsonw_strz(&o, p->b->items[i].gmail_labels);
		end_object(&o);
	}
	return end_array(&o);
}

char *
ingest_plan_conv_updates(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->plan->n_convs; i++) {
		const struct thr_conv *c = &p->plan->convs[i];

		if (!c->touched || c->merged_into >= 0)
			continue;
		begin_element(&o);
		jsonw_kstr(&o, "id", p->conv_ids[i]);
		jsonw_kstr(&o, "status", conv_status_name(c->new_status));
		jsonw_kstr(&o, "reason", c->new_reason);
		ktime(&o, "last_message_at", c->new_last_message_at);
		ktime(&o, "last_human_at", c->new_last_human_at);
		ktime(&o, "last_bounce_at", c->new_last_bounce_at);
		jsonw_kstr(&o, "last_human_direction",
		    c->new_last_human_at == INT64_MIN
			? NULL
			: ingest_plan_direction_name(
			      c->new_last_human_outbound));
		jsonw_kstr(&o, "lead", p->leads[i]);
		end_object(&o);
	}
	return end_array(&o);
}

char *
ingest_plan_superseded(const struct ingest_plan *p)
{
	struct buf o;

	begin_array(&o);
	for (size_t i = 0; i < p->n_superseded; i++) {
		jsonw_sep(&o);
		jsonw_str(&o, p->conv_ids[p->superseded[i]]);
	}
	return end_array(&o);
}

static void
write_job(
    struct buf *o, const struct ingest_plan *p, size_t i, const char *kind)
{
	begin_element(o);
	jsonw_kstr(o, "kind", kind);
	jsonw_kstr(o, "message_id", p->msgs[i].row_id);
	jsonw_key(o, "payload");
	buf_append(o, "{", 1);
	jsonw_kstr(o, "message_id", p->msgs[i].row_id);
	jsonw_kstr(o, "conversation_id", ingest_plan_conv_id(p, i));
	jsonw_kstr(o, "account", p->b->account->name);
	end_object(o);
	end_object(o);
}

/* An embedding for every new message with text; a reply suggestion
 * where the planner asks for one. */
char *
ingest_plan_jobs(const struct ingest_plan *p, size_t *n_jobs)
{
	struct buf o;

	*n_jobs = 0;
	begin_array(&o);
	for (size_t i = 0; i < p->b->n_items; i++) {
		const struct mail *m = p->b->items[i].mail;

		if (p->msgs[i].duplicate)
			continue;
		if (m->text != NULL && *m->text != '\0') {
			write_job(&o, p, i, "embed_message");
			(*n_jobs)++;
		}
		if (p->tmsgs[i].suggest_reply) {
			write_job(&o, p, i, "suggest_reply");
			(*n_jobs)++;
		}
	}
	return end_array(&o);
}

/* Opens an event; the caller writes its payload's members and closes
 * it with end_event(). */
static void
begin_event(struct buf *o, const char *type, const char *conv, const char *msg)
{
	begin_element(o);
	jsonw_kstr(o, "type", type);
	jsonw_kstr(o, "conversation_id", conv);
	jsonw_kstr(o, "message_id", msg);
	jsonw_key(o, "payload");
	buf_append(o, "{", 1);
}

static void
end_event(struct buf *o, size_t *n_events)
{
	end_object(o);
	end_object(o);
	(*n_events)++;
}

static void
write_conv_events(struct buf *o, const struct ingest_plan *p, size_t *n)
{
	for (size_t i = 0; i < p->plan->n_convs; i++) {
		const struct thr_conv *c = &p->plan->convs[i];

		if (!c->is_new || c->merged_into >= 0)
			continue;
		begin_event(o, "conversation.created", p->conv_ids[i], NULL);
		jsonw_kstr(o, "status", conv_status_name(c->new_status));
		kstr_if(o, "reason", c->new_reason);
		end_event(o, n);
	}
	for (size_t i = 0; i < p->plan->n_merges; i++) {
		const struct thr_merge *mg = &p->plan->merges[i];

		begin_event(
		    o, "conversation.merged", p->conv_ids[mg->into], NULL);
		jsonw_kstr(o, "from", p->conv_ids[mg->from]);
		jsonw_kstr(o, "into", p->conv_ids[mg->into]);
		end_event(o, n);
	}
}

static void
write_message_events(struct buf *o, const struct ingest_plan *p, size_t *n)
{
	for (size_t i = 0; i < p->b->n_items; i++) {
		const struct store_item *it = &p->b->items[i];

		if (p->msgs[i].duplicate)
			continue;
		begin_event(o, "message.received", ingest_plan_conv_id(p, i),
		    p->msgs[i].row_id);
		jsonw_kstr(
		    o, "direction", ingest_plan_direction_name(it->outbound));
		kstr_if(o, "sender", it->mail->from_email);
		kstr_if(o, "subject", it->mail->subject);
		jsonw_kbool(o, "automated", it->automated != NULL);
		end_event(o, n);
	}
}

/* A failure notice about our mail, for consumers that act on it (mark
 * the address bad, tell the sender). */
static void
write_bounce_events(struct buf *o, const struct ingest_plan *p, size_t *n)
{
	for (size_t i = 0; i < p->b->n_items; i++) {
		const struct bounce *bn = p->b->items[i].bounce;

		if (p->msgs[i].duplicate || p->bounce_reasons[i] == NULL)
			continue;
		begin_event(o, "message.bounced", ingest_plan_conv_id(p, i),
		    p->msgs[i].row_id);
		jsonw_key(o, "recipients");
		jsonw_strv(
		    o, (const char *const *)bn->recipients, bn->n_recipients);
		kstr_if(o, "status", bn->status);
		kstr_if(o, "diagnostic", bn->diagnostic);
		kstr_if(o, "original_message_id", bn->original_id);
		end_event(o, n);
	}
}

static void
write_status_events(struct buf *o, const struct ingest_plan *p, size_t *n)
{
	for (size_t i = 0; i < p->plan->n_convs; i++) {
		const struct thr_conv *c = &p->plan->convs[i];

		if (c->is_new || !c->touched || c->merged_into >= 0 ||
		    c->new_status == c->status)
			continue;
		begin_event(
		    o, "conversation.status_changed", p->conv_ids[i], NULL);
		jsonw_kstr(o, "old", conv_status_name(c->status));
		jsonw_kstr(o, "new", conv_status_name(c->new_status));
		kstr_if(o, "reason", c->new_reason);
		end_event(o, n);
	}
}

/* Created and merged conversations, received messages, bounces, then
 * status changes: the order consumers read them in. */
char *
ingest_plan_events(const struct ingest_plan *p, size_t *n_events)
{
	struct buf o;

	*n_events = 0;
	begin_array(&o);
	write_conv_events(&o, p, n_events);
	write_message_events(&o, p, n_events);
	write_bounce_events(&o, p, n_events);
	write_status_events(&o, p, n_events);
	return end_array(&o);
}
