/* hook_stat.c - fstat-like calls on our fds describe the placeholder in
 * MODEL_DIR (its device and inode), not the cache file behind the fd, so
 * tools that compare stat(path) with fstat(fd) (cp, rsync) are satisfied;
 * st_blocks is reported as fully allocated so nothing treats the file as
 * sparse.  SEEK_DATA/SEEK_HOLE on our fds first wait for the whole file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interposer.h"

static int ours(int fd)
{
    if (!atomic_load_explicit(&ossc_preload_active, memory_order_relaxed) || ossc_in_hook)
        return -1;
    return ossc_fd_get(fd);
}

/* NULL or "" (libc declares the argument nonnull; kernels accept NULL). */
__attribute__((noinline)) static bool empty(const char *path)
{
    const char *volatile p = path;
    return !p || !p[0];
}

static int placeholder_stat(int file, struct stat *st)
{
    char path[PATH_MAX];
    if (ossc_cache_placeholder(file, path, sizeof(path)) < 0)
        return -1;
    ossc_in_hook++;
    int rc = stat(path, st);
    ossc_in_hook--;
    if (rc == 0)
        st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
    return rc;
}

OSSC_EXPORT int fstat(int fd, struct stat *st)
{
    ossc_real_resolve();
    int f = ours(fd);
    if (f >= 0 && placeholder_stat(f, st) == 0)
        return 0;
    return ossc_real_fstat(fd, st);
}

OSSC_EXPORT int fstat64(int fd, struct stat64 *st)
{
    ossc_real_resolve();
    int f = ours(fd);
    if (f >= 0 && placeholder_stat(f, (struct stat *)st) == 0)
        return 0;
    return ossc_real.fstat64 ? ossc_real.fstat64(fd, st) : ossc_real.fxstat64(1, fd, st);
}

OSSC_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
    ossc_real_resolve();
    int f = ours(fd);
    if (f >= 0 && placeholder_stat(f, st) == 0)
        return 0;
    return ossc_real.fxstat(ver, fd, st);
}

OSSC_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
    ossc_real_resolve();
    int f = ours(fd);
    if (f >= 0 && placeholder_stat(f, (struct stat *)st) == 0)
        return 0;
    return ossc_real.fxstat64(ver, fd, st);
}

OSSC_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    ossc_real_resolve();
    int f = (flags & AT_EMPTY_PATH) && empty(path) ? ours(dirfd) : -1;
    if (f >= 0 && placeholder_stat(f, st) == 0)
        return 0;
    return ossc_real.fstatat(dirfd, path, st, flags);
}

OSSC_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
    ossc_real_resolve();
    int f = (flags & AT_EMPTY_PATH) && empty(path) ? ours(dirfd) : -1;
    if (f >= 0 && placeholder_stat(f, (struct stat *)st) == 0)
        return 0;
    return ossc_real.fstatat64(dirfd, path, st, flags);
}

OSSC_EXPORT int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *stx)
{
    ossc_real_resolve();
    int f = (flags & AT_EMPTY_PATH) && empty(path) ? ours(dirfd) : -1;
    if (f >= 0) {
        char ph[PATH_MAX];
        if (ossc_cache_placeholder(f, ph, sizeof(ph)) == 0) {
            int rc = ossc_real.statx(AT_FDCWD, ph, flags & ~AT_EMPTY_PATH, mask, stx);
            if (rc == 0) {
                stx->stx_blocks = (stx->stx_size + 511) / 512;
                return 0;
            }
        }
    }
    if (!ossc_real.statx) {
        errno = ENOSYS;
        return -1;
    }
    return ossc_real.statx(dirfd, path, flags, mask, stx);
}

static off_t seek(int fd, off_t off, int whence, off_t (*real)(int, off_t, int))
{
    int f = (whence == SEEK_DATA || whence == SEEK_HOLE) ? ours(fd) : -1;
    if (f >= 0) {
        ossc_in_hook++;
        int rc = ossc_cache_wait(f, 0, ossc_cache_file_size(f));
        ossc_in_hook--;
        if (rc < 0)
            return -1;
    }
    return real(fd, off, whence);
}

OSSC_EXPORT off_t lseek(int fd, off_t off, int whence)
{
    ossc_real_resolve();
    return seek(fd, off, whence, ossc_real.lseek);
}

OSSC_EXPORT off_t lseek64(int fd, off_t off, int whence)
{
    ossc_real_resolve();
    return seek(fd, off, whence, ossc_real.lseek64);
}
