/* bc_settings.c - OSSC_BROADCAST_* into ossc_bc_settings (bc_settings.h).
 *
 * The secret: OSSC_BROADCAST_SECRET_FILE (its bytes, a trailing newline
 * dropped), else OSSC_BROADCAST_SECRET, else derived from the Redis URL's
 * password (whoever may use the deployment's Redis is of the deployment:
 * the one-variable set-up).  The advertised address defaults to the local
 * address this host reaches Redis from, port 7070. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bc_settings.h"
#include "error.h"
#include "registry.h"

#define DEFAULT_PORT 7070

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int bad(const char **bad_env, const char *var, ossc_error *err, const char *fmt,
               const char *arg)
{
    *bad_env = var;
    return ossc_error_set(err, EINVAL, fmt, arg);
}

/* host:port with a port 1..65535 and a non-empty host. */
static bool valid_hostport(const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || strlen(v) >= 128)
        return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return colon[1] && !*end && port >= 0 && port <= 65535;
}

static int read_secret_file(ossc_bc_settings *b, const char *path, const char **bad_env,
                            ossc_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        *bad_env = "OSSC_BROADCAST_SECRET_FILE";
        return ossc_error_set(err, EINVAL, "OSSC_BROADCAST_SECRET_FILE=%s: cannot read it: %s",
                              path, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 0022)) {
        close(fd);
        return bad(bad_env, "OSSC_BROADCAST_SECRET_FILE", err,
                   "OSSC_BROADCAST_SECRET_FILE=%s must be a regular file nobody else can write",
                   path);
    }
    ssize_t n = read(fd, b->secret, sizeof(b->secret));
    close(fd);
    if (n < 0)
        n = 0;
    while (n > 0 && (b->secret[n - 1] == '\n' || b->secret[n - 1] == '\r'))
        n--;
    b->secret_len = (size_t)n;
    if (b->secret_len < 16)
        return bad(bad_env, "OSSC_BROADCAST_SECRET_FILE", err,
                   "OSSC_BROADCAST_SECRET_FILE=%s: the secret must have at least 16 bytes", path);
    return 0;
}

/* The secret derived from the Redis password: SHA-256("ossc-broadcast\n" pw). */
static void secret_from_password(ossc_bc_settings *b, const char *password)
{
    unsigned int len = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(md, "ossc-broadcast\n", 15) == 1 &&
        EVP_DigestUpdate(md, password, strlen(password)) == 1 &&
        EVP_DigestFinal_ex(md, b->secret, &len) == 1)
        b->secret_len = len;
    EVP_MD_CTX_free(md);
}

/* The local address packets to host take (no packet is sent: a UDP
 * connect only picks the route). */
static void local_address_towards(const char *host, int port, char *out, size_t cap)
{
    snprintf(out, cap, "127.0.0.1");
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM}, *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
        return;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in me;
    socklen_t len = sizeof(me);
    if (s >= 0 && connect(s, ai->ai_addr, ai->ai_addrlen) == 0 &&
        getsockname(s, (struct sockaddr *)&me, &len) == 0)
        inet_ntop(AF_INET, &me.sin_addr, out, (socklen_t)cap);
    if (s >= 0)
        close(s);
    freeaddrinfo(ai);
}

static int int_env(const char *name, int def, int lo, int hi, int *out, const char **bad_env,
                   ossc_error *err)
{
    *out = def;
    const char *v = env(name);
    if (!v)
        return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi) {
        *bad_env = name;
        return ossc_error_set(err, EINVAL, "%s='%s' must be a whole number from %d to %d", name,
                              v, lo, hi);
    }
    *out = (int)x;
    return 0;
}

int ossc_bc_settings_load(ossc_bc_settings *b, const char **bad_env, ossc_error *err)
{
    memset(b, 0, sizeof(*b));
    const char *url = env("OSSC_BROADCAST_REDIS");
    if (!url)
        return 0;
    bc_redis_url u;
    if (strlen(url) >= sizeof(b->redis_url) || bc_redis_url_parse(url, &u, err) < 0) {
        *bad_env = "OSSC_BROADCAST_REDIS";
        if (strlen(url) >= sizeof(b->redis_url))
            ossc_error_set(err, EINVAL, "OSSC_BROADCAST_REDIS is too long");
        return -1;
    }
    snprintf(b->redis_url, sizeof(b->redis_url), "%s", url);
    snprintf(b->redis_shown, sizeof(b->redis_shown), "%s:%d/%d", u.host, u.port, u.db);
    if (int_env("OSSC_BROADCAST_SOURCES", 1, 1, 64, &b->sources, bad_env, err) < 0 ||
        int_env("OSSC_BROADCAST_STALL_SECONDS", 5, 1, 600, &b->stall_s, bad_env, err) < 0 ||
        int_env("OSSC_BROADCAST_CONNECT_TIMEOUT_MS", 1000, 50, 60000, &b->connect_timeout_ms,
                bad_env, err) < 0)
        return -1;

    const char *adv = env("OSSC_BROADCAST_ADVERTISE");
    if (adv) {
        if (!valid_hostport(adv))
            return bad(bad_env, "OSSC_BROADCAST_ADVERTISE", err,
                       "OSSC_BROADCAST_ADVERTISE='%s' must be host:port", adv);
        snprintf(b->advertise, sizeof(b->advertise), "%s", adv);
    } else {
        char ip[64];
        local_address_towards(u.host, u.port, ip, sizeof(ip));
        snprintf(b->advertise, sizeof(b->advertise), "%s:%d", ip, DEFAULT_PORT);
    }
    const char *lis = env("OSSC_BROADCAST_LISTEN");
    if (lis && !valid_hostport(lis))
        return bad(bad_env, "OSSC_BROADCAST_LISTEN", err,
                   "OSSC_BROADCAST_LISTEN='%s' must be host:port", lis);
    snprintf(b->listen, sizeof(b->listen), "%s", lis ? lis : b->advertise);

    const char *file = env("OSSC_BROADCAST_SECRET_FILE");
    const char *inline_secret = env("OSSC_BROADCAST_SECRET");
    if (file) {
        if (read_secret_file(b, file, bad_env, err) < 0)
            return -1;
    } else if (inline_secret) {
        size_t n = strlen(inline_secret);
        if (n < 16 || n > sizeof(b->secret)) {
            *bad_env = "OSSC_BROADCAST_SECRET";
            return ossc_error_set(err, EINVAL,
                                  "OSSC_BROADCAST_SECRET must have 16 to %zu bytes",
                                  sizeof(b->secret));
        }
        memcpy(b->secret, inline_secret, n);
        b->secret_len = n;
    } else if (u.password[0]) {
        secret_from_password(b, u.password);
    } else {
        *bad_env = "OSSC_BROADCAST_SECRET_FILE";
        return ossc_error_set(err, EINVAL, "broadcasting needs a shared secret: set "
                              "OSSC_BROADCAST_SECRET_FILE (or OSSC_BROADCAST_SECRET, or a "
                              "password in OSSC_BROADCAST_REDIS)");
    }
    memset(&u, 0, sizeof(u));
    b->enabled = true;
    return 0;
}
