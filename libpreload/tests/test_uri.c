/* test_uri.c - oss:// parsing, endpoints, percent-encoding, request URLs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "uri.h"

/* Parses uri expecting success with the given parts. */
static void parse_ok(const char *uri, const char *bucket, const char *key)
{
    char b[OSSC_BUCKET_MAX], k[OSSC_KEY_MAX];
    ossc_error err = {0};
    int rc = ossc_parse_uri(uri, b, sizeof b, k, sizeof k, &err);
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "  uri '%s': %s\n", uri, err.message);
        return;
    }
    CHECK_STR(b, bucket);
    CHECK_STR(k, key);
}

/* Parses uri expecting failure with code; the message must name the URI
 * (its first 40 bytes, enough to recognise it). */
static void parse_fails(const char *uri, int code)
{
    char b[OSSC_BUCKET_MAX], k[OSSC_KEY_MAX];
    ossc_error err = {0};
    CHECK(ossc_parse_uri(uri, b, sizeof b, k, sizeof k, &err) == -1);
    CHECK(err.code == code);
    char head[41];
    snprintf(head, sizeof head, "%s", uri);
    if (!strstr(err.message, head)) {
        fprintf(stderr, "  message for '%s' does not name it: %s\n", uri, err.message);
        CHECK(0);
    }
}

static void test_parse_uri(void)
{
    parse_ok("oss://bucket/key", "bucket", "key");
    parse_ok("oss://bucket", "bucket", "");
    parse_ok("oss://bucket/", "bucket", "");
    parse_ok("oss://my-bucket-01/dir/sub/file.txt", "my-bucket-01", "dir/sub/file.txt");
    parse_ok("oss://abc/a b/%20+?#~", "abc", "a b/%20+?#~");
    parse_ok("oss://abc/\xe6\x95\xb0\xe6\x8d\xae/", "abc", "\xe6\x95\xb0\xe6\x8d\xae/");

    parse_fails("s3://bucket/key", EINVAL);
    parse_fails("bucket/key", EINVAL);
    parse_fails("OSS://bucket/key", EINVAL);
    parse_fails("oss:/bucket/key", EINVAL);
    parse_fails("oss://", EINVAL);
    parse_fails("oss:///key", EINVAL);
    parse_fails("oss://Bucket/key", EINVAL);
    parse_fails("oss://ab/key", EINVAL);
    parse_fails("oss://-abc/key", EINVAL);
    parse_fails("oss://abc-/key", EINVAL);
    parse_fails("oss://a_b_c/key", EINVAL);
    parse_fails("oss://a.b.c/key", EINVAL);
    parse_fails("oss://bucket//key", EINVAL);
    parse_fails("oss://bucket//", EINVAL);

    ossc_error err = {0};
    char b[OSSC_BUCKET_MAX], k[OSSC_KEY_MAX];
    CHECK(ossc_parse_uri(NULL, b, sizeof b, k, sizeof k, &err) == -1 && err.code == EINVAL);
    CHECK(ossc_parse_uri("s3://x/y", b, sizeof b, k, sizeof k, NULL) == -1);
}

/* Bucket length 3..63 and key length up to 1023 bytes. */
static void test_parse_uri_limits(void)
{
    char uri[2048], bucket[70], key[1100];
    memset(bucket, 'b', 63);
    bucket[63] = '\0';
    snprintf(uri, sizeof uri, "oss://%s/k", bucket);
    parse_ok(uri, bucket, "k");
    memset(bucket, 'b', 64);
    bucket[64] = '\0';
    snprintf(uri, sizeof uri, "oss://%s/k", bucket);
    parse_fails(uri, EINVAL);

    memset(key, 'k', 1023);
    key[1023] = '\0';
    snprintf(uri, sizeof uri, "oss://bucket/%s", key);
    parse_ok(uri, "bucket", key);
    memset(key, 'k', 1024);
    key[1024] = '\0';
    snprintf(uri, sizeof uri, "oss://bucket/%s", key);
    parse_fails(uri, EINVAL);

    /* caller buffers too small: refused, not truncated */
    char sb[4], sk[4];
    ossc_error err = {0};
    CHECK(ossc_parse_uri("oss://bucket/k", sb, sizeof sb, sk, sizeof sk, &err) == -1);
    CHECK(err.code == ENAMETOOLONG);
    CHECK(ossc_parse_uri("oss://abc/key", sb, sizeof sb, sk, sizeof sk, &err) == 0);
    CHECK_STR(sb, "abc");
    CHECK_STR(sk, "key");
    CHECK(ossc_parse_uri("oss://abc/keys", sb, sizeof sb, sk, sizeof sk, &err) == -1);
}

static void test_bucket_names(void)
{
    CHECK(ossc_bucket_name_valid("abc"));
    CHECK(ossc_bucket_name_valid("a-1-b"));
    CHECK(ossc_bucket_name_valid("123"));
    CHECK(!ossc_bucket_name_valid(""));
    CHECK(!ossc_bucket_name_valid("ab"));
    CHECK(!ossc_bucket_name_valid("abC"));
    CHECK(!ossc_bucket_name_valid("-ab"));
    CHECK(!ossc_bucket_name_valid("ab-"));
    CHECK(!ossc_bucket_name_valid("a.b"));
    CHECK(!ossc_bucket_name_valid("a b"));
}

/* Parses an endpoint expecting success. */
static ossc_endpoint endpoint_ok(const char *text, bool force)
{
    ossc_endpoint ep;
    ossc_error err = {0};
    memset(&ep, 0, sizeof ep);
    int rc = ossc_endpoint_parse(text, force, &ep, &err);
    CHECK(rc == 0);
    if (rc != 0)
        fprintf(stderr, "  endpoint '%s': %s\n", text, err.message);
    return ep;
}

static void test_endpoints(void)
{
    ossc_endpoint ep = endpoint_ok("oss-cn-hangzhou.aliyuncs.com", false);
    CHECK_STR(ep.scheme, "http");
    CHECK_STR(ep.host, "oss-cn-hangzhou.aliyuncs.com");
    CHECK(ep.port == 0 && !ep.path_style);
    CHECK_STR(ep.region, "cn-hangzhou");

    ep = endpoint_ok("https://oss-cn-shanghai-internal.aliyuncs.com/", false);
    CHECK_STR(ep.scheme, "https");
    CHECK_STR(ep.host, "oss-cn-shanghai-internal.aliyuncs.com");
    CHECK_STR(ep.region, "cn-shanghai");

    ep = endpoint_ok("HTTPS://OSS-CN-BEIJING.ALIYUNCS.COM:443", false);
    CHECK_STR(ep.scheme, "https");
    CHECK(ep.port == 443);
    CHECK_STR(ep.region, "cn-beijing");

    ep = endpoint_ok("http://127.0.0.1:9000", false);
    CHECK_STR(ep.host, "127.0.0.1");
    CHECK(ep.port == 9000 && ep.path_style);
    CHECK_STR(ep.region, "");

    ep = endpoint_ok("localhost:8080", false);
    CHECK(ep.path_style && ep.port == 8080);

    ep = endpoint_ok("http://[::1]:9000/", false);
    CHECK_STR(ep.host, "[::1]");
    CHECK(ep.port == 9000 && ep.path_style);

    ep = endpoint_ok("minio.internal_net:9000", false);
    CHECK(!ep.path_style);
    ep = endpoint_ok("oss-us-west-1.aliyuncs.com", true);
    CHECK(ep.path_style);
    CHECK_STR(ep.region, "us-west-1");

    const char *bad[] = {"", "ftp://host", "http://", "host:0", "host:65536", "host:12a",
                         "host:", "host/path", "ho st", "[::1", "[zz]:80", "http://:80",
                         "host:123456"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ossc_error err = {0};
        ossc_endpoint e;
        CHECK(ossc_endpoint_parse(bad[i], false, &e, &err) == -1);
        CHECK(err.code == EINVAL);
    }
    ossc_endpoint e;
    CHECK(ossc_endpoint_parse(NULL, false, &e, NULL) == -1);
}

static void test_region_from_host(void)
{
    char r[64];
    CHECK(ossc_region_from_host("oss-cn-hangzhou.aliyuncs.com", r, sizeof r) == 0);
    CHECK_STR(r, "cn-hangzhou");
    CHECK(ossc_region_from_host("oss-cn-hangzhou-internal.aliyuncs.com", r, sizeof r) == 0);
    CHECK_STR(r, "cn-hangzhou");
    CHECK(ossc_region_from_host("bkt.oss-ap-southeast-1.aliyuncs.com", r, sizeof r) == 0);
    CHECK_STR(r, "ap-southeast-1");
    CHECK(ossc_region_from_host("oss-accelerate.aliyuncs.com", r, sizeof r) == -1);
    CHECK(ossc_region_from_host("oss-accelerate-overseas.aliyuncs.com", r, sizeof r) == -1);
    CHECK(ossc_region_from_host("oss-.aliyuncs.com", r, sizeof r) == -1);
    CHECK(ossc_region_from_host("aliyuncs.com", r, sizeof r) == -1);
    CHECK(ossc_region_from_host("example.com", r, sizeof r) == -1);
    CHECK(ossc_region_from_host("127.0.0.1", r, sizeof r) == -1);
    CHECK(ossc_region_from_host("oss-cn-hangzhou.aliyuncs.com", r, 11) == -1);
    CHECK(ossc_region_from_host("oss-cn-hangzhou.aliyuncs.com", r, 12) == 0);
}

static void test_url_encode(void)
{
    char out[64];
    CHECK(ossc_url_encode("a b/c~d-e_f.g", true, out, sizeof out) == 15);
    CHECK_STR(out, "a%20b/c~d-e_f.g");
    CHECK(ossc_url_encode("a b/c", false, out, sizeof out) == 9);
    CHECK_STR(out, "a%20b%2Fc");
    CHECK(ossc_url_encode("\xc3\xa9+%#?&=", false, out, sizeof out) > 0);
    CHECK_STR(out, "%C3%A9%2B%25%23%3F%26%3D");
    CHECK(ossc_url_encode("", false, out, 1) == 0);
    CHECK_STR(out, "");
    CHECK(ossc_url_encode("", false, out, 0) == -1);
    /* exact capacity: "a%20" needs 5 bytes */
    CHECK(ossc_url_encode("a ", false, out, 5) == 4);
    CHECK(ossc_url_encode("a ", false, out, 4) == -1);
    CHECK(ossc_url_encode("ab", false, out, 2) == -1);
}

static void test_url_decode(void)
{
    char out[64];
    CHECK(ossc_url_decode("a%20b%2Fc+d", out, sizeof out) == 7);
    CHECK_STR(out, "a b/c+d");
    CHECK(ossc_url_decode("%c3%A9", out, sizeof out) == 2);
    CHECK_STR(out, "\xc3\xa9");
    CHECK(ossc_url_decode("%zz", out, sizeof out) == -1);
    CHECK(ossc_url_decode("%2", out, sizeof out) == -1);
    CHECK(ossc_url_decode("%", out, sizeof out) == -1);
    CHECK(ossc_url_decode("a%00b", out, sizeof out) == -1);
    CHECK(ossc_url_decode("abc", out, 3) == -1);
    CHECK(ossc_url_decode("abc", out, 4) == 3);

    /* every non-NUL byte survives encode + decode, with and without '/' */
    char raw[256], enc[800], dec[256];
    for (int i = 1; i < 256; i++)
        raw[i - 1] = (char)i;
    raw[255] = '\0';
    for (int slash = 0; slash < 2; slash++) {
        CHECK(ossc_url_encode(raw, slash, enc, sizeof enc) > 0);
        CHECK(ossc_url_decode(enc, dec, sizeof dec) == 255);
        CHECK(memcmp(raw, dec, 256) == 0);
    }
}

static void test_build_url(void)
{
    char url[8192];
    ossc_endpoint ep = endpoint_ok("oss-cn-hangzhou.aliyuncs.com", false);
    const ossc_kv q[] = {{"uploadId", "a/b+c"}, {"partNumber", "1"}, {"uploads", NULL},
                         {"prefix", ""}};
    long n = ossc_build_url(&ep, "bkt", "dir/a b.txt", q, 4, url, sizeof url);
    CHECK_STR(url, "http://bkt.oss-cn-hangzhou.aliyuncs.com/dir/a%20b.txt"
                   "?uploadId=a%2Fb%2Bc&partNumber=1&uploads&prefix=");
    CHECK(n == (long)strlen(url));

    CHECK(ossc_build_url(&ep, "bkt", "", NULL, 0, url, sizeof url) > 0);
    CHECK_STR(url, "http://bkt.oss-cn-hangzhou.aliyuncs.com/");
    CHECK(ossc_build_url(&ep, "", "", NULL, 0, url, sizeof url) > 0);
    CHECK_STR(url, "http://oss-cn-hangzhou.aliyuncs.com/");

    ossc_endpoint ps = endpoint_ok("http://127.0.0.1:9000", false);
    CHECK(ossc_build_url(&ps, "bkt", "k#1", q + 2, 1, url, sizeof url) > 0);
    CHECK_STR(url, "http://127.0.0.1:9000/bkt/k%231?uploads");
    CHECK(ossc_build_url(&ps, "bkt", "", NULL, 0, url, sizeof url) > 0);
    CHECK_STR(url, "http://127.0.0.1:9000/bkt/");
    CHECK(ossc_build_url(&ps, "", "", NULL, 0, url, sizeof url) > 0);
    CHECK_STR(url, "http://127.0.0.1:9000/");

    ossc_endpoint v6 = endpoint_ok("https://[::1]:8443", false);
    CHECK(ossc_build_url(&v6, "bkt", "k", NULL, 0, url, sizeof url) > 0);
    CHECK_STR(url, "https://[::1]:8443/bkt/k");

    /* capacity: exact fits, one less fails and leaves an empty string */
    n = ossc_build_url(&ep, "bkt", "k", q, 2, url, sizeof url);
    CHECK(n > 0);
    char *exact = malloc((size_t)n + 1);
    CHECK(ossc_build_url(&ep, "bkt", "k", q, 2, exact, (size_t)n + 1) == n);
    CHECK(ossc_build_url(&ep, "bkt", "k", q, 2, exact, (size_t)n) == -1);
    CHECK_STR(exact, "");
    free(exact);

    /* a 1023-byte multi-byte key grows to ~3 KiB */
    char key[1024];
    memset(key, '\xe6', 1023);
    key[1023] = '\0';
    n = ossc_build_url(&ep, "bkt", key, NULL, 0, url, sizeof url);
    CHECK(n == (long)strlen("http://bkt.oss-cn-hangzhou.aliyuncs.com/") + 3 * 1023);
    CHECK(ossc_build_url(&ep, "bkt", key, NULL, 0, url, 3000) == -1);
}

int main(void)
{
    test_parse_uri();
    test_parse_uri_limits();
    test_bucket_names();
    test_endpoints();
    test_region_from_host();
    test_url_encode();
    test_url_decode();
    test_build_url();
    return check_summary("test_uri");
}
