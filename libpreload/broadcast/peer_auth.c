/* peer_auth.c - OSSC-PEER: HMAC-SHA256 over method, path, range and the
 * minute window, under the deployment's shared secret (peer_auth.h).
 *
 * Pure: no I/O, no log, no state; the engine (sign.c, OSSC_SIGN_PEER) and
 * the chunk server both call it.  Buffers that held a MAC are cleansed. */
#include "peer_auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MAC_LEN 32
/* method + path + range + window: a longer request is refused, so the
 * message always fits one stack buffer. */
#define MSG_MAX 4096
/* Decimal digits of a window: minutes since 1970 fit in 20. */
#define WINDOW_DIGITS_MAX 20

/* mac = HMAC-SHA256(secret, "<method>\n<path>\n<range>\n<window>"); false
 * when the message would not fit or the secret is empty. */
static bool compute_mac(const uint8_t *secret, size_t secret_len, const char *method,
                        const char *path, const char *range, int64_t window,
                        unsigned char mac[MAC_LEN])
{
    char msg[MSG_MAX];
    if (!secret || secret_len == 0 || secret_len > INT32_MAX || !method || !path)
        return false;
    int n = snprintf(msg, sizeof msg, "%s\n%s\n%s\n%" PRId64, method, path, range ? range : "",
                     window);
    if (n < 0 || (size_t)n >= sizeof msg)
        return false;
    unsigned int mac_len = 0;
    bool ok = HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)msg, (size_t)n,
                   mac, &mac_len) != NULL &&
              mac_len == MAC_LEN;
    OPENSSL_cleanse(msg, sizeof msg);
    return ok;
}

int bc_auth_make(const uint8_t *secret, size_t secret_len, const char *method, const char *path,
                 const char *range, time_t now, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[MAC_LEN];
    int64_t window = (int64_t)now / BC_AUTH_WINDOW_S;
    if (!compute_mac(secret, secret_len, method, path, range, window, mac))
        return -1;
    char mac_hex[2 * MAC_LEN + 1];
    for (size_t i = 0; i < MAC_LEN; i++) {
        mac_hex[2 * i] = hex[mac[i] >> 4];
        mac_hex[2 * i + 1] = hex[mac[i] & 15];
    }
    mac_hex[2 * MAC_LEN] = '\0';
    int n = snprintf(out, cap, "%s %" PRId64 ":%s", BC_AUTH_SCHEME, window, mac_hex);
    OPENSSL_cleanse(mac, sizeof mac);
    OPENSSL_cleanse(mac_hex, sizeof mac_hex);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return -1;
    }
    return 0;
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* "OSSC-PEER <window>:<64 lowercase hex>" and nothing else: the window (a
 * decimal number of at most 20 digits, no sign) and the MAC's bytes. */
static bool parse_value(const char *value, int64_t *window, unsigned char mac[MAC_LEN])
{
    static const char prefix[] = BC_AUTH_SCHEME " ";
    if (!value || strncmp(value, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *p = value + sizeof prefix - 1;
    uint64_t w = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits == WINDOW_DIGITS_MAX || w > (uint64_t)INT64_MAX / 10)
            return false;
        w = w * 10 + (uint64_t)(*p - '0');
        if (w > (uint64_t)INT64_MAX)
            return false;
    }
    if (digits == 0 || *p++ != ':')
        return false;
    for (size_t i = 0; i < MAC_LEN; i++) {
        int hi = hex_nibble(p[2 * i]);
        int lo = hi < 0 ? -1 : hex_nibble(p[2 * i + 1]);
        if (lo < 0)
            return false;
        mac[i] = (unsigned char)(hi << 4 | lo);
    }
    if (p[2 * MAC_LEN] != '\0')
        return false;
    *window = (int64_t)w;
    return true;
}

bool bc_auth_check(const uint8_t *secret, size_t secret_len, const char *method,
                   const char *path, const char *range, const char *value, time_t now)
{
    int64_t window;
    unsigned char got[MAC_LEN], want[MAC_LEN];
    if (!value || strlen(value) >= BC_AUTH_VALUE_MAX || !parse_value(value, &window, got))
        return false;
    int64_t current = (int64_t)now / BC_AUTH_WINDOW_S;
    if (window < current - 1 || window > current + 1)
        return false;
    bool ok = compute_mac(secret, secret_len, method, path, range, window, want) &&
              CRYPTO_memcmp(got, want, MAC_LEN) == 0;
    OPENSSL_cleanse(want, sizeof want);
    return ok;
}
