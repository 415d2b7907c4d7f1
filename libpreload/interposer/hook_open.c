/* hook_open.c - the open family, fopen and freopen.  A read-only open of a large
 * file in MODEL_DIR returns a real fd of its cache file; everything else
 * goes to libc unchanged.  O_DIRECT is dropped for our files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "interposer.h"

/* The file index when (dirfd, path, flags) is a read-only open of ours. */
static int ours(int dirfd, const char *path, int flags)
{
    if (!atomic_load_explicit(&ossc_preload_active, memory_order_relaxed) || ossc_in_hook ||
        !path)
        return -1;
    /* O_PATH: a handle that reads nothing; the placeholder's own is right. */
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | O_DIRECTORY | O_PATH)))
        return -1;
    char abs[PATH_MAX];
    if (ossc_abs_path(dirfd, path, abs, sizeof(abs)) < 0)
        return -1;
    return ossc_cache_lookup_path(abs);
}

/* Opens file i for the application; fd registered as ours.  An fd that
 * lands beyond the table is moved below it, or refused with EMFILE. */
static int open_ours(int file, int flags)
{
    ossc_in_hook++;
    int fd = ossc_cache_open(file, flags);
    if (fd >= OSSC_FD_SLOTS) {
        int low = ossc_real.fcntl(fd, (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
        ossc_real.close(fd);
        if (low >= OSSC_FD_SLOTS)
            ossc_real.close(low);
        fd = low >= 0 && low < OSSC_FD_SLOTS ? low : -1;
        if (fd < 0)
            errno = EMFILE;
    }
    ossc_in_hook--;
    if (fd >= 0)
        ossc_fd_set(fd, file);
    return fd;
}

/* The file whose placeholder fd is open on, or -1. */
static int placeholder_behind(int fd)
{
    struct stat st;
    return ossc_real_fstat(fd, &st) == 0 ? ossc_cache_lookup_inode(&st) : -1;
}

/* A read-only open that libc made (the path lookup missed) but that
 * reached one of our placeholders by another name: a symlink or hard link
 * to it, a bind mount, /proc/self/cwd/...  Its bytes would be the
 * placeholder's zeros: the fd is swapped for one of ours (or the open
 * fails with that errno).  Cost: one fstat per read-only open of the
 * process while the interposer is active. */
int ossc_other_name_open(int fd, int flags)
{
    if (fd < 0 || !atomic_load_explicit(&ossc_preload_active, memory_order_relaxed) ||
        ossc_in_hook || (flags & O_ACCMODE) != O_RDONLY ||
        (flags & (O_PATH | O_DIRECTORY | O_TRUNC)))
        return fd;
    int f = placeholder_behind(fd);
    if (f < 0)
        return fd;
    int mine = open_ours(f, flags & ~(O_CREAT | O_EXCL));
    int e = errno;
    ossc_real.close(fd);
    errno = e;
    return mine;
}

OSSC_EXPORT int open(const char *path, int flags, ...)
{
    OSSC_MODE_ARG(flags, mode);
    ossc_real_resolve();
    int f = ours(AT_FDCWD, path, flags);
    return f >= 0 ? open_ours(f, flags)
                  : ossc_other_name_open(ossc_real.open(path, flags, mode), flags);
}

OSSC_EXPORT int open64(const char *path, int flags, ...)
{
    OSSC_MODE_ARG(flags, mode);
    ossc_real_resolve();
    int f = ours(AT_FDCWD, path, flags);
    return f >= 0 ? open_ours(f, flags)
                  : ossc_other_name_open(ossc_real.open64(path, flags, mode), flags);
}

OSSC_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    OSSC_MODE_ARG(flags, mode);
    ossc_real_resolve();
    int f = ours(dirfd, path, flags);
    return f >= 0 ? open_ours(f, flags)
                  : ossc_other_name_open(ossc_real.openat(dirfd, path, flags, mode), flags);
}

OSSC_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    OSSC_MODE_ARG(flags, mode);
    ossc_real_resolve();
    int f = ours(dirfd, path, flags);
    return f >= 0 ? open_ours(f, flags)
                  : ossc_other_name_open(ossc_real.openat64(dirfd, path, flags, mode), flags);
}

/* _FORTIFY_SOURCE variants (no mode argument).  __open_2 and __open64_2:
 * ours, else libc's checking entry point chk, or the plain one where this
 * libc has no chk.  The caller has resolved the real symbols. */
static int open_fortified(const char *path, int flags, int (*chk)(const char *, int),
                          int (*plain)(const char *, int, ...))
{
    int f = ours(AT_FDCWD, path, flags);
    if (f >= 0)
        return open_ours(f, flags);
    return ossc_other_name_open(chk ? chk(path, flags) : plain(path, flags), flags);
}

OSSC_EXPORT int __open_2(const char *path, int flags)
{
    ossc_real_resolve();
    return open_fortified(path, flags, ossc_real.open_2, ossc_real.open);
}

OSSC_EXPORT int __open64_2(const char *path, int flags)
{
    ossc_real_resolve();
    return open_fortified(path, flags, ossc_real.open64_2, ossc_real.open64);
}

/* __openat_2 and __openat64_2, likewise: ours, else libc's checking entry point
 * chk, or the plain one where this libc has no chk.  The caller has
 * resolved the real symbols. */
static int openat_fortified(int dirfd, const char *path, int flags,
                            int (*chk)(int, const char *, int),
                            int (*plain)(int, const char *, int, ...))
{
    int f = ours(dirfd, path, flags);
    if (f >= 0)
        return open_ours(f, flags);
    return ossc_other_name_open(chk ? chk(dirfd, path, flags) : plain(dirfd, path, flags), flags);
}

OSSC_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    ossc_real_resolve();
    return openat_fortified(dirfd, path, flags, ossc_real.openat_2, ossc_real.openat);
}

OSSC_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    ossc_real_resolve();
    return openat_fortified(dirfd, path, flags, ossc_real.openat64_2, ossc_real.openat64);
}

/* Forgets and closes fd of ours (a user of its file), keeping errno. */
static void close_ours(int fd)
{
    int e = errno;
    ossc_cache_user_drop(ossc_fd_take(fd));
    ossc_real.close(fd);
    errno = e;
}

/* A stream reads through libc's internal read, which no hook sees: an fd
 * of ours on file (cloexec: O_CLOEXEC or 0) with the whole file present,
 * or -1 with errno (nothing left open). */
static int open_whole(int file, int cloexec)
{
    int fd = open_ours(file, O_RDONLY | cloexec);
    if (fd >= 0 && ossc_cache_wait(file, 0, ossc_cache_file_size(file)) < 0) {
        close_ours(fd);
        return -1;
    }
    return fd;
}

static FILE *fopen_ours(int file, const char *mode)
{
    int fd = open_whole(file, strchr(mode, 'e') ? O_CLOEXEC : 0);
    if (fd < 0)
        return NULL;
    FILE *fp = fdopen(fd, "r");
    if (!fp)
        close_ours(fd);
    return fp;
}

static int fopen_flags(const char *mode)
{
    return (mode && mode[0] == 'r' && !strchr(mode, '+')) ? O_RDONLY : O_RDWR;
}

/* fopen's ossc_other_name_open: a read-only stream libc opened on a
 * placeholder reached by another name is replaced by one of ours. */
FILE *ossc_other_name_fopen(FILE *fp, const char *mode)
{
    if (!fp || fopen_flags(mode) != O_RDONLY ||
        !atomic_load_explicit(&ossc_preload_active, memory_order_relaxed) || ossc_in_hook)
        return fp;
    int f = placeholder_behind(fileno(fp));
    if (f < 0)
        return fp;
    ossc_real.fclose(fp);
    return fopen_ours(f, mode);
}

OSSC_EXPORT FILE *fopen(const char *path, const char *mode)
{
    ossc_real_resolve();
    int f = ours(AT_FDCWD, path, fopen_flags(mode));
    return f >= 0 ? fopen_ours(f, mode)
                  : ossc_other_name_fopen(ossc_real.fopen(path, mode), mode);
}

OSSC_EXPORT FILE *fopen64(const char *path, const char *mode)
{
    ossc_real_resolve();
    int f = ours(AT_FDCWD, path, fopen_flags(mode));
    return f >= 0 ? fopen_ours(f, mode)
                  : ossc_other_name_fopen(ossc_real.fopen64(path, mode), mode);
}

/* A failed freopen as glibc's own: the stream's fd closed, the FILE left
 * allocated (the caller may still fclose it), NULL with errno e.  An empty
 * path is what makes libc's freopen fail that way (ENOENT). */
static FILE *freopen_fail(FILE *(*real)(const char *, const char *, FILE *), const char *mode,
                          FILE *fp, int e)
{
    (void)real("", mode, fp);
    errno = e;
    return NULL;
}

/* fp was just given a file by libc's freopen (its fd nfd, the number the
 * stream had): when that file is ours -- file f found by path, else a
 * placeholder found by inode -- the cache file is swapped in under nfd and
 * made whole first (stdio reads are unhooked, as for fopen).  If that
 * fails, freopen fails (freopen_fail). */
static FILE *freopen_swap(FILE *(*real)(const char *, const char *, FILE *), FILE *fp, int f,
                          const char *mode)
{
    int nfd = fileno(fp);
    if (f < 0 && fopen_flags(mode) == O_RDONLY)
        f = placeholder_behind(nfd);
    if (f < 0)
        return fp;
    if (nfd >= OSSC_FD_SLOTS)
        return freopen_fail(real, mode, fp, EMFILE);
    int cloexec = strchr(mode, 'e') ? O_CLOEXEC : 0;
    int mine = open_whole(f, cloexec);
    if (mine >= 0 && ossc_real.dup3(mine, nfd, cloexec) < 0) {
        close_ours(mine);
        mine = -1;
    }
    if (mine < 0)
        return freopen_fail(real, mode, fp, errno);
    ossc_fd_take(mine); /* its user moves to nfd */
    ossc_real.close(mine);
    ossc_fd_set(nfd, f);
    return fp;
}

FILE *ossc_other_name_freopen(FILE *(*real)(const char *, const char *, FILE *), FILE *fp,
                              const char *mode)
{
    if (!fp || !atomic_load_explicit(&ossc_preload_active, memory_order_relaxed) ||
        ossc_in_hook)
        return fp;
    return freopen_swap(real, fp, -1, mode);
}

/* freopen opens and closes inside libc, which no hook sees.  The stream's
 * old fd leaves the table first (libc closes it, even when the open
 * fails).  A reopen of the same file (path NULL: glibc reopens
 * /proc/self/fd/N, the cache file for one of ours) keeps its user under
 * the new number, read-only only: writing would reach the node's shared
 * cache file, so that is refused (EACCES).  Any other file goes through
 * freopen_swap. */
static FILE *freopen_common(FILE *(*real)(const char *, const char *, FILE *),
                            const char *path, const char *mode, FILE *stream)
{
    if (!atomic_load_explicit(&ossc_preload_active, memory_order_relaxed) || ossc_in_hook)
        return real(path, mode, stream);
    int was = ossc_fd_take(stream ? fileno(stream) : -1);
    if (was >= 0 && !path && fopen_flags(mode) != O_RDONLY) {
        ossc_cache_user_drop(was);
        return freopen_fail(real, mode, stream, EACCES);
    }
    int f = path ? ours(AT_FDCWD, path, fopen_flags(mode)) : -1;
    FILE *fp = real(path, mode, stream);
    int e = errno;
    int nfd = fp ? fileno(fp) : -1;
    if (was >= 0 && !path && nfd >= 0 && nfd < OSSC_FD_SLOTS) {
        ossc_fd_set(nfd, was); /* the same cache file under a new number */
        return fp;
    }
    if (was >= 0)
        ossc_cache_user_drop(was);
    if (!fp) {
        errno = e;
        return NULL;
    }
    return freopen_swap(real, fp, f, mode);
}

OSSC_EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream)
{
    ossc_real_resolve();
    return freopen_common(ossc_real.freopen, path, mode, stream);
}

OSSC_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
    ossc_real_resolve();
    return freopen_common(ossc_real.freopen64, path, mode, stream);
}
