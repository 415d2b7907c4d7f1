/* peer_source.c - chunks from the upstream peer, else from OSS
 * (peer_source.h).
 *
 * One fetch: wait (bounded) for the agent's first decision; read role and
 * upstream; as a peer, GET /<vid>/<file> with the chunk's range from the
 * upstream's chunk server through a peer client (engine/peer_client.h: the
 * engine's I/O threads, landing in the cache file, CRC as bytes arrive).
 * A 503 means "not landed there yet": asked again while the upstream is
 * unchanged and making progress (below).  The ask-again happens in done()
 * as soon as the 503 is in, without blocking: the prefetcher polls done() for
 * all its transfers, and a 503 settled inside wait() would hold it (and
 * every other chunk it has in flight) for the next long-poll.  Any other
 * failure: the upstream is reported suspect (the agent relinks), the peer
 * failure counted, and the chunk fetched from OSS in the same wait.
 *
 * Slow or stalled: a 503 carries the bytes landed on the upstream's node so
 * far (OSSC-Arrived, server.h), counted as they arrive there.  While that
 * number grows the upstream is slow, not stalled (on a slow link with a
 * large prefetch window a chunk can take minutes to land there), and is
 * asked again; it is given up once the number has not grown for
 * STALLED_AFTER x the stall limit, or past an absolute cap.  A 503 without
 * the header (an older server) is asked again for LEGACY_DEADLINE x the
 * stall limit from the first 503, as before. */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "client.h" /* ossc_client_count_arrivals */
#include "error.h"
#include "log.h"
#include "nodecache.h" /* ossc_in_hook */
#include "peer_client.h"
#include "peer_source.h"
#include "hostport.h"

/* A peer client per upstream address, shared by this process's fetches;
 * kept until reset (relinks are rare, each client has its I/O threads). */
#define MAX_PEERS 16
/* Connections of a peer client, and the most prefetch transfers this source
 * asks the prefetcher for (prefetcher()): every transfer gets a connection
 * of its own.  A request for a chunk not landed upstream occupies its
 * connection for the server's long-poll; with fewer connections than
 * transfers, requests for chunks already there would queue behind it. */
#define PEER_CONNECTIONS 64
/* 503s, in units of the stall limit (OSSC_BROADCAST_STALL_SECONDS):
 * - STALLED_AFTER: no growth of the upstream's OSSC-Arrived for this long
 *   is a stall.  Twice the limit, not once: when the upstream's own
 *   upstream stalls, it needs up to the stall limit to notice and switch to
 *   OSS (its bytes flow again after that); giving up on it within the same
 *   limit would make every node below a stalled one abandon its healthy
 *   upstream too.
 * - CAP: the most any chunk is waited for from the first 503, progress or
 *   not (default 5 min).  The number counts the whole node's bytes, so it
 *   grows while the upstream lands other chunks: it says the upstream is
 *   alive, not that this chunk is coming (e.g. an upstream whose processes
 *   never read that file); 5 min is ~14x what the default 256 MiB window
 *   takes at 100 Mbit/s.
 * - LEGACY_DEADLINE: a 503 without OSSC-Arrived (no progress known). */
#define STALLED_AFTER 2u
#define CAP 60u
#define LEGACY_DEADLINE 4u
static struct {
    pthread_mutex_t lock;
    pid_t pid;
    int n;
    struct peer {
        char addr[BC_ADDR_MAX];
        ossc_client *cl;
    } peers[MAX_PEERS];
    const ossc_bc_settings *b;
    struct bc_shared *shared;
    const ossc_chunk_source *oss;
    unsigned told_suspect; /* suspect_seq last logged by this process */
    bool told_full;        /* the "no room for another upstream" line was written */
} P = {.lock = PTHREAD_MUTEX_INITIALIZER};

typedef struct peer_fetch {
    ossc_chunk_request rq;
    ossc_chunk_fetch *oss;   /* the fetch from OSS, or NULL */
    ossc_future *fu;         /* the fetch from the peer, or NULL */
    char addr[BC_ADDR_MAX];
    unsigned gen;
    int origin;
    uint64_t first_503_ms;   /* 0: no 503 yet */
    /* The upstream's progress from its 503s (OSSC-Arrived): the largest
     * number seen and when it last grew (0: none from this upstream yet). */
    uint64_t up_arrived;
    uint64_t up_progress_ms;
    /* A peer reply settled by peer_done (fu freed): its outcome, for wait. */
    bool settled;
    int64_t n;
    uint64_t crc;
    bool got_crc;
    bool got_arrived;        /* the reply carried OSSC-Arrived: in arrived */
    uint64_t arrived;
    ossc_error perr;
} peer_fetch;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The host of this node's advertised host:port ("[v6]:port" unbracketed):
 * peer clients connect from it, so a refusing peer's log names this node.
 * Empty when it does not fit. */
static void advertised_host(char *out, size_t cap)
{
    int port;
    if (bc_hostport_split(P.b->advertise, out, cap, &port) < 0)
        out[0] = '\0';
}

static ossc_client *peer_client(const char *addr)
{
    ossc_client *cl = NULL;
    pthread_mutex_lock(&P.lock);
    if (P.pid != getpid()) { /* forked: the parent's clients' threads are not ours */
        P.n = 0;
        P.told_full = false;
        P.pid = getpid();
    }
    for (int i = 0; i < P.n && !cl; i++)
        if (strcmp(P.peers[i].addr, addr) == 0)
            cl = P.peers[i].cl;
    if (!cl && P.n < MAX_PEERS) {
        ossc_error err = {0};
        char self[BC_ADDR_MAX];
        advertised_host(self, sizeof(self));
        ossc_peer_options o = {
            .addr = addr,
            .secret = P.b->secret,
            .secret_len = P.b->secret_len,
            .connect_timeout_ms = P.b->connect_timeout_ms,
            .stall_s = P.b->stall_s,
            .concurrency = PEER_CONNECTIONS,
            .part_size = 1ull << 30, /* one request per chunk (chunks are smaller) */
            .bind_host = self,
        };
        cl = ossc_peer_client_new(&o, &err);
        if (cl) {
            ossc_client_count_arrivals(cl, &P.shared->arrived); /* this node's progress */
            snprintf(P.peers[P.n].addr, sizeof(P.peers[P.n].addr), "%s", addr);
            P.peers[P.n++].cl = cl;
        } else {
            OSSC_WARN("broadcast: no client for peer %s: %s", addr, err.message);
        }
    } else if (!cl && !P.told_full) {
        P.told_full = true;
        OSSC_WARN("broadcast: this process has had %d upstreams already; %s and any later one "
                  "are not used: its chunks come from OSS",
                  MAX_PEERS, addr);
    }
    pthread_mutex_unlock(&P.lock);
    return cl;
}

/* The agent's first decision, waited for at most its connect timeout and
 * a second more (it connects to Redis and joins in that time). */
static bool wait_decided(void)
{
    uint64_t deadline = now_ms() + (uint64_t)P.b->connect_timeout_ms + 1000u;
    while (!atomic_load(&P.shared->decided)) {
        uint64_t t = now_ms();
        if (t >= deadline)
            return false;
        uint64_t left = deadline - t;
        struct timespec ts = {.tv_sec = (time_t)(left / 1000), .tv_nsec = (long)(left % 1000) * 1000000L};
        syscall(SYS_futex, &P.shared->decided, FUTEX_WAIT, 0, &ts, NULL, 0);
    }
    return true;
}

/* The agent's reason to stay out, on stderr once per node. */
static void tell_off_reason(void)
{
    unsigned no = 0;
    if (P.shared->off_reason[0] && atomic_compare_exchange_strong(&P.shared->off_told, &no, 1))
        fprintf(stderr, "oss-connector: %.*s\n", (int)sizeof(P.shared->off_reason),
                P.shared->off_reason);
}

static bool is_suspect(const char *addr)
{
    unsigned s1 = atomic_load(&P.shared->suspect_seq);
    if (s1 & 1)
        return false;
    bool same = strncmp(P.shared->suspect, addr, BC_ADDR_MAX) == 0;
    return atomic_load(&P.shared->suspect_seq) == s1 && same;
}

/* Reports addr to the agent (it relinks within its tick). */
static void report_suspect(const char *addr, const char *why, const char *rel_key)
{
    for (;;) {
        unsigned s = bc_seq_settled(&P.shared->suspect_seq);
        if (atomic_compare_exchange_weak(&P.shared->suspect_seq, &s, s + 1)) {
            snprintf(P.shared->suspect, sizeof(P.shared->suspect), "%s", addr);
            atomic_store(&P.shared->suspect_seq, s + 2);
            break;
        }
    }
    OSSC_WARN("broadcast: upstream %s failed (%s) for %s: fetching from OSS, relinking", addr,
              why, rel_key);
}

static ossc_chunk_fetch *start_oss(peer_fetch *h, ossc_error *err)
{
    h->origin = 0;
    h->oss = P.oss->start(P.oss->ctx, &h->rq, err);
    return h->oss ? (ossc_chunk_fetch *)h : NULL;
}

static bool start_peer(peer_fetch *h, ossc_error *err)
{
    ossc_client *cl = peer_client(h->addr);
    if (!cl)
        return false;
    char key[16];
    snprintf(key, sizeof(key), "%d", h->rq.file);
    ossc_in_hook++;
    h->fu = ossc_get_async_fd(cl, P.shared->vid, key, h->rq.off, h->rq.len, h->rq.fd, h->rq.off,
                              err);
    ossc_in_hook--;
    h->origin = 1;
    return h->fu != NULL;
}

static ossc_chunk_fetch *peer_start(void *ctx, const ossc_chunk_request *rq, ossc_error *err)
{
    (void)ctx;
    peer_fetch *h = calloc(1, sizeof(*h));
    if (!h) {
        ossc_error_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    h->rq = *rq;
    ossc_chunk_fetch *r = NULL;
    bool decided = wait_decided();
    if (decided)
        tell_off_reason();
    if (!rq->oss_only && decided &&
        bc_shared_read(P.shared, h->addr, &h->gen) == BC_ROLE_PEER && h->addr[0] &&
        !is_suspect(h->addr)) {
        ossc_error perr = {0};
        if (start_peer(h, &perr))
            return (ossc_chunk_fetch *)h;
        report_suspect(h->addr, perr.message, rq->key);
    }
    r = start_oss(h, err);
    if (!r)
        free(h);
    return r;
}

/* Ends the peer future h->fu (which must be done, or may block when not)
 * and keeps its outcome in h. */
static void settle_peer(peer_fetch *h)
{
    memset(&h->perr, 0, sizeof(h->perr));
    ossc_in_hook++;
    h->n = ossc_future_wait(h->fu, &h->perr);
    h->got_crc = h->n >= 0 && ossc_future_crc64(h->fu, &h->crc, NULL) >= 0;
    h->got_arrived = ossc_future_peer_arrived(h->fu, &h->arrived) == 1;
    ossc_future_free(h->fu);
    ossc_in_hook--;
    h->fu = NULL;
    h->settled = true;
}

/* A failure of this node's own landing (the cache's file system full, a
 * memory cgroup at its limit), as opposed to the upstream's or the wire's. */
static bool landing_failed_here(const ossc_error *e)
{
    return e->code == ENOSPC || e->code == EDQUOT || e->code == ENOMEM || e->code == EFBIG;
}

static bool peer_ok(const peer_fetch *h)
{
    return h->n == (int64_t)h->rq.len && h->got_crc;
}

/* Past the cap of 503s (CAP x the stall limit from the first one)? */
static bool past_cap(const peer_fetch *h, uint64_t t)
{
    return h->first_503_ms && t - h->first_503_ms >= (uint64_t)P.b->stall_s * CAP * 1000u;
}

/* The settled reply was a 503: notes the upstream's progress and says
 * whether it may be asked again (it grows, or no progress is known and the
 * legacy deadline is not past).  When not, h->perr says why, for the log. */
static bool upstream_progressing(peer_fetch *h)
{
    uint64_t t = now_ms();
    uint64_t stall_ms = (uint64_t)P.b->stall_s * 1000u;
    if (!h->first_503_ms)
        h->first_503_ms = t;
    if (h->got_arrived && (!h->up_progress_ms || h->arrived > h->up_arrived)) {
        h->up_arrived = h->arrived;
        h->up_progress_ms = t;
    }
    if (past_cap(h, t)) {
        snprintf(h->perr.message, sizeof(h->perr.message),
                 "the chunk did not land there within %u s", P.b->stall_s * CAP);
        return false;
    }
    if (h->up_progress_ms && t - h->up_progress_ms >= stall_ms * STALLED_AFTER) {
        snprintf(h->perr.message, sizeof(h->perr.message),
                 "no progress there for %llu s (%llu bytes landed there)",
                 (unsigned long long)((t - h->up_progress_ms) / 1000),
                 (unsigned long long)h->up_arrived);
        return false;
    }
    if (!h->up_progress_ms && t - h->first_503_ms >= stall_ms * LEGACY_DEADLINE) {
        snprintf(h->perr.message, sizeof(h->perr.message),
                 "not landed there within %u s (the upstream reports no progress)",
                 P.b->stall_s * LEGACY_DEADLINE);
        return false;
    }
    return true;
}

/* The settled reply was a 503 and the upstream is still the one asked:
 * ask it again now (the server long-polled already).  False when it cannot
 * (another upstream, no progress there, the request did not start). */
static bool ask_again(peer_fetch *h)
{
    char addr[BC_ADDR_MAX];
    unsigned gen;
    if (h->perr.http_status != 503 || !upstream_progressing(h) ||
        bc_shared_read(P.shared, addr, &gen) != BC_ROLE_PEER || !addr[0] || gen != h->gen ||
        is_suspect(h->addr))
        return false;
    ossc_error err = {0};
    if (!start_peer(h, &err)) {
        h->perr = err;
        return false;
    }
    h->settled = false;
    return true;
}

static bool peer_done(ossc_chunk_fetch *f)
{
    peer_fetch *h = (peer_fetch *)f;
    if (h->oss)
        return P.oss->done(h->oss);
    if (h->settled)
        return true;
    if (!ossc_future_done(h->fu))
        return false;
    settle_peer(h); /* done: returns at once */
    if (!peer_ok(h) && ask_again(h))
        return false; /* not landed upstream yet: asked again, still in flight */
    return true;
}

static int64_t wait_oss(peer_fetch *h, uint64_t *crc, bool *have_crc, ossc_error *err)
{
    int64_t n = P.oss->wait(h->oss, crc, have_crc, err);
    if (n > 0)
        atomic_fetch_add(&P.shared->recv_oss, (unsigned long long)n);
    return n;
}

static int64_t peer_wait(ossc_chunk_fetch *f, uint64_t *crc, bool *have_crc, ossc_error *err)
{
    peer_fetch *h = (peer_fetch *)f;
    while (!h->oss) {
        if (!h->settled)
            settle_peer(h);
        if (peer_ok(h)) {
            *crc = h->crc;
            *have_crc = true;
            atomic_fetch_add(&P.shared->recv_peer, (unsigned long long)h->n);
            return h->n;
        }
        if (ask_again(h))
            continue; /* not landed there yet: ask again (the server waited already) */
        if (h->n < 0 && landing_failed_here(&h->perr)) {
            /* The bytes could not land on this node (a full cache, no
             * memory): not the upstream's fault, and OSS would fail alike. */
            *err = h->perr;
            return -1;
        }
        char addr[BC_ADDR_MAX];
        unsigned gen;
        bool peer = bc_shared_read(P.shared, addr, &gen) == BC_ROLE_PEER && addr[0];
        bool same = peer && gen == h->gen && !is_suspect(h->addr);
        atomic_fetch_add(&P.shared->peer_failures, 1);
        if (!same) {
            /* Relinked meanwhile (or the upstream was given up): the new one. */
            if (peer && !is_suspect(addr) && !past_cap(h, now_ms())) {
                snprintf(h->addr, sizeof(h->addr), "%s", addr);
                h->gen = gen;
                h->up_progress_ms = 0; /* another node: its own count */
                ossc_error perr = {0};
                if (start_peer(h, &perr)) {
                    h->settled = false;
                    continue;
                }
                h->perr = perr;
                h->n = -1;
            }
        } else {
            char why[OSSC_ERR_MSG_MAX + 32];
            if (h->perr.http_status)
                snprintf(why, sizeof(why), "HTTP %d: %s", h->perr.http_status, h->perr.message);
            else
                snprintf(why, sizeof(why), "%s", h->n >= 0 ? "a short reply" : h->perr.message);
            report_suspect(h->addr, why, h->rq.key);
        }
        if (!start_oss(h, err))
            return -1;
    }
    return wait_oss(h, crc, have_crc, err);
}

static void peer_release(ossc_chunk_fetch *f)
{
    peer_fetch *h = (peer_fetch *)f;
    if (h->oss)
        P.oss->release(h->oss);
    if (h->fu) {
        ossc_in_hook++;
        ossc_future_free(h->fu);
        ossc_in_hook--;
    }
    free(h);
}

static int peer_prefetcher(void *ctx)
{
    (void)ctx;
    int n = P.oss->prefetcher ? P.oss->prefetcher(P.oss->ctx) : 1;
    return n < PEER_CONNECTIONS ? n : PEER_CONNECTIONS;
}

static int peer_origin(ossc_chunk_fetch *f)
{
    return ((peer_fetch *)f)->origin;
}

static void peer_distrust(void *ctx, int file)
{
    (void)ctx;
    char addr[BC_ADDR_MAX];
    if (bc_shared_read(P.shared, addr, NULL) == BC_ROLE_PEER && addr[0]) {
        char what[32];
        snprintf(what, sizeof(what), "file %d", file);
        report_suspect(addr, "its bytes failed the CRC-64 check", what);
    }
}

void bc_peer_source_init(ossc_chunk_source *out, const ossc_bc_settings *b,
                         struct bc_shared *shared, const ossc_chunk_source *oss)
{
    P.b = b;
    P.shared = shared;
    P.oss = oss;
    *out = (ossc_chunk_source){
        .ctx = NULL,
        .start = peer_start,
        .done = peer_done,
        .wait = peer_wait,
        .release = peer_release,
        .prefetcher = peer_prefetcher,
        .origin = peer_origin,
        .distrust = peer_distrust,
    };
}

void bc_peer_source_reset(void)
{
    pthread_mutex_lock(&P.lock);
    if (P.pid == getpid())
        for (int i = 0; i < P.n; i++)
            ossc_client_free(P.peers[i].cl);
    P.n = 0;
    P.told_full = false;
    P.pid = getpid();
    pthread_mutex_unlock(&P.lock);
}
