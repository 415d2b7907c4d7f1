/* broadcast_node.c - the node cache's side of model broadcasting
 * (broadcast/): the chunk source of a broadcasting node installed at
 * attach, and in the watcher the agent with a cache view over the shared
 * state for its chunk server.
 *
 * The view serves only chunks that have fully landed (READY), holding the
 * file as a user while the bytes go out (the janitor releases a file only
 * when it has no users, under its lock: no hole is punched under a
 * transfer), and never brings back a released file (a late peer gets 404
 * and takes the bytes elsewhere). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cache_internal.h"
#include "log.h"
#include "peer_source.h"

static ossc_chunk_source peer_source;

void nc_bc_attach(void)
{
    if (!NC.s.bc.enabled || NC.source != &ossc_engine_chunk_source)
        return; /* off, or a test's own source */
    bc_peer_source_init(&peer_source, &NC.s.bc, &NC.h->bc, &ossc_engine_chunk_source);
    NC.source = &peer_source;
}

void nc_bc_detach(void)
{
    if (NC.source == &peer_source) {
        bc_peer_source_reset();
        NC.source = &ossc_engine_chunk_source;
    }
}

/* ------------------------------------------------------------ view */

static int *view_fds; /* per file, read-only, opened by the watcher */

static uint64_t view_file_size(void *ctx, uint32_t file)
{
    (void)ctx;
    return NC.files[file].size;
}

static bool range_ready(const struct shm_file *f, uint64_t c0, uint64_t c1, unsigned *absent_at,
                        uint64_t *gc_wait)
{
    for (uint64_t c = c0; c <= c1; c++) {
        unsigned st = atomic_load_explicit(&NC.state[f->first_chunk + c], memory_order_acquire);
        if (st != READY) {
            *absent_at = st;
            *gc_wait = f->first_chunk + c;
            return false;
        }
    }
    return true;
}

static int view_hold(void *ctx, uint32_t file, uint64_t off, uint64_t len, int wait_ms)
{
    (void)ctx;
    struct shm_file *f = &NC.files[file];
    if (len == 0 || off >= f->size || len > f->size - off)
        return -1;
    nc_file_lock(f);
    bool released = atomic_load(&f->released) != 0;
    if (!released)
        atomic_fetch_add(&f->users, 1);
    nc_file_unlock(f);
    if (released)
        return -1;
    uint64_t c0 = off / NC.h->chunk_size, c1 = (off + len - 1) / NC.h->chunk_size;
    uint64_t deadline = nc_now_ms() + (uint64_t)wait_ms;
    for (;;) {
        unsigned st = READY;
        uint64_t gc = 0;
        if (range_ready(f, c0, c1, &st, &gc))
            return 1;
        uint64_t t = nc_now_ms();
        /* FAILED, or nobody on this node loads any more: not coming. */
        bool loading = atomic_load(&NC.h->leader_pid) != 0 && nc_users_alive(true);
        if (st == FAILED || !loading || t >= deadline) {
            ossc_cache_user_drop((int)file);
            return st == FAILED || !loading ? -1 : 0;
        }
        uint64_t left = deadline - t;
        nc_futex_wait(&NC.state[gc], st, left < 200 ? (int)left : 200);
    }
}

static void view_unhold(void *ctx, uint32_t file)
{
    (void)ctx;
    ossc_cache_user_drop((int)file);
}

static int view_fd(void *ctx, uint32_t file)
{
    (void)ctx;
    return view_fds ? view_fds[file] : -1;
}

static void view_served(void *ctx, uint64_t bytes)
{
    (void)ctx;
    atomic_fetch_add(&NC.h->bc.forwarded, bytes);
}

/* One line a second at most: anyone who can reach the port can send
 * refused requests as fast as the network allows. */
static void view_refused(void *ctx, const char *peer, const char *why)
{
    static ossc_log_budget budget;
    uint64_t held_back;
    (void)ctx;
    if (!ossc_log_budget_take(&budget, 1000, &held_back))
        return;
    char more[96] = "";
    if (held_back)
        snprintf(more, sizeof more, " (and %" PRIu64 " more refused requests since the last "
                 "such line)", held_back);
    OSSC_WARN("broadcast: refused peer %s: %s%s", peer, why, more);
}

static uint64_t view_arrived(void *ctx)
{
    (void)ctx;
    return atomic_load(&NC.h->bc.arrived);
}

static void view_thread_enter(void *ctx)
{
    (void)ctx;
    ossc_in_hook = 1; /* a server thread of ours: never into the hooks */
}

/* ------------------------------------------------------------ watcher */

bool nc_bc_watching(void)
{
    return NC.s.bc.enabled;
}

void nc_bc_watch_start(void)
{
    if (!NC.s.bc.enabled)
        return;
    uint32_t n = NC.h->nfiles;
    bc_version_file *vf = calloc(n ? n : 1, sizeof(*vf));
    view_fds = calloc(n ? n : 1, sizeof(*view_fds));
    if (!vf || !view_fds) {
        free(vf);
        OSSC_WARN("broadcast: off (out of memory)");
        atomic_store(&NC.h->bc.decided, 1);
        nc_futex_wake(&NC.h->bc.decided);
        return;
    }
    bool crc = true;
    for (uint32_t i = 0; i < n; i++) {
        vf[i] = (bc_version_file){NC.files[i].rel, NC.files[i].size, NC.files[i].object_crc};
        crc = crc && NC.files[i].has_crc;
        view_fds[i] = nc_open_data((int)i, O_RDONLY);
    }
    bc_agent_model m = {.oss_path = NC.h->oss_path, .files = vf, .nfiles = n, .all_have_crc = crc};
    bc_cache_view v = {
        .ctx = NULL,
        .nfiles = n,
        .file_size = view_file_size,
        .hold = view_hold,
        .unhold = view_unhold,
        .fd = view_fd,
        .served = view_served,
        .refused = view_refused,
        .thread_enter = view_thread_enter,
        .arrived = view_arrived,
    };
    bc_agent_start(&NC.s.bc, &m, &NC.h->bc, &v);
    free(vf);
}

void nc_bc_watch_tick(void)
{
    if (!NC.s.bc.enabled)
        return;
    uint32_t done = 0;
    for (uint32_t i = 0; i < NC.h->nfiles; i++)
        done += atomic_load(&NC.files[i].verify) == VERIFIED;
    bc_agent_tick(done, done == NC.h->nfiles);
}

void nc_bc_watch_stop(void)
{
    if (NC.s.bc.enabled)
        bc_agent_stop();
}
