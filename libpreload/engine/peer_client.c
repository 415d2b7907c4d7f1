/* peer_client.c - an ossc_client whose target is another node's chunk
 * server (peer_client.h): the engine's I/O threads, reply checks and CRC
 * as bytes arrive, with OSSC-PEER signing (sign.c) and no retry.
 *
 * The configuration is the engine's defaults, not config.json: what a
 * peer client does must not change with the settings of an OSS client
 * (a retry budget, a slow-speed floor), and loading it again per peer
 * would re-read the file for every relink. */
#include "peer_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "error.h"
#include "log.h"

#define PEER_CONNECT_TIMEOUT_MS 1000
#define PEER_STALL_S 5
#define PEER_CONCURRENCY 16
/* Transfers per I/O thread: a thread's CRC and copy keep up with a few
 * GB/s, so a 16-transfer client gets two threads. */
#define PEER_TRANSFERS_PER_THREAD 8
#define PEER_THREADS_MAX 4

/* The config of a peer client: defaults, never retried, stalls cut after
 * stall_s with no byte (a floor of 1 byte/s over that window). */
static void peer_config(const ossc_peer_options *o, ossc_config *cfg)
{
    ossc_config_defaults(cfg);
    cfg->http.max_retries = 0;
    cfg->http.connect_timeout_ms =
        o->connect_timeout_ms > 0 ? o->connect_timeout_ms : PEER_CONNECT_TIMEOUT_MS;
    cfg->http.low_speed_limit_bytes = 1;
    cfg->http.low_speed_timeout_s = o->stall_s > 0 ? o->stall_s : PEER_STALL_S;
    if (o->part_size) {
        cfg->http.part_size = o->part_size;
        cfg->http.part_size_set = true; /* the cache's chunk: one request each */
    }
    cfg->http.path_style = true;
    cfg->http.sign_version = OSSC_SIGN_PEER;
}

/* The address family a connection to addr ("host:port", "[v6]:port")
 * will use as far as the text says: AF_INET6 for a bracketed address,
 * AF_INET otherwise (an IPv4 address, or a name: broadcasting resolves
 * names to IPv4). */
static int peer_family(const char *addr)
{
    return addr[0] == '[' ? AF_INET6 : AF_INET;
}

/* True when host is a numeric address of this host of family `family`: a
 * socket binds to it (port 0, closed at once; nothing is sent).  An
 * address of the other family is never used as the source (a connection
 * from IPv6 to IPv4 cannot be made).  Cost: one socket per peer client. */
static bool local_address(const char *host, int family)
{
    struct sockaddr_storage ss = {0};
    socklen_t len = 0;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        len = sizeof(*in);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        len = sizeof(*in6);
    } else {
        return false;
    }
    if (ss.ss_family != family)
        return false;
    int s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = s >= 0 && bind(s, (struct sockaddr *)&ss, len) == 0;
    if (s >= 0)
        close(s);
    return ok;
}

ossc_client *ossc_peer_client_new(const ossc_peer_options *o, ossc_error *err)
{
    ossc_error_clear(err);
    if (!o || !o->addr || !o->addr[0]) {
        ossc_error_set(err, EINVAL, "peer client: no peer address (host:port)");
        return NULL;
    }
    if (!o->secret || o->secret_len == 0) {
        ossc_error_set(err, EINVAL, "peer client for %s: no shared secret", o->addr);
        return NULL;
    }
    if (strstr(o->addr, "://")) {
        ossc_error_set(err, EINVAL, "peer client: address '%s' is not host:port", o->addr);
        return NULL;
    }
    ossc_client *c = calloc(1, sizeof *c);
    if (!c || !(c->peer_secret = malloc(o->secret_len))) {
        free(c);
        ossc_error_set(err, ENOMEM, "peer client for %s: out of memory", o->addr);
        return NULL;
    }
    memcpy(c->peer_secret, o->secret, o->secret_len);
    c->peer_secret_len = o->secret_len;
    pthread_mutex_init(&c->cred.lock, NULL); /* unused; ossc_client_free destroys it */
    c->profile = OSSC_PROFILE_MODEL;
    peer_config(o, &c->cfg);

    char url[300];
    snprintf(url, sizeof url, "http://%s", o->addr);
    if (ossc_endpoint_parse(url, true, &c->target.endpoint, err) < 0)
        goto err;
    c->target.sign_version = OSSC_SIGN_PEER;
    c->target.peer_secret = c->peer_secret;
    c->target.peer_secret_len = c->peer_secret_len;
    if (strlen(o->addr) >= sizeof(c->target.peer_addr)) {
        ossc_error_set(err, EINVAL, "peer client: address '%.64s...' is too long", o->addr);
        goto err;
    }
    snprintf(c->target.peer_addr, sizeof(c->target.peer_addr), "%s", o->addr);
    if (o->bind_host && o->bind_host[0] && strlen(o->bind_host) < sizeof(c->target.bind_host)) {
        if (local_address(o->bind_host, peer_family(o->addr)))
            snprintf(c->target.bind_host, sizeof(c->target.bind_host), "%s", o->bind_host);
        else
            OSSC_DEBUG("peer client for %s: %s is not a local address of the peer's family: "
                       "not bound to it", o->addr, o->bind_host);
    }

    int transfers = o->concurrency > 0 ? o->concurrency : PEER_CONCURRENCY;
    int threads = (transfers + PEER_TRANSFERS_PER_THREAD - 1) / PEER_TRANSFERS_PER_THREAD;
    if (threads > PEER_THREADS_MAX)
        threads = PEER_THREADS_MAX;
    int per = (transfers + threads - 1) / threads;
    c->http = ossc_http_new(&c->cfg, &c->target, threads, per, 0, err);
    if (!c->http)
        goto err;
    OSSC_DEBUG("peer client for %s (%d x %d transfers, %" PRIu64 "-byte parts, stall %d s, "
               "from %s)", url, threads, per, c->cfg.http.part_size,
               c->cfg.http.low_speed_timeout_s,
               c->target.bind_host[0] ? c->target.bind_host : "any address");
    return c;

err:
    ossc_client_free(c);
    return NULL;
}
