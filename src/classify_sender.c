/*
 * Automated mail detection: the senders no person writes from, by the
 * local part of the address (no-reply and kin, system accounts), by the
 * display name, and the null sender. The bulk rules read a Return-Path's
 * local part with the same rules.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include <glib.h>

#include "classify_int.h"
#include "util.h"
/* ---- Senders ------------------------------------------------------ */

/*
 * Names no person writes from, compact (separators dropped). A local
 * part matches when a run of its words ("no", "reply" in "no.reply";
 * "ebay", "noreply" in "ebay-noreply") spells one of them; "noreplying"
 * is one word and does not.
 */
static const struct {
	const char *name;
	const char *reason;
} sender_names[] = {
    {"mailerdaemon", "bounce: MAILER-DAEMON sender"},
    {"postmaster", "bounce: postmaster sender"},
    {"noreply", "notification: no-reply sender"},
    {"donotreply", "notification: no-reply sender"},
    {"dontreply", "notification: no-reply sender"},
    {"noreplies", "notification: no-reply sender"},
    {"noanswer", "notification: no-reply sender"},
    {"noresponse", "notification: no-reply sender"},
    {"donotrespond", "notification: no-reply sender"},
    {"nepasrepondre", "notification: no-reply sender"},
    {"noresponder", "notification: no-reply sender"},
    {"naoresponda", "notification: no-reply sender"},
    {"nonrispondere", "notification: no-reply sender"},
    {"nichtantworten", "notification: no-reply sender"},
    {"keineantwort", "notification: no-reply sender"},
    {"nietbeantwoorden", "notification: no-reply sender"},
    {"notification", "notification: notification sender"},
    {"notifications", "notification: notification sender"},
    {"notify", "notification: notification sender"},
    {"notifier", "notification: notification sender"},
    {"alert", "notification: alert sender"},
    {"alerts", "notification: alert sender"},
    {"automailer", "notification: mailer sender"},
    {"autoconfirm", "notification: auto-confirm sender"},
    {"autoresponder", "auto-reply: autoresponder sender"},
    {"autoreply", "auto-reply: autoresponder sender"},
    {"newsletter", "bulk: newsletter sender"},
    {"newsletters", "bulk: newsletter sender"},
    {"receipt", "notification: receipt sender"},
    {"receipts", "notification: receipt sender"},
    {"bounce", "bounce: bounce address sender"},
    {"bounces", "bounce: bounce address sender"},
};

/*
 * System accounts and the default senders of monitoring, build and
 * publishing software. Some are also surnames ("Sarah Jenkins",
 * "Norman Mailer"), so these count only as the whole local part, before
 * any "+tag".
 */
static const char *const system_accounts[] = {
    "daemon",
    "cron",
    "mailer",
    "www-data",
    "nagios",
    "icinga",
    "zabbix",
    "jenkins",
    "wordpress",
};

static bool
is_sep(char c)
{
	return c == '.' || c == '-' || c == '_' || c == '+' || c == '=';
}

/* The reason for a local part local[0..len), or NULL. */
const char *
classify_local_part_reason(const char *local, size_t len)
{
	char compact[128];
	size_t starts[64], n_starts = 0, n = 0, i, j, k, w;

	/* compact holds the letters and digits; starts where words begin. */
	for (i = 0; i < len && n + 1 < sizeof(compact); i++) {
		if (is_sep(local[i]))
			continue;
		if ((i == 0 || is_sep(local[i - 1])) &&
		    n_starts < nitems(starts))
			starts[n_starts++] = n;
		compact[n++] = g_ascii_tolower(local[i]);
	}
	compact[n] = '\0';
	for (i = 0; i < n_starts; i++) {
		for (k = 0; k < nitems(sender_names); k++) {
			w = strlen(sender_names[k].name);
			if (starts[i] + w > n ||
			    memcmp(compact + starts[i], sender_names[k].name,
				w) != 0)
				continue;
			/* The run must end where a word ends. */
			if (starts[i] + w == n)
				return sender_names[k].reason;
			for (j = i + 1; j < n_starts; j++)
				if (starts[j] == starts[i] + w)
					return sender_names[k].reason;
		}
	}
	return NULL;
}

static bool
system_account(const char *local, size_t len)
{
	const char *plus = memchr(local, '+', len);
	size_t i;

	if (plus != NULL)
		len = (size_t)(plus - local);
	for (i = 0; i < nitems(system_accounts); i++)
		if (strlen(system_accounts[i]) == len &&
		    g_ascii_strncasecmp(local, system_accounts[i], len) == 0)
			return true;
	return false;
}

static const char *
address_reason(const char *addr)
{
	const char *at;

	if (addr == NULL || (at = strrchr(addr, '@')) == NULL)
		return NULL;
	if (system_account(addr, (size_t)(at - addr)))
		return "notification: system account sender";
	/* Fax and SMS gateways write numbers in marked-up local parts
	 * ("#FAX#*49..."); a person's address has no '#'. */
	if (memchr(addr, '#', (size_t)(at - addr)) != NULL)
		return "notification: gateway sender";
	return classify_local_part_reason(addr, (size_t)(at - addr));
}

/* The display names mail servers sign their reports with. */
static const char *
display_name_reason(const char *name)
{
	static const char *const bounce_names[] = {
	    "mailer-daemon",
	    "mailer daemon",
	    "mail delivery system",
	    "mail delivery subsystem",
	    "mail delivery service",
	    "postmaster",
	};
	static const char *const noreply_names[] = {
	    "no-reply",
	    "noreply",
	    "no reply",
	    "do not reply",
	    "do-not-reply",
	    "donotreply",
	};
	struct folded f;
	const char *why = NULL;

	if (name == NULL)
		return NULL;
	classify_fold(&f, name, 256);
	if (classify_folded_has_any(&f, bounce_names, nitems(bounce_names)))
		why = "bounce: mail system display name";
	else if (classify_folded_has_any(
		     &f, noreply_names, nitems(noreply_names)))
		why = "notification: no-reply display name";
	classify_fold_free(&f);
	return why;
}

/* The raw address in From: or Return-Path: is "<>", the null sender. */
static bool
null_address(const char *v)
{
	const char *open;

	if (v == NULL || (open = strchr(v, '<')) == NULL)
		return false;
	open++;
	while (*open == ' ')
		open++;
	return *open == '>';
}

const char *
classify_sender(const struct mail *m)
{
	const char *why;

	if (null_address(mail_header(m, "Return-Path")))
		return "bounce: null sender (Return-Path: <>)";
	if (m->from_email == NULL && null_address(mail_header(m, "From")))
		return "bounce: null sender (From: <>)";
	if ((why = address_reason(m->from_email)) != NULL)
		return why;
	if ((why = display_name_reason(m->from_name)) != NULL)
		return why;
	return NULL;
}
