/* peer_auth.c - OSSC-PEER: HMAC-SHA256 over method, path, range, the
 * minute window and the target node, under the deployment's shared secret,
 * and the MAC of a reply bound to its request (peer_auth.h).
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
/* method + path + range + window + target (or a reply's fields): a longer
 * one is refused, so every message fits one stack buffer. */
#define MSG_MAX 4096
/* Decimal digits of a window: minutes since 1970 fit in 20. */
#define WINDOW_DIGITS_MAX 20

/* HMAC-SHA256 of the first n bytes of msg (cleansed afterwards); false
 * when they did not fit (n out of range) or the secret is empty. */
static bool hmac_of(const uint8_t *secret, size_t secret_len, char msg[MSG_MAX], int n,
                    unsigned char mac[MAC_LEN])
{
    if (!secret || secret_len == 0 || secret_len > INT32_MAX || n < 0 || n >= MSG_MAX) {
        OPENSSL_cleanse(msg, MSG_MAX);
        return false;
    }
    unsigned int mac_len = 0;
    bool ok = HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)msg, (size_t)n,
                   mac, &mac_len) != NULL &&
              mac_len == MAC_LEN;
    OPENSSL_cleanse(msg, MSG_MAX);
    return ok;
}

/* mac = HMAC-SHA256(secret, "<method>\n<path>\n<range>\n<window>\n<target>");
 * false when the message would not fit or the secret is empty. */
static bool compute_mac(const uint8_t *secret, size_t secret_len, const char *method,
                        const char *path, const char *range, const char *target,
                        int64_t window, unsigned char mac[MAC_LEN])
{
    char msg[MSG_MAX];
    if (!method || !path || !target)
        return false;
    int n = snprintf(msg, sizeof msg, "%s\n%s\n%s\n%" PRId64 "\n%s", method, path,
                     range ? range : "", window, target);
    return hmac_of(secret, secret_len, msg, n, mac);
}

static void to_hex(const unsigned char mac[MAC_LEN], char hex_out[2 * MAC_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < MAC_LEN; i++) {
        hex_out[2 * i] = hex[mac[i] >> 4];
        hex_out[2 * i + 1] = hex[mac[i] & 15];
    }
    hex_out[2 * MAC_LEN] = '\0';
}

int bc_auth_make(const uint8_t *secret, size_t secret_len, const char *method, const char *path,
                 const char *range, const char *target, time_t now, char *out, size_t cap)
{
    unsigned char mac[MAC_LEN];
    int64_t window = (int64_t)now / BC_AUTH_WINDOW_S;
    if (!compute_mac(secret, secret_len, method, path, range, target, window, mac))
        return -1;
    char mac_hex[2 * MAC_LEN + 1];
    to_hex(mac, mac_hex);
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

/* 64 lowercase hex digits at p into mac, and nothing after them. */
static bool parse_mac(const char *p, unsigned char mac[MAC_LEN])
{
    for (size_t i = 0; i < MAC_LEN; i++) {
        int hi = hex_nibble(p[2 * i]);
        int lo = hi < 0 ? -1 : hex_nibble(p[2 * i + 1]);
        if (lo < 0)
            return false;
        mac[i] = (unsigned char)(hi << 4 | lo);
    }
    return p[2 * MAC_LEN] == '\0';
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
    if (digits == 0 || *p++ != ':' || !parse_mac(p, mac))
        return false;
    *window = (int64_t)w;
    return true;
}

bool bc_auth_check(const uint8_t *secret, size_t secret_len, const char *method,
                   const char *path, const char *range, const char *target, const char *value,
                   time_t now)
{
    int64_t window;
    unsigned char got[MAC_LEN], want[MAC_LEN];
    if (!value || strlen(value) >= BC_AUTH_VALUE_MAX || !parse_value(value, &window, got))
        return false;
    int64_t current = (int64_t)now / BC_AUTH_WINDOW_S;
    if (window < current - 1 || window > current + 1)
        return false;
    bool ok = compute_mac(secret, secret_len, method, path, range, target, window, want) &&
              CRYPTO_memcmp(got, want, MAC_LEN) == 0;
    OPENSSL_cleanse(want, sizeof want);
    return ok;
}

/* mac of a reply: "reply\n<request_auth>\n<status>\n<content_range>\n<arrived>". */
static bool reply_mac(const uint8_t *secret, size_t secret_len, const char *request_auth,
                      int status, const char *content_range, const char *arrived,
                      unsigned char mac[MAC_LEN])
{
    char msg[MSG_MAX];
    if (!request_auth || strlen(request_auth) >= BC_AUTH_VALUE_MAX)
        return false;
    int n = snprintf(msg, sizeof msg, "reply\n%s\n%d\n%s\n%s", request_auth, status,
                     content_range ? content_range : "", arrived ? arrived : "");
    return hmac_of(secret, secret_len, msg, n, mac);
}

int bc_reply_auth_make(const uint8_t *secret, size_t secret_len, const char *request_auth,
                       int status, const char *content_range, const char *arrived,
                       char out[BC_REPLY_AUTH_MAX])
{
    unsigned char mac[MAC_LEN];
    out[0] = '\0';
    if (!reply_mac(secret, secret_len, request_auth, status, content_range, arrived, mac))
        return -1;
    to_hex(mac, out);
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}

bool bc_reply_auth_check(const uint8_t *secret, size_t secret_len, const char *request_auth,
                         int status, const char *content_range, const char *arrived,
                         const char *value)
{
    unsigned char got[MAC_LEN], want[MAC_LEN];
    if (!value || strlen(value) != 2 * MAC_LEN || !parse_mac(value, got))
        return false;
    bool ok = reply_mac(secret, secret_len, request_auth, status, content_range, arrived, want) &&
              CRYPTO_memcmp(got, want, MAC_LEN) == 0;
    OPENSSL_cleanse(want, sizeof want);
    return ok;
}
