/* sign_canon.c - the canonical forms the signers build on: a string builder
 * that measures what it could not hold, V4 percent-encoding, the name
 * orders oss2 sorts by, and ordered views over name/value lists.  No
 * secrets pass through here.  See sign_canon.h. */
#include "sign_canon.h"

#include <stdint.h>
#include <string.h>

/* ---- output buffer that measures what it could not hold ---------------- */

/* Appends n bytes, or only counts them when they do not fit (keeping one
 * byte for the final NUL). */
void ossc_sb_put(ossc_sbuf *s, const char *p, size_t n)
{
    if (n < s->cap && s->len < s->cap - n)
        memcpy(s->buf + s->len, p, n);
    s->len += n;
}

void ossc_sb_puts(ossc_sbuf *s, const char *p)
{
    ossc_sb_put(s, p, strlen(p));
}

void ossc_sb_putc(ossc_sbuf *s, char c)
{
    ossc_sb_put(s, &c, 1);
}

/* NUL-terminates; returns the length, or -1 when the buffer was too small
 * (the buffer then holds an empty string). */
long ossc_sb_finish(ossc_sbuf *s)
{
    if (s->len < s->cap) {
        s->buf[s->len] = '\0';
        return (long)s->len;
    }
    if (s->cap > 0)
        s->buf[0] = '\0';
    return -1;
}

/* ---- character helpers -------------------------------------------------- */

char ossc_ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Characters oss2's __v4_uri_encode leaves alone. */
static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

/* Appends s lowercased (ASCII only: header names). */
void ossc_sb_put_lower(ossc_sbuf *s, const char *p)
{
    for (; *p; p++)
        ossc_sb_putc(s, ossc_ascii_lower(*p));
}

/* Appends the V4 URI encoding of p (upper-case hex, '/' kept on request). */
void ossc_sb_put_encoded(ossc_sbuf *s, const char *p, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *u = (const unsigned char *)p; *u; u++) {
        if (is_unreserved(*u) || (keep_slash && *u == '/')) {
            ossc_sb_putc(s, (char)*u);
        } else {
            char esc[3] = {'%', hex[*u >> 4], hex[*u & 0xf]};
            ossc_sb_put(s, esc, 3);
        }
    }
}

/* Compares header names the way a case-insensitive dict sorted on the
 * lowercased name does. */
int ossc_cmp_lower(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)ossc_ascii_lower(*a);
        unsigned char cb = (unsigned char)ossc_ascii_lower(*b);
        if (ca != cb || ca == 0)
            return ca - cb;
    }
}

/* Plain byte order, which is also code-point order for UTF-8. */
int ossc_cmp_raw(const char *a, const char *b)
{
    return strcmp(a, b);
}

/* Walks the V4-encoded form of a string one byte at a time, so encoded
 * names can be compared without materialising them. */
typedef struct enc_cursor {
    const unsigned char *p;
    char pending[2];
    int n_pending;
} enc_cursor;

/* Next byte of the encoded stream, or -1 at its end. */
static int enc_next(enc_cursor *c)
{
    static const char hex[] = "0123456789ABCDEF";
    if (c->n_pending > 0) {
        char out = c->pending[2 - c->n_pending];
        c->n_pending--;
        return (unsigned char)out;
    }
    if (*c->p == 0)
        return -1;
    unsigned char u = *c->p++;
    if (is_unreserved(u))
        return u;
    c->pending[0] = hex[u >> 4];
    c->pending[1] = hex[u & 0xf];
    c->n_pending = 2;
    return '%';
}

/* Orders query names by their encoded form, as oss2's V4 canonical query
 * sorts the already-encoded names. */
int ossc_cmp_encoded(const char *a, const char *b)
{
    enc_cursor ca = {(const unsigned char *)a, {0, 0}, 0};
    enc_cursor cb = {(const unsigned char *)b, {0, 0}, 0};
    for (;;) {
        int x = enc_next(&ca), y = enc_next(&cb);
        if (x != y || x < 0)
            return x - y;
    }
}

/* ---- ordered views over name/value lists -------------------------------- */

const ossc_kv *ossc_kv_at(const ossc_kv_view *v, size_t i)
{
    return i < v->na ? &v->a[i] : &v->b[i - v->na];
}

const char *ossc_kv_value(const ossc_kv *kv)
{
    return kv->value ? kv->value : "";
}

/* Index of the smallest kept name sorting strictly after the name at
 * `after` (OSSC_NO_INDEX: no lower bound); among equal names the last entry wins.
 * OSSC_NO_INDEX when nothing is left.  Quadratic, which is fine for the handful
 * of headers/parameters a request has, and needs no allocation. */
size_t ossc_next_sorted(const ossc_kv_view *v, size_t after, ossc_name_cmp cmp, ossc_name_keep keep)
{
    size_t best = OSSC_NO_INDEX;
    const char *floor = after == OSSC_NO_INDEX ? NULL : ossc_kv_at(v, after)->name;
    for (size_t i = 0; i < v->na + v->nb; i++) {
        const char *name = ossc_kv_at(v, i)->name;
        if (!name || !keep(name))
            continue;
        if (floor && cmp(name, floor) <= 0)
            continue;
        if (best == OSSC_NO_INDEX || cmp(name, ossc_kv_at(v, best)->name) <= 0)
            best = i;
    }
    return best;
}

/* Value of the last header named `name` (case-insensitive), or "". */
const char *ossc_find_header(const ossc_kv_view *v, const char *name)
{
    const char *found = "";
    for (size_t i = 0; i < v->na + v->nb; i++) {
        const ossc_kv *kv = ossc_kv_at(v, i);
        if (kv->name && ossc_cmp_lower(kv->name, name) == 0)
            found = ossc_kv_value(kv);
    }
    return found;
}
