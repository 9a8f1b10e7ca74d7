/*
 * Gmail's IMAP ids and labels in the Gmail API driver's form: decimal
 * numbers become lower-case hex without leading zeros, system labels
 * take the API's names, \Sent makes a message outbound, and what the
 * FETCH answer lacks leaves the message's fields alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_gmail.h"
#include "imap_reader.h"
#include "ingest.h"
#include "tap.h"

static const char *
label_list(const struct ingest_meta *meta, char *out, size_t size)
{
	out[0] = '\0';
	for (const char *const *l = meta->gmail_labels; l && *l; l++) {
		if (l > meta->gmail_labels)
			strncat(out, "|", size - strlen(out) - 1);
		strncat(out, *l, size - strlen(out) - 1);
	}
	return out;
}

static void
test_ids(void)
{
	struct imap_fetch f;
	struct ingest_meta meta;
	struct imap_gmail_ids ids = {"", "", NULL};

	memset(&f, 0, sizeof(f));
	memset(&meta, 0, sizeof(meta));
	f.has_gm_msgid = true;
	f.gm_msgid = 1278455344230334866ULL;
	f.has_gm_thrid = true;
	f.gm_thrid = 255;
	imap_gmail_meta(&f, &meta, &ids);
	is_str(meta.gmail_message_id, "11bdfc5cae0c8192",
	    "ids: the message id in hex");
	is_str(meta.gmail_thread_id, "ff", "ids: no leading zeros");
	ok(meta.gmail_labels == NULL, "ids: no labels asked, none set");
	is_int(strlen(meta.gmail_message_id), 16, "ids: 16 hex digits");
	ok(!meta.outbound_hint, "ids: no labels, no direction");
	imap_gmail_ids_clear(&ids);

	memset(&meta, 0, sizeof(meta));
	f.gm_msgid = UINT64_MAX;
	f.has_gm_thrid = false;
	imap_gmail_meta(&f, &meta, &ids);
	is_str(meta.gmail_message_id, "ffffffffffffffff", "ids: 2^64 - 1");
	ok(meta.gmail_thread_id == NULL, "ids: a missing thread id is none");
	imap_gmail_ids_clear(&ids);

	memset(&f, 0, sizeof(f));
	memset(&meta, 0, sizeof(meta));
	imap_gmail_meta(&f, &meta, &ids);
	ok(meta.gmail_message_id == NULL && meta.gmail_thread_id == NULL &&
		meta.gmail_labels == NULL,
	    "ids: a server without X-GM-EXT-1 sets nothing");
	imap_gmail_ids_clear(&ids);
}

static void
test_labels(void)
{
	char *in[] = {"\\Inbox", "\\important", "Work", "\\Starred",
	    "My \"label\"", "\\Junk", NULL};
	char *sent[] = {"\\Draft", "\\SENT", NULL};
	char *user_sent[] = {"Sent", "SENT", NULL};
	char *none[] = {NULL};
	struct imap_fetch f;
	struct ingest_meta meta;
	struct imap_gmail_ids ids = {"", "", NULL};
	char buf[256];

	memset(&f, 0, sizeof(f));
	memset(&meta, 0, sizeof(meta));
	f.gm_labels = in;
	imap_gmail_meta(&f, &meta, &ids);
	is_str(label_list(&meta, buf, sizeof(buf)),
	    "INBOX|IMPORTANT|Work|STARRED|My \"label\"|\\Junk",
	    "labels: system labels by the API's names, the others kept");
	ok(!meta.outbound_hint, "labels: without \\Sent, not outbound");
	imap_gmail_ids_clear(&ids);

	memset(&meta, 0, sizeof(meta));
	f.gm_labels = sent;
	imap_gmail_meta(&f, &meta, &ids);
	is_str(label_list(&meta, buf, sizeof(buf)), "DRAFT|SENT",
	    "labels: \\Draft and \\Sent, in any case");
	ok(meta.outbound_hint, "labels: \\Sent makes the message outbound");
	imap_gmail_ids_clear(&ids);

	memset(&meta, 0, sizeof(meta));
	f.gm_labels = user_sent;
	imap_gmail_meta(&f, &meta, &ids);
	ok(!meta.outbound_hint,
	    "labels: a user's label named Sent is not Gmail's \\Sent");
	imap_gmail_ids_clear(&ids);

	memset(&meta, 0, sizeof(meta));
	meta.outbound_hint = true;
	f.gm_labels = none;
	imap_gmail_meta(&f, &meta, &ids);
	ok(meta.gmail_labels != NULL && meta.gmail_labels[0] == NULL,
	    "labels: an empty list is an empty list, not none");
	ok(meta.outbound_hint,
	    "labels: the Sent folder's hint stays without \\Sent");
	imap_gmail_ids_clear(&ids);
}

int
main(void)
{
	test_ids();
	test_labels();
	return tap_done();
}
