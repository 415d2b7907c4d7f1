/* xml.c - parsing OSS response bodies with libxml2 and building the
 * CompleteMultipartUpload body; also the list result container.
 *
 * Elements are matched by local name only, so OSS documents (no namespace)
 * and S3-style documents (xmlns="http://s3.amazonaws.com/doc/2006-03-01/")
 * parse alike.  Documents carrying a DTD are refused: OSS never sends one,
 * and refusing it rules out entity-expansion and external-entity tricks
 * (the parser also runs with XML_PARSE_NONET and without XML_PARSE_NOENT).
 *
 * These bodies are small and rare, so a DOM is fine here; list pages, big
 * and frequent, have their own streaming parser in xml_list.c. */
#include "xml.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "cred.h" /* ossc_parse_iso8601 */
#include "error.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/* libxml2 wants its global state set up once before threads parse. */
static void xml_global_init(void)
{
    xmlInitParser();
}

void ossc_xml_init(void)
{
    pthread_once(&xml_once, xml_global_init);
}

static void xml_say_nothing(void *ctx, const char *fmt, ...)
{
    (void)ctx;
    (void)fmt;
}

void ossc_xml_quiet_begin(ossc_xml_quiet *q)
{
    ossc_xml_init();
    q->ctx = xmlGenericErrorContext;
    q->handler = (void *)xmlGenericError;
    xmlSetGenericErrorFunc(NULL, xml_say_nothing);
}

void ossc_xml_quiet_end(const ossc_xml_quiet *q)
{
    xmlSetGenericErrorFunc(q->ctx, (xmlGenericErrorFunc)q->handler);
}

/* Parses body into a DOM, or NULL when it is empty, not well-formed, or
 * declares a DTD.  libxml2 is told to stay silent (no stderr output) and
 * never to touch the network. */
static xmlDocPtr parse_doc(const char *body, size_t len)
{
    xmlDocPtr doc;

    if (!body || len == 0 || len > INT_MAX)
        return NULL;
    if (memmem(body, len, "<!DOCTYPE", 9))
        return NULL;
    ossc_xml_quiet quiet;
    ossc_xml_quiet_begin(&quiet);
    doc = xmlReadMemory(body, (int)len, NULL, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING);
    ossc_xml_quiet_end(&quiet);
    if (doc && (doc->intSubset || doc->extSubset)) {
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

/* True when n is an element whose local name is `name`. */
static int is_elem(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* First child element of parent with local name `name`, or NULL. */
static xmlNodePtr child_elem(const xmlNode *parent, const char *name)
{
    for (xmlNodePtr c = parent->children; c; c = c->next)
        if (is_elem(c, name))
            return c;
    return NULL;
}

/* Text of element n: its text and CDATA children concatenated (entity
 * references are never expanded).  The common single-child case returns
 * the node's own content without copying; otherwise the text is built in
 * *tmp, which the caller frees.  NULL only on ENOMEM. */
static const char *elem_text(const xmlNode *n, char **tmp)
{
    size_t total = 0, pieces = 0;
    const char *single = "";
    char *buf, *p;

    *tmp = NULL;
    for (xmlNodePtr c = n->children; c; c = c->next) {
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
            single = (const char *)c->content;
            total += strlen(single);
            pieces++;
        }
    }
    if (pieces <= 1)
        return single;
    buf = malloc(total + 1);
    if (!buf)
        return NULL;
    p = buf;
    for (xmlNodePtr c = n->children; c; c = c->next) {
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
            size_t l = strlen((const char *)c->content);
            memcpy(p, c->content, l);
            p += l;
        }
    }
    *p = '\0';
    *tmp = buf;
    return buf;
}

/* Copies the text of n into buf (bounded).  Returns 0, or -1 when the text
 * does not fit or memory ran out. */
static int text_to_buf(const xmlNode *n, char *buf, size_t cap)
{
    char *tmp;
    const char *t = elem_text(n, &tmp);
    int len;

    if (!t) {
        buf[0] = '\0';
        return -1;
    }
    len = snprintf(buf, cap, "%s", t);
    free(tmp);
    return len < 0 || (size_t)len >= cap ? -1 : 0;
}

/* <Error><Code/><Message/><RequestId/>[<EC/>]</Error>: fills oss_code,
 * request_id and message; err is untouched when body is no such document. */
int ossc_xml_parse_error(const char *body, size_t len, ossc_error *err)
{
    xmlDocPtr doc = parse_doc(body, len);
    xmlNodePtr root, n;
    char code[64] = "", msg[OSSC_ERR_MSG_MAX] = "", ec[32] = "";

    if (!doc)
        return -1;
    root = xmlDocGetRootElement(doc);
    if (!is_elem(root, "Error")) {
        xmlFreeDoc(doc);
        return -1;
    }
    if (err) {
        if ((n = child_elem(root, "Code")))
            text_to_buf(n, code, sizeof code);
        if ((n = child_elem(root, "Message")))
            text_to_buf(n, msg, sizeof msg);
        if ((n = child_elem(root, "EC")))
            text_to_buf(n, ec, sizeof ec);
        err->request_id[0] = '\0';
        if ((n = child_elem(root, "RequestId")))
            text_to_buf(n, err->request_id, sizeof err->request_id);
        snprintf(err->oss_code, sizeof err->oss_code, "%s", code);
        /* the message is cut so that the EC suffix always fits */
        snprintf(err->message, sizeof err->message, "%s%s%.380s%s%s%s", code[0] ? code : "error",
                 msg[0] ? ": " : "", msg, ec[0] ? " (EC " : "", ec, ec[0] ? ")" : "");
    }
    xmlFreeDoc(doc);
    return 0;
}

/* <InitiateMultipartUploadResult><UploadId>...</UploadId>: EIO when absent,
 * empty or longer than cap - 1. */
int ossc_xml_parse_upload_id(const char *body, size_t len, char *upload_id, size_t cap,
                             ossc_error *err)
{
    xmlDocPtr doc = parse_doc(body, len);
    xmlNodePtr root, n;
    int rc = -1;

    if (cap)
        upload_id[0] = '\0';
    if (!doc)
        return ossc_error_set(err, EIO,
                              "InitiateMultipartUpload response is not well-formed XML");
    root = xmlDocGetRootElement(doc);
    if (!is_elem(root, "InitiateMultipartUploadResult")) {
        ossc_error_set(err, EIO, "InitiateMultipartUpload response: unexpected root <%.64s>",
                       root ? (const char *)root->name : "");
        goto out;
    }
    n = child_elem(root, "UploadId");
    if (!n) {
        ossc_error_set(err, EIO, "InitiateMultipartUpload response without <UploadId>");
        goto out;
    }
    if (cap == 0 || text_to_buf(n, upload_id, cap) != 0) {
        ossc_error_set(err, EIO, "InitiateMultipartUpload response: <UploadId> longer than %zu",
                       cap ? cap - 1 : 0);
        goto out;
    }
    if (!upload_id[0]) {
        ossc_error_set(err, EIO, "InitiateMultipartUpload response: empty <UploadId>");
        goto out;
    }
    rc = 0;
out:
    if (rc != 0 && cap)
        upload_id[0] = '\0';
    xmlFreeDoc(doc);
    return rc;
}

/* True when name has the characters of a bucket name ([a-z0-9-], 1..63);
 * what ListBuckets hands back is checked before it is printed or used. */
static int bucket_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return 0;
    return 1;
}

int ossc_xml_parse_bucket_names(const char *body, size_t len, char *out, size_t cap,
                                size_t *used, int *truncated, char *next_marker,
                                size_t marker_cap, ossc_error *err)
{
    xmlDocPtr doc = parse_doc(body, len);
    xmlNodePtr root, buckets, n;
    char name[64], flag[8] = "";
    int rc = -1;

    *truncated = 0;
    if (marker_cap)
        next_marker[0] = '\0';
    if (!doc)
        return ossc_error_set(err, EIO, "ListBuckets response is not well-formed XML");
    root = xmlDocGetRootElement(doc);
    if (!is_elem(root, "ListAllMyBucketsResult")) {
        ossc_error_set(err, EIO, "ListBuckets response: unexpected root <%.64s>",
                       root ? (const char *)root->name : "");
        goto out;
    }
    if ((n = child_elem(root, "IsTruncated")))
        text_to_buf(n, flag, sizeof flag);
    *truncated = strcmp(flag, "true") == 0;
    if (*truncated && (!(n = child_elem(root, "NextMarker")) ||
                       text_to_buf(n, next_marker, marker_cap) != 0 || !next_marker[0])) {
        ossc_error_set(err, EIO, "ListBuckets response: truncated without a usable <NextMarker>");
        goto out;
    }
    buckets = child_elem(root, "Buckets");
    for (xmlNodePtr b = buckets ? buckets->children : NULL; b; b = b->next) {
        if (!is_elem(b, "Bucket"))
            continue;
        if (!(n = child_elem(b, "Name")) || text_to_buf(n, name, sizeof name) != 0 ||
            !bucket_name_ok(name)) {
            ossc_error_set(err, EIO, "ListBuckets response: a <Bucket> without a valid <Name>");
            goto out;
        }
        size_t l = strlen(name);
        if (*used + l + 1 < cap) {
            memcpy(out + *used, name, l);
            out[*used + l] = '\n';
            out[*used + l + 1] = '\0';
        }
        *used += l + 1;
    }
    rc = 0;
out:
    xmlFreeDoc(doc);
    return rc;
}

/* Appends s with XML escapes for & < > " ' (bounded by the precomputed
 * capacity of the caller). */
static size_t put_escaped(char *dst, const char *s)
{
    size_t o = 0;

    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        }
        if (rep) {
            size_t l = strlen(rep);
            memcpy(dst + o, rep, l);
            o += l;
        } else {
            dst[o++] = *s;
        }
    }
    return o;
}

/* Builds the CompleteMultipartUpload body.  Each ETag is written between
 * literal double quotes, as OSS reports it; quotes already around the
 * given value are stripped first, anything inside is XML-escaped.  Part
 * numbers must be 1..10000 and strictly ascending (EINVAL otherwise, the
 * server would refuse with InvalidPartOrder). */
int ossc_xml_build_complete(const ossc_part_etag *parts, size_t n, char **out, size_t *out_len,
                            ossc_error *err)
{
    static const char head[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload>";
    static const char tail[] = "</CompleteMultipartUpload>";
    /* per part: fixed tags + 5 digits + two quotes + an escaped ETag */
    const size_t per_part = 64 + 2 * sizeof "<PartNumber></PartNumber><ETag></ETag>" +
                            6 * sizeof parts[0].etag;
    char *buf = NULL;
    size_t o = 0, cap;

    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (n > 10000)
        return ossc_error_set(err, EINVAL, "too many parts for one upload: %zu", n);
    for (size_t i = 0; i < n; i++) {
        if (parts[i].part_number < 1 || parts[i].part_number > 10000)
            return ossc_error_set(err, EINVAL, "part number %d is outside 1..10000",
                                  parts[i].part_number);
        if (i && parts[i].part_number <= parts[i - 1].part_number)
            return ossc_error_set(err, EINVAL, "part numbers are not ascending (%d after %d)",
                                  parts[i].part_number, parts[i - 1].part_number);
    }
    cap = sizeof head + sizeof tail + n * per_part;
    buf = malloc(cap);
    if (!buf)
        return ossc_error_set(err, ENOMEM, "out of memory building the part list");

    memcpy(buf, head, sizeof head - 1);
    o = sizeof head - 1;
    for (size_t i = 0; i < n; i++) {
        char etag[sizeof parts[i].etag + 1];
        char *e = etag;
        size_t l;

        snprintf(etag, sizeof etag, "%.*s", (int)sizeof parts[i].etag, parts[i].etag);
        l = strlen(e);
        if (l >= 2 && e[0] == '"' && e[l - 1] == '"') {
            e[l - 1] = '\0';
            e++;
        }
        o += (size_t)snprintf(buf + o, cap - o, "<Part><PartNumber>%d</PartNumber><ETag>\"",
                              parts[i].part_number);
        o += put_escaped(buf + o, e);
        memcpy(buf + o, "\"</ETag></Part>", sizeof "\"</ETag></Part>" - 1);
        o += sizeof "\"</ETag></Part>" - 1;
    }
    memcpy(buf + o, tail, sizeof tail);
    o += sizeof tail - 1;
    *out = buf;
    if (out_len)
        *out_len = o;
    return 0;
}

/* LastModified uses the same ISO 8601 form as credential expirations;
 * 0 (unknown) instead of -1 for anything malformed. */
int64_t ossc_xml_parse_time(const char *s)
{
    int64_t t = ossc_parse_iso8601(s);

    return t < 0 ? 0 : t;
}
