/* test_peer_source.c - the chunk source of a broadcasting node
 * (broadcast/peer_source.c) against a real chunk server (broadcast/
 * server.c) over a fake cache view, with a fake object store:
 *
 * - a chunk not landed upstream (503 after the long-poll) is asked for
 *   again from done(), the prefetcher's poll, without anyone calling
 *   wait(): done() stays false while the server keeps answering 503, and
 *   turns true once the bytes landed there (a 503 settled only in wait()
 *   held the prefetcher, and every chunk it had in flight, for the next
 *   long-poll);
 * - the bytes then come from the peer (origin 1), with their CRC-64; the
 *   object store is never asked;
 * - a slow upstream (its 503s' OSSC-Arrived keeps growing: bytes keep
 *   landing there) is asked again past the old deadline (4 x the stall
 *   limit from the first 503) and the chunk then comes from it;
 * - a stalled upstream (OSSC-Arrived stops growing) is given up: done()
 *   turns true, wait() reports it suspect and takes the chunk from the
 *   object store;
 * - a server without OSSC-Arrived (an older one) is given up 4 x
 *   OSSC_BROADCAST_STALL_SECONDS after the first 503, as before.
 * The server with OSSC-Arrived and the one without are two servers over
 * the same fake node (one's view has arrived(), the other's not).  First,
 * the header itself: a 503 carries the view's count, the engine's peer
 * client surfaces it (ossc_future_peer_arrived), and a client counts the
 * bytes it lands (ossc_client_count_arrivals).
 *
 * Waits are on events (the fake's condition variable, done() turning
 * true), with generous deadlines; nothing asserts a duration. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "client.h" /* ossc_client_count_arrivals */
#include "crc64.h"
#include "deadline.h"
#include "ossc.h"
#include "peer_client.h"
#include "peer_source.h"
#include "server.h"
#include "tmpfiles.h"

#define VID "0123456789abcdef0123456789abcdef"
#define SECRET "deployment secret: s3cr3t-value"
#define FILE_SIZE (1024 * 1024 + 77)
#define WAIT_EVENT_MS 60000 /* deadline of every wait for an event */
#define LONG_POLL_MS 50     /* the server's long-poll: 503s come quickly */

/* The fake node cache upstream: one file, landed or not. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int fd;
    unsigned char *bytes;
    bool landed;
    int hold_calls;
    bool progressing; /* each hold call lands "bytes" elsewhere on the node */
    uint64_t arrived;
} up = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static uint64_t up_size(void *ctx, uint32_t file)
{
    (void)ctx;
    (void)file;
    return FILE_SIZE;
}

static int up_hold(void *ctx, uint32_t file, uint64_t off, uint64_t len, int wait_ms)
{
    (void)ctx;
    (void)file;
    (void)off;
    (void)len;
    struct timespec until;
    ossc_deadline_in(&until, CLOCK_REALTIME, wait_ms);
    pthread_mutex_lock(&up.lock);
    up.hold_calls++;
    if (up.progressing)
        up.arrived += 4096;
    pthread_cond_broadcast(&up.cond);
    while (!up.landed)
        if (pthread_cond_timedwait(&up.cond, &up.lock, &until) == ETIMEDOUT)
            break;
    int rc = up.landed ? 1 : 0;
    pthread_mutex_unlock(&up.lock);
    return rc;
}

static void up_unhold(void *ctx, uint32_t file)
{
    (void)ctx;
    (void)file;
}

static int up_fd(void *ctx, uint32_t file)
{
    (void)ctx;
    (void)file;
    return up.fd;
}

static void up_served(void *ctx, uint64_t bytes)
{
    (void)ctx;
    (void)bytes;
}

static void up_refused(void *ctx, const char *peer, const char *why)
{
    (void)ctx;
    fprintf(stderr, "refused %s: %s\n", peer, why);
}

static uint64_t up_arrived(void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&up.lock);
    uint64_t n = up.arrived;
    pthread_mutex_unlock(&up.lock);
    return n;
}

static void set_progressing(bool on)
{
    pthread_mutex_lock(&up.lock);
    up.progressing = on;
    pthread_mutex_unlock(&up.lock);
}

/* The view of a server without OSSC-Arrived (an older one). */
static const bc_cache_view view = {
    .vid = VID,
    .nfiles = 1,
    .file_size = up_size,
    .hold = up_hold,
    .unhold = up_unhold,
    .fd = up_fd,
    .served = up_served,
    .refused = up_refused,
};

/* The same node, reporting its progress in its 503s. */
static const bc_cache_view view_with_progress = {
    .vid = VID,
    .nfiles = 1,
    .file_size = up_size,
    .hold = up_hold,
    .unhold = up_unhold,
    .fd = up_fd,
    .served = up_served,
    .refused = up_refused,
    .arrived = up_arrived,
};

static void set_landed(bool landed)
{
    pthread_mutex_lock(&up.lock);
    up.landed = landed;
    pthread_cond_broadcast(&up.cond);
    pthread_mutex_unlock(&up.lock);
}

static int hold_calls(void)
{
    pthread_mutex_lock(&up.lock);
    int n = up.hold_calls;
    pthread_mutex_unlock(&up.lock);
    return n;
}

/* ------------------------------------------------------------ fake OSS */

static struct {
    int starts;
    uint64_t crc;
} oss;

typedef struct oss_fetch {
    ossc_chunk_request rq;
} oss_fetch;

static ossc_chunk_fetch *oss_start(void *ctx, const ossc_chunk_request *rq, ossc_error *err)
{
    (void)ctx;
    (void)err;
    oss.starts++;
    oss_fetch *h = calloc(1, sizeof *h);
    h->rq = *rq;
    /* "OSS" lands the same bytes at once. */
    CHECK(pwrite(rq->fd, up.bytes + rq->off, rq->len, (off_t)rq->off) == (ssize_t)rq->len);
    return (ossc_chunk_fetch *)h;
}

static bool oss_done(ossc_chunk_fetch *h)
{
    (void)h;
    return true;
}

static int64_t oss_wait(ossc_chunk_fetch *h, uint64_t *crc, bool *have_crc, ossc_error *err)
{
    (void)err;
    oss_fetch *f = (oss_fetch *)h;
    *crc = ossc_crc64_update(0, up.bytes + f->rq.off, f->rq.len);
    *have_crc = true;
    return (int64_t)f->rq.len;
}

static void oss_release(ossc_chunk_fetch *h)
{
    free(h);
}

static const ossc_chunk_source fake_oss = {
    .start = oss_start,
    .done = oss_done,
    .wait = oss_wait,
    .release = oss_release,
};

/* ------------------------------------------------------------ helpers */

static struct bc_shared shared;
static ossc_bc_settings settings;
static ossc_chunk_source src;

static void make_upstream_file(void)
{
    up.bytes = malloc(FILE_SIZE);
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < FILE_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        up.bytes[i] = (unsigned char)x;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/upstream.data", tmpdir);
    int w = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(w >= 0 && write(w, up.bytes, FILE_SIZE) == FILE_SIZE);
    close(w);
    up.fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(up.fd >= 0);
}

/* This node receives from addr (the agent's published decision). */
static void decide_peer(const char *addr)
{
    snprintf(shared.upstream, sizeof shared.upstream, "%s", addr);
    shared.role = BC_ROLE_PEER;
    atomic_store(&shared.seq, atomic_load(&shared.seq) + 2); /* a new decision */
    snprintf(shared.vid, sizeof shared.vid, "%s", VID);
    atomic_store(&shared.decided, 1);
}

static int out_file(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, FILE_SIZE) == 0);
    return fd;
}

static bool holds_upstream_bytes(int fd, uint64_t off, uint64_t len)
{
    unsigned char *got = malloc(len);
    bool same = pread(fd, got, len, (off_t)off) == (ssize_t)len &&
                memcmp(got, up.bytes + off, len) == 0;
    free(got);
    return same;
}

static uint64_t elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)((now.tv_sec - since->tv_sec) * 1000 +
                      (now.tv_nsec - since->tv_nsec) / 1000000);
}

/* Polls done() as the prefetcher does (1 ms apart) until it is true or
 * `until_holds` server hold calls have been seen while it stayed false;
 * true when done() turned true first. */
static bool poll_done(ossc_chunk_fetch *f, int until_holds)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (src.done(f))
            return true;
        if (until_holds && hold_calls() >= until_holds)
            return false;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >
            WAIT_EVENT_MS) {
            CHECK(!"no event within the deadline");
            return false;
        }
        struct timespec ms = {0, 1000000L};
        nanosleep(&ms, NULL);
    }
}

/* ------------------------------------------------------------ tests */

static void asks_again_from_done(bc_server *s)
{
    set_landed(false);
    int before = hold_calls();
    int fd = out_file("asks_again.out");
    ossc_chunk_request rq = {.file = 0, .bucket = "b", .key = "k", .off = 4096,
                             .len = 512 * 1024, .fd = fd};
    ossc_error err = {0};
    oss.starts = 0;
    settings.stall_s = 600; /* no deadline within this test */
    ossc_chunk_fetch *f = src.start(src.ctx, &rq, &err);
    CHECK(f != NULL);
    /* Three long-polls answered 503 with nobody in wait(): done() asked
     * again each time and is still not done. */
    CHECK(!poll_done(f, before + 3));
    CHECK(hold_calls() >= before + 3);
    set_landed(true);
    CHECK(poll_done(f, 0));
    uint64_t crc = 0;
    bool have_crc = false;
    int64_t n = src.wait(f, &crc, &have_crc, &err);
    CHECK(n == (int64_t)rq.len);
    CHECK(have_crc && crc == ossc_crc64_update(0, up.bytes + rq.off, rq.len));
    CHECK(src.origin(f) == 1);
    src.release(f);
    CHECK(holds_upstream_bytes(fd, rq.off, rq.len));
    CHECK(oss.starts == 0);
    CHECK(atomic_load(&shared.recv_peer) >= rq.len);
    CHECK(atomic_load(&shared.suspect_seq) == 0);
    close(fd);
    (void)s;
}

static void gives_up_after_the_stall_deadline(void)
{
    set_landed(false);
    int fd = out_file("deadline.out");
    ossc_chunk_request rq = {.file = 0, .bucket = "b", .key = "k", .off = 0, .len = 65536,
                             .fd = fd};
    ossc_error err = {0};
    oss.starts = 0;
    unsigned suspects = atomic_load(&shared.suspect_seq);
    settings.stall_s = 1; /* the deadline: 4 s of 503s */
    ossc_chunk_fetch *f = src.start(src.ctx, &rq, &err);
    CHECK(f != NULL);
    CHECK(poll_done(f, 0)); /* 503s until the deadline (4 x stall_s), then done */
    uint64_t crc = 0;
    bool have_crc = false;
    int64_t n = src.wait(f, &crc, &have_crc, &err);
    CHECK(n == (int64_t)rq.len && have_crc);
    CHECK(src.origin(f) == 0);
    src.release(f);
    CHECK(oss.starts == 1);
    CHECK(holds_upstream_bytes(fd, rq.off, rq.len));
    CHECK(atomic_load(&shared.suspect_seq) == suspects + 2);
    CHECK(strcmp(shared.suspect, shared.upstream) == 0);
    close(fd);
}

/* One request of a fresh peer client to addr for [0, len): its outcome,
 * the OSSC-Arrived it surfaced (*arrived, or UINT64_MAX when none) and
 * the bytes the client counted as landed. */
static int64_t one_request(const char *addr, uint64_t len, ossc_error *err, uint64_t *arrived,
                           uint64_t *counted)
{
    ossc_peer_options o = {.addr = addr, .secret = (const uint8_t *)SECRET,
                           .secret_len = strlen(SECRET), .stall_s = 60, .part_size = 1u << 30};
    ossc_client *c = ossc_peer_client_new(&o, err);
    CHECK(c != NULL);
    if (!c)
        return -1;
    atomic_ullong count = 0;
    ossc_client_count_arrivals(c, &count);
    int fd = out_file("one_request.out");
    int64_t n = -1;
    ossc_future *f = ossc_get_async_fd(c, VID, "0", 0, len, fd, 0, err);
    CHECK(f != NULL);
    if (f) {
        n = ossc_future_wait(f, err);
        if (ossc_future_peer_arrived(f, arrived) != 1)
            *arrived = UINT64_MAX;
        ossc_future_free(f);
    }
    *counted = atomic_load(&count);
    ossc_client_free(c);
    close(fd);
    return n;
}

static void reports_progress_in_503s(const char *with_progress, const char *without)
{
    ossc_error err = {0};
    uint64_t arrived = 0, counted = 0;
    set_landed(false);
    pthread_mutex_lock(&up.lock);
    up.arrived = 123456789012ull;
    pthread_mutex_unlock(&up.lock);
    CHECK(one_request(with_progress, 4096, &err, &arrived, &counted) == -1);
    CHECK(err.http_status == 503);
    CHECK(arrived == 123456789012ull);
    CHECK(counted == 0);
    CHECK(one_request(without, 4096, &err, &arrived, &counted) == -1);
    CHECK(err.http_status == 503);
    CHECK(arrived == UINT64_MAX); /* an older server: no progress known */
    set_landed(true);
    CHECK(one_request(with_progress, 100000, &err, &arrived, &counted) == 100000);
    CHECK(arrived == UINT64_MAX); /* a 206 carries none */
    CHECK(counted == 100000);     /* every byte counted as it landed */
}

/* Bytes keep landing upstream (every 503 reports more) but not this chunk,
 * for longer than the old deadline (4 x stall_s from the first 503): the
 * upstream is kept, and the chunk comes from it once it lands there. */
static void keeps_a_slow_upstream(const char *addr)
{
    decide_peer(addr);
    set_landed(false);
    set_progressing(true);
    int fd = out_file("slow.out");
    ossc_chunk_request rq = {.file = 0, .bucket = "b", .key = "k", .off = 8192, .len = 65536,
                             .fd = fd};
    ossc_error err = {0};
    oss.starts = 0;
    unsigned suspects = atomic_load(&shared.suspect_seq);
    uint64_t arrived_here = atomic_load(&shared.arrived);
    settings.stall_s = 1; /* old deadline 4 s; stall after 2 s without progress */
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    ossc_chunk_fetch *f = src.start(src.ctx, &rq, &err);
    CHECK(f != NULL);
    /* Past the old deadline with a margin, still asking. */
    bool done_early = false;
    while (!done_early && elapsed_ms(&start) < 4u * 1000u + 1500u) {
        done_early = src.done(f);
        struct timespec ms = {0, 1000000L};
        nanosleep(&ms, NULL);
    }
    CHECK(!done_early);
    set_landed(true);
    CHECK(poll_done(f, 0));
    uint64_t crc = 0;
    bool have_crc = false;
    int64_t n = src.wait(f, &crc, &have_crc, &err);
    CHECK(n == (int64_t)rq.len);
    CHECK(have_crc && crc == ossc_crc64_update(0, up.bytes + rq.off, rq.len));
    CHECK(src.origin(f) == 1);
    src.release(f);
    CHECK(holds_upstream_bytes(fd, rq.off, rq.len));
    CHECK(oss.starts == 0);
    CHECK(atomic_load(&shared.suspect_seq) == suspects);
    /* This node counted the peer's bytes as they landed (its own progress). */
    CHECK(atomic_load(&shared.arrived) >= arrived_here + rq.len);
    set_progressing(false);
    close(fd);
}

/* Bytes land upstream for a while, then nothing: once OSSC-Arrived has
 * not grown for the stall limit (x2) the upstream is given up. */
static void gives_up_a_stalled_upstream(const char *addr)
{
    decide_peer(addr);
    set_landed(false);
    set_progressing(true);
    int fd = out_file("stalled.out");
    ossc_chunk_request rq = {.file = 0, .bucket = "b", .key = "k", .off = 0, .len = 65536,
                             .fd = fd};
    ossc_error err = {0};
    oss.starts = 0;
    unsigned suspects = atomic_load(&shared.suspect_seq);
    settings.stall_s = 1;
    int before = hold_calls();
    ossc_chunk_fetch *f = src.start(src.ctx, &rq, &err);
    CHECK(f != NULL);
    CHECK(!poll_done(f, before + 3)); /* progressing: asked again */
    set_progressing(false);
    struct timespec stalled;
    clock_gettime(CLOCK_MONOTONIC, &stalled);
    CHECK(poll_done(f, 0)); /* no progress: given up */
    printf("stalled upstream given up %llu ms after its last progress (stall limit %d s)\n",
           (unsigned long long)elapsed_ms(&stalled), settings.stall_s);
    uint64_t crc = 0;
    bool have_crc = false;
    int64_t n = src.wait(f, &crc, &have_crc, &err);
    CHECK(n == (int64_t)rq.len && have_crc);
    CHECK(src.origin(f) == 0);
    src.release(f);
    CHECK(oss.starts == 1);
    CHECK(holds_upstream_bytes(fd, rq.off, rq.len));
    CHECK(atomic_load(&shared.suspect_seq) == suspects + 2);
    CHECK(strcmp(shared.suspect, addr) == 0);
    close(fd);
}

int main(void)
{
    if (make_tmpdir("peer_source") < 0)
        return 1;
    make_upstream_file();
    bc_server_options o = {
        .listen = "127.0.0.1:0",
        .secret = (const uint8_t *)SECRET,
        .secret_len = strlen(SECRET),
        .max_connections = 64,
        .per_ip = 64,
        .wait_ms = LONG_POLL_MS,
        .timeout_s = 60,
    };
    ossc_error err = {0};
    bc_server *s = bc_server_start(&o, &view, &err);
    if (!s)
        fprintf(stderr, "bc_server_start: %s\n", err.message);
    CHECK(s != NULL);
    bc_server *sp = bc_server_start(&o, &view_with_progress, &err);
    if (!sp)
        fprintf(stderr, "bc_server_start (with progress): %s\n", err.message);
    CHECK(sp != NULL);
    if (s && sp) {
        memcpy(settings.secret, SECRET, strlen(SECRET));
        settings.secret_len = strlen(SECRET);
        settings.connect_timeout_ms = 1000;
        char addr[64];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", bc_server_port(s));
        decide_peer(addr);
        bc_peer_source_init(&src, &settings, &shared, &fake_oss);
        asks_again_from_done(s);
        char with_progress[64];
        snprintf(with_progress, sizeof with_progress, "127.0.0.1:%d", bc_server_port(sp));
        reports_progress_in_503s(with_progress, addr);
        keeps_a_slow_upstream(with_progress);
        gives_up_a_stalled_upstream(with_progress);
        decide_peer(addr); /* the server without OSSC-Arrived */
        gives_up_after_the_stall_deadline();
        bc_peer_source_reset();
    }
    bc_server_stop(sp);
    bc_server_stop(s);
    close(up.fd);
    free(up.bytes);
    remove_tmpdir();
    return check_summary("test_peer_source");
}
