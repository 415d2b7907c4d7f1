/* bc_settings.c - OSSC_BROADCAST_* and config.json's "broadcast" object
 * into ossc_bc_settings (bc_settings.h).
 *
 * Each setting is an environment variable or a key of the "broadcast"
 * object (broadcast.redis, .advertise, .listen, .secretFile, .sources,
 * .stallSeconds, .connectTimeoutMs); the variable wins, one setting at a
 * time.  The secret itself is never read from config.json (a file that many
 * read and that gets copied around): only the name of a file holding it.
 *
 * The secret: the secret file (its bytes, a trailing newline dropped), else
 * OSSC_BROADCAST_SECRET, else derived from the Redis URL's password
 * (whoever may use the deployment's Redis is of the deployment: the
 * one-variable set-up).  The advertised address defaults to the local
 * IPv4 address this host reaches Redis from, port 7070; where there is
 * none (the Redis host does not resolve to IPv4 now) broadcasting is off,
 * the error naming OSSC_BROADCAST_ADVERTISE. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bc_settings.h"
#include "hostport.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "registry.h"

#define DEFAULT_PORT 7070

const char *const ossc_bc_env_names[] = {
    "OSSC_BROADCAST_REDIS",         "OSSC_BROADCAST_ADVERTISE",
    "OSSC_BROADCAST_LISTEN",        "OSSC_BROADCAST_SECRET_FILE",
    "OSSC_BROADCAST_SECRET",        "OSSC_BROADCAST_SOURCES",
    "OSSC_BROADCAST_STALL_SECONDS", "OSSC_BROADCAST_CONNECT_TIMEOUT_MS",
    NULL,
};

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Where one setting is read from: the environment, else the "broadcast"
 * object of the config file (cfg NULL when there is none). */
typedef struct bc_source {
    json_t *cfg;
    const char *file;     /* the config file, for messages */
    const char **bad;     /* gets the variable or dotted key at fault */
    ossc_error *err;
} bc_source;

/* One setting's value as text, and how messages name it: "OSSC_X" or
 * "config <file>: key 'broadcast.x'". */
typedef struct bc_value {
    const char *text;     /* NULL: not set anywhere */
    json_t *json;         /* the config value, when it came from there */
    const char *bad_name; /* OSSC_X or broadcast.x */
    char where[PATH_MAX + 64];
} bc_value;

/* The key's name for *bad: "broadcast.<member>" in static storage. */
static const char *dotted(const char *member)
{
    static const char *const names[][2] = {
        {"redis", "broadcast.redis"},           {"advertise", "broadcast.advertise"},
        {"listen", "broadcast.listen"},         {"secretFile", "broadcast.secretFile"},
        {"sources", "broadcast.sources"},       {"stallSeconds", "broadcast.stallSeconds"},
        {"connectTimeoutMs", "broadcast.connectTimeoutMs"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i][0], member) == 0)
            return names[i][1];
    return "broadcast";
}

/* Finds the setting: var in the environment, else member in the config. */
static void lookup(const bc_source *src, const char *var, const char *member, bc_value *v)
{
    memset(v, 0, sizeof(*v));
    v->text = env(var);
    if (v->text || !src->cfg) {
        v->bad_name = var;
        snprintf(v->where, sizeof(v->where), "%s", var);
        return;
    }
    v->json = json_object_get(src->cfg, member);
    v->bad_name = dotted(member);
    snprintf(v->where, sizeof(v->where), "config %s: key 'broadcast.%s'", src->file, member);
    if (v->json && json_is_string(v->json))
        v->text = json_string_value(v->json);
}

static int fail(const bc_source *src, const bc_value *v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* EINVAL with "<where><what>"; *bad names the setting. */
static int fail(const bc_source *src, const bc_value *v, const char *fmt, ...)
{
    char what[OSSC_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    *src->bad = v->bad_name;
    return ossc_error_set(src->err, EINVAL, "%s%s", v->where, what);
}

/* A string setting: 0 with v->text (NULL when unset), or -1 for a config
 * value that is not a non-empty string of at most cap - 1 bytes. */
static int string_setting(const bc_source *src, const char *var, const char *member,
                          size_t cap, bc_value *v)
{
    lookup(src, var, member, v);
    if (v->json && (!json_is_string(v->json) || !v->text[0] ||
                    strlen(v->text) != json_string_length(v->json)))
        return fail(src, v, " must be a non-empty string");
    if (v->text && strlen(v->text) >= cap)
        return fail(src, v, " is longer than %zu bytes", cap - 1);
    return 0;
}

/* A whole number in lo..hi, def when unset. */
static int int_setting(const bc_source *src, const char *var, const char *member, int def,
                       int lo, int hi, int *out)
{
    bc_value v;
    lookup(src, var, member, &v);
    *out = def;
    if (v.json) {
        json_int_t x = json_is_integer(v.json) ? json_integer_value(v.json) : lo - 1LL;
        if (x < lo || x > hi)
            return fail(src, &v, " must be an integer between %d and %d", lo, hi);
        *out = (int)x;
        return 0;
    }
    if (!v.text)
        return 0;
    char *end;
    errno = 0;
    long x = strtol(v.text, &end, 10);
    if (errno || end == v.text || *end || x < lo || x > hi) {
        *src->bad = var;
        return ossc_error_set(src->err, EINVAL, "%s='%s' must be a whole number from %d to %d",
                              var, v.text, lo, hi);
    }
    *out = (int)x;
    return 0;
}

/* An address setting: host:port or [v6]:port (hostport.h), the port at
 * least min_port (the advertised one cannot be 0: other nodes connect to
 * it; a listen port 0 picks a free one). */
static int hostport_setting(const bc_source *src, const char *var, const char *member,
                            int min_port, bc_value *v)
{
    if (string_setting(src, var, member, 128, v) < 0)
        return -1;
    char host[128];
    int port = 0;
    if (!v->text)
        return 0;
    if (strlen(v->text) >= sizeof(host) ||
        bc_hostport_split(v->text, host, sizeof(host), &port) < 0)
        return v->json ? fail(src, v, " ('%s') must be host:port ([address]:port for IPv6)",
                              v->text)
                       : fail(src, v, "='%s' must be host:port ([address]:port for IPv6)",
                              v->text);
    /* The registry skips an address whose host is neither bracketed nor a
     * name (hostport.h): refused here, where the setting can be named. */
    if (v->text[0] != '[' && !bc_hostport_name_ok(host))
        return v->json ? fail(src, v, " ('%s'): the host must be a name, an IPv4 address or "
                                      "[an IPv6 address]", v->text)
                       : fail(src, v, "='%s': the host must be a name, an IPv4 address or "
                                      "[an IPv6 address]", v->text);
    if (port < min_port)
        return v->json ? fail(src, v, " ('%s'): the port must be from %d to 65535", v->text,
                              min_port)
                       : fail(src, v, "='%s': the port must be from %d to 65535", v->text,
                              min_port);
    return 0;
}

/* The secret file's bytes into b->secret.  "what" names the setting and
 * the path for messages. */
static int read_secret_file(ossc_bc_settings *b, const bc_source *src, const bc_value *v)
{
    const char *path = v->text;
    char what[PATH_MAX + 128];
    snprintf(what, sizeof(what), v->json ? "%s (%s)" : "%s=%s", v->where, path);
    if (v->json && path[0] != '/') {
        *src->bad = v->bad_name;
        return ossc_error_set(src->err, EINVAL, "%s: must be an absolute path", what);
    }
    /* O_NONBLOCK: a FIFO named here must be refused, not waited on for a
     * writer (it is not a regular file); it changes nothing for one that is. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        *src->bad = v->bad_name;
        return ossc_error_set(src->err, EINVAL, "%s: cannot read it: %s", what, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 0022)) {
        close(fd);
        *src->bad = v->bad_name;
        return ossc_error_set(src->err, EINVAL, "%s must be a regular file nobody else can write",
                              what);
    }
    b->secret_file_mode = (unsigned)(st.st_mode & 07777);
    snprintf(b->secret_file, sizeof(b->secret_file), "%.*s", (int)sizeof(b->secret_file) - 1,
             path);
    ssize_t n = read(fd, b->secret, sizeof(b->secret));
    close(fd);
    if (n < 0)
        n = 0;
    while (n > 0 && (b->secret[n - 1] == '\n' || b->secret[n - 1] == '\r'))
        n--;
    b->secret_len = (size_t)n;
    if (b->secret_len < 16) {
        *src->bad = v->bad_name;
        return ossc_error_set(src->err, EINVAL, "%s: the secret must have at least 16 bytes",
                              what);
    }
    return 0;
}

/* Members of the "broadcast" object we do not know: one warning.  A
 * "secret" member is an error: the secret does not belong in config.json. */
static int check_members(const bc_source *src)
{
    char unknown[512] = "";
    const char *name;
    json_t *val;
    json_object_foreach(src->cfg, name, val) {
        if (strcmp(name, "secret") == 0) {
            *src->bad = "broadcast.secret";
            return ossc_error_set(src->err, EINVAL,
                                  "config %s: key 'broadcast.secret': the secret is not read "
                                  "from the config file; put it in a file only this user can "
                                  "read and name that file in 'broadcast.secretFile' (or "
                                  "OSSC_BROADCAST_SECRET_FILE)", src->file);
        }
        if (strcmp(dotted(name), "broadcast") == 0) {
            size_t used = strlen(unknown);
            if (used < sizeof(unknown))
                snprintf(unknown + used, sizeof(unknown) - used, "%s'broadcast.%s'",
                         used ? ", " : "", name);
        }
    }
    if (unknown[0])
        OSSC_WARN("config %s: ignoring unknown keys %s", src->file, unknown);
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

/* A local address as others reach it, with port: "a.b.c.d:port", or
 * "[v6]:port"; an IPv4-mapped IPv6 address (::ffff:a.b.c.d, a Redis URL
 * that names one) as the IPv4 address it is.  -1 for a link-local IPv6
 * address: without its zone (which names an interface of this machine
 * only) no other node can reach it, so it is never advertised. */
static int address_text(const struct sockaddr_storage *ss, int port, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        if (!inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip)))
            return -1;
    } else {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (IN6_IS_ADDR_LINKLOCAL(a6))
            return -1;
        if (IN6_IS_ADDR_V4MAPPED(a6) ? !inet_ntop(AF_INET, &a6->s6_addr[12], ip, sizeof(ip))
                                     : !inet_ntop(AF_INET6, a6, ip, sizeof(ip)))
            return -1;
    }
    return bc_hostport_join(ip, port, out, cap);
}

/* The local address packets to host take (no packet is sent: a UDP
 * connect only picks the route), as an address with port: "a.b.c.d:port",
 * or "[v6]:port" when host has no IPv4 address that routes but an IPv6
 * one (an IPv6-only cluster); -1 when it has neither, no route, or only a
 * link-local one (address_text).  A
 * resolver that answers "try again" (EAI_AGAIN: a cluster's DNS
 * at a pod's start) is asked again every 50 ms for up to wait_ms, the
 * Redis connect timeout, so the start waits no longer than a Redis that
 * does not answer would make it.  Never a guess: a node that advertised
 * 127.0.0.1 to nodes on other hosts would send each of them to itself. */
static int local_address_towards(const char *host, int port, int wait_ms, int adv_port,
                                 char *out, size_t cap)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    int rc;
    for (int waited = 0; (rc = getaddrinfo(host, ps, &hints, &ai)) == EAI_AGAIN &&
                         waited < wait_ms; waited += 50) {
        struct timespec pause = {0, 50 * 1000000L};
        nanosleep(&pause, NULL);
    }
    if (rc != 0 || !ai)
        return -1;
    static const int families[] = {AF_INET, AF_INET6}; /* IPv4 first, as before */
    bool found = false;
    for (size_t f = 0; f < 2 && !found; f++) {
        int family = families[f];
        for (const struct addrinfo *a = ai; a && !found; a = a->ai_next) {
            if (a->ai_family != family)
                continue;
            int s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            struct sockaddr_storage me;
            socklen_t len = sizeof(me);
            found = s >= 0 && connect(s, a->ai_addr, a->ai_addrlen) == 0 &&
                    getsockname(s, (struct sockaddr *)&me, &len) == 0 &&
                    me.ss_family == family && address_text(&me, adv_port, out, cap) == 0;
            if (s >= 0)
                close(s);
        }
    }
    freeaddrinfo(ai);
    return found ? 0 : -1;
}

/* The settings from src (environment over config); -1 with src->err. */
static int load(ossc_bc_settings *b, const bc_source *src)
{
    bc_value url_v, adv_v, lis_v, file_v;
    if (src->cfg && check_members(src) < 0)
        return -1;
    if (string_setting(src, "OSSC_BROADCAST_REDIS", "redis", sizeof(b->redis_url), &url_v) < 0)
        return -1;
    if (!url_v.text)
        return 0;
    bc_redis_url u;
    if (bc_redis_url_parse(url_v.text, &u, src->err) < 0) {
        *src->bad = url_v.bad_name;
        if (url_v.json)
            ossc_error_set(src->err, EINVAL, "%s: %s", url_v.where, src->err->message);
        return -1;
    }
    snprintf(b->redis_url, sizeof(b->redis_url), "%s", url_v.text);
    snprintf(b->redis_shown, sizeof(b->redis_shown), "%s:%d/%d", u.host, u.port, u.db);
    if (int_setting(src, "OSSC_BROADCAST_SOURCES", "sources", 1, 1, 64, &b->sources) < 0 ||
        int_setting(src, "OSSC_BROADCAST_STALL_SECONDS", "stallSeconds", 5, 3, 600,
                    &b->stall_s) < 0 ||
        int_setting(src, "OSSC_BROADCAST_CONNECT_TIMEOUT_MS", "connectTimeoutMs", 1000, 50,
                    60000, &b->connect_timeout_ms) < 0)
        goto err;

    if (hostport_setting(src, "OSSC_BROADCAST_ADVERTISE", "advertise", 1, &adv_v) < 0 ||
        hostport_setting(src, "OSSC_BROADCAST_LISTEN", "listen", 0, &lis_v) < 0)
        goto err;
    if (adv_v.text) {
        snprintf(b->advertise, sizeof(b->advertise), "%s", adv_v.text);
    } else {
        if (local_address_towards(u.host, u.port, b->connect_timeout_ms, DEFAULT_PORT,
                                  b->advertise, sizeof(b->advertise)) < 0) {
            *src->bad = "OSSC_BROADCAST_ADVERTISE";
            ossc_error_set(src->err, EINVAL, "OSSC_BROADCAST_ADVERTISE is not set and this "
                           "node's address towards the Redis host '%s' could not be found "
                           "(it does not resolve, or no route): set "
                           "OSSC_BROADCAST_ADVERTISE=host:port (or broadcast.advertise), the "
                           "address other nodes reach this one at", u.host);
            goto err;
        }
    }
    snprintf(b->listen, sizeof(b->listen), "%s", lis_v.text ? lis_v.text : b->advertise);

    if (string_setting(src, "OSSC_BROADCAST_SECRET_FILE", "secretFile", PATH_MAX, &file_v) < 0)
        goto err;
    const char *inline_secret = env("OSSC_BROADCAST_SECRET");
    if (file_v.text) {
        if (read_secret_file(b, src, &file_v) < 0)
            goto err;
        b->secret_source = file_v.json ? "broadcast.secretFile" : "OSSC_BROADCAST_SECRET_FILE";
    } else if (inline_secret) {
        size_t n = strlen(inline_secret);
        if (n < 16 || n > sizeof(b->secret)) {
            *src->bad = "OSSC_BROADCAST_SECRET";
            ossc_error_set(src->err, EINVAL, "OSSC_BROADCAST_SECRET must have 16 to %zu bytes",
                           sizeof(b->secret));
            goto err;
        }
        memcpy(b->secret, inline_secret, n);
        b->secret_len = n;
        b->secret_source = "OSSC_BROADCAST_SECRET";
    } else if (u.password[0] && !url_v.json) {
        secret_from_password(b, u.password);
        b->secret_source = "the Redis URL's password";
    } else if (u.password[0]) {
        /* config.json is usually readable by every local user: a secret
         * derived from a password in it would let any of them fetch (and,
         * with the password, serve) model bytes. */
        *src->bad = "broadcast.secretFile";
        ossc_error_set(src->err, EINVAL, "%s: the peer secret is not derived from a Redis "
                       "password kept in a config file: set broadcast.secretFile or "
                       "OSSC_BROADCAST_SECRET_FILE", url_v.where);
        goto err;
    } else {
        *src->bad = "OSSC_BROADCAST_SECRET_FILE";
        ossc_error_set(src->err, EINVAL, "broadcasting needs a shared secret: set "
                       "OSSC_BROADCAST_SECRET_FILE or broadcast.secretFile (or "
                       "OSSC_BROADCAST_SECRET, or a password in the Redis URL)");
        goto err;
    }
    memset(&u, 0, sizeof(u));
    b->enabled = true;
    return 0;
err:
    memset(&u, 0, sizeof(u));
    return -1;
}

int ossc_bc_settings_load(ossc_bc_settings *b, const char *config_path, const char **bad_env,
                          ossc_error *err)
{
    char file[PATH_MAX];
    ossc_error cerr;
    bc_source src = {.file = file, .bad = bad_env, .err = err};
    memset(b, 0, sizeof(*b));
    *bad_env = NULL;
    /* A config file that cannot be read or parsed is the engine's error to
     * report (it refuses the file too): here it only holds no settings. */
    src.cfg = ossc_config_section(config_path, "broadcast", file, sizeof(file), &cerr);
    if (src.cfg && !json_is_object(src.cfg)) {
        json_decref(src.cfg);
        *bad_env = "broadcast";
        return ossc_error_set(err, EINVAL, "config %s: key 'broadcast' must be an object",
                              file);
    }
    int rc = load(b, &src);
    json_decref(src.cfg);
    if (rc < 0) {
        explicit_bzero(b, sizeof(*b));
        return -1;
    }
    return 0;
}

/* Public (ossc.h): the settings as a node would take them, without the
 * secret, for `ossc doctor`.  Costs a config file read and, without an
 * advertised address, one UDP socket (no packet sent). */
OSSC_API int ossc_broadcast_settings(const char *config_path, char **json_out, ossc_error *err)
{
    ossc_bc_settings b;
    const char *bad = NULL;
    *json_out = NULL;
    ossc_error_clear(err);
    if (ossc_bc_settings_load(&b, config_path, &bad, err) < 0)
        return -1;
    json_t *o = b.enabled
        ? json_pack("{s:b, s:s, s:s, s:s, s:i, s:i, s:i, s:s}", "enabled", 1, "redis",
                    b.redis_shown, "advertise", b.advertise, "listen", b.listen, "sources",
                    b.sources, "stall_seconds", b.stall_s, "connect_timeout_ms",
                    b.connect_timeout_ms, "secret_from", b.secret_source)
        : json_pack("{s:b}", "enabled", 0);
    explicit_bzero(&b, sizeof(b));
    *json_out = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!*json_out)
        return ossc_error_set(err, ENOMEM, "out of memory");
    return 0;
}
