/* agent.c - the broadcasting agent in a node's watcher (agent.h).
 *
 * Start: version id from the model, chunk server on the listen address,
 * Redis connect (bounded), join (the next seq: the tail of the chains),
 * first decision published.  Each tick: a heartbeat once a second (the
 * node's hash with its progress, renewed TTL), the live members read back
 * and the upstream recomputed (a dead node's hash expires: its successor
 * relinks to the next live predecessor; a suspect reported by a fetcher is
 * left out of this node's view).  Redis failing mid-way: the upstream is
 * kept (bytes keep flowing node to node), a suspect upstream means OSS, and
 * Redis is tried again every few seconds. */
#include <errno.h>
#include <stdarg.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "agent.h"
#include "log.h"
#include "registry.h"

#define HEARTBEAT_MS 1000
#define RECONNECT_MS 3000
#define NODE_TTL_S 5
#define MAX_EXCLUDED 64

static struct {
    bool on;
    const ossc_bc_settings *b;
    struct bc_shared *sh;
    bc_redis_url url;
    bc_registry *reg;
    bc_server *srv;
    bc_cache_view view;
    bc_node_info self;
    uint32_t nfiles;
    uint64_t last_beat_ms, last_try_ms;
    unsigned seen_suspect;
    char excluded[MAX_EXCLUDED][BC_ADDR_MAX];
    int nexcluded;
    bool redis_told;
} A;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Publishes role and upstream (seqlock) and, the first time, wakes the
 * fetchers waiting for a decision.  Logs a change. */
static void publish(uint32_t role, const char *upstream)
{
    struct bc_shared *sh = A.sh;
    bool first = !atomic_load(&sh->decided);
    if (!first && sh->role == role && strcmp(sh->upstream, upstream) == 0)
        return;
    if (role == BC_ROLE_PEER)
        OSSC_INFO("broadcast: node %s receives from %s%s%s%s", A.self.addr, upstream,
                  first ? "" : " (was ", first ? "" : (sh->role == BC_ROLE_PEER ? sh->upstream : "OSS"),
                  first ? "" : ")");
    else
        OSSC_INFO("broadcast: node %s pulls from OSS%s", A.self.addr,
                  first ? "" : " (its upstream is gone)");
    if (!first && role == BC_ROLE_PEER)
        OSSC_INFO("broadcast: relinked");
    unsigned s = atomic_load(&sh->seq);
    atomic_store(&sh->seq, s + 1);
    sh->role = role;
    snprintf(sh->upstream, sizeof(sh->upstream), "%s", role == BC_ROLE_PEER ? upstream : "");
    atomic_store(&sh->seq, s + 2);
    snprintf(A.self.upstream, sizeof(A.self.upstream), "%s", sh->upstream);
    if (first) {
        atomic_store(&sh->decided, 1);
        syscall(SYS_futex, &sh->decided, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
    }
}

/* The node stays out of broadcasting: why, in the log and (by the first
 * application process that meets it, peer_source.c) on stderr, once. */
__attribute__((format(printf, 1, 2))) static void stay_out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(A.sh->off_reason, sizeof(A.sh->off_reason), fmt, ap);
    va_end(ap);
    OSSC_WARN("%s", A.sh->off_reason);
    publish(BC_ROLE_OSS, "");
}

static bool excluded_addr(const char *addr)
{
    for (int i = 0; i < A.nexcluded; i++)
        if (strcmp(A.excluded[i], addr) == 0)
            return true;
    return false;
}

/* chain.h's predicate over member ids: members are looked up by id. */
struct members { const bc_node_info *m; size_t n; };
static bool excluded_id(const char *id, void *ctx)
{
    const struct members *ms = ctx;
    for (size_t i = 0; i < ms->n; i++)
        if (strcmp(ms->m[i].id, id) == 0)
            return excluded_addr(ms->m[i].addr);
    return false;
}

/* A fetcher gave up on an upstream: leave it out from now on. */
static bool take_suspect(void)
{
    unsigned s = atomic_load(&A.sh->suspect_seq);
    if (s == A.seen_suspect || (s & 1))
        return false;
    char addr[BC_ADDR_MAX];
    memcpy(addr, A.sh->suspect, sizeof(addr));
    addr[sizeof(addr) - 1] = '\0';
    if (atomic_load(&A.sh->suspect_seq) != s)
        return false;
    A.seen_suspect = s;
    if (!addr[0] || excluded_addr(addr) || A.nexcluded >= MAX_EXCLUDED)
        return true;
    snprintf(A.excluded[A.nexcluded++], BC_ADDR_MAX, "%s", addr);
    OSSC_WARN("broadcast: node %s gives up on peer %s (it failed or sent bad bytes)",
              A.self.addr, addr);
    return true;
}

static void drop_redis(const char *why)
{
    if (!A.redis_told)
        OSSC_WARN("broadcast: Redis %s: %s: keeping upstream %s, Redis retried every %d s",
                  A.b->redis_shown, why, A.self.upstream[0] ? A.self.upstream : "OSS",
                  RECONNECT_MS / 1000);
    A.redis_told = true;
    bc_registry_free(A.reg);
    A.reg = NULL;
}

/* Reads the live members and publishes this node's upstream. */
static void relink(void)
{
    bc_node_info *m = NULL;
    size_t n = 0;
    ossc_error err = {0};
    if (bc_registry_members(A.reg, A.sh->vid, &m, &n, &err) < 0) {
        drop_redis(err.message);
        return;
    }
    struct members ms = {m, n};
    int up = bc_chain_upstream(m, n, A.self.id, A.b->sources, excluded_id, &ms);
    if (up >= 0)
        publish(BC_ROLE_PEER, m[up].addr);
    else
        publish(BC_ROLE_OSS, "");
    free(m);
}

static void fill_progress(uint32_t files_done, bool complete)
{
    A.self.recv_oss = atomic_load(&A.sh->recv_oss);
    A.self.recv_peer = atomic_load(&A.sh->recv_peer);
    A.self.forwarded = atomic_load(&A.sh->forwarded);
    A.self.files_done = files_done;
    A.self.complete = complete;
}

static bool connect_redis(void)
{
    ossc_error err = {0};
    A.reg = bc_registry_connect(&A.url, A.b->connect_timeout_ms, &err);
    return A.reg != NULL || (stay_out("broadcast: Redis %s unreachable (%s): node %s loads "
                                      "from OSS", A.b->redis_shown, err.message, A.self.addr),
                             false);
}

void bc_agent_start(const ossc_bc_settings *b, const bc_agent_model *m, struct bc_shared *sh,
                    const bc_cache_view *view)
{
    memset(&A, 0, sizeof(A));
    A.b = b;
    A.sh = sh;
    A.nfiles = (uint32_t)m->nfiles;
    atomic_store(&sh->agent_pid, (int)getpid());
    bc_version_id(m->oss_path, m->files, m->nfiles, sh->vid);
    snprintf(A.self.addr, sizeof(A.self.addr), "%s", b->advertise);
    gethostname(A.self.hostname, sizeof(A.self.hostname));
    A.self.hostname[sizeof(A.self.hostname) - 1] = '\0';
    A.self.pid = (int)getpid();
    unsigned char rnd[6] = {0};
    RAND_bytes(rnd, sizeof(rnd));
    snprintf(A.self.id, sizeof(A.self.id), "%.30s-%d-%02x%02x%02x%02x%02x%02x", A.self.hostname,
             A.self.pid, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    for (size_t i = 0; i < m->nfiles; i++)
        A.self.total += m->files[i].size;

    ossc_error err = {0};
    /* Once per node (the agent), not per process: a secret others can read
     * lets any local user join the chain. */
    if (b->secret_file_mode & 0044)
        OSSC_WARN("broadcast: the secret file %s is readable by other users (mode %04o): any "
                  "of them can read the secret and join this deployment's chain; make it "
                  "0600 (or 0400)",
                  b->secret_file, b->secret_file_mode);
    if (!m->all_have_crc) {
        stay_out("broadcast: off for %s: the object store sent no CRC-64 for some files, so "
                 "bytes from peers could not be checked; loading from OSS", m->oss_path);
        return;
    }
    if (bc_redis_url_parse(b->redis_url, &A.url, &err) < 0) {
        stay_out("broadcast: off: %s", err.message);
        return;
    }
    A.view = *view;
    A.view.vid = sh->vid;
    bc_server_options so = {
        .listen = b->listen,
        .advertise = b->advertise, /* what it registers: peers' MACs name it */
        .secret = b->secret,
        .secret_len = b->secret_len,
        /* A node's processes each have a peer client of up to 64
         * connections (peer_source.c: one per prefetch transfer): room for
         * several of them before one is refused. */
        .max_connections = 512,
        .per_ip = 256,
        .wait_ms = 2000,
        .timeout_s = 30,
    };
    A.srv = bc_server_start(&so, &A.view, &err);
    if (!A.srv) {
        stay_out("broadcast: off: cannot serve chunks on %s (%s): loading from OSS", b->listen,
                 err.message);
        return;
    }
    if (!connect_redis()) {
        bc_server_stop(A.srv);
        A.srv = NULL;
        return;
    }
    fill_progress(0, false);
    if (bc_registry_join(A.reg, sh->vid, m->oss_path, A.nfiles, &A.self, NODE_TTL_S, &err) < 0) {
        bc_registry_free(A.reg);
        A.reg = NULL;
        bc_server_stop(A.srv);
        A.srv = NULL;
        stay_out("broadcast: cannot join at Redis %s (%s): node %s loads from OSS",
                 b->redis_shown, err.message, A.self.addr);
        return;
    }
    A.on = true;
    A.last_beat_ms = now_ms();
    OSSC_INFO("broadcast: node %s (%s) joined %s (version %s) as number %lld", A.self.addr,
              A.self.id, m->oss_path, sh->vid, A.self.seq);
    relink();
    if (!atomic_load(&sh->decided))
        publish(BC_ROLE_OSS, "");
}

void bc_agent_tick(uint32_t files_done, bool complete)
{
    if (!A.on)
        return;
    bool suspect = take_suspect();
    uint64_t t = now_ms();
    if (!A.reg) {
        /* Without Redis: a suspect upstream means OSS; try Redis again now and then. */
        if (suspect && excluded_addr(A.self.upstream))
            publish(BC_ROLE_OSS, "");
        if (t - A.last_try_ms < RECONNECT_MS)
            return;
        A.last_try_ms = t;
        ossc_error err = {0};
        A.reg = bc_registry_connect(&A.url, A.b->connect_timeout_ms, &err);
        if (!A.reg)
            return;
        OSSC_INFO("broadcast: Redis %s is back", A.b->redis_shown);
        A.redis_told = false;
        A.last_beat_ms = 0;
    }
    if (!suspect && t - A.last_beat_ms < HEARTBEAT_MS)
        return;
    if (t - A.last_beat_ms >= HEARTBEAT_MS) {
        fill_progress(files_done, complete);
        ossc_error err = {0};
        if (bc_registry_heartbeat(A.reg, A.sh->vid, &A.self, NODE_TTL_S, &err) < 0) {
            drop_redis(err.message);
            return;
        }
        A.last_beat_ms = t;
    }
    relink();
}

void bc_agent_stop(void)
{
    if (A.reg) {
        bc_registry_leave(A.reg, A.sh->vid, A.self.id);
        bc_registry_free(A.reg);
        A.reg = NULL;
    }
    if (A.srv) {
        bc_server_stop(A.srv);
        A.srv = NULL;
    }
    A.on = false;
}
