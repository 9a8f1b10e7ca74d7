/*
 * Automated mail detection (SPEC 4): auto-replies, bulk and list mail,
 * bounces, out-of-office. Pure: looks only at the parsed mail.
 */
#ifndef INBOXD_CLASSIFY_H
#define INBOXD_CLASSIFY_H

#include "mail.h"

/* NULL for mail written by a human, else a short static reason token:
 * "auto-submitted", "x-autoreply", "x-autorespond", "precedence",
 * "list-id", "delivery-report", "system-sender", "out-of-office". */
const char *classify_automated(const struct mail *m);

#endif
