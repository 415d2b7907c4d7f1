/* sync.c - the cache's synchronisation: futex waits on shared words, the
 * per-file spin lock (taken back from a dead holder), the fcntl byte locks
 * of the lock file (prefetch leader, setup), and whether a pid is alive. */
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

uint64_t nc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A process that exited but was not reaped yet (a zombie) counts as dead:
 * it will never finish what it claimed. */
bool nc_pid_alive(int pid)
{
    if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
        return false;
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    int fd = ossc_libc.open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true; /* no /proc: trust kill() */
    ssize_t n = ossc_libc.read(fd, buf, sizeof(buf) - 1);
    ossc_libc.close(fd);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return !(paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'));
}

void nc_futex_wait(atomic_uint *addr, unsigned expected, int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT, expected, &ts, NULL, 0);
}

void nc_futex_wake(atomic_uint *addr)
{
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* ---------------------------------------------------------- file locks */

void nc_file_lock(struct shm_file *f)
{
    int me = getpid();
    for (int spins = 0;; spins++) {
        int expected = 0;
        if (atomic_compare_exchange_weak(&f->lock, &expected, me))
            return;
        if (expected != me && !nc_pid_alive(expected))
            atomic_compare_exchange_strong(&f->lock, &expected, 0);
        if (spins > 100) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
}

void nc_file_unlock(struct shm_file *f)
{
    atomic_store(&f->lock, 0);
}

/* fcntl record lock on one byte of the lock file (not inherited by fork). */
int nc_byte_lock(int byte, int wait)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
    return ossc_libc.fcntl(NC.lockfd, wait ? F_SETLKW : F_SETLK, &fl);
}

void nc_byte_unlock(int byte)
{
    struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
    ossc_libc.fcntl(NC.lockfd, F_SETLK, &fl);
}
