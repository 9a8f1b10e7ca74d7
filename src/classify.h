/*
 * Automated mail detection (SPEC 4): bounces, auto-replies, reports,
 * list and bulk mail, notifications, calendar invitations. Pure: looks
 * only at the parsed mail.
 */
#ifndef INBOXD_CLASSIFY_H
#define INBOXD_CLASSIFY_H

#include "mail.h"

/*
 * NULL for mail written by a person, else a static reason,
 * "class: evidence" ("bounce: null sender (Return-Path: <>)"). The
 * classes: bounce (delivery reports and failures), auto-reply
 * (out-of-office and autoresponders), challenge (challenge-response),
 * read-receipt, report (ARF feedback, DMARC and TLS reports), list
 * (mailing list traffic), bulk (newsletters and marketing),
 * notification (no-reply and service senders, system reports) and
 * calendar (invitations from calendar services).
 */
const char *classify_automated(const struct mail *m);

#endif
