/* etag.h - ETags as the engine keeps, compares and sends them: the one
 * size kept (a longer one is unknown, never cut), the opaque part sent in
 * If-Match, and when two name one version. */
#ifndef OSSC_ETAG_H
#define OSSC_ETAG_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* Bytes kept of an ETag, NUL included.  A longer one is not cut (two
 * versions could share the cut) but dropped: the version is then unknown
 * and nothing is compared or pinned (OSS's are 32 hex digits and a
 * multipart suffix; a SHA-256 one with a suffix is about 70). */
#define OSSC_ETAG_MAX 128

/* The opaque part of etag into out[cap]: without a weak "W/" prefix (a
 * proxy's; the object's own ETag is strong, so If-Match names it strong)
 * and without its quotes.  False when the rest cannot be sent in If-Match:
 * empty, too long for out, or holding anything that could end the header
 * or the quoted string (a space, quote, backslash, control character) --
 * a caller's string never reaches the wire unchecked. */
static inline bool ossc_etag_opaque(const char *etag, char *out, size_t cap)
{
    if (strncmp(etag, "W/", 2) == 0)
        etag += 2;
    size_t n = strlen(etag);
    if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
        etag++;
        n -= 2;
    }
    if (n == 0 || n >= cap)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)etag[i];
        if (ch < 0x21 || ch == 0x7f || ch == '"' || ch == '\\')
            return false;
    }
    memcpy(out, etag, n);
    out[n] = '\0';
    return true;
}

/* Whether two ETags, quoted or not, name one version: a weak "W/" prefix,
 * which a proxy may add, and letter case are not told apart (OSS's are hex
 * digests). */
static inline bool ossc_etag_same(const char *a, const char *b)
{
    if (strncmp(a, "W/", 2) == 0)
        a += 2;
    if (strncmp(b, "W/", 2) == 0)
        b += 2;
    a += *a == '"';
    b += *b == '"';
    size_t na = strlen(a), nb = strlen(b);
    na -= na && a[na - 1] == '"';
    nb -= nb && b[nb - 1] == '"';
    return na == nb && strncasecmp(a, b, na) == 0;
}

#endif
