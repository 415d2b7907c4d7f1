/* xml_list_fields.c - what the text of each wanted element of a list page
 * means, once the element has ended (xml_list.c collects the text).
 *
 * Entry fields (<Key>, <Size>, <LastModified>, <ETag> of a <Contents>,
 * <Prefix> of a <CommonPrefixes>) fill the entry being read or append a
 * prefix; page fields (<IsTruncated>, <NextContinuationToken>,
 * <NextMarker>, <EncodingType>) settle how the listing continues.  A kept
 * string is copied once, from the reused text buffer into the result's
 * arena; nothing else allocates per entry.
 *
 * With <EncodingType>url</EncodingType>, keys, prefixes and the next token
 * are URL-decoded.  The element may come before or after the entries:
 * strings stored before it are decoded in place when it is seen (decoding
 * never lengthens a string). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "error.h"
#include "list_result.h"
#include "uri.h"
#include "xml_list_sax.h"

/* URL-decodes the arena string p in place (`what` names the element for
 * the message).  0, or -1 with the parser stopped. */
static int decode_in_place(list_sax *s, char *p, const char *what)
{
    if (ossc_url_decode(p, p, strlen(p) + 1) < 0) {
        ossc_error_set(s->err, EIO, "list response: malformed URL encoding in <%s>: '%.200s'",
                       what, p);
        return ossc_list_sax_fail(s);
    }
    return 0;
}

/* The collected text as an arena string, URL-decoded when the page is
 * known to be encoded.  NULL with the parser stopped on failure. */
static char *text_to_arena(list_sax *s, const char *what)
{
    char *p = ossc_arena_strndup(s->r->_arena, s->text, s->text_len);

    if (!p) {
        ossc_list_sax_nomem(s);
        return NULL;
    }
    if (s->url && decode_in_place(s, p, what) != 0)
        return NULL;
    return p;
}

/* <EncodingType>url</EncodingType> seen after some strings of this page
 * were stored raw: decodes them now (object keys and prefixes cast away
 * const: they are this page's own arena copies). */
static int decode_stored(list_sax *s)
{
    ossc_list_result *r = s->r;

    for (size_t i = s->first_object; i < r->count; i++)
        if (decode_in_place(s, (char *)r->objects[i].key, "Key") != 0)
            return -1;
    for (size_t i = s->first_prefix; i < r->prefix_count; i++)
        if (decode_in_place(s, (char *)r->prefixes[i], "Prefix") != 0)
            return -1;
    if (s->token && decode_in_place(s, s->token, "NextContinuationToken") != 0)
        return -1;
    if (s->marker && decode_in_place(s, s->marker, "NextMarker") != 0)
        return -1;
    return 0;
}

/* Tells the caller the next continuation token as soon as it is certain:
 * the page says it is truncated, carries a non-empty NextContinuationToken
 * and has said whether it is URL-encoded.  Pages that settle this only at
 * their end (no EncodingType, V1 markers) are reported by the caller after
 * the parse instead. */
static void maybe_fire_next(list_sax *s)
{
    if (s->on_next && !s->next_fired && s->truncated_seen && s->truncated && s->token &&
        s->token[0] && s->encoding_seen) {
        s->next_fired = 1;
        s->on_next(s->token, s->on_next_arg);
    }
}

/* Parses a byte count: a decimal number that is the whole string and at
 * most INT64_MAX (what an off_t holds; no object comes near it), so a
 * size never wraps into a negative offset anywhere downstream.  -1
 * otherwise (sign, space, overflow, empty). */
static int parse_size(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > ((uint64_t)INT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* <LastModified>: pages repeat the same timestamp for many keys, so the
 * previous text and its value are kept and a repeat costs one strcmp
 * instead of a date parse. */
static void store_mtime(list_sax *s)
{
    const char *t = s->text;

    if (s->text_len >= sizeof s->last_mtime_text) {
        s->mtime = ossc_xml_parse_time(t);
    } else if (strcmp(t, s->last_mtime_text) == 0) {
        s->mtime = s->last_mtime;
    } else {
        s->mtime = s->last_mtime = ossc_xml_parse_time(t);
        memcpy(s->last_mtime_text, t, s->text_len + 1);
    }
}

/* <ETag>: the surrounding quotes dropped; "" (no copy) when empty. */
static int store_etag(list_sax *s)
{
    const char *t = s->text;
    size_t l = s->text_len;

    if (l >= 2 && t[0] == '"' && t[l - 1] == '"') {
        t++;
        l -= 2;
    }
    s->etag = "";
    if (l && !(s->etag = ossc_arena_strndup(s->r->_arena, t, l)))
        return ossc_list_sax_nomem(s);
    return 0;
}

/* A field of the entry being read (or a common prefix, appended now). */
static int end_entry_field(list_sax *s)
{
    switch (s->field) {
    case F_KEY:
        s->key = text_to_arena(s, "Key");
        return s->key ? 0 : -1;
    case F_SIZE:
        /* reported at </Contents>, where the key is known (it may come
         * after <Size>) */
        if (parse_size(s->text, &s->size) != 0 && !s->size_bad) {
            s->size_bad = 1;
            snprintf(s->bad_size, sizeof s->bad_size, "%.40s%s", s->text,
                     s->text_len > 40 ? "..." : "");
        }
        return 0;
    case F_MTIME:
        store_mtime(s);
        return 0;
    case F_ETAG:
        return store_etag(s);
    case F_PREFIX: {
        const char *p = text_to_arena(s, "Prefix");
        if (!p)
            return -1;
        return ossc_list_result_push_prefix(s->r, p) == 0 ? 0 : ossc_list_sax_nomem(s);
    }
    default:
        return 0;
    }
}

/* A page-level field; then the early token may have become certain. */
static int end_page_field(list_sax *s)
{
    char *t = s->text;

    switch (s->field) {
    case F_TRUNCATED:
        if (strcasecmp(t, "true") != 0 && strcasecmp(t, "false") != 0) {
            ossc_error_set(s->err, EIO, "list response: malformed <IsTruncated> '%.20s'", t);
            return ossc_list_sax_fail(s);
        }
        s->truncated = strcasecmp(t, "true") == 0;
        s->truncated_seen = 1;
        break;
    case F_TOKEN:
        if (!(t = text_to_arena(s, "NextContinuationToken")))
            return -1;
        if (s->next_fired && strcmp(t, s->token) != 0) {
            /* the next page was already requested with the first one */
            ossc_error_set(s->err, EIO, "list response: two different <NextContinuationToken>");
            return ossc_list_sax_fail(s);
        }
        s->token = t;
        break;
    case F_MARKER:
        if (!(s->marker = text_to_arena(s, "NextMarker")))
            return -1;
        break;
    case F_ENCODING:
        if (!s->encoding_seen) {
            s->encoding_seen = 1;
            if (strcasecmp(t, "url") == 0) {
                if (decode_stored(s) != 0)
                    return -1;
                s->url = 1;
            }
        }
        break;
    default:
        return 0;
    }
    maybe_fire_next(s);
    return 0;
}

/* Contract in xml_list_sax.h. */
int ossc_list_end_field(list_sax *s)
{
    switch (s->field) {
    case F_KEY:
    case F_SIZE:
    case F_MTIME:
    case F_ETAG:
    case F_PREFIX:
        return end_entry_field(s);
    case F_TRUNCATED:
    case F_TOKEN:
    case F_MARKER:
    case F_ENCODING:
        return end_page_field(s);
    case F_NONE:
        break;
    }
    return 0;
}
