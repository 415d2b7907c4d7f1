/* server.h - a node's chunk server: serves the chunks of the model its node
 * cache holds to the other nodes of the deployment (libmicrohttpd).
 *
 * Protocol: GET /<vid>/<file index> with "Range: bytes=<a>-<b>" and the
 * OSSC-PEER Authorization (peer_auth.h).  Replies:
 *   206  the bytes (sendfile from the cache file: no copy), Content-Range;
 *        only ranges whose chunks have fully landed here are sent
 *   401  bad or missing authentication (the refusal is logged, naming the
 *        peer's address; never the secret)
 *   404  unknown vid or file, or the bytes are no longer here (released)
 *        and nobody on this node fetches them
 *   416  a range that is not inside the file
 *   400  anything else malformed (peer_request.h), or a request body;
 *        405 a method other than GET; 431 (from MHD) request line and
 *        headers over 32 KiB
 *   503  not landed yet after half of wait_ms (the peer asks again), with
 *        "OSSC-Arrived: <bytes>" when the view has arrived(): the bytes
 *        landed on this node so far, by which the peer tells a slow node
 *        (the number grows) from a stalled one (broadcast/peer_source.c)
 * Authentication comes first: nothing of an unauthenticated request (path,
 * method, range) is looked at, and the view is not called but refused().
 * No part of the request reaches the file system: the path is parsed into
 * (vid, index) and served from descriptors the cache view gives.  Bounds:
 * max_connections in all, per_ip per address (a connection past either is
 * accepted and closed unanswered), a 32 KiB request-memory limit and an
 * idle timeout.  One thread per connection: hold() may block its request
 * only.  SIGPIPE is blocked in the server's threads. */
#ifndef OSSC_BC_SERVER_H
#define OSSC_BC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ossc.h"

/* What the server needs of a node cache (agent.c implements it over the
 * shared state; a test over plain files). */
typedef struct bc_cache_view {
    void *ctx;
    const char *vid;
    uint32_t nfiles;
    uint64_t (*file_size)(void *ctx, uint32_t file);
    /* Waits up to wait_ms for [off, off+len) of file to have landed here
     * and, when it has, holds the file (its chunks are not released) until
     * unhold: 1 landed and held, 0 not yet (try later), -1 not here and not
     * coming (404). */
    int (*hold)(void *ctx, uint32_t file, uint64_t off, uint64_t len, int wait_ms);
    void (*unhold)(void *ctx, uint32_t file);
    /* A read-only descriptor of the file's bytes, owned by the view. */
    int (*fd)(void *ctx, uint32_t file);
    /* Counters and log: bytes sent; a refused peer (why has no secret). */
    void (*served)(void *ctx, uint64_t bytes);
    void (*refused)(void *ctx, const char *peer_addr, const char *why);
    /* Called first in every server thread (the agent marks its threads as
     * ours under LD_PRELOAD); may be NULL. */
    void (*thread_enter)(void *ctx);
    /* Bytes landed on this node so far, counted as they arrive (never
     * decreasing), for the 503's BC_ARRIVED_HEADER; NULL: no header. */
    uint64_t (*arrived)(void *ctx);
} bc_cache_view;

/* The 503's progress header (a decimal byte count). */
#define BC_ARRIVED_HEADER "OSSC-Arrived"

typedef struct bc_server_options {
    const char *listen;        /* "host:port" (IPv4 literal or name; port 0 = any) */
    const char *advertise;     /* the host:port peers address this node by (what it
                                  registered): a request MAC must name it (peer_auth.h);
                                  NULL: the listen host with the bound port */
    const uint8_t *secret;
    size_t secret_len;
    int max_connections;       /* default 64 */
    int per_ip;                /* default 16 */
    int wait_ms;               /* per request, default 2000: half long-poll before 503, the
                                  rest (at least) its turn at the send gate */
    int timeout_s;             /* idle connection timeout, default 30 */
    int send_slots;            /* 206 bodies going out at once, default BC_SEND_SLOTS (4) */
} bc_server_options;

typedef struct bc_server bc_server;

/* Binds (SO_REUSEADDR, never SO_REUSEPORT: a second server on the same
 * port fails) and starts serving; NULL with err naming the address and why
 * (e.g. EADDRINUSE, EINVAL for a malformed address or no secret).  The
 * secret and the view are copied; the view's ctx must outlive the server. */
bc_server *bc_server_start(const bc_server_options *o, const bc_cache_view *v, ossc_error *err);
/* The port it listens on (after port 0). */
int bc_server_port(const bc_server *s);
/* Stops: no new request, requests in flight end (a long-poll may take up
 * to wait_ms), every hold is unheld, then returns; the secret is wiped. */
void bc_server_stop(bc_server *s);

#endif
