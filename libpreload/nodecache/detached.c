/* detached.c - running a function in a process of its own, detached from
 * the application that started it.
 *
 * The cache's watcher must outlive processes that leave without running
 * exit handlers, yet stay invisible to the application: a double fork (the
 * application never gets it as a child: a shell's `wait`, or a SIGCHLD
 * handler reaping every child, never meets it), a session of its own (no
 * terminal signals), "/" as working directory (no mount kept busy), no
 * inherited descriptors but the ones asked for (a caller reading our
 * parent's stdout pipe until EOF must not wait for us) and default signal
 * handlers (the parent's, e.g. Python's, cannot run in the copy). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>

/* Older kernel headers (e.g. 4.18's) lack the name; the number is the same
 * on every architecture (system calls from 5.x on share one table). */
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#include <sys/wait.h>
#include <unistd.h>

#include "nodecache.h"

_Thread_local int ossc_forking_detached;

/* Closes every descriptor but those in keep (sorted ascending, all > 2),
 * and points 0, 1 and 2 at /dev/null. */
static void close_between(unsigned first, unsigned last)
{
    /* The system call, not glibc's close_range() (2.34+): the wheel's
     * library runs on glibc 2.28. */
    if (syscall(SYS_close_range, first, last, 0) == 0)
        return;
    for (unsigned fd = first; fd <= last && fd < 65536; fd++) /* kernels before 5.9 */
        ossc_libc.close((int)fd);
}

static void drop_descriptors(const int *keep, int nkeep)
{
    unsigned from = 0;
    for (int k = 0; k < nkeep; k++) {
        if ((unsigned)keep[k] > from)
            close_between(from, (unsigned)keep[k] - 1);
        from = (unsigned)keep[k] + 1;
    }
    close_between(from, ~0u);
    int null = ossc_libc.open("/dev/null", O_RDWR);
    if (null >= 0) {
        for (int fd = 0; fd < 3; fd++)
            if (fd != null)
                ossc_libc.dup2(null, fd);
        if (null > 2)
            ossc_libc.close(null);
    }
}

static void default_signals(void)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &sa, NULL); /* fails harmlessly for KILL, STOP and RT gaps */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

int ossc_spawn_detached(void (*body)(void *), void *arg, const int *keep, int nkeep)
{
    ossc_forking_detached = 1; /* our fork handlers do nothing in these children */
    pid_t mid = fork();
    if (mid == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            setsid();
            default_signals();
            drop_descriptors(keep, nkeep);
            if (chdir("/") < 0) {
                /* nothing to do: the working directory only keeps a mount busy */
            }
            body(arg);
            _exit(0);
        }
        _exit(pid < 0 ? 1 : 0);
    }
    ossc_forking_detached = 0;
    if (mid < 0)
        return -1;
    int status = 0;
    while (waitpid(mid, &status, 0) < 0) {
        if (errno != EINTR)
            return 0; /* reaped by the application's own handler: it did fork */
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}
