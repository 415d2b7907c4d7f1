/* layout.c - the state file: its size and layout, mapping an existing one,
 * building a new one for a prepared MODEL_DIR, removing the cache's files. */
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

/* ------------------------------------------------------------- state */

uint64_t nc_fnv1a(const char *a)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = a; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

/* The CRCs come first after the files: both sizes are multiples of 8. */
_Static_assert(sizeof(struct shm_header) % 8 == 0, "CRC array alignment");
_Static_assert(sizeof(struct shm_file) % 8 == 0, "CRC array alignment");
size_t nc_state_size(uint32_t nfiles, uint64_t chunks)
{
    return sizeof(struct shm_header) + nfiles * sizeof(struct shm_file) +
           chunks * (sizeof(atomic_ullong) + 3 * sizeof(atomic_uint) + 2 * sizeof(atomic_int));
}

void nc_bind_state(void *base, size_t len)
{
    NC.h = base;
    NC.state_len = len;
    NC.files = (struct shm_file *)((char *)base + sizeof(struct shm_header));
    NC.crc = (atomic_ullong *)(NC.files + NC.h->nfiles);
    NC.state = (atomic_uint *)(NC.crc + NC.h->total_chunks);
    NC.owner = (atomic_int *)(NC.state + NC.h->total_chunks);
    NC.errs = NC.owner + NC.h->total_chunks;
    NC.owner_tok = (atomic_uint *)(NC.errs + NC.h->total_chunks);
    NC.origin = NC.owner_tok + NC.h->total_chunks;
}

/* Removes the cache's files, by name relative to the directory descriptor
 * (a symlink is removed as a link, never followed). */
void nc_remove_cache_files(uint32_t nfiles)
{
    char name[32];
    for (uint32_t i = 0; i < nfiles; i++) {
        snprintf(name, sizeof(name), "data.%u", i);
        unlinkat(NC.dirfd, name, 0);
    }
    unlinkat(NC.dirfd, "state", 0);
}

/* Removes the lock file, then the directory when it is empty and still the
 * one we opened.  Only under the setup lock (byte 1): a process waiting for
 * it on the removed file finds it unlinked (st_nlink 0) once it gets it,
 * and starts again. */
void nc_remove_lock_and_dir(void)
{
    struct stat mine, there;
    unlinkat(NC.dirfd, "lock", 0);
    if (fstat(NC.dirfd, &mine) == 0 && lstat(NC.dir, &there) == 0 && mine.st_dev == there.st_dev &&
        mine.st_ino == there.st_ino)
        rmdir(NC.dir);
}

/* Last one out (under the setup lock): the cache goes, and so do the
 * placeholders (they would read as zeros without the interposer). */
void nc_remove_everything(void)
{
    ossc_placeholder *ph = malloc((NC.h->nfiles ? NC.h->nfiles : 1) * sizeof(*ph));
    for (uint32_t i = 0; ph && i < NC.h->nfiles; i++)
        ph[i] = (ossc_placeholder){NC.files[i].rel, NC.files[i].ph_ino, NC.files[i].ph_mtime_ns};
    if (ph)
        ossc_modeldir_remove_placeholders(NC.s.model_dir, ph, NC.h->nfiles);
    free(ph);
    nc_remove_cache_files(NC.h->nfiles);
    nc_remove_lock_and_dir();
}

/* Maps an existing, ready state file; 0 on success. */
int nc_map_existing(void)
{
    int fd = nc_open_in_cache("state", O_RDWR, 0);
    if (fd < 0)
        return -1;
    struct stat st;
    void *m = MAP_FAILED;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (size_t)st.st_size >= sizeof(struct shm_header))
        m = ossc_libc.mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ossc_libc.close(fd);
    if (m == MAP_FAILED)
        return -1;
    struct shm_header *h = m;
    if (h->magic != STATE_MAGIC || h->version != STATE_VERSION || !atomic_load(&h->ready) ||
        nc_state_size(h->nfiles, h->total_chunks) != (size_t)st.st_size) {
        ossc_libc.munmap(m, (size_t)st.st_size);
        return -1;
    }
    nc_bind_state(m, (size_t)st.st_size);
    return 0;
}

/* A new file in the cache directory: a stale entry of that name (ours: the
 * directory is private) goes first, then O_EXCL creates it afresh. */
int nc_create_in_cache(const char *name)
{
    unlinkat(NC.dirfd, name, 0);
    return nc_open_in_cache(name, O_RDWR | O_CREAT | O_EXCL, 0600);
}

/* Every large file as the catalog describes it now: its size must be the
 * listing's, its CRC (when known) is what the file's bytes are checked
 * against, and its ETag the version every chunk is fetched from.
 * Sequential: a model has few large files. */
int nc_describe_large_files(const ossc_large_file *lf, size_t n, ossc_large_version *v)
{
    for (size_t i = 0; i < n; i++) {
        ossc_error err = {0};
        memset(&v[i], 0, sizeof(v[i]));
        if (NC.catalog->describe(NC.catalog->ctx, &NC.s, &lf[i], &v[i], &err) < 0)
            return nc_refuse(err.code ? err.code : EIO, "cannot prepare MODEL_DIR %s from %s: %s",
                             NC.s.model_dir, NC.s.oss_path, err.message);
        uint64_t size = v[i].size;
        if (size != lf[i].size)
            return nc_refuse(EIO, "cannot prepare MODEL_DIR %s from %s: oss://%s/%s is %llu bytes "
                          "by HEAD but %llu by the listing: it changed while MODEL_DIR was "
                          "prepared", NC.s.model_dir, NC.s.oss_path, NC.s.bucket, lf[i].key,
                          (unsigned long long)size, (unsigned long long)lf[i].size);
    }
    return 0;
}

/* After ossc_modeldir_prepare succeeded but the cache could not be built:
 * its placeholders go (beneath MODEL_DIR, see modeldir.c), so the
 * application, with the interposer inert, gets ENOENT and never reads a
 * placeholder's zeros.  The small files stay: they hold the real bytes. */
void nc_remove_prepared(const ossc_large_file *lf, size_t n)
{
    ossc_placeholder *ph = malloc((n ? n : 1) * sizeof(*ph));
    for (size_t i = 0; ph && i < n; i++)
        ph[i] = (ossc_placeholder){lf[i].rel, lf[i].ph_ino, lf[i].ph_mtime_ns};
    if (ph)
        ossc_modeldir_remove_placeholders(NC.s.model_dir, ph, n);
    free(ph);
}

/* Builds MODEL_DIR (through the catalog) and a new state file (under the
 * setup lock).  Long (about
 * 100 lines) because every failure after the preparation must undo it in one
 * place: one cleanup path. */
int nc_create_state(void)
{
    ossc_large_file *lf = NULL;
    size_t n = 0;
    uint64_t chunk = 0, total = 0;
    ossc_error err = {0};
    int prepared = NC.catalog->prepare(NC.catalog->ctx, &NC.s, &lf, &n, &chunk, &err);
    if (prepared == 0 && chunk == 0) { /* a catalog's bug: never divide by it */
        nc_remove_prepared(lf, n);
        ossc_large_files_free(lf, n);
        prepared = ossc_error_set(&err, EINVAL, "the catalog gave a chunk size of 0");
    }
    if (prepared < 0) {
        nc_refuse(err.code ? err.code : EIO, "cannot prepare MODEL_DIR %s from %s: %s",
               NC.s.model_dir, NC.s.oss_path, err.message);
        NC.attach_err = err;
        return -1;
    }
    ossc_large_version *ver = calloc(n ? n : 1, sizeof(*ver));
    if (!ver || nc_describe_large_files(lf, n, ver) < 0) {
        if (!ver)
            nc_refuse(ENOMEM, "out of memory preparing %s", NC.s.model_dir);
        free(ver);
        nc_remove_prepared(lf, n);
        ossc_large_files_free(lf, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        total += (lf[i].size + chunk - 1) / chunk;
    size_t len = nc_state_size((uint32_t)n, total);
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "state.%d", (int)getpid());
    int fd = nc_create_in_cache(tmp);
    void *m = MAP_FAILED;
    struct stat st;
    if (fd >= 0 && ftruncate(fd, (off_t)len) == 0 && fstat(fd, &st) == 0) {
        m = ossc_libc.mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        NC.state_ino = st.st_ino;
    }
    if (fd >= 0)
        ossc_libc.close(fd);
    if (m == MAP_FAILED) {
        nc_refuse(errno, "cannot create cache state %s/%s: %s", NC.dir, tmp, strerror(errno));
        unlinkat(NC.dirfd, tmp, 0);
        free(ver);
        nc_remove_prepared(lf, n);
        ossc_large_files_free(lf, n);
        return -1;
    }
    struct shm_header *h = m;
    h->magic = STATE_MAGIC;
    h->version = STATE_VERSION;
    h->nfiles = (uint32_t)n;
    h->chunk_size = chunk;
    h->total_chunks = total;
    snprintf(h->oss_path, sizeof(h->oss_path), "%s", NC.s.oss_path);
    snprintf(h->model_dir, sizeof(h->model_dir), "%s", NC.s.model_dir);
    nc_bind_state(m, len);
    uint64_t next = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct shm_file *f = &NC.files[i];
        snprintf(f->rel, sizeof(f->rel), "%s", lf[i].rel);
        snprintf(f->key, sizeof(f->key), "%s", lf[i].key);
        f->size = lf[i].size;
        f->ph_ino = lf[i].ph_ino;
        f->ph_mtime_ns = lf[i].ph_mtime_ns;
        f->first_chunk = next;
        f->nchunks = (f->size + chunk - 1) / chunk;
        f->object_crc = ver[i].crc;
        f->has_crc = ver[i].has_crc ? 1 : 0;
        snprintf(f->etag, sizeof(f->etag), "%s", ver[i].etag);
        next += f->nchunks;
        char name[32];
        snprintf(name, sizeof(name), "data.%zu", i);
        int dfd = nc_create_in_cache(name);
        if (dfd < 0 || ftruncate(dfd, (off_t)f->size) < 0) {
            rc = nc_refuse(errno, "cannot create cache file %s/%s: %s", NC.dir, name,
                        strerror(errno));
        }
        if (dfd >= 0)
            ossc_libc.close(dfd);
    }
    free(ver);
    if (rc == 0 && renameat(NC.dirfd, tmp, NC.dirfd, "state") < 0)
        rc = nc_refuse(errno, "cannot install cache state %s/state: %s", NC.dir, strerror(errno));
    if (rc < 0)
        nc_remove_prepared(lf, n);
    ossc_large_files_free(lf, n);
    if (rc < 0) {
        nc_remove_cache_files((uint32_t)n);
        unlinkat(NC.dirfd, tmp, 0);
        ossc_libc.munmap(m, len);
        NC.h = NULL;
        return -1;
    }
    atomic_store(&h->ready, 1);
    OSSC_INFO("MODEL_DIR %s mirrors %s: %u large files, %llu chunks of %llu bytes", NC.s.model_dir,
              NC.s.oss_path, h->nfiles, (unsigned long long)total, (unsigned long long)chunk);
    return 0;
}
