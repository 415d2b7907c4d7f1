/* hook_exec.c - the exec family: the prefetch leader lets its transfers in
 * flight land before its image goes (ossc_cache_before_exec), instead of
 * losing them and having the next image fetch them again from byte 0.
 *
 * Every public exec function is hooked: glibc's own wrappers (execl,
 * execvp ...) reach the kernel through its internal __execve, which no
 * interposer sees.  posix_spawn, system and popen exec in a child through
 * that internal path too, and pass untouched.
 *
 * Async-signal-safety: a child of vfork (Python's subprocess) or of fork in
 * a multithreaded parent calls exec here.  The only work done before the
 * real call, for any process but the leader that started the prefetcher,
 * is reading flags and getpid(): no lock, no allocation, and (in a vfork
 * child, which shares the parent's memory) no lasting write. */
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

#include "interposer.h"

/* True when this process led the prefetcher and has now stopped it (the
 * transfers in flight landed or were abandoned at the deadline). */
static bool leader_drained(void)
{
    ossc_real_resolve();
    if (!atomic_load_explicit(&ossc_preload_active, memory_order_relaxed) || ossc_in_hook)
        return false;
    ossc_in_hook++; /* balanced before the real exec, even in a vfork child */
    bool drained = ossc_cache_before_exec();
    ossc_in_hook--;
    return drained;
}

/* After the real exec returned (it failed): the process goes on leading;
 * its error and errno are the caller's, unchanged. */
static int exec_failed(int rc, bool drained)
{
    if (drained) {
        int e = errno;
        ossc_in_hook++;
        ossc_cache_after_failed_exec();
        ossc_in_hook--;
        errno = e;
    }
    return rc;
}

OSSC_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    bool drained = leader_drained();
    return exec_failed(ossc_real.execve(path, argv, envp), drained);
}

OSSC_EXPORT int execv(const char *path, char *const argv[])
{
    bool drained = leader_drained();
    return exec_failed(ossc_real.execv(path, argv), drained);
}

OSSC_EXPORT int execvp(const char *file, char *const argv[])
{
    bool drained = leader_drained();
    return exec_failed(ossc_real.execvp(file, argv), drained);
}

OSSC_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    bool drained = leader_drained();
    return exec_failed(ossc_real.execvpe(file, argv, envp), drained);
}

OSSC_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    bool drained = leader_drained();
    return exec_failed(ossc_real.fexecve(fd, argv, envp), drained);
}

/* glibc exports execveat since 2.34; on an older one the kernel call is
 * still the caller's to make (ENOSYS here, as that libc would say). */
OSSC_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
                         int flags)
{
    if (!ossc_real.execveat) {
        errno = ENOSYS;
        return -1;
    }
    bool drained = leader_drained();
    return exec_failed(ossc_real.execveat(dirfd, path, argv, envp, flags), drained);
}

/* The list forms: argv gathered on the stack (arg0, then every argument up
 * to the terminating NULL), then the vector form above.  Counting first
 * keeps the array exact, with no allocation (vfork children call these). */
#define COUNT_ARGS(last, n)                                                                \
    do {                                                                                   \
        va_list ap;                                                                        \
        va_start(ap, last);                                                                \
        while (va_arg(ap, char *))                                                         \
            (n)++;                                                                         \
        va_end(ap);                                                                        \
    } while (0)

#define FILL_ARGS(last, argv, n)                                                           \
    do {                                                                                   \
        va_list ap;                                                                        \
        va_start(ap, last);                                                                \
        for (size_t i_ = 1; i_ <= (n); i_++)                                               \
            (argv)[i_] = va_arg(ap, char *); /* ends with the NULL */                      \
        va_end(ap);                                                                        \
    } while (0)

OSSC_EXPORT int execl(const char *path, const char *arg, ...)
{
    size_t n = 1; /* the NULL */
    COUNT_ARGS(arg, n);
    char *argv[n + 1];
    argv[0] = (char *)arg;
    FILL_ARGS(arg, argv, n);
    return execv(path, argv);
}

OSSC_EXPORT int execlp(const char *file, const char *arg, ...)
{
    size_t n = 1;
    COUNT_ARGS(arg, n);
    char *argv[n + 1];
    argv[0] = (char *)arg;
    FILL_ARGS(arg, argv, n);
    return execvp(file, argv);
}

/* execle: the environment follows the argument list's NULL. */
OSSC_EXPORT int execle(const char *path, const char *arg, ...)
{
    size_t n = 1;
    COUNT_ARGS(arg, n);
    char *argv[n + 1];
    argv[0] = (char *)arg;
    char *const *envp;
    va_list ap;
    va_start(ap, arg);
    for (size_t i = 1; i <= n; i++)
        argv[i] = va_arg(ap, char *);
    envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, argv, envp);
}
