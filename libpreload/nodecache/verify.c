/* verify.c - the serving rule: no byte of a large file before the whole
 * file is VERIFIED (its chunks' CRC-64, combined, equals the object's); a
 * mismatch refetches once, a second makes the file CORRUPT (EIO). */
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
#include "cache_internal.h"

/* ------------------------------------------------------------- trust */

/* The file's CRC from its chunks' CRCs, in order (no data read). */
uint64_t nc_file_crc(const struct shm_file *f)
{
    uint64_t crc = atomic_load(&NC.crc[f->first_chunk]);
    for (uint64_t c = 1; c < f->nchunks; c++)
        crc = ossc_crc64_combine(crc, atomic_load(&NC.crc[f->first_chunk + c]), nc_chunk_len(f, c));
    return crc;
}

bool nc_all_ready(const struct shm_file *f)
{
    for (uint64_t c = 0; c < f->nchunks; c++)
        if (atomic_load_explicit(&NC.state[f->first_chunk + c], memory_order_acquire) != READY)
            return false;
    return true;
}

/* Publishes the result of the verification (or release) this process
 * runs: only out of VERIFYING, and only while it is still this process's
 * (the verifier word is ours, then 0 -- a live, unnamed verifier -- before
 * the state leaves VERIFYING, so the next verifier never inherits a stale
 * pid).  Publishes nothing when the CAS fails.  True when published. */
bool nc_set_verify(struct shm_file *f, unsigned v)
{
    int me = getpid();
    unsigned verifying = VERIFYING;
    if (!atomic_compare_exchange_strong(&f->verifier, &me, 0) ||
        !atomic_compare_exchange_strong(&f->verify, &verifying, v))
        return false;
    nc_futex_wake(&f->verify);
    return true;
}

/* Enters VERIFYING from `from` (UNVERIFIED to verify; the janitor also from
 * VERIFIED to release): the verifier word reads 0 (alive) until our pid is
 * stored right after the CAS.  True when we won. */
bool nc_begin_verify(struct shm_file *f, unsigned from)
{
    if (!atomic_compare_exchange_strong(&f->verify, &from, VERIFYING))
        return false;
    atomic_store(&f->verifier, getpid());
    return true;
}

/* A mismatch in a file some of whose chunks came from a peer: those chunks
 * go back to ABSENT and the file is fetched from OSS only from now on
 * (chunks from OSS stay); the peer is distrusted and named in the log.
 * Not counted as a mismatch of the object store's bytes.  True when it
 * applied (the caller is the file's verifier). */
static bool nc_drop_peer_chunks(int file, uint64_t crc)
{
    struct shm_file *f = &NC.files[file];
    uint64_t from_peer = 0;
    for (uint64_t c = 0; c < f->nchunks; c++)
        if (atomic_load(&NC.origin[f->first_chunk + c]))
            from_peer += nc_chunk_len(f, c);
    if (!from_peer || atomic_load(&f->oss_only))
        return false;
    char up[BC_ADDR_MAX];
    bc_shared_read(&NC.h->bc, up, NULL);
    OSSC_ERROR("oss://%s/%s (%s/%s): the bytes received have CRC-64 %016llx, the object's is "
               "%016llx; %llu of its bytes came from peer %s: fetching those from OSS",
               NC.s.bucket, f->key, NC.s.model_dir, f->rel, (unsigned long long)crc,
               (unsigned long long)f->object_crc, (unsigned long long)from_peer,
               up[0] ? up : "(upstream since replaced)");
    atomic_fetch_add(&NC.h->bc.bad_peer_bytes, from_peer);
    if (NC.source->distrust)
        NC.source->distrust(NC.source->ctx, file);
    atomic_store(&f->oss_only, 1);
    uint64_t freed = 0;
    for (uint64_t c = 0; c < f->nchunks; c++) {
        uint64_t gc = f->first_chunk + c;
        unsigned ready = READY;
        if (atomic_load(&NC.origin[gc]) &&
            atomic_compare_exchange_strong(&NC.state[gc], &ready, ABSENT)) {
            atomic_store(&NC.origin[gc], 0);
            freed += nc_chunk_len(f, c);
            nc_futex_wake(&NC.state[gc]);
        }
    }
    atomic_fetch_sub(&NC.h->cached_bytes, freed);
    nc_set_verify(f, UNVERIFIED);
    return true;
}

/* When every chunk of the file is READY and nobody checked it yet: one
 * process (compare-and-swap) combines the chunk CRCs and compares them with
 * the object's.  Match: VERIFIED.  First mismatch: the chunks go back to
 * ABSENT and are fetched again (by the prefetcher or whoever waits).
 * Second: CORRUPT.  Without a CRC from the server, the sizes (checked at
 * HEAD and per chunk) are all there is: VERIFIED, and the log says so.
 * Cost: one CRC combine per chunk, no data read. */
void nc_verify_file(int file)
{
    struct shm_file *f = &NC.files[file];
    if (atomic_load(&f->verify) != UNVERIFIED || !nc_all_ready(f) ||
        !nc_begin_verify(f, UNVERIFIED))
        return;
    if (!nc_all_ready(f)) { /* released or refetched meanwhile */
        nc_set_verify(f, UNVERIFIED);
        return;
    }
    if (!f->has_crc) {
        OSSC_INFO("%s (oss://%s/%s): the server sent no CRC-64: served after the size check "
                  "only, not CRC-verified", f->rel, NC.s.bucket, f->key);
        nc_set_verify(f, VERIFIED);
        return;
    }
    uint64_t crc = nc_file_crc(f);
    if (crc == f->object_crc) {
        OSSC_DEBUG("%s (oss://%s/%s): CRC-64 verified", f->rel, NC.s.bucket, f->key);
        nc_set_verify(f, VERIFIED);
        return;
    }
    if (nc_drop_peer_chunks(file, crc))
        return;
    unsigned seen = atomic_fetch_add(&f->mismatches, 1) + 1;
    OSSC_ERROR("oss://%s/%s (%s/%s): the bytes received have CRC-64 %016llx, the object's is "
               "%016llx: %s", NC.s.bucket, f->key, NC.s.model_dir, f->rel,
               (unsigned long long)crc, (unsigned long long)f->object_crc,
               seen < 2 ? "fetching the file again" : "second mismatch, the file is CORRUPT: "
               "every read of it fails with EIO");
    if (seen >= 2) {
        nc_set_verify(f, CORRUPT);
        return;
    }
    uint64_t freed = 0;
    for (uint64_t c = 0; c < f->nchunks; c++) {
        unsigned ready = READY;
        if (atomic_compare_exchange_strong(&NC.state[f->first_chunk + c], &ready, ABSENT)) {
            freed += nc_chunk_len(f, c);
            nc_futex_wake(&NC.state[f->first_chunk + c]);
        }
    }
    atomic_fetch_sub(&NC.h->cached_bytes, freed);
    nc_set_verify(f, UNVERIFIED);
}

/* Says why file's reads are refused on stderr, once per process and file
 * ("oss-connector: oss://bucket/key (MODEL_DIR/rel): <why>"), unless the
 * cache runs inside the Python process (it raises instead). */
static void tell_once(int file, const char *why)
{
    struct shm_file *f = &NC.files[file];
    if (!NC.told || NC.told[file] || NC.s.in_process)
        return;
    NC.told[file] = true;
    fprintf(stderr, "oss-connector: oss://%s/%s (%s/%s): %s\n", NC.s.bucket, f->key,
            NC.s.model_dir, f->rel, why);
}

/* A CORRUPT file: EIO, with the key on stderr once per process. */
int nc_refuse_corrupt(int file)
{
    struct shm_file *f = &NC.files[file];
    tell_once(file, "the bytes received twice do not match the object's CRC-64: refusing to "
                    "serve them (EIO)");
    OSSC_ERROR("read of %s/%s refused: oss://%s/%s is CORRUPT (CRC-64 mismatch)", NC.s.model_dir,
               f->rel, NC.s.bucket, f->key);
    errno = EIO;
    return -1;
}

/* A chunk of file failed with ESTALE: its object is no longer the version
 * MODEL_DIR was prepared from (its chunks are fetched with If-Match that
 * ETag, chunk_source.c).  ESTALE, with the key on stderr once per process. */
static int refuse_replaced(int file)
{
    struct shm_file *f = &NC.files[file];
    char why[OSSC_ETAG_MAX + 256];
    snprintf(why, sizeof(why), "the object was replaced after MODEL_DIR was prepared (then "
             "ETag \"%s\"): refusing to mix its versions (ESTALE); start the application "
             "again once every process using MODEL_DIR has exited, to load the new version",
             f->etag);
    tell_once(file, why);
    OSSC_ERROR("read of %s/%s refused: oss://%s/%s was replaced after MODEL_DIR was prepared "
               "(ETag \"%s\" then)", NC.s.model_dir, f->rel, NC.s.bucket, f->key, f->etag);
    errno = ESTALE;
    return -1;
}

/* The serving rule: no byte of a large file before the whole file is
 * VERIFIED.  So [off, off+len) only says the caller needs some bytes: the
 * whole file is fetched (concurrently, by us for what nobody else fetches,
 * past the memory limit: a demanded file is always completed) and checked.
 * Returns 0, or -1 with errno (EIO for a CORRUPT file, ESTALE for one
 * whose object was replaced meanwhile). */
int ossc_cache_wait(int file, uint64_t off, uint64_t len)
{
    (void)off;
    (void)len;
    struct shm_file *f = &NC.files[file];
    for (;;) {
        unsigned v = atomic_load_explicit(&f->verify, memory_order_acquire);
        if (v == VERIFIED)
            return 0;
        if (v == CORRUPT)
            return nc_refuse_corrupt(file);
        if (v == VERIFYING) {
            /* 0: a verifier that won just now and has not named itself
             * yet (alive).  A dead one's pid is cleared before the state
             * goes back, so no later verifier is judged by it. */
            int pid = atomic_load(&f->verifier), dead = pid;
            unsigned verifying = VERIFYING;
            if (pid && !nc_pid_alive(pid) &&
                atomic_compare_exchange_strong(&f->verifier, &dead, 0) &&
                atomic_compare_exchange_strong(&f->verify, &verifying, UNVERIFIED)) {
                nc_futex_wake(&f->verify);
                continue; /* the verifier died mid-way: check again */
            }
            nc_futex_wait(&f->verify, VERIFYING, 50);
            continue;
        }
        if (ossc_cache_fetch(file, 0, f->size) < 0)
            return errno == ESTALE ? refuse_replaced(file) : -1;
        nc_verify_file(file);
    }
}
