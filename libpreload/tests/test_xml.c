/* test_xml.c - OSS XML bodies: errors, V1/V2 listings (with and without
 * namespace, URL-encoded), the streaming list parser's details (early
 * continuation token, text split by entities and CDATA, elements at the
 * wrong depth, cut and mangled pages), result merging and columns, upload
 * ids, the CompleteMultipartUpload body, and a 100k-entry listing to check
 * the arena-backed result. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "arena.h"
#include "check.h"
#include "error.h"
#include "list_guard.h"
#include "xml.h"

#define S3NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static int parse_list_str(const char *xml, ossc_list_result **out, ossc_error *e)
{
    return ossc_xml_parse_list(xml, strlen(xml), out, e);
}

static void test_error_doc(void)
{
    const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<Error>\n"
                      "  <Code>NoSuchKey</Code>\n"
                      "  <Message>The specified key does not exist.</Message>\n"
                      "  <RequestId>5C3D9175B6FC201293AD4890</RequestId>\n"
                      "  <HostId>bucket.oss-cn-hangzhou.aliyuncs.com</HostId>\n"
                      "  <Key>a &amp; b.txt</Key>\n"
                      "  <EC>0026-00000001</EC>\n"
                      "</Error>\n";
    ossc_error e;

    ossc_error_clear(&e);
    e.code = 1234;
    CHECK(ossc_xml_parse_error(doc, strlen(doc), &e) == 0);
    CHECK(e.code == 1234); /* left alone */
    CHECK_STR(e.oss_code, "NoSuchKey");
    CHECK_STR(e.request_id, "5C3D9175B6FC201293AD4890");
    CHECK_STR(e.message, "NoSuchKey: The specified key does not exist. (EC 0026-00000001)");
    CHECK(ossc_errno_for_oss(e.oss_code, 404) == ENOENT);

    /* S3 style, escaped text, no EC */
    doc = "<Error><Code>AccessDenied</Code><Message>no &lt;access&gt;</Message>"
          "<RequestId>R2</RequestId></Error>";
    ossc_error_clear(&e);
    CHECK(ossc_xml_parse_error(doc, strlen(doc), &e) == 0);
    CHECK_STR(e.oss_code, "AccessDenied");
    CHECK_STR(e.message, "AccessDenied: no <access>");
    CHECK_STR(e.request_id, "R2");

    /* code only */
    doc = "<Error><Code>SlowDown</Code></Error>";
    CHECK(ossc_xml_parse_error(doc, strlen(doc), &e) == 0);
    CHECK_STR(e.message, "SlowDown");
    CHECK_STR(e.request_id, "");

    /* a very long message is cut, but the EC suffix survives */
    {
        char big[2000];
        char msg[1500];
        memset(msg, 'm', sizeof msg - 1);
        msg[sizeof msg - 1] = '\0';
        snprintf(big, sizeof big, "<Error><Code>InternalError</Code><Message>%s</Message>"
                                  "<EC>0002-00000001</EC></Error>",
                 msg);
        CHECK(ossc_xml_parse_error(big, strlen(big), &e) == 0);
        CHECK(strstr(e.message, "(EC 0002-00000001)") != NULL);
        CHECK(strlen(e.message) < OSSC_ERR_MSG_MAX);
    }

    /* not an error document: -1, err untouched */
    ossc_error_clear(&e);
    snprintf(e.message, sizeof e.message, "before");
    doc = "<ListBucketResult></ListBucketResult>";
    CHECK(ossc_xml_parse_error(doc, strlen(doc), &e) == -1);
    CHECK_STR(e.message, "before");
    CHECK(ossc_xml_parse_error("<html>oops", 10, &e) == -1);
    CHECK(ossc_xml_parse_error("", 0, &e) == -1);
    CHECK(ossc_xml_parse_error(NULL, 0, &e) == -1);
    CHECK_STR(e.message, "before");
    CHECK(ossc_xml_parse_error("<Error><Code>X</Code></Error>", 29, NULL) == 0);
}

static const char v1_doc[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult>\n"
    "  <Name>examplebucket</Name>\n"
    "  <Prefix>fun/</Prefix>\n"
    "  <Marker></Marker>\n"
    "  <MaxKeys>100</MaxKeys>\n"
    "  <Delimiter>/</Delimiter>\n"
    "  <IsTruncated>false</IsTruncated>\n"
    "  <Contents>\n"
    "    <Key>fun/movie/001.avi</Key>\n"
    "    <LastModified>2012-02-24T08:43:07.000Z</LastModified>\n"
    "    <ETag>\"5B3C1A2E053D763E1B002CC607C5A0FE\"</ETag>\n"
    "    <Type>Normal</Type>\n"
    "    <Size>344606</Size>\n"
    "    <StorageClass>Standard</StorageClass>\n"
    "    <Owner><ID>0022012****</ID><DisplayName>user-example</DisplayName></Owner>\n"
    "  </Contents>\n"
    "  <Contents>\n"
    "    <Key>fun/a &amp; b &lt;c&gt;.txt</Key>\n"
    "    <LastModified>2024-08-02T15:04:05.000Z</LastModified>\n"
    "    <ETag>&quot;ABCDEF&quot;</ETag>\n"
    "    <Size>0</Size>\n"
    "  </Contents>\n"
    "  <Contents>\n"
    "    <Key><![CDATA[fun/cdata&key]]></Key>\n"
    "    <Size>9223372036854775807</Size>\n"
    "  </Contents>\n"
    "  <CommonPrefixes><Prefix>fun/test/</Prefix></CommonPrefixes>\n"
    "  <CommonPrefixes><Prefix>fun/zzz/</Prefix></CommonPrefixes>\n"
    "</ListBucketResult>\n";

static void test_list_v1(void)
{
    ossc_list_result *r = NULL;
    ossc_error e;

    ossc_error_clear(&e);
    CHECK(parse_list_str(v1_doc, &r, &e) == 0);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK(r->count == 3);
    CHECK_STR(r->objects[0].key, "fun/movie/001.avi");
    CHECK(r->objects[0].size == 344606);
    CHECK(r->objects[0].mtime == 1330072987);
    CHECK_STR(r->objects[0].etag, "5B3C1A2E053D763E1B002CC607C5A0FE");
    CHECK_STR(r->objects[1].key, "fun/a & b <c>.txt");
    CHECK(r->objects[1].size == 0);
    CHECK(r->objects[1].mtime == 1722611045);
    CHECK_STR(r->objects[1].etag, "ABCDEF");
    CHECK_STR(r->objects[2].key, "fun/cdata&key");
    CHECK(r->objects[2].size == (uint64_t)INT64_MAX);
    CHECK(r->objects[2].mtime == 0);
    CHECK_STR(r->objects[2].etag, "");
    CHECK(r->prefix_count == 2);
    CHECK_STR(r->prefixes[0], "fun/test/");
    CHECK_STR(r->prefixes[1], "fun/zzz/");
    CHECK(r->truncated == 0);
    CHECK_STR(r->next_token, "");
    ossc_list_result_free(r);
    ossc_list_result_free(NULL);
}

static void test_list_v2_namespaced(void)
{
    const char *page1 = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<ListBucketResult " S3NS ">"
                        "<Name>b</Name><Prefix>data/</Prefix><KeyCount>2</KeyCount>"
                        "<MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
                        "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
                        "<Contents><Key>data/1.bin</Key><LastModified>2024-08-02T15:04:05.000Z</LastModified>"
                        "<ETag>&quot;e1&quot;</ETag><Size>10</Size><StorageClass>STANDARD</StorageClass></Contents>"
                        "<Contents><Key>data/2.bin</Key><Size>20</Size></Contents>"
                        "</ListBucketResult>";
    const char *page2 = "<ListBucketResult " S3NS "><IsTruncated>false</IsTruncated>"
                        "<Contents><Key>data/3.bin</Key><Size>30</Size></Contents>"
                        "<CommonPrefixes><Prefix>data/sub/</Prefix></CommonPrefixes>"
                        "</ListBucketResult>";
    /* a prefixed namespace works too */
    const char *page3 = "<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                        "<s3:IsTruncated>false</s3:IsTruncated>"
                        "<s3:Contents><s3:Key>data/4.bin</s3:Key><s3:Size>40</s3:Size></s3:Contents>"
                        "</s3:ListBucketResult>";
    ossc_list_result *r = NULL;
    ossc_error e;

    ossc_error_clear(&e);
    CHECK(parse_list_str(page1, &r, &e) == 0);
    if (!r)
        return;
    CHECK(r->count == 2);
    CHECK(r->truncated == 1);
    CHECK_STR(r->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    CHECK_STR(r->objects[0].etag, "e1");
    CHECK(r->objects[0].mtime == 1722611045);
    CHECK(r->objects[1].size == 20);

    /* pages append */
    CHECK(parse_list_str(page2, &r, &e) == 0);
    CHECK(r->count == 3);
    CHECK(r->truncated == 0);
    CHECK_STR(r->next_token, "");
    CHECK_STR(r->objects[0].key, "data/1.bin"); /* earlier pages still valid */
    CHECK_STR(r->objects[2].key, "data/3.bin");
    CHECK(r->prefix_count == 1);
    CHECK_STR(r->prefixes[0], "data/sub/");
    CHECK(parse_list_str(page3, &r, &e) == 0);
    CHECK(r->count == 4);
    CHECK_STR(r->objects[3].key, "data/4.bin");
    CHECK(r->objects[3].size == 40);
    ossc_list_result_free(r);
}

static void test_list_url_encoded(void)
{
    /* EncodingType comes after the entries: it must still apply to them */
    const char *v2 = "<ListBucketResult><Name>b</Name>"
                     "<Prefix>a%20dir%2F</Prefix>"
                     "<Contents><Key>a%20dir/%E4%B8%AD%E6%96%87%0A.txt</Key><Size>1</Size></Contents>"
                     "<Contents><Key>a%20dir/100%25+plus</Key><Size>2</Size></Contents>"
                     "<CommonPrefixes><Prefix>a%20dir/sub%2Fx/</Prefix></CommonPrefixes>"
                     "<IsTruncated>true</IsTruncated>"
                     "<NextContinuationToken>CgJhYg%3D%3D</NextContinuationToken>"
                     "<EncodingType>url</EncodingType>"
                     "</ListBucketResult>";
    const char *v1 = "<ListBucketResult><EncodingType>url</EncodingType>"
                     "<IsTruncated>true</IsTruncated><Marker></Marker>"
                     "<NextMarker>a%20dir/z%26z</NextMarker>"
                     "<Contents><Key>a%20dir/z%26z</Key><Size>3</Size></Contents>"
                     "</ListBucketResult>";
    const char *bad = "<ListBucketResult><EncodingType>url</EncodingType>"
                      "<IsTruncated>false</IsTruncated>"
                      "<Contents><Key>broken%zz</Key><Size>3</Size></Contents>"
                      "</ListBucketResult>";
    const char *not_encoded = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                              "<Contents><Key>100%25 literal</Key><Size>3</Size></Contents>"
                              "</ListBucketResult>";
    ossc_list_result *r = NULL;
    ossc_error e;

    ossc_error_clear(&e);
    CHECK(parse_list_str(v2, &r, &e) == 0);
    if (!r)
        return;
    CHECK(r->count == 2);
    CHECK_STR(r->objects[0].key, "a dir/\xe4\xb8\xad\xe6\x96\x87\n.txt");
    CHECK_STR(r->objects[1].key, "a dir/100%+plus"); /* '+' is not a space */
    CHECK(r->prefix_count == 1);
    CHECK_STR(r->prefixes[0], "a dir/sub/x/");
    CHECK(r->truncated == 1);
    CHECK_STR(r->next_token, "CgJhYg==");
    ossc_list_result_free(r);

    r = NULL;
    CHECK(parse_list_str(v1, &r, &e) == 0);
    if (r) {
        CHECK_STR(r->objects[0].key, "a dir/z&z");
        CHECK_STR(r->next_token, "a dir/z&z");
        ossc_list_result_free(r);
    }

    r = NULL;
    ossc_error_clear(&e);
    CHECK(parse_list_str(bad, &r, &e) == -1);
    CHECK(e.code == EIO);
    CHECK(strstr(e.message, "Key") != NULL);
    CHECK(r == NULL);

    r = NULL;
    CHECK(parse_list_str(not_encoded, &r, &e) == 0);
    if (r) {
        CHECK_STR(r->objects[0].key, "100%25 literal");
        ossc_list_result_free(r);
    }
}

static void test_list_v1_marker_fallback(void)
{
    /* V1 without NextMarker: continue after the greatest name of the page */
    const char *keys_last = "<ListBucketResult><IsTruncated>true</IsTruncated>"
                            "<Contents><Key>a/1</Key><Size>1</Size></Contents>"
                            "<Contents><Key>a/9</Key><Size>1</Size></Contents>"
                            "<CommonPrefixes><Prefix>a/5/</Prefix></CommonPrefixes>"
                            "</ListBucketResult>";
    const char *prefix_last = "<ListBucketResult><IsTruncated>true</IsTruncated>"
                              "<Contents><Key>a/1</Key><Size>1</Size></Contents>"
                              "<CommonPrefixes><Prefix>a/5/</Prefix></CommonPrefixes>"
                              "</ListBucketResult>";
    const char *empty_trunc = "<ListBucketResult><IsTruncated>true</IsTruncated>"
                              "</ListBucketResult>";
    ossc_list_result *r = NULL;
    ossc_error e;

    CHECK(parse_list_str(keys_last, &r, &e) == 0);
    if (r) {
        CHECK_STR(r->next_token, "a/9");
        ossc_list_result_free(r);
    }
    r = NULL;
    CHECK(parse_list_str(prefix_last, &r, &e) == 0);
    if (r) {
        CHECK_STR(r->next_token, "a/5/");
        ossc_list_result_free(r);
    }
    r = NULL;
    ossc_error_clear(&e);
    CHECK(parse_list_str(empty_trunc, &r, &e) == -1);
    CHECK(e.code == EIO);
    CHECK(r == NULL);
}

static void test_list_malformed(void)
{
    static const char *const bad[] = {
        "this is not xml",
        "<ListBucketResult><Contents><Key>x</Key></ListBucketResult>",
        "<Error><Code>NoSuchBucket</Code></Error>",
        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>12abc</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>99999999999999999999</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
        /* entity expansion is refused outright */
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>"
        "<ListBucketResult><Contents><Key>&lol2;</Key><Size>1</Size></Contents>"
        "</ListBucketResult>",
        /* external entities too */
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
        "<ListBucketResult><Contents><Key>&xxe;</Key><Size>1</Size></Contents>"
        "</ListBucketResult>",
        "",
    };
    const char *good = "<ListBucketResult><IsTruncated>true</IsTruncated>"
                       "<NextContinuationToken>t1</NextContinuationToken>"
                       "<Contents><Key>k1</Key><Size>1</Size></Contents>"
                       "<CommonPrefixes><Prefix>p1/</Prefix></CommonPrefixes>"
                       "</ListBucketResult>";
    const char *half_bad = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                           "<Contents><Key>k2</Key><Size>2</Size></Contents>"
                           "<CommonPrefixes><Prefix>p2/</Prefix></CommonPrefixes>"
                           "<Contents><Key>k3</Key><Size>x</Size></Contents>"
                           "</ListBucketResult>";
    ossc_list_result *r = NULL;
    ossc_error e;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = NULL;
        ossc_error_clear(&e);
        CHECK(parse_list_str(bad[i], &r, &e) == -1);
        CHECK(e.code == EIO);
        CHECK(e.message[0] != '\0');
        CHECK(r == NULL);
    }
    /* a failing page leaves the pages before it as they were */
    r = NULL;
    CHECK(parse_list_str(good, &r, &e) == 0);
    ossc_error_clear(&e);
    CHECK(parse_list_str(half_bad, &r, &e) == -1);
    CHECK(e.code == EIO);
    CHECK(strstr(e.message, "Size") != NULL);
    if (r) {
        CHECK(r->count == 1 && r->prefix_count == 1);
        CHECK_STR(r->objects[0].key, "k1");
        CHECK_STR(r->next_token, "t1");
        CHECK(r->truncated == 1);
        ossc_list_result_free(r);
    }
}

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
    ossc_list_result *r = NULL;
    ossc_error e;

    ossc_error_clear(&e);
    CHECK(parse_list_str(doc, &r, &e) == 0);
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

static void test_list_sax_errors(void)
{
    const char *dtd = "<!DOCTYPE ListBucketResult SYSTEM \"http://example.com/x.dtd\">"
                      "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    const char *undefined = "<ListBucketResult><Contents><Key>&nope;</Key></Contents>"
                            "</ListBucketResult>";
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
    ossc_list_result *r = NULL;
    ossc_error e;
    char *buf, *huge;
    int ok = 0, failed = 0, bad = 0;

    ossc_error_clear(&e);
    CHECK(parse_list_str(dtd, &r, &e) == -1);
    CHECK(e.code == EIO && strstr(e.message, "DTD") != NULL);
    CHECK(r == NULL);
    ossc_error_clear(&e);
    CHECK(parse_list_str(undefined, &r, &e) == -1);
    CHECK(e.code == EIO && strstr(e.message, "line 1") != NULL);
    CHECK(strchr(e.message, '\n') == NULL);

    /* a text run far beyond any real field */
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

    /* every cut of a page, and every single-byte change: a clean result or
     * a clean EIO, earlier pages untouched (ASan builds check the rest) */
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

static void test_list_take_and_columns(void)
{
    ossc_list_result *a = ossc_list_result_new(), *b = ossc_list_result_new();
    ossc_list_columns cols;
    ossc_error e;
    const char *k0;

    if (!a || !b)
        return;
    CHECK(ossc_list_result_push(a, "a/1", 1, 10, "e1") == 0);
    CHECK(ossc_list_result_push(b, "b/2", 2, 20, "") == 0);
    CHECK(ossc_list_result_push(b, "b/\xe6\x95\xb0", 3, 30, "e3") == 0);
    k0 = b->objects[0].key;
    CHECK(ossc_list_result_take(a, b) == 0); /* b is freed */
    CHECK(a->count == 3);
    CHECK(a->objects[1].key == k0); /* moved, not copied */
    CHECK_STR(a->objects[2].key, "b/\xe6\x95\xb0");

    ossc_error_clear(&e);
    CHECK(ossc_list_result_columns(a, &cols, &e) == 0);
    CHECK(cols.count == 3);
    CHECK(cols.keys_len == sizeof "a/1" + sizeof "b/2" + sizeof "b/\xe6\x95\xb0");
    CHECK(memcmp(cols.keys, "a/1\0b/2\0b/\xe6\x95\xb0\0", cols.keys_len) == 0);
    CHECK(cols.etags_len == sizeof "e1" + 1 + sizeof "e3");
    CHECK(memcmp(cols.etags, "e1\0\0e3\0", cols.etags_len) == 0);
    CHECK(cols.sizes[0] == 1 && cols.sizes[2] == 3);
    CHECK(cols.mtimes[1] == 20);
    ossc_list_columns_free(&cols);
    CHECK(cols.keys == NULL);
    ossc_list_columns_free(&cols); /* twice is harmless */

    /* an empty result packs to empty columns */
    b = ossc_list_result_new();
    CHECK(ossc_list_result_columns(b, &cols, &e) == 0);
    CHECK(cols.count == 0 && cols.keys_len == 0);
    ossc_list_columns_free(&cols);
    ossc_list_result_free(b);
    ossc_list_result_free(a);
}

static void test_upload_id(void)
{
    const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<InitiateMultipartUploadResult>\n"
                      "  <Bucket>oss-example</Bucket>\n"
                      "  <Key>multipart.data</Key>\n"
                      "  <UploadId>0004B9894A22E5B1888A1E29F8236E2D</UploadId>\n"
                      "</InitiateMultipartUploadResult>";
    const char *s3 = "<InitiateMultipartUploadResult " S3NS "><Bucket>b</Bucket><Key>k</Key>"
                     "<UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>";
    char id[128];
    char small[8];
    ossc_error e;

    ossc_error_clear(&e);
    CHECK(ossc_xml_parse_upload_id(doc, strlen(doc), id, sizeof id, &e) == 0);
    CHECK_STR(id, "0004B9894A22E5B1888A1E29F8236E2D");
    CHECK(ossc_xml_parse_upload_id(s3, strlen(s3), id, sizeof id, &e) == 0);
    CHECK_STR(id, "VXBsb2FkIElE");

    CHECK(ossc_xml_parse_upload_id(doc, strlen(doc), small, sizeof small, &e) == -1);
    CHECK(e.code == EIO);
    CHECK_STR(small, "");

    doc = "<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>";
    ossc_error_clear(&e);
    CHECK(ossc_xml_parse_upload_id(doc, strlen(doc), id, sizeof id, &e) == -1);
    CHECK(e.code == EIO && strstr(e.message, "UploadId") != NULL);
    doc = "<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>";
    CHECK(ossc_xml_parse_upload_id(doc, strlen(doc), id, sizeof id, &e) == -1);
    doc = "<Error><Code>AccessDenied</Code></Error>";
    CHECK(ossc_xml_parse_upload_id(doc, strlen(doc), id, sizeof id, &e) == -1);
    CHECK(ossc_xml_parse_upload_id("junk", 4, id, sizeof id, &e) == -1);
}

static void test_build_complete(void)
{
    ossc_part_etag parts[4];
    char *out = NULL;
    size_t len = 0;
    ossc_error e;
    const char *want =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload>"
        "<Part><PartNumber>1</PartNumber><ETag>\"3349DC700140D7F86A0784842780****\"</ETag></Part>"
        "<Part><PartNumber>2</PartNumber><ETag>\"8EFDA8BE206636A695359836FE0A****\"</ETag></Part>"
        "<Part><PartNumber>5</PartNumber><ETag>\"a&amp;b&lt;c&gt;d&quot;e&apos;f\"</ETag></Part>"
        "<Part><PartNumber>10000</PartNumber><ETag>\"\"</ETag></Part>"
        "</CompleteMultipartUpload>";

    memset(parts, 0, sizeof parts);
    parts[0].part_number = 1;
    snprintf(parts[0].etag, sizeof parts[0].etag, "\"3349DC700140D7F86A0784842780****\"");
    parts[1].part_number = 2;
    snprintf(parts[1].etag, sizeof parts[1].etag, "8EFDA8BE206636A695359836FE0A****");
    parts[2].part_number = 5;
    snprintf(parts[2].etag, sizeof parts[2].etag, "a&b<c>d\"e'f");
    parts[3].part_number = 10000;
    parts[3].etag[0] = '\0';

    ossc_error_clear(&e);
    CHECK(ossc_xml_build_complete(parts, 4, &out, &len, &e) == 0);
    CHECK(out != NULL);
    if (out) {
        CHECK_STR(out, want);
        CHECK(len == strlen(want));
        /* and it is well-formed XML that gives back the raw ETags */
        xmlDocPtr doc = xmlReadMemory(out, (int)len, NULL, NULL, XML_PARSE_NONET);
        CHECK(doc != NULL);
        if (doc) {
            xmlNodePtr part = xmlDocGetRootElement(doc)->children;
            for (int i = 0; i < 2 && part; i++)
                part = part->next;
            if (part) {
                xmlChar *t = xmlNodeGetContent(part->children->next);
                CHECK_STR((const char *)t, "\"a&b<c>d\"e'f\"");
                xmlFree(t);
            }
            xmlFreeDoc(doc);
        }
        free(out);
    }

    /* a full-length ETag without a terminator still fits */
    memset(parts[0].etag, '&', sizeof parts[0].etag);
    out = NULL;
    CHECK(ossc_xml_build_complete(parts, 1, &out, &len, &e) == 0);
    if (out) {
        CHECK(strlen(out) == len);
        CHECK(strstr(out, "&amp;&amp;") != NULL);
        free(out);
    }
    snprintf(parts[0].etag, sizeof parts[0].etag, "e1");

    /* order and range are enforced */
    parts[1].part_number = 1;
    out = (char *)1;
    ossc_error_clear(&e);
    CHECK(ossc_xml_build_complete(parts, 2, &out, &len, &e) == -1);
    CHECK(e.code == EINVAL);
    CHECK(out == NULL);
    parts[1].part_number = 0;
    CHECK(ossc_xml_build_complete(parts + 1, 1, &out, &len, &e) == -1);
    parts[1].part_number = 10001;
    CHECK(ossc_xml_build_complete(parts + 1, 1, &out, &len, &e) == -1);

    CHECK(ossc_xml_build_complete(parts, 0, &out, &len, &e) == 0);
    if (out) {
        CHECK(strstr(out, "<CompleteMultipartUpload></CompleteMultipartUpload>") != NULL);
        free(out);
    }
}

static void test_parse_time(void)
{
    CHECK(ossc_xml_parse_time("2024-08-02T15:04:05.000Z") == 1722611045);
    CHECK(ossc_xml_parse_time("2012-02-24T08:43:07.000Z") == 1330072987);
    CHECK(ossc_xml_parse_time("Fri, 02 Aug 2024 15:04:05 GMT") == 0);
    CHECK(ossc_xml_parse_time("") == 0);
}

/* 100 pages x 1000 entries parsed into one result, then 100k pushes: all
 * entries intact, and the arena stays close to the bytes it stores. */
static void test_large_listing(void)
{
    enum { PAGES = 100, PER_PAGE = 1000, N = PAGES * PER_PAGE };
    size_t cap = PER_PAGE * 256 + 1024, strings = 0;
    char *doc = malloc(cap);
    ossc_list_result *r = NULL, *p;
    ossc_error e;
    char key[128];
    int bad = 0;

    for (int page = 0; page < PAGES; page++) {
        size_t o = 0;
        o += (size_t)snprintf(doc + o, cap - o,
                              "<ListBucketResult><Name>b</Name><IsTruncated>%s</IsTruncated>"
                              "<NextContinuationToken>tok-%d</NextContinuationToken>",
                              page + 1 < PAGES ? "true" : "false", page);
        for (int i = 0; i < PER_PAGE; i++) {
            int n = page * PER_PAGE + i;
            o += (size_t)snprintf(doc + o, cap - o,
                                  "<Contents><Key>train/shard-%03d/img_%07d.jpg</Key>"
                                  "<LastModified>2024-08-02T15:04:05.000Z</LastModified>"
                                  "<ETag>\"%032x\"</ETag><Size>%d</Size>"
                                  "<StorageClass>Standard</StorageClass></Contents>",
                                  n % 128, n, n, n);
        }
        o += (size_t)snprintf(doc + o, cap - o, "</ListBucketResult>");
        ossc_error_clear(&e);
        if (ossc_xml_parse_list(doc, o, &r, &e) != 0) {
            fprintf(stderr, "page %d: %s\n", page, e.message);
            bad++;
            break;
        }
    }
    free(doc);
    CHECK(bad == 0);
    if (!r)
        return;
    CHECK(r->count == N);
    CHECK(r->truncated == 0);
    CHECK_STR(r->next_token, "");
    for (int n = 0; n < (int)r->count; n++) {
        char etag[40];
        snprintf(key, sizeof key, "train/shard-%03d/img_%07d.jpg", n % 128, n);
        snprintf(etag, sizeof etag, "%032x", n);
        if (strcmp(r->objects[n].key, key) != 0 || r->objects[n].size != (uint64_t)n ||
            strcmp(r->objects[n].etag, etag) != 0 || r->objects[n].mtime != 1722611045)
            bad++;
        strings += strlen(key) + 1 + strlen(etag) + 1;
    }
    CHECK(bad == 0);
    /* the 100 page tokens add a little; blocks are 64 KiB */
    CHECK(ossc_arena_footprint(r->_arena) >= strings);
    CHECK(ossc_arena_footprint(r->_arena) < strings + strings / 16 + 65536);
    CHECK(r->_cap_objects >= r->count && r->_cap_objects < 2 * r->count + 256);

    /* the same through ossc_list_result_push (how fast list merges) */
    p = ossc_list_result_new();
    CHECK(p != NULL);
    if (p) {
        for (int n = 0; n < N; n++) {
            snprintf(key, sizeof key, "train/shard-%03d/img_%07d.jpg", n % 128, n);
            if (ossc_list_result_push(p, key, (uint64_t)n, n, n % 2 ? "etag" : "") != 0)
                bad++;
        }
        CHECK(bad == 0);
        CHECK(p->count == N);
        CHECK_STR(p->objects[12345].key, "train/shard-057/img_0012345.jpg");
        CHECK_STR(p->objects[12345].etag, "etag");
        CHECK_STR(p->objects[12346].etag, "");
        CHECK(p->objects[99999].size == 99999);
        CHECK_STR(p->next_token, "");
        CHECK(ossc_arena_footprint(p->_arena) < (size_t)N * 40 + 65536);
        ossc_list_result_free(p);
    }
    ossc_list_result_free(r);
}

/* Sizes that are no byte count: an error that names the key (also when
 * <Size> comes before <Key>), never a wrapped or negative number. */
static void test_list_bad_sizes(void)
{
    static const char *bad[] = {"-5", "99999999999999999999999", "9223372036854775808",
                                "18446744073709551615", " 5", "5 ", "0x10", ""};
    char doc[512];
    ossc_list_result *r;
    ossc_error e;

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(doc, sizeof doc, "<ListBucketResult><IsTruncated>false</IsTruncated>"
                                  "<Contents><Key>ok</Key><Size>1</Size></Contents>"
                                  "<Contents><Size>%s</Size><Key>weights/big.bin</Key>"
                                  "</Contents></ListBucketResult>", bad[i]);
        r = NULL;
        ossc_error_clear(&e);
        CHECK(parse_list_str(doc, &r, &e) == -1);
        CHECK(r == NULL);
        CHECK(e.code == EIO);
        CHECK(strstr(e.message, "weights/big.bin") != NULL);
        CHECK(strstr(e.message, "<Size>") != NULL);
    }
    r = NULL;
    CHECK(parse_list_str("<ListBucketResult><Contents><Key>k</Key>"
                         "<Size>9223372036854775807</Size></Contents></ListBucketResult>",
                         &r, &e) == 0);
    if (r) {
        CHECK(r->objects[0].size == (uint64_t)INT64_MAX);
        ossc_list_result_free(r);
    }
}

/* A V2 page that says it is truncated must carry its own token: no
 * fallback to NextMarker or to the last key (which a V2 server would not
 * take back, or would answer with the same page). */
static void test_list_v2_needs_token(void)
{
    static const char *pages[] = {
        "<ListBucketResult><IsTruncated>true</IsTruncated>"
        "<Contents><Key>a</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken></NextContinuationToken>"
        "<Contents><Key>a</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated><NextMarker>a</NextMarker>"
        "<Contents><Key>a</Key><Size>1</Size></Contents></ListBucketResult>",
    };
    ossc_list_result *r;
    ossc_error e;

    for (size_t i = 0; i < sizeof pages / sizeof *pages; i++) {
        r = NULL;
        ossc_error_clear(&e);
        CHECK(ossc_xml_parse_list_v2(pages[i], strlen(pages[i]), &r, NULL, NULL, &e) == -1);
        CHECK(r == NULL);
        CHECK(strstr(e.message, "without a continuation token") != NULL);
        /* the lenient (V1) parse still continues after the last name */
        r = NULL;
        CHECK(parse_list_str(pages[i], &r, &e) == 0);
        if (r) {
            CHECK_STR(r->next_token, "a");
            ossc_list_result_free(r);
        }
    }
}

/* A page built by hand: keys, then prefixes, truncated with next. */
static ossc_list_result *page_of(const char *const *keys, const char *const *prefixes,
                                 const char *next)
{
    ossc_list_result *p = ossc_list_result_new();
    for (; keys && *keys; keys++)
        ossc_list_result_push(p, *keys, 1, 0, "");
    for (; prefixes && *prefixes; prefixes++) {
        const char **grown = realloc(p->prefixes, (p->prefix_count + 1) * sizeof *grown);
        grown[p->prefix_count++] = *prefixes; /* static strings */
        p->prefixes = grown;
        p->_cap_prefixes = p->prefix_count;
    }
    p->truncated = next != NULL;
    p->next_token = next ? next : "";
    return p;
}

/* What ends every paging loop: tokens never sent twice, names only
 * growing, pages no longer than asked. */
static void test_list_guard(void)
{
    static const char *const ab[] = {"a", "b", NULL}, *const cd[] = {"c", "d", NULL};
    static const char *const ba[] = {"b", "a", NULL}, *const aa[] = {"a", "a", NULL};
    static const char *const bc[] = {"b", "c", NULL}, *const p_b[] = {"a/", NULL};
    static const char *const abc[] = {"a", "b", "c", NULL};
    ossc_list_guard g;
    ossc_list_result *p;
    ossc_error e;

    /* a normal listing: two pages, then the end */
    ossc_list_guard_init(&g, 0);
    p = page_of(ab, NULL, "t1");
    CHECK(ossc_list_guard_page(&g, p, "", &e) == 0);
    ossc_list_result_free(p);
    p = page_of(cd, NULL, NULL);
    CHECK(ossc_list_guard_page(&g, p, "t1", &e) == 0);
    ossc_list_result_free(p);
    ossc_list_guard_free(&g);

    /* truncated without a token; the same token again; a token cycle on
     * empty pages */
    ossc_list_guard_init(&g, 0);
    p = page_of(ab, NULL, "");
    p->truncated = 1;
    CHECK(ossc_list_guard_page(&g, p, "", &e) == -1);
    CHECK(strstr(e.message, "without a continuation token") != NULL);
    ossc_list_result_free(p);
    ossc_list_guard_free(&g);

    ossc_list_guard_init(&g, 0);
    p = page_of(ab, NULL, "t1");
    CHECK(ossc_list_guard_page(&g, p, "", &e) == 0);
    ossc_list_result_free(p);
    p = page_of(cd, NULL, "t1");
    CHECK(ossc_list_guard_page(&g, p, "t1", &e) == -1);
    CHECK(strstr(e.message, "repeats a continuation token already used: 't1'") != NULL);
    CHECK(strstr(e.message, "page after token 't1'") != NULL);
    ossc_list_result_free(p);
    ossc_list_guard_free(&g);

    ossc_list_guard_init(&g, 0);
    int failed_at = 0;
    for (int i = 0; i < 100 && !failed_at; i++) {
        char used[8], next[8];
        snprintf(used, sizeof used, i ? "t%d" : "", (i - 1) % 3);
        snprintf(next, sizeof next, "t%d", i % 3);
        p = page_of(NULL, NULL, next);
        if (ossc_list_guard_page(&g, p, used, &e) < 0)
            failed_at = i;
        ossc_list_result_free(p);
    }
    CHECK(failed_at == 3);
    ossc_list_guard_free(&g);

    /* the same page again under a fresh token: the names went backwards */
    ossc_list_guard_init(&g, 0);
    p = page_of(ab, NULL, "t1");
    CHECK(ossc_list_guard_page(&g, p, "", &e) == 0);
    ossc_list_result_free(p);
    p = page_of(ab, NULL, "t2");
    CHECK(ossc_list_guard_page(&g, p, "t1", &e) == -1);
    CHECK(strstr(e.message, "went backwards: 'a' listed after 'b'") != NULL);
    ossc_list_result_free(p);
    /* a common prefix that repeats a name counts too */
    p = page_of(NULL, p_b, NULL);
    CHECK(ossc_list_guard_page(&g, p, "t1", &e) == -1);
    ossc_list_result_free(p);
    p = page_of(bc, NULL, NULL);
    CHECK(ossc_list_guard_page(&g, p, "t1", &e) == -1);
    ossc_list_result_free(p);
    ossc_list_guard_free(&g);

    /* out of order or repeated within a page; longer than max-keys */
    p = page_of(ba, NULL, NULL);
    CHECK(ossc_list_check_page(p, 0, NULL, &e) == -1);
    CHECK(strstr(e.message, "out of order: 'a' after 'b'") != NULL);
    ossc_list_result_free(p);
    p = page_of(aa, NULL, NULL);
    CHECK(ossc_list_check_page(p, 0, NULL, &e) == -1);
    ossc_list_result_free(p);
    p = page_of(abc, NULL, NULL);
    CHECK(ossc_list_check_page(p, 2, NULL, &e) == -1);
    CHECK(strstr(e.message, "page of 3 entries, more than the 2 asked for") != NULL);
    CHECK(ossc_list_check_page(p, 3, NULL, &e) == 0);
    CHECK(ossc_list_check_page(p, 3, "a", &e) == -1); /* start-after ignored */
    CHECK(ossc_list_check_page(p, 3, "0", &e) == 0);
    ossc_list_result_free(p);
}

int main(void)
{
    test_error_doc();
    test_list_v1();
    test_list_v2_namespaced();
    test_list_url_encoded();
    test_list_v1_marker_fallback();
    test_list_malformed();
    test_list_early_token();
    test_list_sax_text();
    test_list_sax_errors();
    test_list_take_and_columns();
    test_upload_id();
    test_build_complete();
    test_parse_time();
    test_large_listing();
    test_list_bad_sizes();
    test_list_v2_needs_token();
    test_list_guard();
    xmlCleanupParser();
    return check_summary("test_xml");
}
