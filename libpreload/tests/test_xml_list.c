/* test_xml_list.c - list pages as OSS and S3 send them: V1 (markers) and
 * V2 (continuation tokens), with and without a namespace, URL-encoded,
 * the V1 continuation fallbacks, malformed pages, sizes that are no byte
 * count, and V2 pages that must carry their own token. */
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
    ossc_list_result *r = PARSE_LIST_OK(v1_doc);

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
    ossc_list_result *r = PARSE_LIST_OK(page1);
    ossc_error e;

    if (!r)
        return;
    CHECK(r->count == 2);
    CHECK(r->truncated == 1);
    CHECK_STR(r->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    CHECK_STR(r->objects[0].etag, "e1");
    CHECK(r->objects[0].mtime == 1722611045);
    CHECK(r->objects[1].size == 20);

    /* pages append */
    ossc_error_clear(&e);
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
    ossc_list_result *r = PARSE_LIST_OK(v2);
    ossc_error e;

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
    ossc_error_clear(&e);
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

/* Sizes that are no byte count: an error that names the key (also when
 * <Size> comes before <Key>), never a wrapped or negative number. */
static void test_list_bad_sizes(void)
{
    static const char *bad[] = {"-5", "99999999999999999999999", "9223372036854775808",
                                "18446744073709551615", " 5", "5 ", "0x10", "+5", ""};
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

int main(void)
{
    test_list_v1();
    test_list_v2_namespaced();
    test_list_url_encoded();
    test_list_v1_marker_fallback();
    test_list_malformed();
    test_list_bad_sizes();
    test_list_v2_needs_token();
    xmlCleanupParser();
    return check_summary("test_xml_list");
}
