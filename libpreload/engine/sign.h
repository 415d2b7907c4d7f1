/* sign.h - OSS request signing, V1 (HMAC-SHA1) and V4 (OSS4-HMAC-SHA256),
 * and OSSC-PEER for another node's chunk server (broadcast/peer_auth.h).
 *
 * The signer is pure: given the request and the credentials it returns the
 * headers to add.  It never logs and never keeps the secret. */
#ifndef OSSC_SIGN_H
#define OSSC_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "ossc.h"
#include "uri.h"

typedef enum ossc_sign_version {
    OSSC_SIGN_V1 = 1,
    OSSC_SIGN_V4 = 4,
    OSSC_SIGN_PEER = 100,  /* a peer's chunk server: ossc_sign_peer, no credentials */
} ossc_sign_version;

typedef struct ossc_sign_input {
    const char *method;            /* "GET", "PUT", ... */
    const char *bucket;            /* "" for service-level requests */
    const char *key;               /* raw key, "" for bucket-level requests */
    const ossc_kv *query;          /* raw (unencoded) query params, any order */
    size_t n_query;
    const ossc_kv *headers;        /* headers that will be sent (Content-Type,
                                      Content-MD5, x-oss-*, Range, Host, ...)
                                      excluding those the signer adds */
    size_t n_headers;
    time_t now;                    /* request time (UTC) */
    const char *region;            /* V4: required, e.g. "cn-hangzhou" */
} ossc_sign_input;

#define OSSC_SIGN_MAX_ADDED 4

/* Headers the signer wants added to the request, in order.  Always
 * includes "Authorization".  V1 adds "Date" (RFC 1123) and, with a
 * token, "x-oss-security-token".  V4 adds "x-oss-date" (YYYYMMDDTHHMMSSZ),
 * "x-oss-content-sha256: UNSIGNED-PAYLOAD" and, with a token,
 * "x-oss-security-token". */
typedef struct ossc_sign_output {
    size_t n;
    struct {
        char name[32];
        char value[4352];
    } add[OSSC_SIGN_MAX_ADDED];
} ossc_sign_output;

int ossc_sign(ossc_sign_version version, const ossc_sign_input *in,
              const ossc_credentials *cred, ossc_sign_output *out, ossc_error *err);

/* OSSC_SIGN_PEER: adds "Authorization: OSSC-PEER <window>:<mac>" (the
 * only header) over in->method, the path-style path "/<bucket>/<key>" as
 * sent (peer keys need no escaping: a file index), the value of the
 * "Range" header among in->headers ("" without one) and target (the
 * peer's host:port), at in->now.  EINVAL naming the object when the
 * secret is empty or the request too long. */
int ossc_sign_peer(const uint8_t *secret, size_t secret_len, const char *target,
                   const ossc_sign_input *in, ossc_sign_output *out, ossc_error *err);

/* Lower-level pieces, exposed for tests. */
/* V1 string to sign: VERB\nContent-MD5\nContent-Type\nDate\n
 * CanonicalizedOSSHeaders + CanonicalizedResource ("/bucket/key?subres"). */
long ossc_sign_v1_string(const ossc_sign_input *in, const char *date,
                         const char *token, char *out, size_t cap);
/* V4 canonical request and string to sign. */
long ossc_sign_v4_canonical_request(const ossc_sign_input *in, const char *oss_date,
                                    const char *token, char *out, size_t cap);
long ossc_sign_v4_string_to_sign(const ossc_sign_input *in, const char *oss_date,
                                 const char *token, char *out, size_t cap);

/* "Thu, 01 Jan 1970 00:00:00 GMT" */
void ossc_format_http_date(time_t t, char out[32]);
/* "19700101T000000Z" */
void ossc_format_iso8601_basic(time_t t, char out[20]);

#endif
