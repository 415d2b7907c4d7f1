/* sign_canon.h - canonical-form helpers shared by the V1 and V4 signers
 * (sign.c): a measuring string builder, encoding, name orders, and ordered
 * views over the caller's and the signer's name/value lists. */
#ifndef OSSC_SIGN_CANON_H
#define OSSC_SIGN_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sign.h"

#define OSSC_NO_INDEX SIZE_MAX

/* Append-only string builder over a caller buffer.  len keeps counting past
 * cap so a first pass with cap 0 yields the size to allocate. */
typedef struct ossc_sbuf {
    char *buf;
    size_t cap;
    size_t len;
} ossc_sbuf;

/* Append n bytes / a string / a byte, or only count them when they do not
 * fit (one byte is kept for the final NUL). */
void ossc_sb_put(ossc_sbuf *s, const char *p, size_t n);
void ossc_sb_puts(ossc_sbuf *s, const char *p);
void ossc_sb_putc(ossc_sbuf *s, char c);
/* NUL-terminates; returns the length, or -1 when the buffer was too small. */
long ossc_sb_finish(ossc_sbuf *s);
/* Appends p lower-cased (ASCII only) / V4-percent-encoded ('/' kept when
 * keep_slash). */
void ossc_sb_put_lower(ossc_sbuf *s, const char *p);
void ossc_sb_put_encoded(ossc_sbuf *s, const char *p, bool keep_slash);

char ossc_ascii_lower(char c);
/* Name orders: ASCII case-insensitive, bytewise, and bytewise over the
 * V4-encoded forms (without building them). */
int ossc_cmp_lower(const char *a, const char *b);
int ossc_cmp_raw(const char *a, const char *b);
int ossc_cmp_encoded(const char *a, const char *b);

/* The caller's list followed by the signer's own entries; later entries win
 * over earlier ones with the same name, like successive dict stores. */
typedef struct ossc_kv_view {
    const ossc_kv *a;
    size_t na;
    const ossc_kv *b;
    size_t nb;
} ossc_kv_view;

typedef int (*ossc_name_cmp)(const char *, const char *);
typedef bool (*ossc_name_keep)(const char *);

const ossc_kv *ossc_kv_at(const ossc_kv_view *v, size_t i);
/* The value, "" for a bare name. */
const char *ossc_kv_value(const ossc_kv *kv);
/* Index of the smallest kept name sorting strictly after the one at `after`
 * (OSSC_NO_INDEX: from the start); the last of equal names wins.
 * OSSC_NO_INDEX when none is left.  Quadratic: lists hold a handful. */
size_t ossc_next_sorted(const ossc_kv_view *v, size_t after, ossc_name_cmp cmp,
                        ossc_name_keep keep);
/* Value of the last header named `name` (case-insensitive), or "". */
const char *ossc_find_header(const ossc_kv_view *v, const char *name);

#endif
