/* uri.h - oss:// URIs, endpoints, URL encoding and request URLs. */
#ifndef OSSC_URI_H
#define OSSC_URI_H

#include <stdbool.h>
#include <stddef.h>
#include "ossc.h"

#define OSSC_BUCKET_MAX 64
#define OSSC_KEY_MAX 1024 /* OSS allows keys of 1..1023 bytes */

typedef struct ossc_endpoint {
    char scheme[8];    /* "http" or "https" */
    char host[256];    /* without port */
    int port;          /* 0 = scheme default */
    bool path_style;   /* true for IP literals, localhost, or when forced */
    char region[64];   /* inferred from oss-<region>[-internal].aliyuncs.com, else "" */
} ossc_endpoint;

/* Parses an endpoint given with or without scheme (default http), with an
 * optional :port and an optional trailing '/'.  force_path_style selects
 * path-style addressing for any host.  EINVAL with a message naming the
 * endpoint when malformed. */
int ossc_endpoint_parse(const char *endpoint, bool force_path_style, ossc_endpoint *out,
                        ossc_error *err);

/* "oss-cn-hangzhou.aliyuncs.com" / "oss-cn-hangzhou-internal.aliyuncs.com"
 * -> "cn-hangzhou".  Returns 0 when found, -1 otherwise. */
int ossc_region_from_host(const char *host, char *region, size_t cap);

/* Percent-encodes everything except RFC 3986 unreserved characters
 * (A-Z a-z 0-9 - _ . ~) and, when keep_slash, '/'.  Returns the length
 * written (excluding NUL), or -1 when cap is too small. */
long ossc_url_encode(const char *in, bool keep_slash, char *out, size_t cap);

/* Decodes %XX escapes (and nothing else).  Returns length or -1 on a
 * malformed escape / small cap. */
long ossc_url_decode(const char *in, char *out, size_t cap);

/* Bucket name rules of OSS: 3-63 chars, lowercase letters, digits, '-',
 * not starting/ending with '-'. */
bool ossc_bucket_name_valid(const char *bucket);

/* One query parameter; value NULL means "name only" (e.g. "uploads"). */
typedef struct ossc_kv {
    const char *name;
    const char *value;
} ossc_kv;

/* Builds the request URL:
 *   virtual-hosted: scheme://bucket.host[:port]/<encoded key>?<query>
 *   path-style:     scheme://host[:port]/bucket/<encoded key>?<query>
 * bucket may be "" (service level).  Query names/values are raw and get
 * encoded here, in the order given.  Returns length or -1 (ENAMETOOLONG). */
long ossc_build_url(const ossc_endpoint *ep, const char *bucket, const char *key,
                    const ossc_kv *query, size_t n_query, char *out, size_t cap);

#endif
