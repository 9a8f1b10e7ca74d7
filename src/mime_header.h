/*
 * The top-level headers of a message GMime parsed, for mime.c only:
 * this header exposes GMime types, which nothing outside the two mime
 * files may see.
 */
#ifndef INBOXD_MIME_HEADER_H
#define INBOXD_MIME_HEADER_H

#include <gmime/gmime.h>

#include "mail.h"

/*
 * Fills m's headers, subject, sender, recipients, ids, date and content
 * type from msg. Address fields (Return-Path) are parsed with options;
 * the mail keeps no pointer into msg or options.
 */
void mime_read_headers(
    struct mail *m, GMimeMessage *msg, GMimeParserOptions *options);

#endif
