/* test_xml.c - the small OSS XML bodies of xml.c: error documents, the
 * upload id of InitiateMultipartUpload, the CompleteMultipartUpload body,
 * LastModified times.  List pages are tested in test_xml_list.c and
 * test_xml_list_sax.c, the list result in test_list_result.c. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "check.h"
#include "error.h"
#include "xml.h"
#include "xml_fixtures.h"

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


static int app_handler_calls;
static void app_handler(void *ctx, const char *fmt, ...)
{
    (void)ctx;
    (void)fmt;
    app_handler_calls++;
}

/* A reply that declares an encoding its bytes break makes libxml2 report
 * through its generic channel, which prints to stderr: the application's,
 * under LD_PRELOAD.  Both parsers keep it silent, and give back a handler
 * the application set. */
static void test_parsers_never_write_to_stderr(void)
{
    static const char bad[] = "<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>"
                              "<ListBucketResult><Contents><Key>\x81 \xff\xfe</Key>"
                              "<Size>1</Size></Contents></ListBucketResult>";
    static const char bad_err[] = "<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>"
                                  "<Error><Code>\x81 \xff\xfe</Code></Error>";
    FILE *capture = tmpfile();
    CHECK(capture != NULL);
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0 && dup2(fileno(capture), 2) == 2);

    xmlSetGenericErrorFunc(NULL, app_handler);
    ossc_error err;
    ossc_list_result *r = NULL;
    (void)ossc_xml_parse_list(bad, sizeof bad - 1, &r, &err);
    ossc_list_result_free(r);
    (void)ossc_xml_parse_error(bad_err, sizeof bad_err - 1, &err);
    CHECK(xmlGenericError == app_handler); /* given back */
    CHECK(app_handler_calls == 0);          /* and not called for our parses */
    xmlSetGenericErrorFunc(NULL, NULL);

    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    CHECK(ftell(capture) == 0 || fseek(capture, 0, SEEK_END) == 0);
    long written = ftell(capture);
    if (written != 0)
        fprintf(stderr, "libxml2 wrote %ld bytes to stderr\n", written);
    CHECK(written == 0);
    fclose(capture);
}

int main(void)
{
    test_error_doc();
    test_upload_id();
    test_build_complete();
    test_parse_time();
    test_parsers_never_write_to_stderr();
    xmlCleanupParser();
    return check_summary("test_xml");
}
