/* uri.c - oss:// URIs, endpoints, percent-encoding and request URLs.
 *
 * Everything here works on caller buffers and checks their capacity before
 * every write; nothing allocates. */
#include "uri.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define OSS_SCHEME "oss://"
/* How much of a bad URI/endpoint is quoted back in error messages. */
#define QUOTE_MAX 200

/* ASCII-only lowercase, independent of the locale. */
static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* True for RFC 3986 unreserved characters, which are never escaped. */
static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

/* Value of a hex digit, or -1. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Case-insensitive ASCII prefix test; returns the length of the prefix when
 * s starts with it, 0 otherwise. */
static size_t starts_with_ci(const char *s, const char *prefix)
{
    size_t i = 0;
    for (; prefix[i]; i++) {
        if (ascii_lower(s[i]) != ascii_lower(prefix[i]))
            return 0;
    }
    return i;
}

/* Contract in uri.h.  Upper-case hex, as OSS and oss2 produce; the output
 * is NUL-terminated only when everything fits. */
long ossc_url_encode(const char *in, bool keep_slash, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (is_unreserved(*p) || (keep_slash && *p == '/')) {
            if (n + 1 >= cap)
                return -1;
            out[n++] = (char)*p;
        } else {
            if (n + 3 >= cap)
                return -1;
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 0xf];
        }
    }
    if (cap == 0)
        return -1;
    out[n] = '\0';
    return (long)n;
}

/* Contract in uri.h.  '+' is left alone: OSS keys are path data, not
 * form-encoded.  "%00" counts as malformed since it would cut the C
 * string short. */
long ossc_url_decode(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == '%') {
            int hi = hex_value(p[1]);
            int lo = hi < 0 ? -1 : hex_value(p[2]);
            if (lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char)(hi * 16 + lo);
            p += 2;
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = c;
    }
    if (cap == 0)
        return -1;
    out[n] = '\0';
    return (long)n;
}

/* Contract in uri.h (same rules as oss2.utils.is_valid_bucket_name plus the
 * "no leading '-'" rule, which is the same thing since the first character
 * must be alphanumeric). */
bool ossc_bucket_name_valid(const char *bucket)
{
    size_t len = strlen(bucket);
    if (len < 3 || len > 63)
        return false;
    if (bucket[0] == '-' || bucket[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = bucket[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

/* Contract in ossc.h: "oss://bucket[/key]".  The key is taken verbatim
 * (no decoding).  A key starting with '/' ("oss://b//k") is refused since
 * it is almost always a path-joining mistake. */
int ossc_parse_uri(const char *uri, char *bucket, size_t bucket_cap, char *key,
                   size_t key_cap, ossc_error *err)
{
    if (!uri)
        return ossc_error_set(err, EINVAL, "invalid OSS URI: NULL");
    if (strncmp(uri, OSS_SCHEME, strlen(OSS_SCHEME)) != 0)
        return ossc_error_set(err, EINVAL, "invalid OSS URI '%.*s': must start with oss://",
                              QUOTE_MAX, uri);
    const char *b = uri + strlen(OSS_SCHEME);
    const char *slash = strchr(b, '/');
    size_t blen = slash ? (size_t)(slash - b) : strlen(b);
    const char *k = slash ? slash + 1 : b + blen;
    size_t klen = strlen(k);

    if (blen == 0)
        return ossc_error_set(err, EINVAL, "invalid OSS URI '%.*s': empty bucket name",
                              QUOTE_MAX, uri);
    char tmp[OSSC_BUCKET_MAX];
    if (blen >= sizeof tmp)
        return ossc_error_set(err, EINVAL, "invalid OSS URI '%.*s': bucket name too long",
                              QUOTE_MAX, uri);
    memcpy(tmp, b, blen);
    tmp[blen] = '\0';
    if (!ossc_bucket_name_valid(tmp))
        return ossc_error_set(err, EINVAL,
                              "invalid OSS URI '%.*s': invalid bucket name '%s' (3-63 "
                              "characters of a-z, 0-9 and '-', not starting or ending with '-')",
                              QUOTE_MAX, uri, tmp);
    if (klen >= OSSC_KEY_MAX)
        return ossc_error_set(err, EINVAL,
                              "invalid OSS URI '%.*s...': key is %zu bytes, the limit is %d",
                              QUOTE_MAX, uri, klen, OSSC_KEY_MAX - 1);
    if (k[0] == '/')
        return ossc_error_set(err, EINVAL, "invalid OSS URI '%.*s': key must not start with '/'",
                              QUOTE_MAX, uri);
    if (blen >= bucket_cap || klen >= key_cap)
        return ossc_error_set(err, ENAMETOOLONG,
                              "OSS URI '%.*s': output buffer too small", QUOTE_MAX, uri);
    memcpy(bucket, tmp, blen + 1);
    memcpy(key, k, klen + 1);
    return 0;
}

/* Contract in uri.h.  Looks for the label "oss-<region>[-internal]" right
 * before ".aliyuncs.com" (so "bucket.oss-cn-hangzhou.aliyuncs.com" works
 * too).  Global endpoints (oss-accelerate*) carry no region. */
int ossc_region_from_host(const char *host, char *region, size_t cap)
{
    static const char suffix[] = ".aliyuncs.com";
    static const char internal[] = "-internal";
    size_t hlen = strlen(host);
    size_t slen = sizeof suffix - 1;
    if (hlen <= slen || starts_with_ci(host + hlen - slen, suffix) != slen)
        return -1;
    size_t end = hlen - slen;
    size_t start = end;
    while (start > 0 && host[start - 1] != '.')
        start--;
    const char *label = host + start;
    size_t len = end - start;
    if (len <= 4 || starts_with_ci(label, "oss-") != 4)
        return -1;
    label += 4;
    len -= 4;
    size_t ilen = sizeof internal - 1;
    if (len > ilen && starts_with_ci(label + len - ilen, internal) == ilen)
        len -= ilen;
    if (len >= 10 && starts_with_ci(label, "accelerate") == 10)
        return -1;
    if (len == 0 || len >= cap)
        return -1;
    for (size_t i = 0; i < len; i++)
        region[i] = ascii_lower(label[i]);
    region[len] = '\0';
    return 0;
}

/* Host characters oss2 accepts in an endpoint (\w . -), IPv6 aside. */
static bool host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

/* True when s[0..len) is "[v6-address]". */
static bool is_ipv6_literal(const char *s, size_t len)
{
    unsigned char addr[16];
    char v6[64];
    if (len < 2 || s[0] != '[' || s[len - 1] != ']' || len - 2 >= sizeof v6)
        return false;
    memcpy(v6, s + 1, len - 2);
    v6[len - 2] = '\0';
    return inet_pton(AF_INET6, v6, addr) == 1;
}

/* Splits "host[:port]" (host possibly "[v6]") into ep->host (v6 keeps its
 * brackets so it can be pasted into URLs) and ep->port. */
static int parse_authority(const char *endpoint, const char *a, size_t alen, ossc_endpoint *ep,
                           ossc_error *err)
{
    size_t hlen;
    if (alen > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', alen);
        if (!close)
            return ossc_error_set(err, EINVAL, "invalid endpoint '%.*s': unterminated '['",
                                  QUOTE_MAX, endpoint);
        hlen = (size_t)(close - a) + 1;
        if (!is_ipv6_literal(a, hlen))
            return ossc_error_set(err, EINVAL, "invalid endpoint '%.*s': bad IPv6 address",
                                  QUOTE_MAX, endpoint);
    } else {
        const char *colon = memchr(a, ':', alen);
        hlen = colon ? (size_t)(colon - a) : alen;
        for (size_t i = 0; i < hlen; i++) {
            if (!host_char_ok(a[i]))
                return ossc_error_set(err, EINVAL,
                                      "invalid endpoint '%.*s': bad character in host",
                                      QUOTE_MAX, endpoint);
        }
    }
    if (hlen == 0 || hlen >= sizeof ep->host)
        return ossc_error_set(err, EINVAL, "invalid endpoint '%.*s': empty or too long host",
                              QUOTE_MAX, endpoint);
    memcpy(ep->host, a, hlen);
    ep->host[hlen] = '\0';
    ep->port = 0;
    if (hlen == alen)
        return 0;
    if (a[hlen] != ':' || hlen + 1 == alen || alen - hlen - 1 > 5)
        return ossc_error_set(err, EINVAL, "invalid endpoint '%.*s': bad port", QUOTE_MAX,
                              endpoint);
    int port = 0;
    for (size_t i = hlen + 1; i < alen; i++) {
        if (a[i] < '0' || a[i] > '9')
            return ossc_error_set(err, EINVAL, "invalid endpoint '%.*s': bad port",
                                  QUOTE_MAX, endpoint);
        port = port * 10 + (a[i] - '0');
    }
    if (port < 1 || port > 65535)
        return ossc_error_set(err, EINVAL, "invalid endpoint '%.*s': port out of range",
                              QUOTE_MAX, endpoint);
    ep->port = port;
    return 0;
}

/* True when the host is an IPv4/IPv6 literal or localhost: such endpoints
 * cannot carry the bucket as a sub-domain. */
static bool host_needs_path_style(const char *host)
{
    unsigned char addr[16];
    return strcmp(host, "localhost") == 0 || inet_pton(AF_INET, host, addr) == 1 ||
           is_ipv6_literal(host, strlen(host));
}

/* Contract in uri.h.  Only http/https are accepted as schemes; a path
 * beyond a single trailing '/' is refused. */
int ossc_endpoint_parse(const char *endpoint, bool force_path_style, ossc_endpoint *out,
                        ossc_error *err)
{
    if (!endpoint || !*endpoint)
        return ossc_error_set(err, EINVAL, "invalid endpoint: empty");
    ossc_endpoint ep;
    memset(&ep, 0, sizeof ep);
    const char *a = endpoint;
    size_t n;
    if ((n = starts_with_ci(endpoint, "https://")) != 0) {
        strcpy(ep.scheme, "https");
    } else if ((n = starts_with_ci(endpoint, "http://")) != 0) {
        strcpy(ep.scheme, "http");
    } else if (strstr(endpoint, "://")) {
        return ossc_error_set(err, EINVAL, "invalid endpoint '%.*s': scheme must be http or https",
                              QUOTE_MAX, endpoint);
    } else {
        strcpy(ep.scheme, "http");
    }
    a += n;
    size_t alen = strlen(a);
    const char *slash = strchr(a, '/');
    if (slash) {
        if (slash[1] != '\0')
            return ossc_error_set(err, EINVAL, "invalid endpoint '%.*s': must not contain a path",
                                  QUOTE_MAX, endpoint);
        alen = (size_t)(slash - a);
    }
    if (parse_authority(endpoint, a, alen, &ep, err) != 0)
        return -1;
    ep.path_style = force_path_style || host_needs_path_style(ep.host);
    if (ossc_region_from_host(ep.host, ep.region, sizeof ep.region) != 0)
        ep.region[0] = '\0';
    *out = ep;
    return 0;
}

/* Appends a NUL-terminated string at *len; false when it does not fit
 * (leaving room for the final NUL). */
static bool put_str(char *out, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n >= cap)
        return false;
    memcpy(out + *len, s, n + 1);
    *len += n;
    return true;
}

/* Appends the percent-encoded form of s at *len. */
static bool put_encoded(char *out, size_t cap, size_t *len, const char *s, bool keep_slash)
{
    if (*len >= cap)
        return false;
    long n = ossc_url_encode(s, keep_slash, out + *len, cap - *len);
    if (n < 0)
        return false;
    *len += (size_t)n;
    return true;
}

/* Appends "?a=b&c" for the query list (names and values encoded, '/'
 * included, so they are safe in any position). */
static bool put_query(char *out, size_t cap, size_t *len, const ossc_kv *query, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!put_str(out, cap, len, i == 0 ? "?" : "&") ||
            !put_encoded(out, cap, len, query[i].name, false))
            return false;
        if (query[i].value &&
            (!put_str(out, cap, len, "=") || !put_encoded(out, cap, len, query[i].value, false)))
            return false;
    }
    return true;
}

/* Contract in uri.h.  The key keeps its '/' separators unescaped, which is
 * also what the V4 canonical URI uses. */
long ossc_build_url(const ossc_endpoint *ep, const char *bucket, const char *key,
                    const ossc_kv *query, size_t n_query, char *out, size_t cap)
{
    char port[16] = "";
    size_t len = 0;
    bool ok;
    if (!bucket)
        bucket = "";
    if (!key)
        key = "";
    if (ep->port > 0)
        snprintf(port, sizeof port, ":%d", ep->port);
    ok = put_str(out, cap, &len, ep->scheme) && put_str(out, cap, &len, "://");
    if (ok && bucket[0] && !ep->path_style)
        ok = put_str(out, cap, &len, bucket) && put_str(out, cap, &len, ".");
    ok = ok && put_str(out, cap, &len, ep->host) && put_str(out, cap, &len, port) &&
         put_str(out, cap, &len, "/");
    if (ok && bucket[0] && ep->path_style)
        ok = put_str(out, cap, &len, bucket) && put_str(out, cap, &len, "/");
    ok = ok && put_encoded(out, cap, &len, key, true) && put_query(out, cap, &len, query, n_query);
    if (!ok) {
        if (cap > 0)
            out[0] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    return (long)len;
}
