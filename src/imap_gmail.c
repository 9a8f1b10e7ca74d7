/*
 * Gmail's IMAP ids and labels, as the Gmail API driver stores them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "imap_gmail.h"
#include "imap_reader.h"
#include "ingest.h"
#include "util.h"

/* Gmail's system labels: their IMAP names and the API's. */
static const struct {
	const char *imap;
	const char *api;
} system_labels[] = {
    {"\\Inbox", "INBOX"},
    {"\\Sent", "SENT"},
    {"\\Draft", "DRAFT"},
    {"\\Important", "IMPORTANT"},
    {"\\Starred", "STARRED"},
    {"\\Spam", "SPAM"},
    {"\\Trash", "TRASH"},
};

static const char *
api_label(const char *imap)
{
	for (size_t i = 0; i < sizeof(system_labels) / sizeof(*system_labels);
	     i++)
		if (strcasecmp(imap, system_labels[i].imap) == 0)
			return system_labels[i].api;
	return imap;
}

static void
hex_id(char out[17], uint64_t v)
{
	snprintf(out, 17, "%" PRIx64, v);
}

void
imap_gmail_meta(const struct imap_fetch *f, struct ingest_meta *meta,
    struct imap_gmail_ids *ids)
{
	size_t n = 0;

	if (f->has_gm_msgid) {
		hex_id(ids->msgid, f->gm_msgid);
		meta->gmail_message_id = ids->msgid;
	}
	if (f->has_gm_thrid) {
		hex_id(ids->thrid, f->gm_thrid);
		meta->gmail_thread_id = ids->thrid;
	}
	if (f->gm_labels == NULL)
		return;
	while (f->gm_labels[n])
		n++;
	ids->labels = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		ids->labels[i] = api_label(f->gm_labels[i]);
		/* A copy found in INBOX or a label's folder is ours too when
		 * Gmail says we sent it. */
		if (strcasecmp(f->gm_labels[i], "\\Sent") == 0)
			meta->outbound_hint = true;
	}
	meta->gmail_labels = ids->labels;
}

void
imap_gmail_ids_clear(struct imap_gmail_ids *ids)
{
	free(ids->labels);
	ids->labels = NULL;
}
