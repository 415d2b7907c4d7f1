/* peer_auth.h - the shared-secret authentication of peer requests and of
 * their replies.
 *
 * A request carries "Authorization: OSSC-PEER <window>:<hex HMAC-SHA256>"
 * with the MAC over "<method>\n<path>\n<range>\n<window>\n<target>"
 * under the deployment's secret; window = unix time / 60, target the
 * host:port the request is addressed to (the node's advertised address):
 * a request sent to one node is refused by every other, so whoever
 * receives it cannot replay it elsewhere.  The server accepts the windows
 * now-1 .. now+1 (clock skew between nodes) and compares in constant time
 * (CRYPTO_memcmp).
 *
 * A 206 or 503 reply carries "OSSC-Peer-Auth: <hex HMAC-SHA256>" over
 * "reply\n<the request's Authorization value>\n<status>\n<Content-Range>\n
 * <OSSC-Arrived>" (empty for a header not sent): only a node that knows the
 * secret and received this very request can answer it.  The body is not
 * covered (it streams from the cache file); its bytes are checked by CRC-64
 * against OSS's, which catches accidents, not a forger on the wire.
 *
 * The secret never appears in a message or a log line. */
#ifndef OSSC_BC_PEER_AUTH_H
#define OSSC_BC_PEER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BC_AUTH_SCHEME "OSSC-PEER"
#define BC_AUTH_WINDOW_S 60
#define BC_AUTH_VALUE_MAX 128
#define BC_REPLY_AUTH_HEADER "OSSC-Peer-Auth"
#define BC_REPLY_AUTH_MAX 65 /* 64 hex digits and the NUL */

/* Writes the header value (without "Authorization: ") into out. 0, or -1
 * when cap is too small. */
int bc_auth_make(const uint8_t *secret, size_t secret_len, const char *method, const char *path,
                 const char *range, const char *target, time_t now, char *out, size_t cap);
/* True when value authenticates method, path, range and target at time
 * now. */
bool bc_auth_check(const uint8_t *secret, size_t secret_len, const char *method,
                   const char *path, const char *range, const char *target, const char *value,
                   time_t now);

/* The reply's OSSC-Peer-Auth value into out (BC_REPLY_AUTH_MAX): 0, or -1
 * (no secret, or a request value too long).  content_range and arrived:
 * the headers' values as sent, NULL when not sent. */
int bc_reply_auth_make(const uint8_t *secret, size_t secret_len, const char *request_auth,
                       int status, const char *content_range, const char *arrived,
                       char out[BC_REPLY_AUTH_MAX]);
/* True when value is the reply's OSSC-Peer-Auth for that request. */
bool bc_reply_auth_check(const uint8_t *secret, size_t secret_len, const char *request_auth,
                         int status, const char *content_range, const char *arrived,
                         const char *value);

#endif
