/*
 * Checks of what the Gmail API answers, before any of it is stored: a
 * historyId must be a decimal number that never goes backwards, and a
 * message's raw form must be base64url. A server that answers otherwise
 * is refused rather than believed (pure).
 */
#ifndef INBOXD_GMAIL_CHECK_H
#define INBOXD_GMAIL_CHECK_H

#include <stdbool.h>

#define GMAIL_HISTORY_ID_MAX 20 /* digits: an unsigned 64-bit number */

/* Whether s is a decimal number of 1 to GMAIL_HISTORY_ID_MAX digits. */
bool gmail_history_id_valid(const char *s);

/* Compares two valid historyIds as numbers: <0, 0 or >0. */
int gmail_history_id_cmp(const char *a, const char *b);

/*
 * What is wrong with a raw message as messages.get?format=raw gives
 * it ("is empty", "is not valid base64url"), or NULL when nothing is.
 */
const char *gmail_raw_problem(const char *raw);

#endif
