/* sign.c - OSS request signing, V1 (HMAC-SHA1) and V4 (OSS4-HMAC-SHA256).
 *
 * The rules follow the official oss2 Python SDK (oss2/auth.py, classes
 * ProviderAuth and ProviderAuthV4) byte for byte; tests/sign_vectors.json
 * holds signatures produced by oss2 itself.  Points worth knowing:
 *  - headers and query parameters behave like oss2's dicts: names compare
 *    case-insensitively (headers) or exactly (query), the last occurrence of
 *    a name wins, and the headers the signer adds replace caller ones;
 *  - V1 signs only whitelisted sub-resources, with raw (unencoded) values,
 *    and the raw key; V4 signs every query parameter, encoded, and the key
 *    encoded with '/' kept;
 *  - a bucket-level request has the resource "/bucket/", a service-level
 *    one "/".
 * The secret only ever lives in local buffers that are cleansed on exit. */
#include "sign.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "error.h"
#include "peer_auth.h"
#include "sign_canon.h"

#define V4_ALGORITHM "OSS4-HMAC-SHA256"
#define V4_PRODUCT "oss"
#define V4_TERMINATOR "aliyun_v4_request"
#define V4_SECRET_PREFIX "aliyun_v4"
#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* Bounds the V4 string to sign, which then fits a small stack buffer. */
#define V4_REGION_MAX 128

static bool is_oss_header(const char *name)
{
    static const char prefix[] = "x-oss-";
    for (size_t i = 0; i < sizeof prefix - 1; i++) {
        if (ossc_ascii_lower(name[i]) != prefix[i])
            return false;
    }
    return true;
}

/* V4 signs x-oss-* plus the two default headers (no additional headers). */
static bool is_v4_signed_header(const char *name)
{
    return is_oss_header(name) || ossc_cmp_lower(name, "content-type") == 0 ||
           ossc_cmp_lower(name, "content-md5") == 0;
}

/* oss2 ProviderAuth._subresource_key_set (oss2 2.19.1). */
static const char *const v1_subresources[] = {
    "acl", "append", "asyncFetch", "accessPoint", "accessPointPolicy",
    "bucketArchiveDirectRead", "bucketInfo", "callback", "callback-var", "cname", "comp",
    "continuation-token", "cors", "delete", "encryption", "endTime", "group", "httpsConfig",
    "inventory", "inventoryId", "lifecycle", "link", "live", "location", "logging",
    "metaQuery", "objectInfo", "objectMeta", "partNumber", "policy", "position",
    "publicAccessBlock", "qos", "qosInfo", "qosRequester", "redundancyTransition", "referer",
    "regionList", "replication", "replicationLocation", "replicationProgress",
    "requestPayment", "requesterQosInfo", "resourceGroup", "resourcePool",
    "resourcePoolBuckets", "resourcePoolInfo", "response-cache-control",
    "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires", "restore",
    "security-token", "sequential", "startTime", "stat", "status", "style", "styleName",
    "symlink", "tagging", "transferAcceleration", "uploadId", "uploads", "versionId",
    "versioning", "versions", "vod", "website", "worm", "wormExtend", "wormId",
    "x-oss-ac-forward-allow", "x-oss-ac-source-ip", "x-oss-ac-subnet-mask", "x-oss-ac-vpc-id",
    "x-oss-access-point-name", "x-oss-async-process", "x-oss-process",
    "x-oss-redundancy-transition-taskid", "x-oss-request-payer", "x-oss-target-redundancy-type",
    "x-oss-traffic-limit", "x-oss-write-get-object-response",
};

static bool is_v1_subresource(const char *name)
{
    for (size_t i = 0; i < sizeof v1_subresources / sizeof v1_subresources[0]; i++) {
        if (strcmp(name, v1_subresources[i]) == 0)
            return true;
    }
    return false;
}

static bool keep_all(const char *name)
{
    (void)name;
    return true;
}

/* Appends "name:value\n" for every kept header in sorted order. */
static void put_canonical_headers(ossc_sbuf *s, const ossc_kv_view *v, ossc_name_keep keep)
{
    for (size_t i = ossc_next_sorted(v, OSSC_NO_INDEX, ossc_cmp_lower, keep); i != OSSC_NO_INDEX;
         i = ossc_next_sorted(v, i, ossc_cmp_lower, keep)) {
        ossc_sb_put_lower(s, ossc_kv_at(v, i)->name);
        ossc_sb_putc(s, ':');
        ossc_sb_puts(s, ossc_kv_value(ossc_kv_at(v, i)));
        ossc_sb_putc(s, '\n');
    }
}

/* ---- V1 ----------------------------------------------------------------- */

/* "?a&b=c" over the whitelisted sub-resources, raw values, empty value =
 * name only (oss2 __get_subresource_string). */
static void put_v1_subresources(ossc_sbuf *s, const ossc_sign_input *in)
{
    ossc_kv_view q = {in->query, in->n_query, NULL, 0};
    char sep = '?';
    for (size_t i = ossc_next_sorted(&q, OSSC_NO_INDEX, ossc_cmp_raw, is_v1_subresource);
         i != OSSC_NO_INDEX;
         i = ossc_next_sorted(&q, i, ossc_cmp_raw, is_v1_subresource)) {
        const ossc_kv *kv = ossc_kv_at(&q, i);
        ossc_sb_putc(s, sep);
        ossc_sb_puts(s, kv->name);
        if (kv->value && kv->value[0]) {
            ossc_sb_putc(s, '=');
            ossc_sb_puts(s, kv->value);
        }
        sep = '&';
    }
}

/* Builds the V1 string to sign into s (see ossc_sign_v1_string). */
static void build_v1_string(ossc_sbuf *s, const ossc_sign_input *in, const char *date,
                            const char *token)
{
    ossc_kv added[1];
    size_t n_added = 0;
    if (token && token[0])
        added[n_added++] = (ossc_kv){"x-oss-security-token", token};
    ossc_kv_view h = {in->headers, in->n_headers, added, n_added};
    const char *bucket = in->bucket ? in->bucket : "";
    const char *oss_date = ossc_find_header(&h, "x-oss-date");

    ossc_sb_puts(s, in->method);
    ossc_sb_putc(s, '\n');
    ossc_sb_puts(s, ossc_find_header(&h, "content-md5"));
    ossc_sb_putc(s, '\n');
    ossc_sb_puts(s, ossc_find_header(&h, "content-type"));
    ossc_sb_putc(s, '\n');
    ossc_sb_puts(s, oss_date[0] ? oss_date : date);
    ossc_sb_putc(s, '\n');
    put_canonical_headers(s, &h, is_oss_header);
    ossc_sb_putc(s, '/');
    if (bucket[0]) {
        ossc_sb_puts(s, bucket);
        ossc_sb_putc(s, '/');
        ossc_sb_puts(s, in->key ? in->key : "");
    }
    put_v1_subresources(s, in);
}

/* Contract in sign.h.  As in oss2, an x-oss-date header given by the
 * caller takes the place of Date in the string. */
long ossc_sign_v1_string(const ossc_sign_input *in, const char *date, const char *token,
                         char *out, size_t cap)
{
    ossc_sbuf s = {out, cap, 0};
    build_v1_string(&s, in, date, token);
    return ossc_sb_finish(&s);
}

/* ---- V4 ----------------------------------------------------------------- */

/* "a=b&c" over every query parameter, names and values encoded (slash
 * too), sorted by encoded name; empty value = name only. */
static void put_v4_query(ossc_sbuf *s, const ossc_sign_input *in)
{
    ossc_kv_view q = {in->query, in->n_query, NULL, 0};
    bool first = true;
    for (size_t i = ossc_next_sorted(&q, OSSC_NO_INDEX, ossc_cmp_encoded, keep_all);
         i != OSSC_NO_INDEX;
         i = ossc_next_sorted(&q, i, ossc_cmp_encoded, keep_all)) {
        const ossc_kv *kv = ossc_kv_at(&q, i);
        if (!first)
            ossc_sb_putc(s, '&');
        ossc_sb_put_encoded(s, kv->name, false);
        if (kv->value && kv->value[0]) {
            ossc_sb_putc(s, '=');
            ossc_sb_put_encoded(s, kv->value, false);
        }
        first = false;
    }
}

/* Builds the V4 canonical request into s (see sign.h).  The headers the
 * signer adds (x-oss-date, x-oss-content-sha256, token) are part of it. */
static void build_v4_canonical(ossc_sbuf *s, const ossc_sign_input *in, const char *oss_date,
                               const char *token)
{
    ossc_kv added[3];
    size_t n_added = 0;
    added[n_added++] = (ossc_kv){"x-oss-date", oss_date};
    added[n_added++] = (ossc_kv){"x-oss-content-sha256", UNSIGNED_PAYLOAD};
    if (token && token[0])
        added[n_added++] = (ossc_kv){"x-oss-security-token", token};
    ossc_kv_view h = {in->headers, in->n_headers, added, n_added};
    const char *bucket = in->bucket ? in->bucket : "";

    ossc_sb_puts(s, in->method);
    ossc_sb_putc(s, '\n');
    ossc_sb_putc(s, '/');
    if (bucket[0]) {
        ossc_sb_put_encoded(s, bucket, true);
        ossc_sb_putc(s, '/');
        ossc_sb_put_encoded(s, in->key ? in->key : "", true);
    }
    ossc_sb_putc(s, '\n');
    put_v4_query(s, in);
    ossc_sb_putc(s, '\n');
    put_canonical_headers(s, &h, is_v4_signed_header);
    ossc_sb_putc(s, '\n');
    /* additional signed headers: none */
    ossc_sb_putc(s, '\n');
    ossc_sb_puts(s, UNSIGNED_PAYLOAD);
}

long ossc_sign_v4_canonical_request(const ossc_sign_input *in, const char *oss_date,
                                    const char *token, char *out, size_t cap)
{
    ossc_sbuf s = {out, cap, 0};
    build_v4_canonical(&s, in, oss_date, token);
    return ossc_sb_finish(&s);
}

/* Lower-case hex of n bytes into out (2n+1 bytes). */
static void to_hex(const unsigned char *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 0xf];
    }
    out[2 * n] = '\0';
}

/* Hex SHA-256 of the canonical request, which is built in a heap buffer
 * sized by a measuring pass.  -1 on allocation/digest failure. */
static int v4_canonical_hash(const ossc_sign_input *in, const char *oss_date, const char *token,
                             char hex_out[65])
{
    ossc_sbuf m = {NULL, 0, 0};
    build_v4_canonical(&m, in, oss_date, token);
    size_t cap = m.len + 1;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    ossc_sbuf s = {buf, cap, 0};
    build_v4_canonical(&s, in, oss_date, token);
    long len = ossc_sb_finish(&s);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int ok = len >= 0 && EVP_Digest(buf, (size_t)len, md, &md_len, EVP_sha256(), NULL) == 1;
    free(buf);
    if (!ok || md_len != 32)
        return -1;
    to_hex(md, md_len, hex_out);
    return 0;
}

/* Appends "yyyymmdd/region/oss/aliyun_v4_request". */
static void put_v4_scope(ossc_sbuf *s, const ossc_sign_input *in, const char *oss_date)
{
    ossc_sb_put(s, oss_date, 8);
    ossc_sb_putc(s, '/');
    ossc_sb_puts(s, in->region);
    ossc_sb_puts(s, "/" V4_PRODUCT "/" V4_TERMINATOR);
}

/* True when oss_date looks like "YYYYMMDDTHHMMSSZ" enough to take its first
 * eight characters as the scope date. */
static bool v4_date_ok(const char *oss_date)
{
    return oss_date && strlen(oss_date) >= 8;
}

long ossc_sign_v4_string_to_sign(const ossc_sign_input *in, const char *oss_date,
                                 const char *token, char *out, size_t cap)
{
    char hash[65];
    if (!v4_date_ok(oss_date) || !in->region || v4_canonical_hash(in, oss_date, token, hash) != 0)
        return -1;
    ossc_sbuf s = {out, cap, 0};
    ossc_sb_puts(&s, V4_ALGORITHM "\n");
    ossc_sb_puts(&s, oss_date);
    ossc_sb_putc(&s, '\n');
    put_v4_scope(&s, in, oss_date);
    ossc_sb_putc(&s, '\n');
    ossc_sb_puts(&s, hash);
    return ossc_sb_finish(&s);
}

/* One HMAC-SHA256 step of the key derivation; out gets 32 bytes. */
static bool hmac_sha256(const void *key, size_t key_len, const char *msg, unsigned char out[32])
{
    unsigned int len = 0;
    return key_len <= INT32_MAX &&
           HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out,
                &len) != NULL &&
           len == 32;
}

/* Signature = hex(HMAC(K, string_to_sign)) with
 * K = HMAC(HMAC(HMAC(HMAC("aliyun_v4"+secret, date), region), "oss"),
 *          "aliyun_v4_request"). */
static bool v4_signature(const char *secret, const char *region, const char *oss_date,
                         const char *string_to_sign, char hex_out[65])
{
    char seed[sizeof V4_SECRET_PREFIX + sizeof ((ossc_credentials *)0)->access_key_secret];
    char date[9];
    unsigned char k1[32], k2[32], sig[32];
    bool ok = false;
    int n = snprintf(seed, sizeof seed, "%s%s", V4_SECRET_PREFIX, secret);
    memcpy(date, oss_date, 8);
    date[8] = '\0';
    if (n > 0 && (size_t)n < sizeof seed && hmac_sha256(seed, (size_t)n, date, k1) &&
        hmac_sha256(k1, sizeof k1, region, k2) && hmac_sha256(k2, sizeof k2, V4_PRODUCT, k1) &&
        hmac_sha256(k1, sizeof k1, V4_TERMINATOR, k2) &&
        hmac_sha256(k2, sizeof k2, string_to_sign, sig)) {
        to_hex(sig, sizeof sig, hex_out);
        ok = true;
    }
    OPENSSL_cleanse(seed, sizeof seed);
    OPENSSL_cleanse(k1, sizeof k1);
    OPENSSL_cleanse(k2, sizeof k2);
    return ok;
}

/* ---- dates -------------------------------------------------------------- */

/* Writes value as exactly `width` decimal digits (zero padded) at p. */
static char *put_digits(char *p, int value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + value % 10);
        value /= 10;
    }
    return p + width;
}

/* Broken-down UTC time of t, restricted to years 0000-9999 so that every
 * formatted field has a fixed width. */
static bool utc_fields(time_t t, struct tm *tm)
{
    return gmtime_r(&t, tm) != NULL && tm->tm_year >= -1900 && tm->tm_year <= 9999 - 1900;
}

/* Contract in sign.h.  Locale-independent (RFC 1123 names spelled out);
 * empty string when t cannot be represented. */
void ossc_format_http_date(time_t t, char out[32])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    char *p = out;
    out[0] = '\0';
    if (!utc_fields(t, &tm))
        return;
    memcpy(p, days[tm.tm_wday % 7], 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = ' ';
    memcpy(p, months[tm.tm_mon % 12], 3);
    p += 3;
    *p++ = ' ';
    p = put_digits(p, tm.tm_year + 1900, 4);
    *p++ = ' ';
    p = put_digits(p, tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_sec, 2);
    memcpy(p, " GMT", 5); /* 29 characters + NUL in all */
}

/* Contract in sign.h; empty string when t cannot be represented. */
void ossc_format_iso8601_basic(time_t t, char out[20])
{
    struct tm tm;
    char *p = out;
    out[0] = '\0';
    if (!utc_fields(t, &tm))
        return;
    p = put_digits(p, tm.tm_year + 1900, 4);
    p = put_digits(p, tm.tm_mon + 1, 2);
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, tm.tm_hour, 2);
    p = put_digits(p, tm.tm_min, 2);
    p = put_digits(p, tm.tm_sec, 2);
    memcpy(p, "Z", 2); /* 16 characters + NUL in all */
}

/* ---- ossc_sign ---------------------------------------------------------- */

/* Appends one header to the output; fails (ENAMETOOLONG) rather than
 * truncating. */
static int add_header(ossc_sign_output *out, const char *name, const char *value,
                      ossc_error *err)
{
    if (out->n >= OSSC_SIGN_MAX_ADDED || strlen(name) >= sizeof out->add[0].name ||
        strlen(value) >= sizeof out->add[0].value)
        return ossc_error_set(err, ENAMETOOLONG, "signing: header %s does not fit", name);
    strcpy(out->add[out->n].name, name);
    strcpy(out->add[out->n].value, value);
    out->n++;
    return 0;
}

/* True when the fixed-size credential field holds a NUL-terminated string. */
#define FIELD_TERMINATED(f) (strnlen((f), sizeof(f)) < sizeof(f))

/* Checks what both versions need from the request and the credentials. */
static int check_inputs(ossc_sign_version version, const ossc_sign_input *in,
                        const ossc_credentials *cred, ossc_error *err)
{
    if (!in || !cred)
        return ossc_error_set(err, EINVAL, "signing: missing request or credentials");
    if (version != OSSC_SIGN_V1 && version != OSSC_SIGN_V4)
        return ossc_error_set(err, EINVAL, "signing: unknown signature version %d", (int)version);
    if (!in->method || !in->method[0])
        return ossc_error_set(err, EINVAL, "signing: missing HTTP method");
    if ((in->n_query && !in->query) || (in->n_headers && !in->headers))
        return ossc_error_set(err, EINVAL, "signing: NULL query or header list");
    if (!FIELD_TERMINATED(cred->access_key_id) || !FIELD_TERMINATED(cred->access_key_secret) ||
        !FIELD_TERMINATED(cred->security_token))
        return ossc_error_set(err, EINVAL, "signing: credential field not NUL-terminated");
    if (!cred->access_key_id[0] || !cred->access_key_secret[0])
        return ossc_error_set(err, EINVAL, "signing: access key id or secret is empty");
    if (version == OSSC_SIGN_V4 && (!in->region || !in->region[0]))
        return ossc_error_set(err, EINVAL, "signing: V4 needs a region");
    if (version == OSSC_SIGN_V4 && strlen(in->region) > V4_REGION_MAX)
        return ossc_error_set(err, EINVAL, "signing: region name too long");
    return 0;
}

/* V1: Date, [x-oss-security-token], Authorization "OSS ak:base64(sig)". */
static int sign_v1(const ossc_sign_input *in, const ossc_credentials *cred,
                   ossc_sign_output *out, ossc_error *err)
{
    char date[32];
    const char *token = cred->security_token;
    ossc_format_http_date(in->now, date);
    if (!date[0])
        return ossc_error_set(err, EINVAL, "signing: request time out of range");

    ossc_sbuf m = {NULL, 0, 0};
    build_v1_string(&m, in, date, token);
    size_t cap = m.len + 1;
    char *sts = malloc(cap);
    if (!sts)
        return ossc_error_set(err, ENOMEM, "signing: out of memory");
    ossc_sbuf s = {sts, cap, 0};
    build_v1_string(&s, in, date, token);
    long len = ossc_sb_finish(&s);

    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t secret_len = strlen(cred->access_key_secret);
    bool ok = len >= 0 &&
              HMAC(EVP_sha1(), cred->access_key_secret, (int)secret_len,
                   (const unsigned char *)sts, (size_t)len, mac, &mac_len) != NULL &&
              mac_len == 20;
    free(sts);
    if (!ok)
        return ossc_error_set(err, EIO, "signing: HMAC-SHA1 failed");
    unsigned char b64[32];
    EVP_EncodeBlock(b64, mac, (int)mac_len);

    char auth[sizeof out->add[0].value];
    int n = snprintf(auth, sizeof auth, "OSS %s:%s", cred->access_key_id, (const char *)b64);
    if (n < 0 || (size_t)n >= sizeof auth)
        return ossc_error_set(err, ENAMETOOLONG, "signing: Authorization does not fit");
    if (add_header(out, "Date", date, err) != 0 ||
        (token[0] && add_header(out, "x-oss-security-token", token, err) != 0) ||
        add_header(out, "Authorization", auth, err) != 0)
        return -1;
    return 0;
}

/* V4: x-oss-date, x-oss-content-sha256, [x-oss-security-token],
 * Authorization "OSS4-HMAC-SHA256 Credential=ak/scope, Signature=hex". */
static int sign_v4(const ossc_sign_input *in, const ossc_credentials *cred,
                   ossc_sign_output *out, ossc_error *err)
{
    char oss_date[20];
    const char *token = cred->security_token;
    ossc_format_iso8601_basic(in->now, oss_date);
    if (!oss_date[0])
        return ossc_error_set(err, EINVAL, "signing: request time out of range");

    char sts[512], sig[65];
    if (ossc_sign_v4_string_to_sign(in, oss_date, token, sts, sizeof sts) < 0)
        return ossc_error_set(err, ENOMEM, "signing: cannot build V4 string to sign");
    if (!v4_signature(cred->access_key_secret, in->region, oss_date, sts, sig))
        return ossc_error_set(err, EIO, "signing: HMAC-SHA256 failed");

    char auth[sizeof out->add[0].value];
    ossc_sbuf a = {auth, sizeof auth, 0};
    ossc_sb_puts(&a, V4_ALGORITHM " Credential=");
    ossc_sb_puts(&a, cred->access_key_id);
    ossc_sb_putc(&a, '/');
    put_v4_scope(&a, in, oss_date);
    ossc_sb_puts(&a, ", Signature=");
    ossc_sb_puts(&a, sig);
    if (ossc_sb_finish(&a) < 0)
        return ossc_error_set(err, ENAMETOOLONG, "signing: Authorization does not fit");
    if (add_header(out, "x-oss-date", oss_date, err) != 0 ||
        add_header(out, "x-oss-content-sha256", UNSIGNED_PAYLOAD, err) != 0 ||
        (token[0] && add_header(out, "x-oss-security-token", token, err) != 0) ||
        add_header(out, "Authorization", auth, err) != 0)
        return -1;
    return 0;
}

/* Contract in sign.h.  out is reset first; on failure it holds no
 * half-signed set of headers. */
int ossc_sign(ossc_sign_version version, const ossc_sign_input *in,
              const ossc_credentials *cred, ossc_sign_output *out, ossc_error *err)
{
    if (!out)
        return ossc_error_set(err, EINVAL, "signing: missing output");
    out->n = 0;
    if (check_inputs(version, in, cred, err) != 0)
        return -1;
    int rc = version == OSSC_SIGN_V1 ? sign_v1(in, cred, out, err) : sign_v4(in, cred, out, err);
    if (rc != 0)
        out->n = 0;
    return rc;
}

int ossc_sign_peer(const uint8_t *secret, size_t secret_len, const char *target,
                   const ossc_sign_input *in, ossc_sign_output *out, ossc_error *err)
{
    if (!out || !in || !in->method || !in->bucket || !in->key)
        return ossc_error_set(err, EINVAL, "peer signing: missing input");
    out->n = 0;
    const char *range = "";
    for (size_t i = 0; i < in->n_headers; i++) {
        if (ossc_cmp_lower(in->headers[i].name, "range") == 0)
            range = in->headers[i].value; /* the last one wins, as it is sent last */
    }
    char path[OSSC_BUCKET_MAX + OSSC_KEY_MAX + 2];
    snprintf(path, sizeof path, "/%s/%s", in->bucket, in->key);
    if (bc_auth_make(secret, secret_len, in->method, path, range, target ? target : "",
                     in->now, out->add[0].value, sizeof out->add[0].value) < 0)
        return ossc_error_set(err, EINVAL, "%s peer /%s/%s: cannot sign (%s)", in->method,
                              in->bucket, in->key,
                              secret_len ? "request too long" : "empty shared secret");
    snprintf(out->add[0].name, sizeof out->add[0].name, "Authorization");
    out->n = 1;
    return 0;
}
