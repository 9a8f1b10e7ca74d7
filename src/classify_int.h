/*
 * The insides of automated mail detection, shared by classify.c (the
 * decision, the structure and header rules, text matching),
 * classify_oof.c (auto-reply and challenge subjects), classify_sender.c
 * (addresses and display names), classify_bounce.c (bounces without a
 * report) and classify_bulk.c (lists, bulk mail, trackers). Nothing
 * outside them includes it.
 */
#ifndef INBOXD_CLASSIFY_INT_H
#define INBOXD_CLASSIFY_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "classify.h"

/*
 * Folded forms of a text for matching: utf8 is case-folded UTF-8 (for
 * phrases in non-Latin scripts), ascii the same transliterated to
 * lower-case ASCII ("Réponse" -> "reponse", "Ārpus" -> "arpus").
 */
struct folded {
	char *utf8;
	char *ascii;
};

/* classify.c: headers and text matching. */
bool classify_has_header(
    const struct mail *m, const char *const *names, size_t n);
void classify_fold(struct folded *f, const char *s, size_t max);
void classify_fold_free(struct folded *f);
bool classify_is_word_char(char c);
bool classify_is_ascii_text(const char *s);
bool classify_folded_has_any(
    const struct folded *f, const char *const *phrases, size_t n);

/* classify_oof.c */
bool classify_reply_prefixed(const char *ascii);
const char *classify_out_of_office(
    const struct mail *m, const struct folded *subject);
const char *classify_challenge(
    const struct mail *m, const struct folded *subject);

/* classify_sender.c */
const char *classify_local_part_reason(const char *local, size_t len);
const char *classify_sender(const struct mail *m);

/* classify_bounce.c */
const char *classify_bounce_text(
    const struct mail *m, const struct folded *subject);

/* classify_bulk.c */
const char *classify_list_headers(const struct mail *m);
const char *classify_bulk_headers(const struct mail *m);
const char *classify_bulk_body(
    const struct mail *m, const struct folded *subject);
const char *classify_tracker_headers(const struct mail *m);

#endif
