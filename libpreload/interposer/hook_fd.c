/* hook_fd.c - keeping the fd table right: close, the dup family,
 * fcntl(F_DUPFD*), and posix_fadvise(WILLNEED) as a prefetch hint. */
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

#include "interposer.h"

static bool active(void)
{
    return atomic_load_explicit(&ossc_preload_active, memory_order_relaxed);
}

/* newfd now refers to what oldfd does (it replaced whatever newfd was). */
static void duplicated(int oldfd, int newfd)
{
    int dropped = ossc_fd_take(newfd);
    if (dropped >= 0)
        ossc_cache_user_drop(dropped);
    int f = ossc_fd_get(oldfd);
    if (f >= 0) {
        ossc_fd_set(newfd, f);
        ossc_cache_user_add(f);
    }
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

OSSC_EXPORT int dup(int fd)
{
    ossc_real_resolve();
    int nfd = ossc_real.dup(fd);
    if (nfd >= 0 && active())
        duplicated(fd, nfd);
    return nfd;
}

OSSC_EXPORT int dup2(int fd, int nfd)
{
    ossc_real_resolve();
    int rc = ossc_real.dup2(fd, nfd);
    if (rc >= 0 && fd != nfd && active())
        duplicated(fd, nfd);
    return rc;
}

OSSC_EXPORT int dup3(int fd, int nfd, int flags)
{
    ossc_real_resolve();
    int rc = ossc_real.dup3(fd, nfd, flags);
    if (rc >= 0 && active())
        duplicated(fd, nfd);
    return rc;
}

static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, va_list ap)
{
    /* Every fcntl command takes at most one argument, an int or a pointer;
     * passing it on as a pointer-sized value is what libc itself does. */
    void *arg = va_arg(ap, void *);
    int rc = real(fd, cmd, arg);
    if (rc >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && active())
        duplicated(fd, rc);
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
