/* test_xml_list_sax.c - the streaming list parser's own details: the
 * early continuation token, text split by entities and CDATA, elements at
 * the wrong depth, DTDs, oversized text, cut and mangled pages. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "check.h"
#include "error.h"
#include "xml.h"
#include "xml_fixtures.h"

/* What the early-token callback saw. */
typedef struct early_seen {
    int calls;
    char token[64];
    size_t count_then; /* entries already in the result at the call */
    const ossc_list_result *r;
} early_seen;

static void record_early(const char *token, void *arg)
{
    early_seen *e = arg;
    e->calls++;
    snprintf(e->token, sizeof e->token, "%s", token);
    e->count_then = e->r->count;
}

/* Parses doc into a fresh result with the early callback; returns the
 * parse's status, the result in *out (freed by the caller). */
static int parse_early(const char *doc, ossc_list_result **out, early_seen *seen)
{
    ossc_error e;

    memset(seen, 0, sizeof *seen);
    *out = ossc_list_result_new();
    seen->r = *out;
    ossc_error_clear(&e);
    return ossc_xml_parse_list_early(doc, strlen(doc), out, record_early, seen, &e);
}

static void test_list_early_token(void)
{
    /* OSS order: header fields first, token reported before any entry */
    const char *oss = "<ListBucketResult><Name>b</Name><IsTruncated>true</IsTruncated>"
                      "<NextContinuationToken>Cg%3D%3D</NextContinuationToken>"
                      "<EncodingType>url</EncodingType>"
                      "<Contents><Key>k%201</Key><Size>1</Size></Contents>"
                      "</ListBucketResult>";
    /* no EncodingType: only certain at the end, so no early call */
    const char *plain = "<ListBucketResult><IsTruncated>true</IsTruncated>"
                        "<NextContinuationToken>t%41</NextContinuationToken>"
                        "<Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>";
    /* the last page: nothing to report */
    const char *last = "<ListBucketResult><EncodingType>url</EncodingType>"
                       "<IsTruncated>false</IsTruncated>"
                       "<NextContinuationToken>ignored</NextContinuationToken>"
                       "<Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>";
    /* V1 marker: reported by the caller after the parse */
    const char *v1 = "<ListBucketResult><EncodingType>url</EncodingType>"
                     "<IsTruncated>true</IsTruncated><NextMarker>m</NextMarker>"
                     "<Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>";
    /* IsTruncated after the token still counts */
    const char *late = "<ListBucketResult><EncodingType>url</EncodingType>"
                       "<NextContinuationToken>x%2By</NextContinuationToken>"
                       "<Contents><Key>k</Key><Size>1</Size></Contents>"
                       "<IsTruncated>true</IsTruncated></ListBucketResult>";
    ossc_list_result *r;
    early_seen seen;

    CHECK(parse_early(oss, &r, &seen) == 0);
    CHECK(seen.calls == 1);
    CHECK_STR(seen.token, "Cg==");
    CHECK(seen.count_then == 0);
    CHECK_STR(r->next_token, "Cg==");
    CHECK_STR(r->objects[0].key, "k 1");
    ossc_list_result_free(r);

    CHECK(parse_early(plain, &r, &seen) == 0);
    CHECK(seen.calls == 0);
    CHECK_STR(r->next_token, "t%41"); /* not encoded: taken as is */
    ossc_list_result_free(r);

    CHECK(parse_early(last, &r, &seen) == 0);
    CHECK(seen.calls == 0);
    CHECK(r->truncated == 0);
    CHECK_STR(r->next_token, "");
    ossc_list_result_free(r);

    CHECK(parse_early(v1, &r, &seen) == 0);
    CHECK(seen.calls == 0);
    CHECK_STR(r->next_token, "m");
    ossc_list_result_free(r);

    /* a second, different token after the first was reported: refused */
    CHECK(parse_early("<ListBucketResult><EncodingType>url</EncodingType>"
                      "<IsTruncated>true</IsTruncated>"
                      "<NextContinuationToken>one</NextContinuationToken>"
                      "<NextContinuationToken>two</NextContinuationToken>"
                      "</ListBucketResult>", &r, &seen) == -1);
    CHECK(seen.calls == 1);
    CHECK(r->count == 0 && r->truncated == 0);
    ossc_list_result_free(r);

    CHECK(parse_early(late, &r, &seen) == 0);
    CHECK(seen.calls == 1);
    CHECK_STR(seen.token, "x+y");
    CHECK(seen.count_then == 1);
    CHECK_STR(r->next_token, "x+y");
    ossc_list_result_free(r);
}

static void test_list_sax_text(void)
{
    const char *doc =
        "<ListBucketResult><IsTruncated>false</IsTruncated>"
        /* text split by entities, character references and CDATA */
        "<Contents><Key>a&amp;b<![CDATA[<c>]]>&#x64;&#101;</Key><Size>1</Size></Contents>"
        /* text of child elements is not the element's text */
        "<Contents><Key>ab<X>zz</X>cd</Key><Size>2</Size></Contents>"
        /* a Key below another element is not the entry's Key */
        "<Contents><Owner><Key>wrong</Key><Size>9</Size></Owner><Key>right</Key>"
        "<Size>3</Size></Contents>"
        /* Contents nested in something unknown is not an entry */
        "<Other><Contents><Key>nested</Key></Contents></Other>"
        /* whitespace inside a key is kept */
        "<Contents><Key>  </Key><Size>4</Size><ETag></ETag></Contents>"
        "<CommonPrefixes><Prefix>p&lt;1&gt;/</Prefix><Other>x</Other></CommonPrefixes>"
        "</ListBucketResult>";
    ossc_list_result *r = PARSE_LIST_OK(doc);

    if (!r)
        return;
    CHECK(r->count == 4);
    CHECK_STR(r->objects[0].key, "a&b<c>de");
    CHECK_STR(r->objects[1].key, "abcd");
    CHECK_STR(r->objects[2].key, "right");
    CHECK(r->objects[2].size == 3);
    CHECK_STR(r->objects[3].key, "  ");
    CHECK_STR(r->objects[3].etag, "");
    CHECK(r->prefix_count == 1);
    CHECK_STR(r->prefixes[0], "p<1>/");
    ossc_list_result_free(r);
}

/* Refused at once: a DTD, an undefined entity (libxml2's first line of
 * error, no newline), a text run far beyond any real field. */
static void test_list_sax_refused(void)
{
    const char *dtd = "<!DOCTYPE ListBucketResult SYSTEM \"http://example.com/x.dtd\">"
                      "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    const char *undefined = "<ListBucketResult><Contents><Key>&nope;</Key></Contents>"
                            "</ListBucketResult>";
    ossc_list_result *r = NULL;
    ossc_error e;
    char *huge;

    ossc_error_clear(&e);
    CHECK(parse_list_str(dtd, &r, &e) == -1);
    CHECK(e.code == EIO && strstr(e.message, "DTD") != NULL);
    CHECK(r == NULL);
    ossc_error_clear(&e);
    CHECK(parse_list_str(undefined, &r, &e) == -1);
    CHECK(e.code == EIO && strstr(e.message, "line 1") != NULL);
    CHECK(strchr(e.message, '\n') == NULL);

    huge = malloc(200 * 1024);
    if (huge) {
        int o = snprintf(huge, 200 * 1024, "<ListBucketResult><Contents><Key>");
        memset(huge + o, 'k', 100 * 1024);
        snprintf(huge + o + 100 * 1024, 200 * 1024 - (size_t)o - 100 * 1024,
                 "</Key><Size>1</Size></Contents></ListBucketResult>");
        ossc_error_clear(&e);
        CHECK(parse_list_str(huge, &r, &e) == -1);
        CHECK(e.code == EIO && strstr(e.message, "exceeds") != NULL);
        free(huge);
    }
}

/* Every cut of a page, and every single-byte change: a clean result or a
 * clean EIO, earlier pages untouched (ASan builds check the rest). */
static void test_list_sax_cut_and_mangled(void)
{
    const char *page = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<ListBucketResult><IsTruncated>true</IsTruncated>"
                       "<NextContinuationToken>t</NextContinuationToken>"
                       "<EncodingType>url</EncodingType>"
                       "<Contents><Key>a%26b</Key><LastModified>2024-08-02T15:04:05.000Z"
                       "</LastModified><ETag>\"e\"</ETag><Size>12</Size></Contents>"
                       "<Contents><Key>c</Key><Size>3</Size></Contents>"
                       "<CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes>"
                       "</ListBucketResult>";
    size_t len = strlen(page);
    ossc_list_result *r;
    ossc_error e;
    char *buf;
    int ok = 0, failed = 0, bad = 0;

    buf = malloc(len + 1);
    if (!buf)
        return;
    r = ossc_list_result_new();
    CHECK(parse_list_str("<ListBucketResult><Contents><Key>first</Key></Contents>"
                         "</ListBucketResult>", &r, &e) == 0);
    for (size_t cut = 0; cut < len; cut++) {
        ossc_error_clear(&e);
        if (ossc_xml_parse_list(page, cut, &r, &e) == 0) {
            bad++; /* no strict prefix of the page is a whole document */
        } else if (e.code != EIO || !e.message[0]) {
            bad++;
        }
    }
    for (size_t i = 0; i < len; i++) {
        static const char subst[] = {'<', '>', '&', '"', '/', 'x', '%', '\0', '\x80'};
        for (size_t k = 0; k < sizeof subst; k++) {
            size_t before = r->count;
            memcpy(buf, page, len + 1);
            buf[i] = subst[k];
            ossc_error_clear(&e);
            if (ossc_xml_parse_list(buf, len, &r, &e) == 0) {
                ok++;
            } else {
                failed++;
                if (e.code != EIO && e.code != ENOMEM)
                    bad++;
                if (r->count != before)
                    bad++;
            }
        }
    }
    CHECK(bad == 0);
    CHECK(ok > 0 && failed > 0);
    CHECK_STR(r->objects[0].key, "first");
    ossc_list_result_free(r);
    free(buf);
}

int main(void)
{
    test_list_early_token();
    test_list_sax_text();
    test_list_sax_refused();
    test_list_sax_cut_and_mangled();
    xmlCleanupParser();
    return check_summary("test_xml_list_sax");
}
