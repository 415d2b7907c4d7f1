/* prefetch.c - the prefetch leader's thread: schedules chunks (demanded
 * files first, then key order) within the memory limit and window, runs the
 * janitor that releases unused files after the delay, and takes back
 * abandoned claims. */
/* cache.c - one cache of a model's large files per node, shared by every
 * process that loads it.
 *
 * Layout in <cache_root>/ossc-<uid>-<hash of the real MODEL_DIR>/
 * (directory 0700, files 0600):
 *   state     shared state: header, one record per large file, and per
 *             chunk a 32-bit state word (ABSENT, FETCHING, READY, FAILED,
 *             RELEASING) and the CRC-64 of its bytes as they came off the
 *             wire, mapped MAP_SHARED by every process;
 *   data.<i>  the bytes of large file i at their offsets (tmpfs when the
 *             root is /dev/shm).  Applications get real fds of these files,
 *             so mmap shares pages with no copy;
 *   lock      fcntl locks: byte 0 = prefetch leader, byte 1 = setup.
 *
 * Trust: the cache directory is opened once (O_DIRECTORY|O_NOFOLLOW) and
 * must be a directory of our own that nobody else can enter; every file in
 * it is reached relative to that descriptor with O_NOFOLLOW, so a symlink
 * planted by another user never makes us write, read or delete elsewhere.
 * One cache per MODEL_DIR: the state records the OSS_PATH it mirrors, and
 * a run for another OSS_PATH is refused while processes use it.
 *
 * A chunk is fetched by whoever claims it first (compare-and-swap ABSENT
 * -> FETCHING with its pid): the leader's prefetcher in file order, or a
 * process that needs it now.  Waiters sleep on the state word (futex).  A
 * claim by a process that died is taken back, and the leader lock passes
 * to another process, so loading continues when the fetching process dies.
 * When a file's last chunk lands, the chunk CRCs are combined and compared
 * with the object's CRC (HEAD's x-oss-hash-crc64ecma): no byte of a file is
 * served before it is VERIFIED; a mismatch refetches the file once, a
 * second one makes it CORRUPT (EIO on every read, never data).
 * Chunks are released (hole punched) only under the file's lock, when no
 * process has the file open or mapped, after the release delay. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "crc64.h"
#include "error.h"
#include "log.h"
#include "thread_name.h"
#include "cache_internal.h"

/* ---------------------------------------------------------- prefetcher */

/* Next chunk to prefetch: files asked for by the application first (in the
 * order they were asked for), then every other file in key order. */
bool nc_next_chunk(int *file, uint64_t *chunk)
{
    int best = -1;
    uint64_t best_rank = UINT64_MAX, best_chunk = 0;
    for (uint32_t i = 0; i < NC.h->nfiles; i++) {
        struct shm_file *f = &NC.files[i];
        if (atomic_load(&f->released))
            continue;
        unsigned d = atomic_load(&f->demand);
        if (!d && NC.s.lazy)
            continue; /* lazy: only what was opened */
        uint64_t rank = d ? d : (1ull << 32) + i;
        if (rank >= best_rank)
            continue;
        for (uint64_t c = 0; c < f->nchunks; c++)
            if (atomic_load(&NC.state[f->first_chunk + c]) == ABSENT) {
                best = (int)i;
                best_rank = rank;
                best_chunk = c;
                break;
            }
    }
    if (best < 0)
        return false;
    *file = best;
    *chunk = best_chunk;
    return true;
}

/* Releases files nobody has used for the release delay. */
void nc_janitor(void)
{
    uint64_t now = nc_now_ms();
    for (uint32_t i = 0; i < NC.h->nfiles; i++) {
        struct shm_file *f = &NC.files[i];
        uint64_t last = atomic_load(&f->last_release_ms);
        if (atomic_load(&f->users) > 0 || !last ||
            now - last < (uint64_t)NC.s.release_delay_s * 1000u || atomic_load(&f->released))
            continue;
        nc_file_lock(f);
        /* The release holds the file VERIFYING (as its verifier): no
         * verification runs while chunks go, and none that runs now is
         * overwritten (the file is skipped until the next round).  Bytes
         * fetched again are verified again; a CORRUPT file stays so. */
        unsigned v = atomic_load(&f->verify);
        bool corrupt = v == CORRUPT;
        if (atomic_load(&f->users) == 0 &&
            (corrupt || ((v == UNVERIFIED || v == VERIFIED) && nc_begin_verify(f, v)))) {
            int fd = nc_open_data((int)i, O_RDWR);
            uint64_t freed = 0;
            for (uint64_t c = 0; c < f->nchunks; c++) {
                uint64_t gc = f->first_chunk + c;
                unsigned expected = READY;
                if (!atomic_compare_exchange_strong(&NC.state[gc], &expected, RELEASING))
                    continue;
                /* Round up so the file's partial last page is freed too. */
                uint64_t plen = (nc_chunk_len(f, c) + 4095) & ~(uint64_t)4095;
                if (fd >= 0)
                    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                              (off_t)(c * NC.h->chunk_size), (off_t)plen);
                freed += nc_chunk_len(f, c);
                atomic_store(&NC.state[gc], ABSENT);
                nc_futex_wake(&NC.state[gc]);
            }
            if (fd >= 0)
                ossc_libc.close(fd);
            if (!corrupt) {
                atomic_store(&f->mismatches, 0);
                nc_set_verify(f, UNVERIFIED);
            }
            atomic_fetch_sub(&NC.h->cached_bytes, freed);
            atomic_store(&f->released, 1);
            atomic_store(&f->demand, 0);
            if (freed)
                OSSC_INFO("released %llu cached bytes of %s (unused for %d s)",
                          (unsigned long long)freed, f->rel, NC.s.release_delay_s);
        }
        nc_file_unlock(f);
    }
}

/* Prefetch requests in flight: the source's concurrency, but no more
 * bytes than the window.  Every transfer shares the link, so each takes
 * about window / bandwidth: a small window lets chunks land in order and
 * soon (a file opened ahead of its turn gets its bytes quickly) while
 * enough requests stay in flight to fill the link. */
int nc_prefetch_slots(int concurrency)
{
    uint64_t by_window = NC.s.prefetch_window / NC.h->chunk_size;
    int slots = concurrency > 0 ? concurrency : 1;
    if (by_window < (uint64_t)slots)
        slots = (int)by_window;
    return slots > 0 ? slots : 1;
}

/* How often the leader looks for chunks whose fetcher left without
 * finishing them (a process that exec'd or was killed mid-transfer). */
#define RECLAIM_PERIOD_MS 200

/* The process that started the prefetch thread (0: none).  A vfork child
 * shares NC (NC.leader reads 1 there) but has its own pid: it must never
 * touch the parent's thread. */
static pid_t prefetcher_pid;
/* Set before NC.stop when the leader exec's: the thread finishes the
 * transfers in flight (within drain_budget_ms) instead of abandoning them. */
static atomic_bool drain_on_stop;

/* How long an exec may wait for the leader's transfers in flight: a base
 * of DRAIN_BASE_MS (connection set-up and a server's first byte) plus their
 * bytes at a floor rate of DRAIN_FLOOR_BYTES_PER_S, at most DRAIN_CAP_MS.
 * The new image needs these bytes anyway, so waiting costs nothing when
 * they flow; the cap bounds what a stalled link can add to an exec (what is
 * not done by then is left to die with the image and fetched again). */
#define DRAIN_BASE_MS 3000u
#define DRAIN_FLOOR_BYTES_PER_S (32ull << 20)
#define DRAIN_CAP_MS 10000u

static uint64_t drain_budget_ms(uint64_t bytes)
{
    uint64_t ms = DRAIN_BASE_MS + bytes * 1000u / DRAIN_FLOOR_BYTES_PER_S;
    return ms < DRAIN_CAP_MS ? ms : DRAIN_CAP_MS;
}

/* Transfers still in flight when a drain for exec ran out of time, kept
 * claimed (FETCHING, by this image) rather than cancelled: cancelling one
 * that waits for a server's first byte blocks until the server answers,
 * which is the very wait the deadline bounds.  When the exec succeeds they
 * die with the image and the next one takes the claims back as it
 * attaches; when it fails, the restarted prefetcher adopts them again. */
static fetch *parked;
static int nparked;

/* Finishes every transfer of inflight[0..n) that is done -- when draining,
 * every one that completes by the drain deadline -- and returns how many
 * are left, moved to the front of inflight.  Not draining, the rest are
 * abandoned (they come free at once for whoever needs them next) and 0 is
 * returned. */
static int settle_inflight(fetch *inflight, int n, bool drain)
{
    uint64_t bytes = 0, started = nc_now_ms();
    for (int i = 0; i < n; i++)
        bytes += inflight[i].len;
    uint64_t until = drain ? started + drain_budget_ms(bytes) : 0;
    int finished = 0, total = n;
    for (;;) {
        for (int i = 0; i < n;) {
            if (NC.source->done(inflight[i].handle)) {
                nc_fetch_finish(&inflight[i]);
                inflight[i] = inflight[--n];
                finished++;
            } else {
                i++;
            }
        }
        if (n == 0 || nc_now_ms() >= until)
            break;
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    if (drain) {
        if (total)
            OSSC_INFO("before exec: %d of %d prefetches in flight finished in %llu ms%s",
                      finished, total, (unsigned long long)(nc_now_ms() - started),
                      n ? "; the rest are fetched again by the new image" : "");
        return n;
    }
    for (int i = 0; i < n; i++)
        nc_fetch_abandon(&inflight[i]);
    return 0;
}

void *nc_prefetch_main(void *arg)
{
    (void)arg;
    ossc_in_hook = 1; /* this thread's libc calls are never the application's */
    ossc_thread_name("ossc-prefetch");
    int slots = nc_prefetch_slots(NC.source->prefetcher ? NC.source->prefetcher(NC.source->ctx) : 1);
    fetch *inflight = calloc((size_t)slots, sizeof(*inflight));
    int n = 0;
    uint64_t last_janitor = 0, last_reclaim = 0;
    if (!inflight)
        return NULL;
    if (parked) { /* after a failed exec: the transfers its drain left running */
        for (; n < nparked && n < slots; n++)
            inflight[n] = parked[n];
        for (int i = n; i < nparked; i++)
            nc_fetch_abandon(&parked[i]);
        free(parked);
        parked = NULL;
        nparked = 0;
    }
    for (;;) {
        unsigned seq = atomic_load(&NC.stop_seq);
        if (atomic_load(&NC.stop))
            break;
        bool progressed = false;
        while (n < slots && atomic_load(&NC.h->cached_bytes) < NC.s.memory_limit) {
            int file;
            uint64_t c;
            if (!nc_next_chunk(&file, &c))
                break;
            if (!nc_claim(NC.files[file].first_chunk + c))
                continue;
            atomic_fetch_add(&NC.h->cached_bytes, nc_chunk_len(&NC.files[file], c));
            if (nc_fetch_start(&inflight[n], file, c) == 0)
                n++;
            progressed = true;
        }
        for (int i = 0; i < n;) {
            if (NC.source->done(inflight[i].handle)) {
                nc_fetch_finish(&inflight[i]);
                inflight[i] = inflight[--n];
                progressed = true;
            } else {
                i++;
            }
        }
        uint64_t now = nc_now_ms();
        if (now - last_janitor >= 1000) {
            nc_janitor();
            last_janitor = now;
        }
        if (now - last_reclaim >= RECLAIM_PERIOD_MS) {
            if (nc_reclaim_abandoned(0, NC.h->total_chunks))
                progressed = true;
            last_reclaim = now;
        }
        if (!progressed) /* a stop wakes us at once: exits never wait out the 20 ms */
            nc_futex_wait(&NC.stop_seq, seq, n ? 1 : 20);
    }
    int left = settle_inflight(inflight, n, atomic_load(&drain_on_stop));
    if (left) {
        parked = inflight;
        nparked = left;
    } else {
        free(inflight);
    }
    return NULL;
}

/* Tells the prefetch thread to stop (the caller joins it): wakes it when
 * it sleeps for want of work. */
void nc_stop_prefetcher(void)
{
    atomic_store(&NC.stop, true);
    atomic_fetch_add(&NC.stop_seq, 1);
    nc_futex_wake(&NC.stop_seq);
}

/* Starts the prefetch thread of the leader (which holds the leader lock);
 * when it cannot, gives the role up: loading goes on on demand. */
static void start_prefetcher(void)
{
    atomic_store(&NC.h->leader_pid, getpid());
    atomic_store(&drain_on_stop, false);
    atomic_store(&NC.stop, false);
    if (pthread_create(&NC.prefetcher, NULL, nc_prefetch_main, NULL) != 0) {
        OSSC_ERROR("cannot start the prefetch thread: loading on demand only");
        NC.leader = 0;
        prefetcher_pid = 0;
        atomic_store(&NC.h->leader_pid, 0);
        nc_byte_unlock(0);
        return;
    }
    prefetcher_pid = getpid();
}

/* Becomes the prefetch leader when no live process is. */
void nc_try_lead(void)
{
    if (NC.leader || nc_byte_lock(0, 0) < 0)
        return;
    NC.leader = 1;
    start_prefetcher();
}

/* Before this process image is replaced: when it leads (and is the very
 * process that started the prefetcher -- not a vfork child sharing its
 * memory, which must pass through without blocking or writing), stop
 * claiming chunks and let the transfers in flight land READY with their
 * CRC, within drain_budget_ms, instead of losing them with the image and
 * having the next one fetch them again from byte 0.  Keeps the leader lock
 * (its descriptor is close-on-exec: a successful exec releases it, and the
 * new image leads).  Returns true when it stopped the prefetcher: the
 * caller then calls ossc_cache_after_failed_exec if the exec fails.  Costs
 * at most DRAIN_CAP_MS; nothing for a process that does not lead. */
bool ossc_cache_before_exec(void)
{
    if (!NC.h || !NC.leader || prefetcher_pid != getpid())
        return false;
    atomic_store(&drain_on_stop, true);
    nc_stop_prefetcher();
    pthread_join(NC.prefetcher, NULL);
    return true;
}

/* The exec failed: this process goes on, still the leader (it kept the
 * lock), so its prefetcher starts again. */
void ossc_cache_after_failed_exec(void)
{
    if (!NC.h || !NC.leader || prefetcher_pid != getpid())
        return;
    OSSC_INFO("exec failed: prefetching resumes");
    start_prefetcher();
}
