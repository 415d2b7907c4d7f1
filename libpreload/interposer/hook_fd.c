/* hook_fd.c - keeping the fd table right: close, close_range, closefrom,
 * fclose, the dup family, fcntl(F_DUPFD*), and
 * posix_fadvise(WILLNEED) as a prefetch hint.  An entry left behind by a
 * close the table did not see would make a later, unrelated file with the
 * same number look like ours (its fstat, mmap and reads answered for the
 * model file).  libc closes a stream's fd with its internal close, which
 * no hook sees: hence fclose.  (glibc's fcloseall flushes streams but
 * leaves their fds open: nothing to do there.) */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "interposer.h"

/* glibc declares these from 2.34 on; the portable build targets 2.28. */
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2) /* <linux/close_range.h> */
#endif
int close_range(unsigned int first, unsigned int last, int flags);
void closefrom(int lowfd);

static bool active(void)
{
    return atomic_load_explicit(&ossc_preload_active, memory_order_relaxed);
}

/* newfd now refers to what oldfd does (it replaced whatever newfd was).
 * Returns newfd, or -1 with EMFILE when oldfd is ours and newfd is beyond
 * the table (newfd is closed again: untracked, its reads would not wait). */
static int duplicated(int oldfd, int newfd)
{
    int dropped = ossc_fd_take(newfd);
    if (dropped >= 0)
        ossc_cache_user_drop(dropped);
    int f = ossc_fd_get(oldfd);
    if (f < 0 || !ossc_fd_owner())
        return newfd;
    if (newfd >= OSSC_FD_SLOTS) {
        ossc_real.close(newfd);
        errno = EMFILE;
        return -1;
    }
    ossc_fd_set(newfd, f);
    ossc_cache_user_add(f);
    return newfd;
}

OSSC_EXPORT int close(int fd)
{
    ossc_real_resolve();
    if (active()) {
        int f = ossc_fd_take(fd);
        if (f >= 0)
            ossc_cache_user_drop(f);
    }
    return ossc_real.close(fd);
}

/* The range stops being ours before the real call, as for close: once
 * closed, a number may be reused by another thread's open at once. */
OSSC_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
    ossc_real_resolve();
    if (!ossc_real.close_range) {
        errno = ENOSYS;
        return -1;
    }
    if (active() && !(flags & CLOSE_RANGE_CLOEXEC) && first <= last && first < OSSC_FD_SLOTS)
        ossc_fd_take_range((int)first, last >= OSSC_FD_SLOTS ? -1 : (int)last);
    return ossc_real.close_range(first, last, flags);
}

OSSC_EXPORT void closefrom(int lowfd)
{
    ossc_real_resolve();
    if (active() && lowfd < OSSC_FD_SLOTS)
        ossc_fd_take_range(lowfd, -1);
    if (ossc_real.closefrom)
        ossc_real.closefrom(lowfd);
}

/* fileno, or -1 for NULL (libc declares fclose's argument nonnull, so a
 * plain test of it is optimised out; callers still pass NULL). */
__attribute__((noinline)) static int stream_fd(FILE *fp)
{
    FILE *volatile p = fp;
    return p ? fileno(p) : -1;
}

OSSC_EXPORT int fclose(FILE *fp)
{
    ossc_real_resolve();
    if (active()) {
        int f = ossc_fd_take(stream_fd(fp)); /* -1 for streams without an fd */
        if (f >= 0)
            ossc_cache_user_drop(f);
    }
    return ossc_real.fclose(fp);
}

OSSC_EXPORT int dup(int fd)
{
    ossc_real_resolve();
    int nfd = ossc_real.dup(fd);
    if (nfd >= 0 && active())
        nfd = duplicated(fd, nfd);
    return nfd;
}

OSSC_EXPORT int dup2(int fd, int nfd)
{
    ossc_real_resolve();
    int rc = ossc_real.dup2(fd, nfd);
    if (rc >= 0 && fd != nfd && active())
        rc = duplicated(fd, nfd);
    return rc;
}

OSSC_EXPORT int dup3(int fd, int nfd, int flags)
{
    ossc_real_resolve();
    int rc = ossc_real.dup3(fd, nfd, flags);
    if (rc >= 0 && active())
        rc = duplicated(fd, nfd);
    return rc;
}

static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, va_list ap)
{
    /* Every fcntl command takes at most one argument, an int or a pointer;
     * passing it on as a pointer-sized value is what libc itself does. */
    void *arg = va_arg(ap, void *);
    int rc = real(fd, cmd, arg);
    if (rc >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && active())
        rc = duplicated(fd, rc);
    return rc;
}

OSSC_EXPORT int fcntl(int fd, int cmd, ...)
{
    ossc_real_resolve();
    va_list ap;
    va_start(ap, cmd);
    int rc = fcntl_common(ossc_real.fcntl, fd, cmd, ap);
    va_end(ap);
    return rc;
}

OSSC_EXPORT int fcntl64(int fd, int cmd, ...)
{
    ossc_real_resolve();
    va_list ap;
    va_start(ap, cmd);
    int rc = fcntl_common(ossc_real.fcntl64 ? ossc_real.fcntl64 : ossc_real.fcntl, fd, cmd, ap);
    va_end(ap);
    return rc;
}

static void hint(int fd, int advice)
{
    if (active() && advice == POSIX_FADV_WILLNEED) {
        int f = ossc_fd_get(fd);
        if (f >= 0)
            ossc_cache_demand(f);
    }
}

OSSC_EXPORT int posix_fadvise(int fd, off_t off, off_t len, int advice)
{
    ossc_real_resolve();
    hint(fd, advice);
    return ossc_real.posix_fadvise(fd, off, len, advice);
}

OSSC_EXPORT int posix_fadvise64(int fd, off_t off, off_t len, int advice)
{
    ossc_real_resolve();
    hint(fd, advice);
    return ossc_real.posix_fadvise64(fd, off, len, advice);
}
