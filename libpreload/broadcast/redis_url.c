/* redis_url.c - redis://[[user]:password@]host[:port][/db] into a
 * bc_redis_url.  Every message names the URL with its password replaced by
 * "***": the URL comes from an env var or a config file and ends up in logs
 * and terminals. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "registry.h"

/* True when s[0..len) is a URL scheme as RFC 3986 writes it (a letter,
 * then letters, digits, '+', '-', '.'), at most 16 bytes: only such text
 * before "://" is shown as the scheme. */
static bool is_scheme(const char *s, size_t len)
{
    if (len == 0 || len > 16 || !isalpha((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("+-.", s[i]))
            return false;
    return true;
}

/* url for messages, with no byte of a password in it.  The userinfo runs
 * from "://" to the LAST '@' of the URL, whatever is between (a password
 * written with a raw '/', '?', '#' or '@' still ends there): everything
 * after its first ':' is replaced by "***" (the user name before it is
 * kept), and a userinfo without ':' is masked whole (it may be a password
 * written without the colon).  A URL with no "scheme://" is shown as
 * "***" alone: where its userinfo ends cannot be told. */
static void masked(const char *url, char *out, size_t cap)
{
    const char *sep = strstr(url, "://");
    if (!sep || !is_scheme(url, (size_t)(sep - url))) {
        snprintf(out, cap, "***");
        return;
    }
    const char *auth = sep + 3;
    const char *at = strrchr(auth, '@');
    if (!at) {
        snprintf(out, cap, "%s", url); /* no userinfo: nothing secret */
        return;
    }
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    const char *cut = colon ? colon + 1 : auth;
    snprintf(out, cap, "%.*s***%s", (int)(cut - url), url, at);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes src[0..len) into out[cap]; -1 on a bad escape, a decoded
 * NUL or an overflow. */
static int pct_decode(const char *src, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* Decimal in [lo, hi] from s[0..len); -1 when not. */
static long parse_num(const char *s, size_t len, long lo, long hi)
{
    if (len == 0 || len > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < lo || v > hi ? -1 : v;
}

int bc_redis_url_parse(const char *url, bc_redis_url *out, ossc_error *err)
{
    char shown[640];
    memset(out, 0, sizeof *out);
    if (!url || !*url)
        return ossc_error_set(err, EINVAL, "broadcast redis URL is empty "
                              "(expected redis://[[user]:password@]host[:port][/db])");
    masked(url, shown, sizeof shown);
    const char *sep = strstr(url, "://");
    if (!sep)
        return ossc_error_set(err, EINVAL, "broadcast redis URL %s: no scheme "
                              "(expected redis://[[user]:password@]host[:port][/db])", shown);
    if ((size_t)(sep - url) != 5 || strncasecmp(url, "redis", 5) != 0)
        return ossc_error_set(err, EINVAL, "broadcast redis URL %s: the scheme is not "
                              "supported (only redis://; no TLS or unix sockets)", shown);
    const char *auth = sep + 3;
    size_t auth_len = strcspn(auth, "/?#");
    const char *rest = auth + auth_len;
    if (strchr(rest, '@'))
        return ossc_error_set(err, EINVAL, "broadcast redis URL %s: '/', '?' or '#' before "
                              "the last '@': write them percent-encoded in the user name "
                              "or password (%%2F, %%3F, %%23)", shown);
    if (*rest == '?' || *rest == '#')
        return ossc_error_set(err, EINVAL, "broadcast redis URL %s: query strings and "
                              "fragments are not supported", shown);

    /* userinfo: [user]:password, percent-encoded */
    const char *at = NULL;
    for (const char *p = auth; p < rest; p++)
        if (*p == '@')
            at = p;
    const char *host = auth;
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        if (!colon)
            return ossc_error_set(err, EINVAL, "broadcast redis URL %s: the user info has "
                                  "no ':' (write redis://:PASSWORD@host or "
                                  "redis://USER:PASSWORD@host)", shown);
        if (pct_decode(auth, (size_t)(colon - auth), out->user, sizeof out->user) < 0)
            return ossc_error_set(err, EINVAL, "broadcast redis URL %s: the user name is "
                                  "too long or badly percent-encoded", shown);
        if (pct_decode(colon + 1, (size_t)(at - colon - 1), out->password,
                       sizeof out->password) < 0)
            return ossc_error_set(err, EINVAL, "broadcast redis URL %s: the password is "
                                  "too long or badly percent-encoded", shown);
        host = at + 1;
    }

    /* host, [v6] or name, then :port */
    const char *host_end, *port = NULL;
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(rest - host));
        if (!close)
            return ossc_error_set(err, EINVAL, "broadcast redis URL %s: '[' without ']' "
                                  "in the host", shown);
        host_end = close + 1;
        if (host_end < rest && *host_end != ':')
            return ossc_error_set(err, EINVAL, "broadcast redis URL %s: unexpected text "
                                  "after ']'", shown);
        if (host_end < rest)
            port = host_end + 1;
        host++;
        host_end = close;
    } else {
        const char *colon = memchr(host, ':', (size_t)(rest - host));
        host_end = colon ? colon : rest;
        if (colon)
            port = colon + 1;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0)
        return ossc_error_set(err, EINVAL, "broadcast redis URL %s: no host", shown);
    if (hlen >= sizeof out->host)
        return ossc_error_set(err, EINVAL, "broadcast redis URL %s: the host is too long",
                              shown);
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = 6379;
    if (port) {
        long p = parse_num(port, (size_t)(rest - port), 1, 65535);
        if (p < 0)
            return ossc_error_set(err, EINVAL, "broadcast redis URL %s: the port must be a "
                                  "number in 1..65535", shown);
        out->port = (int)p;
    }

    /* /db */
    if (*rest == '/' && rest[1]) {
        long db = parse_num(rest + 1, strlen(rest + 1), 0, 1000000);
        if (db < 0)
            return ossc_error_set(err, EINVAL, "broadcast redis URL %s: the database after "
                                  "'/' must be a number (e.g. /0)", shown);
        out->db = (int)db;
    }
    return 0;
}
