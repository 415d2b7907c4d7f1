/* peer_auth.h - the shared-secret authentication of peer requests.
 *
 * A request carries "Authorization: OSSC-PEER <window>:<hex HMAC-SHA256>"
 * with the MAC over "<method>\n<path>\n<range>\n<window>" under the
 * deployment's secret; window = unix time / 60.  The server accepts the
 * windows now-1 .. now+1 (clock skew between nodes) and compares in
 * constant time (CRYPTO_memcmp).  The secret never appears in a message or
 * a log line. */
#ifndef OSSC_BC_PEER_AUTH_H
#define OSSC_BC_PEER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BC_AUTH_SCHEME "OSSC-PEER"
#define BC_AUTH_WINDOW_S 60
#define BC_AUTH_VALUE_MAX 128

/* Writes the header value (without "Authorization: ") into out. 0, or -1
 * when cap is too small. */
int bc_auth_make(const uint8_t *secret, size_t secret_len, const char *method, const char *path,
                 const char *range, time_t now, char *out, size_t cap);
/* True when value authenticates method, path and range at time now. */
bool bc_auth_check(const uint8_t *secret, size_t secret_len, const char *method,
                   const char *path, const char *range, const char *value, time_t now);

#endif
