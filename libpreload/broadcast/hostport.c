/* hostport.c - "host:port" and "[v6]:port" (hostport.h). */
#include "hostport.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int bc_hostport_split(const char *s, char *host, size_t cap, int *port)
{
    if (!s || cap == 0)
        return -1;
    const char *h = s, *h_end, *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        h = s + 1;
        h_end = close;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            return -1; /* none, or an unbracketed IPv6 address */
        h_end = colon;
    }
    size_t n = (size_t)(h_end - h);
    if (n == 0 || n >= cap || (s[0] != '[' && (memchr(h, '[', n) || memchr(h, ']', n))))
        return -1;
    const char *p = colon + 1;
    long v = 0;
    if (!*p || strlen(p) > 5)
        return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v > 65535)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    /* Brackets hold an IPv6 address and nothing else: no name, no IPv4,
     * no zone ("%eth0" names an interface of one machine only; the
     * engine's peer clients refuse all three). */
    unsigned char a6[16];
    if (s[0] == '[' && inet_pton(AF_INET6, host, a6) != 1)
        return -1;
    *port = (int)v;
    return 0;
}

bool bc_hostport_name_ok(const char *host)
{
    if (!*host)
        return false;
    for (const char *p = host; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
            !(*p >= '0' && *p <= '9') && !strchr("-._", *p))
            return false;
    return true;
}

int bc_hostport_join(const char *host, int port, char *out, size_t cap)
{
    bool v6 = strchr(host, ':') != NULL;
    int n = snprintf(out, cap, v6 ? "[%s]:%d" : "%s:%d", host, port);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}
