/* xml_list.c - ListBucketResult pages parsed with libxml2's SAX2 interface,
 * and the list result container they fill.
 *
 * No tree is built: libxml2 tokenises the page and calls back for each
 * start tag, text run and end tag; the few fields a listing needs are
 * collected in one reused text buffer and copied once, into the result's
 * arena.  A 1,000-key page costs a handful of mallocs (the parser context
 * and, now and then, a new arena block or a doubled entry array) instead
 * of several per key.
 *
 * Elements are matched by local name at a fixed depth (children of the
 * root, children of <Contents> / <CommonPrefixes>), so OSS documents (no
 * namespace) and S3-style ones (default or prefixed namespace) parse alike
 * and unknown elements, nested or not, are skipped.  A document that
 * declares a DTD is refused at its DOCTYPE: OSS never sends one, and this
 * rules out entity-expansion and external-entity tricks (the parser also
 * runs with XML_PARSE_NONET and never substitutes entities).
 *
 * With <EncodingType>url</EncodingType>, keys, prefixes and the next token
 * are URL-decoded.  The element may come before or after the entries:
 * strings stored before it are decoded in place when it is seen (decoding
 * never lengthens a string). */
#include "xml.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>

#include "arena.h"
#include "error.h"
#include "uri.h"

#define LIST_INITIAL_CAP 256
/* No field of a list page is anywhere near this long (keys are < 1 KiB,
 * < 3 KiB URL-encoded); a longer text run means a broken or hostile body. */
#define LIST_TEXT_MAX (64 * 1024)

/* ------------------------------------------------------------ the result */

/* An empty result with its arena; next_token starts as "". */
ossc_list_result *ossc_list_result_new(void)
{
    ossc_list_result *r = calloc(1, sizeof *r);

    if (!r)
        return NULL;
    r->_arena = ossc_arena_new();
    if (!r->_arena) {
        free(r);
        return NULL;
    }
    r->next_token = "";
    return r;
}

/* Frees the arrays, every string (the arena) and r; NULL is a no-op. */
void ossc_list_result_free(ossc_list_result *r)
{
    if (!r)
        return;
    free(r->objects);
    free(r->prefixes);
    ossc_arena_free(r->_arena);
    free(r);
}

/* Makes room for `more` entries after the first `count` in *arr (element
 * size `size`, capacity *cap), doubling.  -1 on ENOMEM or overflow. */
static int grow(void **arr, size_t *cap, size_t count, size_t more, size_t size)
{
    size_t want, c;
    void *p;

    if (more > SIZE_MAX - count)
        return -1;
    want = count + more;
    if (want <= *cap)
        return 0;
    c = *cap ? *cap : LIST_INITIAL_CAP;
    while (c < want) {
        if (c > SIZE_MAX / 2)
            return -1;
        c *= 2;
    }
    if (c > SIZE_MAX / size)
        return -1;
    p = realloc(*arr, c * size);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

/* Appends an entry whose strings already live in r's arena. */
static int push_owned(ossc_list_result *r, const char *key, uint64_t size, int64_t mtime,
                      const char *etag)
{
    ossc_object_info *o;

    if (grow((void **)&r->objects, &r->_cap_objects, r->count, 1, sizeof *r->objects) != 0)
        return -1;
    o = &r->objects[r->count++];
    o->key = key;
    o->size = size;
    o->mtime = mtime;
    o->etag = etag;
    o->crc64 = 0;
    o->has_crc64 = 0;
    return 0;
}

/* Appends a common prefix already stored in r's arena. */
static int push_prefix(ossc_list_result *r, const char *prefix)
{
    if (grow((void **)&r->prefixes, &r->_cap_prefixes, r->prefix_count, 1,
             sizeof *r->prefixes) != 0)
        return -1;
    r->prefixes[r->prefix_count++] = prefix;
    return 0;
}

/* Copies key (and etag, unless empty) into the arena and appends. */
int ossc_list_result_push(ossc_list_result *r, const char *key, uint64_t size, int64_t mtime,
                          const char *etag)
{
    const char *k, *e = "";

    if (!r || !key)
        return -1;
    k = ossc_arena_strdup(r->_arena, key);
    if (!k)
        return -1;
    if (etag && etag[0]) {
        e = ossc_arena_strdup(r->_arena, etag);
        if (!e)
            return -1;
    }
    return push_owned(r, k, size, mtime, e);
}

/* Moves every entry and prefix of src behind those of dst, hands src's
 * strings (its arena) to dst and frees src; no string is copied.  dst keeps
 * its own truncated / next_token.  On ENOMEM returns -1 and leaves both
 * untouched. */
int ossc_list_result_take(ossc_list_result *dst, ossc_list_result *src)
{
    if (grow((void **)&dst->objects, &dst->_cap_objects, dst->count, src->count,
             sizeof *dst->objects) != 0 ||
        grow((void **)&dst->prefixes, &dst->_cap_prefixes, dst->prefix_count,
             src->prefix_count, sizeof *dst->prefixes) != 0)
        return -1;
    if (src->count)
        memcpy(dst->objects + dst->count, src->objects, src->count * sizeof *src->objects);
    if (src->prefix_count)
        memcpy(dst->prefixes + dst->prefix_count, src->prefixes,
               src->prefix_count * sizeof *src->prefixes);
    dst->count += src->count;
    dst->prefix_count += src->prefix_count;
    ossc_arena_merge(dst->_arena, src->_arena);
    src->_arena = NULL;
    ossc_list_result_free(src);
    return 0;
}

/* Contract in ossc.h.  One allocation holds the two number arrays and the
 * two string blobs, in that order (the arrays stay 8-byte aligned). */
int ossc_list_result_columns(const ossc_list_result *r, ossc_list_columns *out,
                             ossc_error *err)
{
    size_t n = r->count, keys_len = 0, etags_len = 0, numbers;
    char *block, *k, *e;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        keys_len += strlen(r->objects[i].key) + 1;
        etags_len += (r->objects[i].etag ? strlen(r->objects[i].etag) : 0) + 1;
    }
    numbers = n * (sizeof *out->sizes + sizeof *out->mtimes);
    block = malloc(numbers + keys_len + etags_len + 1);
    if (!block)
        return ossc_error_set(err, ENOMEM, "out of memory packing %zu list entries", n);
    out->sizes = (uint64_t *)(void *)block;
    out->mtimes = (int64_t *)(void *)(block + n * sizeof *out->sizes);
    out->keys = k = block + numbers;
    out->etags = e = k + keys_len;
    for (size_t i = 0; i < n; i++) {
        const ossc_object_info *o = &r->objects[i];
        size_t kl = strlen(o->key) + 1, el = o->etag ? strlen(o->etag) + 1 : 1;
        out->sizes[i] = o->size;
        out->mtimes[i] = o->mtime;
        memcpy(k, o->key, kl);
        k += kl;
        memcpy(e, o->etag ? o->etag : "", el);
        e += el;
    }
    out->count = n;
    out->keys_len = keys_len;
    out->etags_len = etags_len;
    return 0;
}

/* Frees what ossc_list_result_columns allocated (the block starts at
 * sizes); an empty or NULL c is a no-op. */
void ossc_list_columns_free(ossc_list_columns *c)
{
    if (!c)
        return;
    free(c->sizes);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------ the parser */

/* What the text being collected is. */
typedef enum list_field {
    F_NONE,
    F_KEY,
    F_SIZE,
    F_MTIME,
    F_ETAG,
    F_PREFIX,
    F_TRUNCATED,
    F_TOKEN,
    F_MARKER,
    F_ENCODING,
} list_field;

/* Which depth-2 element the parser is inside. */
typedef enum list_section { S_NONE, S_CONTENTS, S_PREFIXES } list_section;

typedef struct list_sax {
    xmlParserCtxtPtr ctxt;
    ossc_list_result *r;
    ossc_error *err;
    ossc_list_next_fn on_next;
    void *on_next_arg;
    size_t first_object, first_prefix;  /* this page's entries start here */
    int failed;                         /* err is filled, parser stopped */
    int depth;                          /* of the element being read, root = 1 */
    list_section section;
    list_field field;                   /* collecting text of this element ... */
    int field_depth;                    /* ... which sits at this depth */
    char *text;                         /* the element's text so far, NUL-terminated */
    size_t text_len, text_cap;
    /* the <Contents> being read */
    const char *key, *etag;
    uint64_t size;
    int64_t mtime;
    int size_bad;                       /* <Size> was no byte count ... */
    char bad_size[44];                  /* ... and said this */
    /* page-level fields */
    int url, encoding_seen, truncated, truncated_seen, next_fired;
    int v2;                             /* continue only with NextContinuationToken */
    char *token, *marker;               /* in the arena; decoded once url is known */
    char last_mtime_text[40];           /* the previous <LastModified> ... */
    int64_t last_mtime;                 /* ... and its value (pages repeat them) */
    char xml_error[200];                /* libxml2's first error, for the message */
} list_sax;

/* Records a failure (err already filled) and stops libxml2.  Returns -1. */
static int sax_fail(list_sax *s)
{
    s->failed = 1;
    xmlStopParser(s->ctxt);
    return -1;
}

static int sax_nomem(list_sax *s)
{
    ossc_error_set(s->err, ENOMEM, "out of memory reading a list response");
    return sax_fail(s);
}

/* URL-decodes the arena string *p in place (`what` names the element for
 * the message).  0, or -1 with the parser stopped. */
static int decode_in_place(list_sax *s, char *p, const char *what)
{
    if (ossc_url_decode(p, p, strlen(p) + 1) < 0) {
        ossc_error_set(s->err, EIO, "list response: malformed URL encoding in <%s>: '%.200s'",
                       what, p);
        return sax_fail(s);
    }
    return 0;
}

/* The collected text as an arena string, URL-decoded when the page is
 * known to be encoded.  NULL with the parser stopped on failure. */
static char *text_to_arena(list_sax *s, const char *what)
{
    char *p = ossc_arena_strndup(s->r->_arena, s->text, s->text_len);

    if (!p) {
        sax_nomem(s);
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

/* An element with collected text has ended: stores what it says. */
static int end_field(list_sax *s)
{
    char *t = s->text;

    switch (s->field) {
    case F_KEY:
        s->key = text_to_arena(s, "Key");
        return s->key ? 0 : -1;
    case F_SIZE:
        /* reported at </Contents>, where the key is known (it may come
         * after <Size>) */
        if (parse_size(t, &s->size) != 0 && !s->size_bad) {
            s->size_bad = 1;
            snprintf(s->bad_size, sizeof s->bad_size, "%.40s%s", t,
                     s->text_len > 40 ? "..." : "");
        }
        return 0;
    case F_MTIME:
        if (s->text_len >= sizeof s->last_mtime_text) {
            s->mtime = ossc_xml_parse_time(t);
        } else if (strcmp(t, s->last_mtime_text) == 0) {
            s->mtime = s->last_mtime;
        } else {
            s->mtime = s->last_mtime = ossc_xml_parse_time(t);
            memcpy(s->last_mtime_text, t, s->text_len + 1);
        }
        return 0;
    case F_ETAG: {
        size_t l = s->text_len;
        if (l >= 2 && t[0] == '"' && t[l - 1] == '"') {
            t++;
            l -= 2;
        }
        s->etag = "";
        if (l && !(s->etag = ossc_arena_strndup(s->r->_arena, t, l)))
            return sax_nomem(s);
        return 0;
    }
    case F_PREFIX: {
        const char *p = text_to_arena(s, "Prefix");
        if (!p)
            return -1;
        return push_prefix(s->r, p) == 0 ? 0 : sax_nomem(s);
    }
    case F_TRUNCATED:
        if (strcasecmp(t, "true") != 0 && strcasecmp(t, "false") != 0) {
            ossc_error_set(s->err, EIO, "list response: malformed <IsTruncated> '%.20s'", t);
            return sax_fail(s);
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
            return sax_fail(s);
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
    case F_NONE:
        return 0;
    }
    maybe_fire_next(s);
    return 0;
}

/* The field an element starts, given where it sits. */
static list_field field_of(const list_sax *s, const char *name)
{
    if (s->depth == 2) {
        if (strcmp(name, "IsTruncated") == 0)
            return F_TRUNCATED;
        if (strcmp(name, "NextContinuationToken") == 0)
            return F_TOKEN;
        if (strcmp(name, "NextMarker") == 0)
            return F_MARKER;
        if (strcmp(name, "EncodingType") == 0)
            return F_ENCODING;
    } else if (s->depth == 3 && s->section == S_CONTENTS) {
        switch (name[0]) {
        case 'K':
            return strcmp(name, "Key") == 0 ? F_KEY : F_NONE;
        case 'S':
            return strcmp(name, "Size") == 0 ? F_SIZE : F_NONE;
        case 'L':
            return strcmp(name, "LastModified") == 0 ? F_MTIME : F_NONE;
        case 'E':
            return strcmp(name, "ETag") == 0 ? F_ETAG : F_NONE;
        }
    } else if (s->depth == 3 && s->section == S_PREFIXES) {
        if (strcmp(name, "Prefix") == 0)
            return F_PREFIX;
    }
    return F_NONE;
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                     const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                     int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    list_sax *s = ctx;
    const char *name = (const char *)localname;
    list_field f;

    (void)prefix, (void)uri, (void)nb_namespaces, (void)namespaces, (void)nb_attributes;
    (void)nb_defaulted, (void)attributes;
    s->depth++;
    if (s->failed)
        return;
    if (s->depth == 1) {
        if (strcmp(name, "ListBucketResult") != 0) {
            ossc_error_set(s->err, EIO, "list response: unexpected root element <%.64s>", name);
            sax_fail(s);
        }
        return;
    }
    if (s->depth == 2 && strcmp(name, "Contents") == 0) {
        s->section = S_CONTENTS;
        s->key = NULL;
        s->etag = "";
        s->size = 0;
        s->mtime = 0;
        s->size_bad = 0;
        return;
    }
    if (s->depth == 2 && strcmp(name, "CommonPrefixes") == 0) {
        s->section = S_PREFIXES;
        return;
    }
    if (s->field == F_NONE && (f = field_of(s, name)) != F_NONE) {
        s->field = f;
        s->field_depth = s->depth;
        s->text_len = 0;
        s->text[0] = '\0';
    }
}

/* Text and CDATA runs; only those directly inside a wanted element count
 * (text inside its child elements does not, as in a DOM's direct text). */
static void on_text(void *ctx, const xmlChar *ch, int len)
{
    list_sax *s = ctx;
    size_t n = (size_t)len;

    if (s->failed || s->field == F_NONE || s->depth != s->field_depth || len <= 0)
        return;
    if (n > LIST_TEXT_MAX - s->text_len) {
        ossc_error_set(s->err, EIO, "list response: an element's text exceeds %d bytes",
                       LIST_TEXT_MAX);
        sax_fail(s);
        return;
    }
    if (s->text_len + n + 1 > s->text_cap) {
        size_t cap = s->text_cap * 2;
        char *t;
        while (cap < s->text_len + n + 1)
            cap *= 2;
        t = realloc(s->text, cap);
        if (!t) {
            sax_nomem(s);
            return;
        }
        s->text = t;
        s->text_cap = cap;
    }
    memcpy(s->text + s->text_len, ch, n);
    s->text_len += n;
    s->text[s->text_len] = '\0';
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                   const xmlChar *uri)
{
    list_sax *s = ctx;

    (void)localname, (void)prefix, (void)uri;
    if (!s->failed) {
        if (s->field != F_NONE && s->depth == s->field_depth) {
            end_field(s);
            s->field = F_NONE;
        }
        if (!s->failed && s->depth == 2 && s->section == S_CONTENTS) {
            if (!s->key) {
                ossc_error_set(s->err, EIO, "list response: <Contents> without <Key>");
                sax_fail(s);
            } else if (s->size_bad) {
                ossc_error_set(s->err, EIO,
                               "list response: key '%.300s' has <Size> '%s', not a byte "
                               "count (0 to 2^63-1)", s->key, s->bad_size);
                sax_fail(s);
            } else if (push_owned(s->r, s->key, s->size, s->mtime, s->etag) != 0) {
                sax_nomem(s);
            }
            s->key = NULL;
        }
        if (s->depth == 2)
            s->section = S_NONE;
    }
    s->depth--;
}

/* Any DOCTYPE (internal or external subset) ends the parse. */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                       const xmlChar *system_id)
{
    list_sax *s = ctx;

    (void)name, (void)external_id, (void)system_id;
    if (!s->failed) {
        ossc_error_set(s->err, EIO, "list response declares a DTD (refused)");
        sax_fail(s);
    }
}

/* Keeps libxml2's first error (silently: nothing goes to stderr). */
static void on_xml_error(void *ctx, xmlErrorPtr e)
{
    list_sax *s = ctx;
    size_t l;

    if (!e || e->level < XML_ERR_ERROR || s->xml_error[0])
        return;
    snprintf(s->xml_error, sizeof s->xml_error, "line %d: %s", e->line,
             e->message ? e->message : "error");
    s->xml_error[strcspn(s->xml_error, "\n")] = '\0'; /* first line only */
    l = strlen(s->xml_error);
    while (l && s->xml_error[l - 1] == ' ')
        s->xml_error[--l] = '\0';
}

/* The V1 rule for a truncated page without NextMarker: continue after the
 * greatest name of this page, key or common prefix (NULL when it has
 * none). */
static const char *last_name(const list_sax *s)
{
    const ossc_list_result *r = s->r;
    const char *k = r->count > s->first_object ? r->objects[r->count - 1].key : NULL;
    const char *p = r->prefix_count > s->first_prefix ? r->prefixes[r->prefix_count - 1] : NULL;

    return !k ? p : !p ? k : strcmp(k, p) > 0 ? k : p;
}

/* Runs libxml2 over the whole body with the handlers above.  0, or -1 with
 * err filled. */
static int run_sax(list_sax *s, const char *body, size_t len)
{
    xmlSAXHandler sax;
    int rc;

    memset(&sax, 0, sizeof sax);
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = on_start;
    sax.endElementNs = on_end;
    sax.characters = on_text;
    sax.ignorableWhitespace = on_text;
    sax.cdataBlock = on_text;
    sax.internalSubset = on_doctype;
    sax.externalSubset = on_doctype;
    sax.serror = on_xml_error;

    ossc_xml_init();
    s->ctxt = xmlCreatePushParserCtxt(&sax, s, NULL, 0, NULL);
    if (!s->ctxt)
        return ossc_error_set(s->err, ENOMEM, "out of memory reading a list response");
    xmlCtxtUseOptions(s->ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    rc = xmlParseChunk(s->ctxt, body, (int)len, 1);
    if (!s->failed && (rc != 0 || !s->ctxt->wellFormed)) {
        ossc_error_set(s->err, EIO, "list response is not well-formed XML (%zu bytes): %s", len,
                       s->xml_error[0] ? s->xml_error : "parse error");
        s->failed = 1;
    }
    xmlFreeParserCtxt(s->ctxt);
    s->ctxt = NULL;
    return s->failed ? -1 : 0;
}

/* Contract in xml.h.  On failure the counts are rolled back (a result
 * created here is freed), so a caller's accumulated pages stay intact;
 * strings of the failed page stay in the arena until the result is freed. */
static int parse_list(const char *body, size_t len, ossc_list_result **out,
                      ossc_list_next_fn on_next, void *arg, int v2, ossc_error *err)
{
    list_sax s;
    ossc_list_result *r = *out;
    int created = 0;

    if (!body || len == 0 || len > INT_MAX)
        return ossc_error_set(err, EIO, "list response is not well-formed XML (%zu bytes): %s",
                              len, len ? "too large" : "empty body");
    if (!r) {
        r = ossc_list_result_new();
        if (!r)
            return ossc_error_set(err, ENOMEM, "out of memory reading a list response");
        created = 1;
    }
    memset(&s, 0, sizeof s);
    s.r = r;
    s.err = err;
    s.on_next = on_next;
    s.on_next_arg = arg;
    s.v2 = v2;
    s.first_object = r->count;
    s.first_prefix = r->prefix_count;
    s.text_cap = 1024;
    s.text = malloc(s.text_cap);
    if (!s.text) {
        ossc_error_set(err, ENOMEM, "out of memory reading a list response");
        goto err;
    }
    s.text[0] = '\0';
    if (run_sax(&s, body, len) != 0)
        goto err;
    if (s.depth != 0 || s.section != S_NONE) {
        ossc_error_set(err, EIO, "list response ends inside an element (%zu bytes)", len);
        goto err;
    }

    r->truncated = s.truncated;
    r->next_token = "";
    if (s.truncated) {
        const char *next = s.token ? s.token : s.v2 ? NULL : s.marker;
        if (!s.v2 && (!next || !next[0]))
            next = last_name(&s);
        if (!next || !next[0]) {
            ossc_error_set(err, EIO, "list response: truncated, but without a continuation "
                                     "token (<%s>)", s.v2 ? "NextContinuationToken" : "NextMarker");
            goto err;
        }
        r->next_token = next;
    }
    free(s.text);
    *out = r;
    return 0;
err:
    free(s.text);
    if (created) {
        ossc_list_result_free(r);
    } else {
        r->count = s.first_object;
        r->prefix_count = s.first_prefix;
    }
    return -1;
}

int ossc_xml_parse_list_early(const char *body, size_t len, ossc_list_result **out,
                              ossc_list_next_fn on_next, void *arg, ossc_error *err)
{
    return parse_list(body, len, out, on_next, arg, 0, err);
}

int ossc_xml_parse_list_v2(const char *body, size_t len, ossc_list_result **out,
                           ossc_list_next_fn on_next, void *arg, ossc_error *err)
{
    return parse_list(body, len, out, on_next, arg, 1, err);
}

int ossc_xml_parse_list(const char *body, size_t len, ossc_list_result **out, ossc_error *err)
{
    return parse_list(body, len, out, NULL, NULL, 0, err);
}
