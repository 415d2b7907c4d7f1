/* peer_client.h - the engine as a client of another node's chunk server
 * (broadcast/server.h): the same I/O threads, ranged GETs landed in a
 * descriptor and CRC-64 as bytes arrive, but requests are authenticated
 * with the deployment's shared secret (OSSC-PEER, broadcast/peer_auth.h)
 * instead of OSS signatures, sent path-style to http://<addr>, and never
 * retried: a failure goes back to the caller at once, which picks another
 * source (the next peer or OSS).
 *
 * A request is ossc_get_async_fd(peer, vid, "<file index>", off, len, fd,
 * off, err): GET /<vid>/<file index>, Range bytes=off-(off+len-1), split
 * into part_size requests.  A 503 ("not landed there yet") fails with
 * err.http_status 503, a refused secret with 401; a failure is logged at
 * DEBUG only (the caller reports its fallback).  The config is the
 * engine's defaults, not config.json.  ossc_future_crc64 gives the CRC of
 * the bytes as they arrived, to check against the object's. */
#ifndef OSSC_PEER_CLIENT_H
#define OSSC_PEER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "ossc.h"

typedef struct ossc_peer_options {
    const char *addr;          /* host:port of the peer's chunk server */
    const uint8_t *secret;
    size_t secret_len;
    int connect_timeout_ms;    /* default 1000 */
    int stall_s;               /* no byte for this long: the GET fails (default 5);
                                  keep it above the server's wait_ms (long-poll) */
    int concurrency;           /* transfers at once (default 16) */
    uint64_t part_size;        /* bytes per request: the cache's chunk size */
    const char *bind_host;     /* connect from this local address (the node's
                                  advertised host, so a peer's log names the
                                  node); NULL, a name, or an address this host
                                  does not have: the kernel picks */
} ossc_peer_options;

/* A client for one peer; free with ossc_client_free.  NULL with err. */
ossc_client *ossc_peer_client_new(const ossc_peer_options *o, ossc_error *err);

/* After ossc_future_wait on a peer request: 1 with *arrived set when a
 * reply carried "OSSC-Arrived: <bytes>" (a 503's report of the bytes landed
 * on the peer's node so far, broadcast/server.h; the largest when the
 * request had several parts), 0 when none did (an older server: no
 * progress known), -1 (EINVAL) before the wait. */
int ossc_future_peer_arrived(const ossc_future *f, uint64_t *arrived);

#endif
