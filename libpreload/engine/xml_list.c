/* xml_list.c - ListBucketResult pages parsed with libxml2's SAX2 interface:
 * the callbacks, the parse driver and the entry points declared in xml.h.
 * What each element's text means is in xml_list_fields.c; the result
 * container is in list_result.c.
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
 * runs with XML_PARSE_NONET and never substitutes entities). */
#include "xml.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "error.h"
#include "list_result.h"
#include "xml_list_sax.h"

/* Contract in xml_list_sax.h. */
int ossc_list_sax_fail(list_sax *s)
{
    s->failed = 1;
    xmlStopParser(s->ctxt);
    return -1;
}

/* Contract in xml_list_sax.h. */
int ossc_list_sax_nomem(list_sax *s)
{
    ossc_error_set(s->err, ENOMEM, "out of memory reading a list response");
    return ossc_list_sax_fail(s);
}

/* ------------------------------------------------------- the callbacks */

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
            ossc_list_sax_fail(s);
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
 * (text inside its child elements does not, as in a DOM's direct text).
 * The one text buffer doubles when needed, up to LIST_TEXT_MAX. */
static void on_text(void *ctx, const xmlChar *ch, int len)
{
    list_sax *s = ctx;
    size_t n = (size_t)len;

    if (s->failed || s->field == F_NONE || s->depth != s->field_depth || len <= 0)
        return;
    if (n > LIST_TEXT_MAX - s->text_len) {
        ossc_error_set(s->err, EIO, "list response: an element's text exceeds %d bytes",
                       LIST_TEXT_MAX);
        ossc_list_sax_fail(s);
        return;
    }
    if (s->text_len + n + 1 > s->text_cap) {
        size_t cap = s->text_cap * 2;
        char *t;
        while (cap < s->text_len + n + 1)
            cap *= 2;
        t = realloc(s->text, cap);
        if (!t) {
            ossc_list_sax_nomem(s);
            return;
        }
        s->text = t;
        s->text_cap = cap;
    }
    memcpy(s->text + s->text_len, ch, n);
    s->text_len += n;
    s->text[s->text_len] = '\0';
}

/* </Contents>: the entry is complete; appended, or refused when it has no
 * key or its <Size> was no byte count (named by its key). */
static void end_contents(list_sax *s)
{
    if (!s->key) {
        ossc_error_set(s->err, EIO, "list response: <Contents> without <Key>");
        ossc_list_sax_fail(s);
    } else if (s->size_bad) {
        ossc_error_set(s->err, EIO,
                       "list response: key '%.300s' has <Size> '%s', not a byte "
                       "count (0 to 2^63-1)", s->key, s->bad_size);
        ossc_list_sax_fail(s);
    } else if (ossc_list_result_push_owned(s->r, s->key, s->size, s->mtime, s->etag) != 0) {
        ossc_list_sax_nomem(s);
    }
    s->key = NULL;
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                   const xmlChar *uri)
{
    list_sax *s = ctx;

    (void)localname, (void)prefix, (void)uri;
    if (!s->failed) {
        if (s->field != F_NONE && s->depth == s->field_depth) {
            ossc_list_end_field(s);
            s->field = F_NONE;
        }
        if (!s->failed && s->depth == 2 && s->section == S_CONTENTS)
            end_contents(s);
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
        ossc_list_sax_fail(s);
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

/* ---------------------------------------------------------- the driver */

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

    ossc_xml_quiet quiet;
    ossc_xml_quiet_begin(&quiet);
    s->ctxt = xmlCreatePushParserCtxt(&sax, s, NULL, 0, NULL);
    if (!s->ctxt) {
        ossc_xml_quiet_end(&quiet);
        return ossc_error_set(s->err, ENOMEM, "out of memory reading a list response");
    }
    xmlCtxtUseOptions(s->ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    rc = xmlParseChunk(s->ctxt, body, (int)len, 1);
    ossc_xml_quiet_end(&quiet);
    if (!s->failed && (rc != 0 || !s->ctxt->wellFormed)) {
        ossc_error_set(s->err, EIO, "list response is not well-formed XML (%zu bytes): %s", len,
                       s->xml_error[0] ? s->xml_error : "parse error");
        s->failed = 1;
    }
    xmlFreeParserCtxt(s->ctxt);
    s->ctxt = NULL;
    return s->failed ? -1 : 0;
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

/* After a complete parse: sets the result's truncated and next_token.  A
 * truncated page continues with its NextContinuationToken; a V1 page may
 * instead use NextMarker, then its greatest name; a V2 page may not.  -1
 * with err filled when a truncated page names no way to continue. */
static int settle_next(const list_sax *s, ossc_list_result *r, ossc_error *err)
{
    const char *next;

    r->truncated = s->truncated;
    r->next_token = "";
    if (!s->truncated)
        return 0;
    next = s->token ? s->token : s->v2 ? NULL : s->marker;
    if (!s->v2 && (!next || !next[0]))
        next = last_name(s);
    if (!next || !next[0])
        return ossc_error_set(err, EIO, "list response: truncated, but without a continuation "
                                        "token (<%s>)",
                              s->v2 ? "NextContinuationToken" : "NextMarker");
    r->next_token = next;
    return 0;
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
    if (settle_next(&s, r, err) != 0)
        goto err;
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
