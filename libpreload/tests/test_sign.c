/* test_sign.c - the signer against vectors produced by the oss2 SDK
 * (sign_vectors.json, made by gen_sign_vectors.py) plus edge cases. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "check.h"
#include "sign.h"

#define VECTORS_FILE "sign_vectors.json"

/* A vector's request, with the arrays ossc_sign_input points into. */
typedef struct loaded_request {
    ossc_sign_input in;
    ossc_credentials cred;
    ossc_kv *query;
    ossc_kv *headers;
    int version;
} loaded_request;

/* String member of a JSON object, "" when absent. */
static const char *jstr(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s ? s : "";
}

/* Converts a JSON array of [name, value] pairs; NULL on bad shape. */
static ossc_kv *load_pairs(const json_t *arr, size_t *n)
{
    *n = json_array_size(arr);
    ossc_kv *kv = calloc(*n + 1, sizeof *kv);
    for (size_t i = 0; kv && i < *n; i++) {
        const json_t *pair = json_array_get(arr, i);
        kv[i].name = json_string_value(json_array_get(pair, 0));
        kv[i].value = json_string_value(json_array_get(pair, 1));
        if (!kv[i].name || !kv[i].value) {
            free(kv);
            return NULL;
        }
    }
    return kv;
}

/* Copies a string into a fixed credential field, failing if it is too long. */
static int copy_field(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* Fills r from one vector (strings borrowed from the JSON document). */
static int load_request(const json_t *v, loaded_request *r)
{
    memset(r, 0, sizeof *r);
    r->version = (int)json_integer_value(json_object_get(v, "version"));
    r->query = load_pairs(json_object_get(v, "query"), &r->in.n_query);
    r->headers = load_pairs(json_object_get(v, "headers"), &r->in.n_headers);
    if (!r->query || !r->headers)
        return -1;
    r->in.method = jstr(v, "method");
    r->in.bucket = jstr(v, "bucket");
    r->in.key = jstr(v, "key");
    r->in.query = r->query;
    r->in.headers = r->headers;
    r->in.now = (time_t)json_integer_value(json_object_get(v, "time"));
    r->in.region = jstr(v, "region");
    if (copy_field(r->cred.access_key_id, sizeof r->cred.access_key_id,
                   jstr(v, "access_key_id")) ||
        copy_field(r->cred.access_key_secret, sizeof r->cred.access_key_secret,
                   jstr(v, "access_key_secret")) ||
        copy_field(r->cred.security_token, sizeof r->cred.security_token,
                   jstr(v, "security_token")))
        return -1;
    return 0;
}

static void free_request(loaded_request *r)
{
    free(r->query);
    free(r->headers);
}

/* Value of an output header by case-insensitive name, NULL when absent. */
static const char *out_header(const ossc_sign_output *out, const char *name)
{
    for (size_t i = 0; i < out->n; i++) {
        if (strcasecmp(out->add[i].name, name) == 0)
            return out->add[i].value;
    }
    return NULL;
}

/* Exactly the headers oss2 added, with the same values. */
static void check_added_headers(const char *name, const ossc_sign_output *out,
                                const json_t *expected)
{
    const char *hname;
    const json_t *hval;
    CHECK(out->n == json_object_size(expected));
    json_object_foreach((json_t *)expected, hname, hval) {
        const char *got = out_header(out, hname);
        CHECK(got != NULL);
        if (got && strcmp(got, json_string_value(hval)) != 0) {
            fprintf(stderr, "vector '%s': header %s\n", name, hname);
            CHECK_STR(got, json_string_value(hval));
        }
    }
}

/* The intermediate text (V1 string to sign / V4 canonical request) must be
 * byte-identical to oss2's. */
static void check_canonical_text(const char *name, const loaded_request *r, const json_t *v,
                                 const ossc_sign_output *out)
{
    static char buf[65536];
    long n;
    const char *expected;
    const char *token = r->cred.security_token;
    if (r->version == 1) {
        const char *date = out_header(out, "Date");
        expected = jstr(v, "string_to_sign");
        n = ossc_sign_v1_string(&r->in, date ? date : "", token, buf, sizeof buf);
    } else {
        const char *date = out_header(out, "x-oss-date");
        expected = jstr(v, "canonical_request");
        n = ossc_sign_v4_canonical_request(&r->in, date ? date : "", token, buf, sizeof buf);
    }
    CHECK(n == (long)strlen(expected));
    if (n < 0 || strcmp(buf, expected) != 0) {
        fprintf(stderr, "vector '%s' (V%d): canonical text differs\n", name, r->version);
        CHECK_STR(buf, expected);
    }
}

/* Every vector of sign_vectors.json, signed and compared. */
static void test_oss2_vectors(void)
{
    json_error_t jerr;
    json_t *doc = json_load_file(VECTORS_FILE, 0, &jerr);
    CHECK(doc != NULL);
    if (!doc) {
        fprintf(stderr, "cannot load %s: %s (line %d)\n", VECTORS_FILE, jerr.text, jerr.line);
        return;
    }
    const json_t *vectors = json_object_get(doc, "vectors");
    CHECK(json_array_size(vectors) >= 50);
    int v1 = 0, v4 = 0;
    for (size_t i = 0; i < json_array_size(vectors); i++) {
        const json_t *v = json_array_get(vectors, i);
        const char *name = jstr(v, "name");
        loaded_request r;
        ossc_sign_output out;
        ossc_error err = {0};
        CHECK(load_request(v, &r) == 0);
        int rc = ossc_sign(r.version == 4 ? OSSC_SIGN_V4 : OSSC_SIGN_V1, &r.in, &r.cred, &out,
                           &err);
        CHECK(rc == 0);
        if (rc != 0) {
            fprintf(stderr, "vector '%s': %s\n", name, err.message);
        } else {
            check_added_headers(name, &out, json_object_get(v, "expected_headers"));
            check_canonical_text(name, &r, v, &out);
            CHECK_STR(out.add[out.n - 1].name, "Authorization");
        }
        if (r.version == 4)
            v4++;
        else
            v1++;
        free_request(&r);
    }
    CHECK(v1 > 0 && v4 > 0);
    json_decref(doc);
}

/* Locale-independent date formats, including zero padding. */
static void test_dates(void)
{
    char http[32], iso[20];
    ossc_format_http_date(0, http);
    ossc_format_iso8601_basic(0, iso);
    CHECK_STR(http, "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK_STR(iso, "19700101T000000Z");
    ossc_format_http_date(1709622245, http);
    ossc_format_iso8601_basic(1709622245, iso);
    CHECK_STR(http, "Tue, 05 Mar 2024 07:04:05 GMT");
    CHECK_STR(iso, "20240305T070405Z");
    ossc_format_http_date(4102444799, http);
    CHECK_STR(http, "Thu, 31 Dec 2099 23:59:59 GMT");
}

/* A small request used by the edge-case tests. */
static void base_request(ossc_sign_input *in, ossc_credentials *cred, const ossc_kv *q,
                         size_t nq)
{
    memset(in, 0, sizeof *in);
    memset(cred, 0, sizeof *cred);
    in->method = "GET";
    in->bucket = "example-bucket";
    in->key = "a/b.txt";
    in->query = q;
    in->n_query = nq;
    in->now = 1700000000;
    in->region = "cn-hangzhou";
    strcpy(cred->access_key_id, "AKID");
    strcpy(cred->access_key_secret, "topsecretvalue");
}

/* A name-only parameter may be given with value NULL or "": same result. */
static void test_null_value_same_as_empty(void)
{
    const ossc_kv q_null[] = {{"uploads", NULL}, {"prefix", NULL}};
    const ossc_kv q_empty[] = {{"uploads", ""}, {"prefix", ""}};
    for (int version = 1; version <= 4; version += 3) {
        ossc_sign_input in;
        ossc_credentials cred;
        ossc_sign_output a, b;
        base_request(&in, &cred, q_null, 2);
        CHECK(ossc_sign((ossc_sign_version)version, &in, &cred, &a, NULL) == 0);
        in.query = q_empty;
        CHECK(ossc_sign((ossc_sign_version)version, &in, &cred, &b, NULL) == 0);
        CHECK_STR(out_header(&a, "Authorization"), out_header(&b, "Authorization"));
    }
}

/* Headers the signer adds replace caller-supplied ones of the same name. */
static void test_signer_headers_win(void)
{
    const ossc_kv hdrs[] = {{"X-Oss-Security-Token", "stale"}, {"x-oss-date", "bogus"}};
    ossc_sign_input in;
    ossc_credentials cred;
    ossc_sign_output out;
    char a[4096], b[4096];
    base_request(&in, &cred, NULL, 0);
    in.headers = hdrs;
    in.n_headers = 2;
    strcpy(cred.security_token, "fresh");
    CHECK(ossc_sign_v4_canonical_request(&in, "20231114T221320Z", "fresh", a, sizeof a) > 0);
    in.n_headers = 0;
    CHECK(ossc_sign_v4_canonical_request(&in, "20231114T221320Z", "fresh", b, sizeof b) > 0);
    CHECK_STR(a, b);
    CHECK(ossc_sign(OSSC_SIGN_V4, &in, &cred, &out, NULL) == 0);
    CHECK(out.n == 4);
    CHECK_STR(out_header(&out, "x-oss-security-token"), "fresh");
}

/* Bad inputs fail with EINVAL, and no message ever carries the secret. */
static void test_errors(void)
{
    ossc_sign_input in;
    ossc_credentials cred;
    ossc_sign_output out;
    ossc_error err;

    base_request(&in, &cred, NULL, 0);
    in.region = "";
    memset(&err, 0, sizeof err);
    CHECK(ossc_sign(OSSC_SIGN_V4, &in, &cred, &out, &err) == -1);
    CHECK(err.code == EINVAL && out.n == 0);
    CHECK(strstr(err.message, "region") != NULL);
    CHECK(strstr(err.message, cred.access_key_secret) == NULL);
    /* V1 does not need a region */
    CHECK(ossc_sign(OSSC_SIGN_V1, &in, &cred, &out, &err) == 0);
    CHECK(out.n == 2);

    base_request(&in, &cred, NULL, 0);
    cred.access_key_secret[0] = '\0';
    memset(&err, 0, sizeof err);
    CHECK(ossc_sign(OSSC_SIGN_V1, &in, &cred, &out, &err) == -1 && err.code == EINVAL);

    base_request(&in, &cred, NULL, 0);
    memset(&err, 0, sizeof err);
    CHECK(ossc_sign((ossc_sign_version)2, &in, &cred, &out, &err) == -1 && err.code == EINVAL);
    in.method = NULL;
    CHECK(ossc_sign(OSSC_SIGN_V1, &in, &cred, &out, &err) == -1 && err.code == EINVAL);

    base_request(&in, &cred, NULL, 0);
    memset(cred.access_key_id, 'A', sizeof cred.access_key_id); /* unterminated */
    CHECK(ossc_sign(OSSC_SIGN_V1, &in, &cred, &out, &err) == -1 && err.code == EINVAL);
    CHECK(ossc_sign(OSSC_SIGN_V1, &in, &cred, &out, NULL) == -1);
}

/* The lower-level builders report a too-small buffer and never write past
 * it; with exactly len+1 bytes they succeed. */
static void test_capacity(void)
{
    ossc_sign_input in;
    ossc_credentials cred;
    char big[8192], small[8192];
    const ossc_kv q[] = {{"uploadId", "abc"}, {"partNumber", "7"}};
    base_request(&in, &cred, q, 2);
    long n1 = ossc_sign_v1_string(&in, "Tue, 14 Nov 2023 22:13:20 GMT", "", big, sizeof big);
    long n4 = ossc_sign_v4_canonical_request(&in, "20231114T221320Z", "", big, sizeof big);
    CHECK(n1 > 0 && n4 > 0);
    for (size_t cap = 0; cap <= (size_t)n1 + 1; cap++) {
        char *buf = malloc(cap ? cap : 1);
        long r = ossc_sign_v1_string(&in, "Tue, 14 Nov 2023 22:13:20 GMT", "", cap ? buf : NULL,
                                     cap);
        CHECK(cap > (size_t)n1 ? r == n1 : r == -1);
        free(buf);
    }
    for (size_t cap = 1; cap <= (size_t)n4 + 1; cap++) {
        char *buf = malloc(cap);
        long r = ossc_sign_v4_canonical_request(&in, "20231114T221320Z", "", buf, cap);
        CHECK(cap > (size_t)n4 ? r == n4 : r == -1);
        if (r > 0)
            memcpy(small, buf, cap);
        free(buf);
    }
    ossc_sign_v4_canonical_request(&in, "20231114T221320Z", "", big, sizeof big);
    CHECK_STR(small, big);
    CHECK(ossc_sign_v4_string_to_sign(&in, "20231114T221320Z", "", big, 10) == -1);
    long s = ossc_sign_v4_string_to_sign(&in, "20231114T221320Z", "", big, sizeof big);
    const char *head = "OSS4-HMAC-SHA256\n20231114T221320Z\n"
                       "20231114/cn-hangzhou/oss/aliyun_v4_request\n";
    CHECK(s == (long)strlen(head) + 64 && strncmp(big, head, strlen(head)) == 0);
}

/* A 1023-byte key of multi-byte characters: every byte becomes %XX in the
 * V4 canonical URI (about 3 KiB), which must be handled. */
static void test_long_key(void)
{
    static char key[1024];
    for (size_t i = 0; i < 1023; i++)
        key[i] = (char)(0x80 | (i % 64));
    key[1023] = '\0';
    ossc_sign_input in;
    ossc_credentials cred;
    ossc_sign_output out;
    static char buf[8192];
    base_request(&in, &cred, NULL, 0);
    in.key = key;
    long n = ossc_sign_v4_canonical_request(&in, "20231114T221320Z", "", buf, sizeof buf);
    CHECK(n > 3 * 1023);
    CHECK(ossc_sign(OSSC_SIGN_V4, &in, &cred, &out, NULL) == 0);
    CHECK(ossc_sign(OSSC_SIGN_V1, &in, &cred, &out, NULL) == 0);
}

int main(void)
{
    test_oss2_vectors();
    test_dates();
    test_null_value_same_as_empty();
    test_signer_headers_win();
    test_errors();
    test_capacity();
    test_long_key();
    return check_summary("test_sign");
}
