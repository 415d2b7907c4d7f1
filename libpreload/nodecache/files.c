/* files.c - the cache's files as the interposer sees them: users (open
 * fds and mappings), demand order, lookups by path, accessors. */
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
#include "modeldir_beneath.h"

/* ------------------------------------------------------------- users */

void ossc_cache_user_add(int file)
{
    struct shm_file *f = &NC.files[file];
    nc_file_lock(f);
    atomic_fetch_add(&f->users, 1);
    atomic_store(&f->released, 0);
    nc_file_unlock(f);
}

void ossc_cache_user_drop(int file)
{
    struct shm_file *f = &NC.files[file];
    nc_file_lock(f);
    if (atomic_fetch_sub(&f->users, 1) <= 1) {
        atomic_store(&f->users, 0);
        atomic_store(&f->last_release_ms, nc_now_ms());
    }
    nc_file_unlock(f);
}

void ossc_cache_demand(int file)
{
    struct shm_file *f = &NC.files[file];
    unsigned expected = 0;
    unsigned seq = atomic_fetch_add(&NC.h->demand_seq, 1) + 1;
    atomic_compare_exchange_strong(&f->demand, &expected, seq);
}

/* Failed chunks get another chance when a file is opened again. */
void nc_retry_failed(int file)
{
    struct shm_file *f = &NC.files[file];
    for (uint64_t c = 0; c < f->nchunks; c++) {
        unsigned expected = FAILED;
        if (atomic_compare_exchange_strong(&NC.state[f->first_chunk + c], &expected, ABSENT))
            atomic_fetch_sub(&NC.h->cached_bytes, nc_chunk_len(f, c));
    }
}

int ossc_cache_open(int file, int flags)
{
    int fd = nc_open_data(file, O_RDONLY);
    if (fd >= 0 && !(flags & O_CLOEXEC))
        ossc_libc.fcntl(fd, F_SETFD, 0);
    if (fd < 0)
        return -1;
    ossc_cache_user_add(file);
    nc_retry_failed(file);
    ossc_cache_demand(file);
    return fd;
}

int ossc_cache_placeholder(int file, char *out, size_t cap)
{
    return ossc_pathf(out, cap, "%s/%s", NC.s.model_dir, NC.files[file].rel);
}

uint64_t ossc_cache_file_size(int file)
{
    return NC.files[file].size;
}

int ossc_cache_lookup_inode(const struct stat *st)
{
    if (!NC.h || !NC.model_dev || !S_ISREG(st->st_mode) || (uint64_t)st->st_dev != NC.model_dev)
        return -1;
    int64_t mtime_ns = md_mtime_ns(st);
    for (uint32_t i = 0; i < NC.h->nfiles; i++)
        if (NC.files[i].ph_ino == (uint64_t)st->st_ino && NC.files[i].ph_mtime_ns == mtime_ns)
            return (int)i;
    return -1;
}

int ossc_cache_lookup_data(uint64_t dev, uint64_t ino)
{
    if (!NC.h || NC.dirfd < 0)
        return -1;
    for (uint32_t i = 0; i < NC.h->nfiles; i++) {
        char name[32];
        struct stat st;
        snprintf(name, sizeof(name), "data.%u", i);
        if (fstatat(NC.dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino)
            return (int)i;
    }
    return -1;
}

int ossc_cache_lookup_path(const char *abs)
{
    const char *roots[2] = {NC.s.model_dir, NC.model_dir_real};
    for (int k = 0; k < 2; k++) {
        size_t n = strlen(roots[k]);
        if (!n || strncmp(abs, roots[k], n) != 0 || abs[n] != '/')
            continue;
        const char *rel = abs + n + 1;
        int lo = 0, hi = (int)NC.h->nfiles - 1;
        while (lo <= hi) {
            int mid = (lo + hi) / 2;
            int cmp = strcmp(rel, NC.files[mid].rel);
            if (cmp == 0)
                return mid;
            if (cmp < 0)
                hi = mid - 1;
            else
                lo = mid + 1;
        }
    }
    return -1;
}

uint32_t ossc_cache_nfiles(void)
{
    return NC.h ? NC.h->nfiles : 0;
}

const char *ossc_cache_file_key(int file)
{
    return NC.files[file].key;
}

const char *ossc_cache_file_rel(int file)
{
    return NC.files[file].rel;
}

int ossc_cache_data_path(int file, char *out, size_t cap)
{
    return ossc_pathf(out, cap, "%s/data.%d", NC.dir, file);
}
