/* hook_read.c - reads of our fds wait until their file has arrived and
 * is verified (CRC-64, see cache.c), then read from the cache file with
 * the real call; a file that failed the check fails the read with EIO. */
#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "interposer.h"

/* Waits, when fd is ours and the read covers [off, off+len), until its
 * file is verified.  -1 (errno set) when the bytes cannot be had or are
 * not the object's: the caller must fail the read. */
static int ready(int fd, off_t off, size_t len)
{
    if (!atomic_load_explicit(&ossc_preload_active, memory_order_relaxed) || ossc_in_hook)
        return 0;
    int f = ossc_fd_get(fd);
    if (f < 0 || len == 0)
        return 0;
    if (off < 0) {
        off = lseek(fd, 0, SEEK_CUR);
        if (off < 0)
            return 0; /* the real call will report it */
    }
    ossc_in_hook++;
    int rc = ossc_cache_wait(f, (uint64_t)off, len);
    ossc_in_hook--;
    return rc;
}

static size_t iov_total(const struct iovec *iov, int n)
{
    size_t t = 0;
    for (int i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

OSSC_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    ossc_real_resolve();
    return ready(fd, -1, n) < 0 ? -1 : ossc_real.read(fd, buf, n);
}

OSSC_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    ossc_real_resolve();
    return ready(fd, off, n) < 0 ? -1 : ossc_real.pread(fd, buf, n, off);
}

OSSC_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
    ossc_real_resolve();
    return ready(fd, off, n) < 0 ? -1 : ossc_real.pread64(fd, buf, n, off);
}

OSSC_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    ossc_real_resolve();
    return ready(fd, -1, iov_total(iov, cnt)) < 0 ? -1 : ossc_real.readv(fd, iov, cnt);
}

OSSC_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
    ossc_real_resolve();
    return ready(fd, off, iov_total(iov, cnt)) < 0 ? -1 : ossc_real.preadv(fd, iov, cnt, off);
}

OSSC_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    ossc_real_resolve();
    return ready(fd, off, iov_total(iov, cnt)) < 0 ? -1 : ossc_real.preadv64(fd, iov, cnt, off);
}

OSSC_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    ossc_real_resolve();
    if (ready(fd, -1, n) < 0)
        return -1;
    return ossc_real.read_chk ? ossc_real.read_chk(fd, buf, n, buflen)
                              : ossc_real.read(fd, buf, n);
}

/* __pread_chk and __pread64_chk: the range made ready, then libc's
 * checking entry point chk, or the plain one where this libc has no chk.
 * The caller has resolved the real symbols. */
static ssize_t pread_fortified(int fd, void *buf, size_t n, off_t off, size_t buflen,
                               ssize_t (*chk)(int, void *, size_t, off_t, size_t),
                               ssize_t (*plain)(int, void *, size_t, off_t))
{
    if (ready(fd, off, n) < 0)
        return -1;
    return chk ? chk(fd, buf, n, off, buflen) : plain(fd, buf, n, off);
}

OSSC_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
    ossc_real_resolve();
    return pread_fortified(fd, buf, n, off, buflen, ossc_real.pread64_chk, ossc_real.pread64);
}

OSSC_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
    ossc_real_resolve();
    return pread_fortified(fd, buf, n, off, buflen, ossc_real.pread_chk, ossc_real.pread);
}

OSSC_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
    ossc_real_resolve();
    return ready(in, off ? *off : -1, n) < 0 ? -1 : ossc_real.sendfile(out, in, off, n);
}

OSSC_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t n)
{
    ossc_real_resolve();
    return ready(in, off ? *off : -1, n) < 0 ? -1 : ossc_real.sendfile64(out, in, off, n);
}

OSSC_EXPORT ssize_t copy_file_range(int in, off_t *off_in, int out, off_t *off_out, size_t n,
                                    unsigned int flags)
{
    ossc_real_resolve();
    if (ready(in, off_in ? *off_in : -1, n) < 0)
        return -1;
    if (!ossc_real.copy_file_range) {
        errno = ENOSYS;
        return -1;
    }
    return ossc_real.copy_file_range(in, off_in, out, off_out, n, flags);
}
