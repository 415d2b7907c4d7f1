/* inproc_hooks.c - what GOT entries point at in in-process mode.
 *
 * Each forwarder decides cheaply, without touching the cache, whether the
 * call may concern one of our files (an fd in the fd table, a path under
 * the prepared directory).  If not, it calls libc directly; if so, it
 * calls this library's exported hook (hook_*.c, the same code LD_PRELOAD
 * runs) inside an in-flight count, so a session is torn down only when no
 * call is inside the cache.  Calls that block in libc on other files
 * (pipes, sockets) are never counted.
 *
 * The exported hooks are found with dlsym on this library's own handle:
 * from inside it, `open` names libc's function, not ours. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "inproc.h"
#include "interposer.h"

static atomic_long inflight;
static char dir_abs[PATH_MAX], dir_real[PATH_MAX];
static size_t dir_abs_len, dir_real_len;

#define ENTER atomic_fetch_add(&inflight, 1)
#define LEAVE atomic_fetch_sub(&inflight, 1)

/* This library's exported hooks (same shape as the real-libc table). */
static struct ossc_real H;

long ossc_inproc_inflight(void)
{
    return atomic_load(&inflight);
}

void ossc_inproc_inflight_reset(void)
{
    atomic_store(&inflight, 0);
}

void ossc_inproc_set_dirs(const char *dir, const char *real)
{
    snprintf(dir_abs, sizeof(dir_abs), "%s", dir);
    snprintf(dir_real, sizeof(dir_real), "%s", real);
    dir_abs_len = strlen(dir_abs);
    dir_real_len = strlen(dir_real);
}

/* A session is active (the hooks may touch the cache). */
static bool active(void)
{
    return atomic_load_explicit(&ossc_preload_active, memory_order_relaxed);
}

static bool under(const char *path, const char *dir, size_t n)
{
    return n && strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* A read-only open that may name one of our files: relative paths and
 * *at() calls relative to a directory fd are counted (rare in loaders). */
static bool path_maybe_ours(int dirfd, const char *path, int flags)
{
    if (!active() || !path || (flags & O_ACCMODE) != O_RDONLY)
        return false;
    if (path[0] != '/')
        return dirfd == AT_FDCWD || dirfd >= 0;
    return under(path, dir_abs, dir_abs_len) || under(path, dir_real, dir_real_len);
}

static bool fd_ours(int fd)
{
    return ossc_fd_get(fd) >= 0;
}

static int fopen_flags(const char *mode)
{
    return (mode && mode[0] == 'r' && !strchr(mode, '+')) ? O_RDONLY : O_RDWR;
}

/* A read-only open that libc made on a path outside the prepared
 * directory may still have reached a placeholder by another name (a
 * symlink to it, a hard link): one fstat tells (ossc_other_name_open),
 * counted as in flight, since it may open a file of ours. */
static int other_name(int fd, int flags)
{
    if (fd < 0 || (flags & O_ACCMODE) != O_RDONLY || !active())
        return fd;
    ENTER;
    int r = ossc_other_name_open(fd, flags);
    LEAVE;
    return r;
}

static FILE *other_name_stream(FILE *fp, const char *mode)
{
    if (!fp || fopen_flags(mode) != O_RDONLY || !active())
        return fp;
    ENTER;
    FILE *r = ossc_other_name_fopen(fp, mode);
    LEAVE;
    return r;
}

/* Path-based calls. */
#define FWD_OPEN(name)                                                                     \
    static int w_##name(const char *p, int flags, ...)                                     \
    {                                                                                      \
        OSSC_MODE_ARG(flags, mode);                                                        \
        if (!path_maybe_ours(AT_FDCWD, p, flags))                                          \
            return other_name(ossc_real.name(p, flags, mode), flags);                      \
        ENTER;                                                                             \
        int r = H.name(p, flags, mode);                                                    \
        LEAVE;                                                                             \
        return r;                                                                          \
    }
#define FWD_OPENAT(name)                                                                   \
    static int w_##name(int d, const char *p, int flags, ...)                              \
    {                                                                                      \
        OSSC_MODE_ARG(flags, mode);                                                        \
        if (!path_maybe_ours(d, p, flags))                                                 \
            return other_name(ossc_real.name(d, p, flags, mode), flags);                   \
        ENTER;                                                                             \
        int r = H.name(d, p, flags, mode);                                                 \
        LEAVE;                                                                             \
        return r;                                                                          \
    }
FWD_OPEN(open)
FWD_OPEN(open64)
FWD_OPENAT(openat)
FWD_OPENAT(openat64)

#define FWD_OPEN2(name, fallback)                                                          \
    static int w_##name(const char *p, int flags)                                          \
    {                                                                                      \
        if (!path_maybe_ours(AT_FDCWD, p, flags))                                          \
            return other_name(ossc_real.name ? ossc_real.name(p, flags)                    \
                                             : ossc_real.fallback(p, flags), flags);       \
        ENTER;                                                                             \
        int r = H.name(p, flags);                                                          \
        LEAVE;                                                                             \
        return r;                                                                          \
    }
#define FWD_OPENAT2(name, fallback)                                                        \
    static int w_##name(int d, const char *p, int flags)                                   \
    {                                                                                      \
        if (!path_maybe_ours(d, p, flags))                                                 \
            return other_name(ossc_real.name ? ossc_real.name(d, p, flags)                 \
                                             : ossc_real.fallback(d, p, flags), flags);    \
        ENTER;                                                                             \
        int r = H.name(d, p, flags);                                                       \
        LEAVE;                                                                             \
        return r;                                                                          \
    }
FWD_OPEN2(open_2, open)
FWD_OPEN2(open64_2, open64)
FWD_OPENAT2(openat_2, openat)
FWD_OPENAT2(openat64_2, openat64)

#define FWD_FOPEN(name)                                                                    \
    static FILE *w_##name(const char *p, const char *m)                                    \
    {                                                                                      \
        if (!path_maybe_ours(AT_FDCWD, p, fopen_flags(m)))                                 \
            return other_name_stream(ossc_real.name(p, m), m);                             \
        ENTER;                                                                             \
        FILE *r = H.name(p, m);                                                            \
        LEAVE;                                                                             \
        return r;                                                                          \
    }
FWD_FOPEN(fopen)
FWD_FOPEN(fopen64)

/* fd-based calls: counted only when the fd is ours. */
#define FWD_FD(ret, name, params, fd, args)                                                \
    static ret w_##name params                                                             \
    {                                                                                      \
        if (!fd_ours(fd))                                                                  \
            return ossc_real.name args;                                                    \
        ENTER;                                                                             \
        ret r = H.name args;                                                               \
        LEAVE;                                                                             \
        return r;                                                                          \
    }
FWD_FD(ssize_t, read, (int fd, void *b, size_t n), fd, (fd, b, n))
FWD_FD(ssize_t, pread, (int fd, void *b, size_t n, off_t o), fd, (fd, b, n, o))
FWD_FD(ssize_t, pread64, (int fd, void *b, size_t n, off_t o), fd, (fd, b, n, o))
FWD_FD(ssize_t, readv, (int fd, const struct iovec *v, int c), fd, (fd, v, c))
FWD_FD(ssize_t, preadv, (int fd, const struct iovec *v, int c, off_t o), fd, (fd, v, c, o))
FWD_FD(ssize_t, preadv64, (int fd, const struct iovec *v, int c, off_t o), fd, (fd, v, c, o))
FWD_FD(ssize_t, read_chk, (int fd, void *b, size_t n, size_t bl), fd, (fd, b, n, bl))
FWD_FD(ssize_t, pread_chk, (int fd, void *b, size_t n, off_t o, size_t bl), fd,
       (fd, b, n, o, bl))
FWD_FD(ssize_t, pread64_chk, (int fd, void *b, size_t n, off_t o, size_t bl), fd,
       (fd, b, n, o, bl))
FWD_FD(void *, mmap, (void *a, size_t l, int p, int f, int fd, off_t o), fd, (a, l, p, f, fd, o))
FWD_FD(void *, mmap64, (void *a, size_t l, int p, int f, int fd, off_t o), fd,
       (a, l, p, f, fd, o))
FWD_FD(int, close, (int fd), fd, (fd))
FWD_FD(int, dup, (int fd), fd, (fd))
FWD_FD(int, posix_fadvise, (int fd, off_t o, off_t l, int a), fd, (fd, o, l, a))
FWD_FD(int, posix_fadvise64, (int fd, off_t o, off_t l, int a), fd, (fd, o, l, a))
FWD_FD(ssize_t, sendfile, (int out, int fd, off_t *o, size_t n), fd, (out, fd, o, n))
FWD_FD(ssize_t, sendfile64, (int out, int fd, off_t *o, size_t n), fd, (out, fd, o, n))
FWD_FD(int, fstat, (int fd, struct stat *st), fd, (fd, st))
FWD_FD(int, fstat64, (int fd, struct stat64 *st), fd, (fd, st))
FWD_FD(int, fxstat, (int v, int fd, struct stat *st), fd, (v, fd, st))
FWD_FD(int, fxstat64, (int v, int fd, struct stat64 *st), fd, (v, fd, st))
FWD_FD(int, fstatat, (int fd, const char *p, struct stat *st, int fl), fd, (fd, p, st, fl))
FWD_FD(int, fstatat64, (int fd, const char *p, struct stat64 *st, int fl), fd, (fd, p, st, fl))
FWD_FD(int, statx, (int fd, const char *p, int fl, unsigned m, struct statx *st), fd,
       (fd, p, fl, m, st))
FWD_FD(off_t, lseek, (int fd, off_t o, int w), fd, (fd, o, w))
FWD_FD(off_t, lseek64, (int fd, off_t o, int w), fd, (fd, o, w))

static ssize_t w_copy_file_range(int in, off_t *io, int out, off_t *oo, size_t n, unsigned fl)
{
    if (!fd_ours(in))
        return ossc_real.copy_file_range(in, io, out, oo, n, fl);
    ENTER;
    ssize_t r = H.copy_file_range(in, io, out, oo, n, fl);
    LEAVE;
    return r;
}

/* Streams: libc closes (and freopen opens) their fds inside, where no GOT
 * entry sees it.  fclose: the stream's fd decides.  freopen: the hook when
 * the stream is ours or the path may be; else libc's, uncounted (it may
 * block on a FIFO or a flush), then the other-name check of the file it
 * opened, counted. */
static int stream_fd(FILE *fp)
{
    return fp ? fileno(fp) : -1;
}

static int w_fclose(FILE *fp)
{
    if (!fd_ours(stream_fd(fp)))
        return ossc_real.fclose(fp);
    ENTER;
    int r = H.fclose(fp);
    LEAVE;
    return r;
}

#define FWD_FREOPEN(name)                                                                  \
    static FILE *w_##name(const char *p, const char *m, FILE *fp)                          \
    {                                                                                      \
        bool ours = fd_ours(stream_fd(fp)) ||                                              \
                    (p && path_maybe_ours(AT_FDCWD, p, fopen_flags(m)));                   \
        if (ours) {                                                                        \
            ENTER;                                                                         \
            FILE *r = H.name(p, m, fp);                                                    \
            LEAVE;                                                                         \
            return r;                                                                      \
        }                                                                                  \
        FILE *r = ossc_real.name(p, m, fp); /* may block (a FIFO): not counted */          \
        if (!r || fopen_flags(m) != O_RDONLY || !active())                                 \
            return r;                                                                      \
        ENTER;                                                                             \
        r = ossc_other_name_freopen(ossc_real.name, r, m);                                 \
        LEAVE;                                                                             \
        return r;                                                                          \
    }
FWD_FREOPEN(freopen)
FWD_FREOPEN(freopen64)

/* A range may hold fds of ours; neither call blocks, so both are counted
 * while a session is active (the hooks leave the table alone otherwise). */
static int w_close_range(unsigned first, unsigned last, int fl)
{
    if (!active())
        return H.close_range(first, last, fl);
    ENTER;
    int r = H.close_range(first, last, fl);
    LEAVE;
    return r;
}

static void w_closefrom(int lowfd)
{
    if (!active()) {
        H.closefrom(lowfd);
        return;
    }
    ENTER;
    H.closefrom(lowfd);
    LEAVE;
}

/* The new fd may replace one of ours too. */
static int w_dup2(int fd, int nfd)
{
    if (!fd_ours(fd) && !fd_ours(nfd))
        return ossc_real.dup2(fd, nfd);
    ENTER;
    int r = H.dup2(fd, nfd);
    LEAVE;
    return r;
}

static int w_dup3(int fd, int nfd, int fl)
{
    if (!fd_ours(fd) && !fd_ours(nfd))
        return ossc_real.dup3(fd, nfd, fl);
    ENTER;
    int r = H.dup3(fd, nfd, fl);
    LEAVE;
    return r;
}

/* munmap cannot tell from its arguments; it never blocks, so it is always
 * counted while a session is active. */
static int w_munmap(void *a, size_t l)
{
    if (!active())
        return ossc_real.munmap(a, l);
    ENTER;
    int r = H.munmap(a, l);
    LEAVE;
    return r;
}

/* fcntl takes at most one int or pointer argument; F_SETLKW on other
 * files may block, so only our fds are counted. */
#define FWD_FCNTL(name, real)                                                              \
    static int w_##name(int fd, int cmd, ...)                                              \
    {                                                                                      \
        va_list ap;                                                                        \
        va_start(ap, cmd);                                                                 \
        void *arg = va_arg(ap, void *);                                                    \
        va_end(ap);                                                                        \
        if (!fd_ours(fd))                                                                  \
            return (real)(fd, cmd, arg);                                                   \
        ENTER;                                                                             \
        int r = H.name(fd, cmd, arg);                                                      \
        LEAVE;                                                                             \
        return r;                                                                          \
    }
FWD_FCNTL(fcntl, ossc_real.fcntl)
FWD_FCNTL(fcntl64, ossc_real.fcntl64 ? ossc_real.fcntl64 : ossc_real.fcntl)

/* ---------------------------------------------------------- table */

#define T(sym, field) {sym, (void **)&H.field, (void *)w_##field}

static const struct entry {
    const char *sym;
    void **hook;
    void *forwarder;
} entries[] = {
    T("open", open), T("open64", open64), T("openat", openat),
    T("openat64", openat64), T("__open_2", open_2), T("__open64_2", open64_2),
    T("__openat_2", openat_2), T("__openat64_2", openat64_2), T("fopen", fopen),
    T("fopen64", fopen64), T("read", read), T("pread", pread),
    T("pread64", pread64), T("readv", readv), T("preadv", preadv),
    T("preadv64", preadv64), T("__read_chk", read_chk), T("__pread_chk", pread_chk),
    T("__pread64_chk", pread64_chk), T("mmap", mmap), T("mmap64", mmap64),
    T("munmap", munmap), T("close", close), T("close_range", close_range),
    T("closefrom", closefrom), T("fclose", fclose), T("freopen", freopen),
    T("freopen64", freopen64), T("dup", dup), T("dup2", dup2),
    T("dup3", dup3), T("fcntl", fcntl), T("fcntl64", fcntl64),
    T("posix_fadvise", posix_fadvise), T("posix_fadvise64", posix_fadvise64),
    T("sendfile", sendfile), T("sendfile64", sendfile64),
    T("copy_file_range", copy_file_range), T("fstat", fstat), T("fstat64", fstat64),
    T("__fxstat", fxstat), T("__fxstat64", fxstat64), T("fstatat", fstatat),
    T("fstatat64", fstatat64), T("statx", statx), T("lseek", lseek),
    T("lseek64", lseek64),
};
#define NENTRIES (sizeof(entries) / sizeof(entries[0]))

static ossc_got_target targets[NENTRIES];
static size_t ntargets;

/* Resolves our exported hooks once (gotpatch.c skips the functions libc
 * does not define, e.g. __fxstat in new glibc). */
int ossc_inproc_targets(const ossc_got_target **out, size_t *n, ossc_error *err)
{
    if (!ntargets) {
        ossc_real_resolve();
        Dl_info di;
        if (!dladdr((const void *)&ossc_inproc_targets, &di) || !di.dli_fname)
            return ossc_error_set(err, ENOENT, "in-process hooks: cannot find this library");
        void *self = dlopen(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
        if (!self)
            return ossc_error_set(err, ENOENT, "in-process hooks: cannot reopen %s: %s",
                                  di.dli_fname, dlerror());
        size_t k = 0;
        for (size_t i = 0; i < NENTRIES; i++) {
            void *hook = dlsym(self, entries[i].sym);
            Dl_info hi;
            if (!hook || !dladdr(hook, &hi) || hi.dli_fbase != di.dli_fbase) {
                dlclose(self);
                return ossc_error_set(err, ENOENT, "in-process hooks: %s does not export %s",
                                      di.dli_fname, entries[i].sym);
            }
            *entries[i].hook = hook;
            targets[k++] = (ossc_got_target){entries[i].sym, entries[i].forwarder};
        }
        dlclose(self); /* drops the reference taken above; the library stays */
        ntargets = k;
    }
    *out = targets;
    *n = ntargets;
    return 0;
}
