/* fuzz_uri.c - oss:// URIs, endpoints and percent-encoding (uri.c) on
 * arbitrary strings.  Outputs go to heap buffers of the exact capacity
 * passed, so ASan sees any write past it.  Aborts when a contract breaks:
 * a parsed URI is not rebuilt by "oss://" bucket "/" key, its bucket name
 * is invalid, decode(encode(s)) != s, or a length returned is not the
 * length written. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz_common.h"
#include "uri.h"

static char *xmalloc(size_t n)
{
    char *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

static void check_parse_uri(const char *s)
{
    char *bucket = xmalloc(OSSC_BUCKET_MAX), *key = xmalloc(OSSC_KEY_MAX);
    char small_b[4], small_k[8];
    ossc_error err;

    ossc_error_clear(&err);
    if (ossc_parse_uri(s, bucket, OSSC_BUCKET_MAX, key, OSSC_KEY_MAX, &err) == 0) {
        size_t blen = strlen(bucket);
        if (!ossc_bucket_name_valid(bucket) || strncmp(s, "oss://", 6) != 0 ||
            strncmp(s + 6, bucket, blen) != 0)
            abort();
        if (s[6 + blen] == '\0' ? key[0] != '\0'
                                : s[6 + blen] != '/' || strcmp(s + 7 + blen, key) != 0)
            abort();
        if (key[0] == '/')
            abort(); /* refused by contract */
    } else if (!err.message[0]) {
        abort();
    }
    /* Too small for most: must fail cleanly, not overflow. */
    (void)ossc_parse_uri(s, small_b, sizeof small_b, small_k, sizeof small_k, NULL);
    free(bucket);
    free(key);
}

static void check_round_trip(const char *s, bool keep_slash)
{
    size_t len = strlen(s), cap = 3 * len + 1;
    char *enc = xmalloc(cap), *dec = xmalloc(len + 1);
    long n = ossc_url_encode(s, keep_slash, enc, cap);

    if (n < 0 || (size_t)n != strlen(enc))
        abort();
    if (ossc_url_decode(enc, dec, len + 1) != (long)len || memcmp(dec, s, len + 1) != 0)
        abort();
    /* One byte short must fail, not write past the end. */
    if (ossc_url_encode(s, keep_slash, enc, (size_t)n) != -1)
        abort();
    free(enc);
    free(dec);
}

static void check_decode(const char *s)
{
    size_t len = strlen(s);
    char *out = xmalloc(len + 1);
    long n = ossc_url_decode(s, out, len + 1);

    if (n >= 0 && ((size_t)n > len || strlen(out) != (size_t)n))
        abort(); /* a decoded %00 would show here as a short string */
    free(out);
    if (len > 2) {
        out = xmalloc(len / 2);
        (void)ossc_url_decode(s, out, len / 2);
        free(out);
    }
}

static void check_endpoint(const char *s)
{
    ossc_endpoint ep;
    ossc_error err;
    ossc_kv query[2] = {{"prefix", s}, {"uploads", NULL}};
    char *url;
    long n;

    ossc_error_clear(&err);
    if (ossc_endpoint_parse(s, false, &ep, &err) != 0) {
        if (!err.message[0])
            abort();
        return;
    }
    if (!memchr(ep.host, '\0', sizeof ep.host) || !memchr(ep.region, '\0', sizeof ep.region) ||
        ep.port < 0 || ep.port > 65535)
        abort();
    url = xmalloc(8192);
    n = ossc_build_url(&ep, "bucket", s, query, 2, url, 8192);
    if (n >= 0 && (size_t)n != strlen(url))
        abort();
    if (n > 0)
        (void)ossc_build_url(&ep, "bucket", s, query, 2, url, (size_t)n); /* one short */
    free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstring(data, size);

    if (!s)
        return 0;
    check_parse_uri(s);
    check_round_trip(s, false);
    check_round_trip(s, true);
    check_decode(s);
    check_endpoint(s);
    free(s);
    return 0;
}
