/* xml.c - parsing OSS response bodies with libxml2 and building the
 * CompleteMultipartUpload body; also the list result container.
 *
 * Elements are matched by local name only, so OSS documents (no namespace)
 * and S3-style documents (xmlns="http://s3.amazonaws.com/doc/2006-03-01/")
 * parse alike.  Documents carrying a DTD are refused: OSS never sends one,
 * and refusing it rules out entity-expansion and external-entity tricks
 * (the parser also runs with XML_PARSE_NONET and without XML_PARSE_NOENT).
 *
 * List results keep their strings in an arena (one malloc per 64 KiB of
 * keys) and their entries in arrays grown by doubling. */
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

#include "arena.h"
#include "cred.h" /* ossc_parse_iso8601 */
#include "error.h"
#include "uri.h"

#define LIST_INITIAL_CAP 256

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/* libxml2 wants its global state set up once before threads parse. */
static void xml_global_init(void)
{
    xmlInitParser();
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
    pthread_once(&xml_once, xml_global_init);
    doc = xmlReadMemory(body, (int)len, NULL, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING);
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

/* Stores the text of n in the arena, URL-decoded when url is set.  NULL
 * with err filled (EIO for a bad escape, ENOMEM). */
static const char *text_to_arena(ossc_arena *a, const xmlNode *n, int url, const char *what,
                                 ossc_error *err)
{
    char stackbuf[2048];
    char *tmp, *dec = NULL;
    const char *t = elem_text(n, &tmp), *res = NULL;
    size_t len;
    long dlen;

    if (!t) {
        ossc_error_set(err, ENOMEM, "out of memory reading a list response");
        return NULL;
    }
    len = strlen(t);
    if (!url) {
        res = ossc_arena_strndup(a, t, len);
    } else {
        dec = len < sizeof stackbuf ? stackbuf : malloc(len + 1);
        if (!dec) {
            ossc_error_set(err, ENOMEM, "out of memory reading a list response");
            goto out;
        }
        dlen = ossc_url_decode(t, dec, len + 1);
        if (dlen < 0) {
            ossc_error_set(err, EIO, "list response: malformed URL encoding in <%s>: '%.200s'",
                           what, t);
            goto out;
        }
        res = ossc_arena_strndup(a, dec, (size_t)dlen);
    }
    if (!res)
        ossc_error_set(err, ENOMEM, "out of memory reading a list response");
out:
    if (dec && dec != stackbuf)
        free(dec);
    free(tmp);
    return res;
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

/* Appends an entry whose strings already live in r's arena. */
static int push_owned(ossc_list_result *r, const char *key, uint64_t size, int64_t mtime,
                      const char *etag)
{
    if (r->count == r->_cap_objects) {
        size_t cap = r->_cap_objects ? r->_cap_objects * 2 : LIST_INITIAL_CAP;
        ossc_object_info *o;
        if (cap > SIZE_MAX / sizeof *o)
            return -1;
        o = realloc(r->objects, cap * sizeof *o);
        if (!o)
            return -1;
        r->objects = o;
        r->_cap_objects = cap;
    }
    r->objects[r->count].key = key;
    r->objects[r->count].size = size;
    r->objects[r->count].mtime = mtime;
    r->objects[r->count].etag = etag;
    r->count++;
    return 0;
}

/* Appends a common prefix already stored in r's arena. */
static int push_prefix(ossc_list_result *r, const char *prefix)
{
    if (r->prefix_count == r->_cap_prefixes) {
        size_t cap = r->_cap_prefixes ? r->_cap_prefixes * 2 : LIST_INITIAL_CAP;
        const char **p;
        if (cap > SIZE_MAX / sizeof *p)
            return -1;
        p = realloc(r->prefixes, cap * sizeof *p);
        if (!p)
            return -1;
        r->prefixes = p;
        r->_cap_prefixes = cap;
    }
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

/* Parses a decimal uint64 that is the whole string; -1 otherwise. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* One <Contents>: Key (required), Size, LastModified, ETag (quotes
 * stripped).  Unknown children (StorageClass, Owner, Type...) are skipped. */
static int parse_contents(ossc_list_result *r, const xmlNode *c, int url, ossc_error *err)
{
    const char *key = NULL, *etag = "";
    uint64_t size = 0;
    int64_t mtime = 0;
    char buf[128];

    for (xmlNodePtr n = c->children; n; n = n->next) {
        if (is_elem(n, "Key")) {
            key = text_to_arena(r->_arena, n, url, "Key", err);
            if (!key)
                return -1;
        } else if (is_elem(n, "Size")) {
            if (text_to_buf(n, buf, sizeof buf) != 0 || parse_u64(buf, &size) != 0)
                return ossc_error_set(err, EIO, "list response: malformed <Size> '%.40s'", buf);
        } else if (is_elem(n, "LastModified")) {
            if (text_to_buf(n, buf, sizeof buf) == 0)
                mtime = ossc_xml_parse_time(buf);
        } else if (is_elem(n, "ETag")) {
            if (text_to_buf(n, buf, sizeof buf) == 0) {
                char *s = buf;
                size_t l = strlen(s);
                if (l >= 2 && s[0] == '"' && s[l - 1] == '"') {
                    s[l - 1] = '\0';
                    s++;
                }
                if (*s) {
                    etag = ossc_arena_strdup(r->_arena, s);
                    if (!etag)
                        return ossc_error_set(err, ENOMEM, "out of memory reading a list response");
                }
            }
        }
    }
    if (!key)
        return ossc_error_set(err, EIO, "list response: <Contents> without <Key>");
    if (push_owned(r, key, size, mtime, etag) != 0)
        return ossc_error_set(err, ENOMEM, "out of memory reading a list response");
    return 0;
}

/* ListBucketResult of ListObjects V1 or V2.  Entries are appended to *out;
 * on failure the counts are rolled back (and a result created here is
 * freed), so a caller's accumulated pages stay intact. */
int ossc_xml_parse_list(const char *body, size_t len, ossc_list_result **out, ossc_error *err)
{
    xmlDocPtr doc = parse_doc(body, len);
    xmlNodePtr root, n, token_node = NULL, marker_node = NULL;
    ossc_list_result *r = *out;
    size_t old_count = r ? r->count : 0, old_prefixes = r ? r->prefix_count : 0;
    int created = 0, url = 0, truncated = 0;
    char buf[64];

    if (!doc)
        return ossc_error_set(err, EIO, "list response is not well-formed XML (%zu bytes)", len);
    root = xmlDocGetRootElement(doc);
    if (!is_elem(root, "ListBucketResult")) {
        ossc_error_set(err, EIO, "list response: unexpected root element <%.64s>",
                       root ? (const char *)root->name : "");
        goto err;
    }
    if (!r) {
        r = ossc_list_result_new();
        if (!r) {
            ossc_error_set(err, ENOMEM, "out of memory reading a list response");
            goto err;
        }
        created = 1;
    }
    n = child_elem(root, "EncodingType");
    if (n && text_to_buf(n, buf, sizeof buf) == 0 && strcasecmp(buf, "url") == 0)
        url = 1;

    for (n = root->children; n; n = n->next) {
        if (is_elem(n, "Contents")) {
            if (parse_contents(r, n, url, err) != 0)
                goto err;
        } else if (is_elem(n, "CommonPrefixes")) {
            for (xmlNodePtr p = n->children; p; p = p->next) {
                const char *s;
                if (!is_elem(p, "Prefix"))
                    continue;
                s = text_to_arena(r->_arena, p, url, "Prefix", err);
                if (!s)
                    goto err;
                if (push_prefix(r, s) != 0) {
                    ossc_error_set(err, ENOMEM, "out of memory reading a list response");
                    goto err;
                }
            }
        } else if (is_elem(n, "IsTruncated")) {
            if (text_to_buf(n, buf, sizeof buf) != 0 ||
                (strcasecmp(buf, "true") != 0 && strcasecmp(buf, "false") != 0)) {
                ossc_error_set(err, EIO, "list response: malformed <IsTruncated> '%.20s'", buf);
                goto err;
            }
            truncated = strcasecmp(buf, "true") == 0;
        } else if (is_elem(n, "NextContinuationToken")) {
            token_node = n;
        } else if (is_elem(n, "NextMarker")) {
            marker_node = n;
        }
    }

    r->truncated = truncated;
    r->next_token = "";
    if (truncated) {
        const char *next = NULL;
        if (token_node || marker_node) {
            n = token_node ? token_node : marker_node;
            next = text_to_arena(r->_arena, n, url, (const char *)n->name, err);
            if (!next)
                goto err;
        }
        if (!next || !next[0]) {
            /* V1 without NextMarker: continue after the greatest name of
             * this page, key or common prefix. */
            const char *k = r->count > old_count ? r->objects[r->count - 1].key : NULL;
            const char *p = r->prefix_count > old_prefixes ? r->prefixes[r->prefix_count - 1]
                                                             : NULL;
            next = !k ? p : !p ? k : strcmp(k, p) > 0 ? k : p;
            if (!next) {
                ossc_error_set(err, EIO,
                               "list response: truncated, but without a continuation token");
                goto err;
            }
        }
        r->next_token = next;
    }
    xmlFreeDoc(doc);
    *out = r;
    return 0;
err:
    if (created) {
        ossc_list_result_free(r);
    } else if (r) {
        r->count = old_count;
        r->prefix_count = old_prefixes;
    }
    xmlFreeDoc(doc);
    return -1;
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
