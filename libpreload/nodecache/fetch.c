/* fetch.c - chunk claims and fetches: whoever claims a chunk first
 * (compare-and-swap ABSENT -> FETCHING) fetches it through the chunk source;
 * waiters sleep on the state word; claims of a process image that died or
 * exec'd are taken back. */
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
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "crc64.h"
#include "error.h"
#include "log.h"
#include "cache_internal.h"

/* ------------------------------------------------------------- engine */

ossc_client *nc_client(void)
{
    pid_t me = getpid();
    pthread_mutex_lock(&NC.lock);
    if (!NC.client || NC.client_pid != me) {
        ossc_error err;
        ossc_client_options o = {
            .endpoint = NC.s.endpoint,
            .region = NC.s.region[0] ? NC.s.region : NULL,
            .config_path = NC.s.config_path[0] ? NC.s.config_path : NULL,
            .cred_path = NC.s.cred_path[0] ? NC.s.cred_path : NULL,
            .cred_callback = NC.s.cred_callback,
            .cred_userdata = NC.s.cred_userdata,
            .profile = OSSC_PROFILE_MODEL,
        };
        ossc_in_hook++;
        NC.client = ossc_client_new(&o, &err);
        ossc_in_hook--;
        NC.client_pid = me;
        if (!NC.client)
            OSSC_ERROR("cannot create the OSS client: %s", err.message);
    }
    ossc_client *c = NC.client;
    pthread_mutex_unlock(&NC.lock);
    return c;
}

/* Opens a file of the cache directory, never through a symlink: names are
 * resolved relative to the checked directory descriptor only. */
int nc_open_in_cache(const char *name, int flags, mode_t mode)
{
    return ossc_libc.openat(NC.dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
}

int nc_open_data(int i, int flags)
{
    char name[32];
    snprintf(name, sizeof(name), "data.%d", i);
    return nc_open_in_cache(name, flags, 0);
}

/* The descriptor chunks of file i are written through (opened once, for
 * reading and writing: the engine lands the bytes through a shared mapping
 * of each chunk's range, see ossc_get_async_fd, and keeps it mapped only
 * for the transfer, so the process maps no more of the cache than the
 * application does). */
int nc_data_fd(int i)
{
    if (!NC.wfd)
        return -1;
    pthread_mutex_lock(&NC.lock);
    int fd = NC.wfd[i];
    if (fd < 0) {
        fd = NC.wfd[i] = nc_open_data(i, O_RDWR);
        if (fd < 0)
            OSSC_ERROR("cannot open cache file %s/data.%d: %s", NC.dir, i, strerror(errno));
    }
    pthread_mutex_unlock(&NC.lock);
    return fd;
}

/* ------------------------------------------------------------- chunks */

uint64_t nc_chunk_len(const struct shm_file *f, uint64_t c)
{
    uint64_t off = c * NC.h->chunk_size;
    return f->size - off < NC.h->chunk_size ? f->size - off : NC.h->chunk_size;
}

/* Claims a chunk (ABSENT -> FETCHING).  The owner word reads 0 from the
 * moment the claim is won until the claimant stores its pid (token first):
 * every transition out of FETCHING stores 0 before it, and 0 counts as a
 * live owner, so nc_reclaim_abandoned never mistakes the previous, dead
 * owner of the chunk for ours and frees a live claim. */
bool nc_claim(uint64_t gc)
{
    unsigned expected = ABSENT;
    if (!atomic_compare_exchange_strong(&NC.state[gc], &expected, FETCHING))
        return false;
    atomic_store(&NC.owner_tok[gc], NC.tok);
    atomic_store(&NC.owner[gc], getpid());
    return true;
}

/* Gives up ownership of a chunk this image claimed, before it leaves
 * FETCHING: true when the claim was still ours (owner and token), owner
 * now 0; false when it was taken back meanwhile (then the chunk is not
 * ours to settle). */
static bool drop_claim(uint64_t gc)
{
    int me = getpid();
    return atomic_load(&NC.owner_tok[gc]) == NC.tok &&
           atomic_compare_exchange_strong(&NC.owner[gc], &me, 0);
}

/* Publishes a claimed chunk READY (with its CRC) or FAILED, only while the
 * claim is still ours: a claim taken back and fetched by another process
 * is never overwritten (a loser's FAILED over a READY). */
void nc_settle(uint64_t gc, int err, uint64_t crc)
{
    if (!drop_claim(gc))
        return;
    atomic_store(&NC.crc[gc], crc); /* published by the state CAS below */
    if (err)
        atomic_store(&NC.errs[gc], err);
    unsigned expected = FETCHING;
    atomic_compare_exchange_strong(&NC.state[gc], &expected, err ? FAILED : READY);
    nc_futex_wake(&NC.state[gc]);
}

/* Starts fetching a claimed chunk from the chunk source; on immediate
 * failure settles it. */
int nc_fetch_start(fetch *fx, int file, uint64_t c)
{
    struct shm_file *f = &NC.files[file];
    uint64_t gc = f->first_chunk + c;
    fx->file = file;
    fx->chunk = c;
    fx->len = nc_chunk_len(f, c);
    fx->handle = NULL;
    int fd = nc_data_fd(file);
    ossc_error err = {0};
    if (fd < 0) {
        nc_settle(gc, EIO, 0);
        return -1;
    }
    ossc_chunk_request rq = {.file = file, .bucket = NC.s.bucket, .key = f->key,
                             .etag = f->etag, .off = c * NC.h->chunk_size, .len = fx->len, .fd = fd,
                             .oss_only = atomic_load(&f->oss_only) != 0};
    fx->handle = NC.source->start(NC.source->ctx, &rq, &err);
    if (!fx->handle) {
        OSSC_ERROR("%s: %s", f->rel, err.message);
        nc_settle(gc, err.code ? err.code : EIO, 0);
        return -1;
    }
    return 0;
}

/* A chunk could not land: the file system of the cache is full (its pages
 * are allocated before any byte is copied in, so this is an error, never a
 * SIGBUS).  Says where, how big it is, and what the model needs -- once per
 * process: every chunk that does not fit fails alike, the rest at debug
 * level. */
static void report_full(const struct shm_file *f, const fetch *fx)
{
    static atomic_bool told;
    if (atomic_exchange(&told, true)) {
        OSSC_DEBUG("%s: chunk %llu: no space left in %s", f->rel, (unsigned long long)fx->chunk,
                   NC.dir);
        return;
    }
    struct statvfs vfs;
    unsigned long long total = 0, avail = 0, need = 0;
    if (fstatvfs(NC.dirfd, &vfs) == 0) {
        total = (unsigned long long)vfs.f_blocks * vfs.f_frsize;
        avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    }
    for (uint32_t i = 0; i < NC.h->nfiles; i++)
        need += NC.files[i].size;
    OSSC_ERROR("%s (oss://%s/%s): no space left in the cache directory %s (its file system is "
               "%llu MiB, %llu MiB free; the model's large files are %llu MiB): chunk %llu "
               "cannot land, reads of files that do not fit fail with ENOSPC; make the file "
               "system larger (e.g. mount -o remount,size=... /dev/shm) or set OSSC_CACHE_DIR "
               "to one with room",
               f->rel, NC.s.bucket, f->key, NC.dir, total >> 20, avail >> 20, need >> 20,
               (unsigned long long)fx->chunk);
}

/* Waits for a started chunk and publishes its state and the CRC of the
 * bytes as they arrived; the chunk that completes its file has the file
 * verified at once (whoever fetched it). */
void nc_fetch_finish(fetch *fx)
{
    struct shm_file *f = &NC.files[fx->file];
    uint64_t gc = f->first_chunk + fx->chunk;
    ossc_error err = {0};
    uint64_t crc = 0;
    bool have_crc = false;
    int64_t n = NC.source->wait(fx->handle, &crc, &have_crc, &err);
    atomic_store(&NC.origin[gc], NC.source->origin ? (unsigned)NC.source->origin(fx->handle) : 0);
    NC.source->release(fx->handle);
    fx->handle = NULL;
    if (n == (int64_t)fx->len && have_crc) {
        nc_settle(gc, 0, crc);
        nc_verify_file(fx->file);
        return;
    }
    if (n == (int64_t)fx->len)
        OSSC_ERROR("%s (oss://%s/%s): no CRC for chunk %llu", f->rel, NC.s.bucket, f->key,
                   (unsigned long long)fx->chunk);
    else if (n >= 0)
        OSSC_ERROR("%s (oss://%s/%s): object is shorter than listed (%lld of %llu bytes at "
                   "chunk %llu): it changed after MODEL_DIR was prepared",
                   f->rel, NC.s.bucket, f->key, (long long)n, (unsigned long long)fx->len,
                   (unsigned long long)fx->chunk);
    else if (err.code == ENOSPC)
        report_full(f, fx);
    else
        OSSC_ERROR("%s: %s", f->rel, err.message);
    nc_settle(gc, n >= 0 ? EIO : (err.code ? err.code : EIO), 0);
}

/* Gives up a started chunk (the process is leaving): the fetch is
 * cancelled and the chunk is free for whoever needs it next, at once,
 * instead of the exit waiting for every prefetch in flight. */
void nc_fetch_abandon(fetch *fx)
{
    struct shm_file *f = &NC.files[fx->file];
    uint64_t gc = f->first_chunk + fx->chunk;
    NC.source->release(fx->handle);
    fx->handle = NULL;
    unsigned expected = FETCHING;
    if (drop_claim(gc) && atomic_compare_exchange_strong(&NC.state[gc], &expected, ABSENT)) {
        atomic_fetch_sub(&NC.h->cached_bytes, fx->len);
        nc_futex_wake(&NC.state[gc]);
    }
}

/* Takes back the chunks in [from, to) that a process image claimed and
 * can no longer finish -- it died, or it exec'd (same pid, new image: the
 * transfers went with the old one) -- so they are fetched again at full
 * concurrency instead of one by one by whoever waits for them.  Returns
 * how many came free. */
uint64_t nc_reclaim_abandoned(uint64_t from, uint64_t to)
{
    int memo_pid = 0, dead_pid = 0;
    unsigned memo_tok = 0;
    bool memo_alive = true;
    uint64_t freed = 0, freed_bytes = 0;
    for (uint32_t i = 0; i < NC.h->nfiles; i++) { /* files hold consecutive chunks */
        struct shm_file *f = &NC.files[i];
        uint64_t lo = from > f->first_chunk ? from : f->first_chunk;
        uint64_t end = f->first_chunk + f->nchunks, hi = to < end ? to : end;
        for (uint64_t gc = lo; gc < hi; gc++) {
            if (atomic_load(&NC.state[gc]) != FETCHING)
                continue;
            int pid = atomic_load(&NC.owner[gc]);
            unsigned tok = atomic_load(&NC.owner_tok[gc]);
            if (pid == 0)
                continue; /* claimed just now, or leaving FETCHING: alive */
            if (pid != memo_pid || tok != memo_tok) {
                memo_pid = pid;
                memo_tok = tok;
                memo_alive = nc_owner_alive(pid, tok);
            }
            if (memo_alive)
                continue;
            unsigned expected = FETCHING;
            int owner = pid;
            if (atomic_load(&NC.owner_tok[gc]) != tok ||
                !atomic_compare_exchange_strong(&NC.owner[gc], &owner, 0) ||
                !atomic_compare_exchange_strong(&NC.state[gc], &expected, ABSENT))
                continue;
            freed_bytes += nc_chunk_len(f, gc - f->first_chunk);
            nc_futex_wake(&NC.state[gc]);
            dead_pid = pid;
            freed++;
        }
    }
    if (freed) {
        atomic_fetch_sub(&NC.h->cached_bytes, freed_bytes);
        if (dead_pid == getpid())
            OSSC_INFO("%llu chunks this process claimed before it exec'd are fetched again",
                      (unsigned long long)freed);
        else
            OSSC_WARN("process %d (or another) left with %llu chunks unfinished; fetching "
                      "them again", dead_pid, (unsigned long long)freed);
    }
    return freed;
}

/* A chunk read RELEASING: releases happen only under the file's lock, and
 * nc_file_lock takes the lock back from a dead holder, so once we hold it
 * a chunk still RELEASING was left by a releaser that died between its
 * RELEASING and ABSENT stores: it goes to ABSENT (its bytes are not
 * trusted, some may be punched) and waiters are woken.  A live releaser
 * holds the lock until its chunks are ABSENT, so either way the chunk has
 * left RELEASING on return.  Cost: one lock round trip. */
void nc_take_back_release(struct shm_file *f, uint64_t gc)
{
    nc_file_lock(f);
    unsigned expected = RELEASING;
    if (atomic_compare_exchange_strong(&NC.state[gc], &expected, ABSENT)) {
        atomic_fetch_sub(&NC.h->cached_bytes, nc_chunk_len(f, gc - f->first_chunk));
        nc_futex_wake(&NC.state[gc]);
    }
    nc_file_unlock(f);
}

/* Waiters keep prefetching alive: when the leader died, one takes over. */
void nc_check_leader(void)
{
    if (!NC.leader && !nc_pid_alive(atomic_load(&NC.h->leader_pid)))
        nc_try_lead();
}

int ossc_cache_fetch(int file, uint64_t off, uint64_t len)
{
    struct shm_file *f = &NC.files[file];
    if (off >= f->size || len == 0)
        return 0;
    if (len > f->size - off)
        len = f->size - off;
    uint64_t c0 = off / NC.h->chunk_size, c1 = (off + len - 1) / NC.h->chunk_size;

    /* Fast path: everything already there. */
    bool all = true;
    for (uint64_t c = c0; c <= c1 && all; c++)
        all = atomic_load_explicit(&NC.state[f->first_chunk + c], memory_order_acquire) == READY;
    if (all)
        return 0;

    size_t cap = (size_t)(c1 - c0 + 1);
    fetch *mine = calloc(cap, sizeof(*mine));
    if (!mine) {
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    for (bool again = true; again;) {
        again = false;
        /* Claim what nobody fetches and fetch it concurrently ourselves. */
        size_t n = 0;
        for (uint64_t c = c0; c <= c1; c++)
            if (nc_claim(f->first_chunk + c)) {
                atomic_fetch_add(&NC.h->cached_bytes, nc_chunk_len(f, c));
                if (nc_fetch_start(&mine[n], file, c) == 0)
                    n++;
            }
        for (size_t i = 0; i < n; i++)
            nc_fetch_finish(&mine[i]);

        /* Wait for chunks others are fetching.  Chunks that come free
         * again (a fetcher left, or died and its claims were taken back)
         * send us round again, to fetch them all concurrently. */
        for (uint64_t c = c0; c <= c1 && !again && rc == 0; c++) {
            uint64_t gc = f->first_chunk + c;
            for (;;) {
                unsigned st = atomic_load(&NC.state[gc]);
                if (st == READY)
                    break;
                if (st == FAILED) {
                    errno = atomic_load(&NC.errs[gc]);
                    if (!errno)
                        errno = EIO;
                    rc = -1;
                    break;
                }
                uint64_t first = f->first_chunk;
                if (st == RELEASING) {
                    nc_take_back_release(f, gc);
                    again = true;
                    break;
                }
                if (st == ABSENT ||
                    (st == FETCHING && nc_reclaim_abandoned(first + c0, first + c1 + 1))) {
                    again = true;
                    break;
                }
                nc_futex_wait(&NC.state[gc], st, 50);
                nc_check_leader();
            }
        }
    }
    free(mine);
    return rc;
}
