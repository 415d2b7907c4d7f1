/* owners.c - which processes use the cache: pid and image token
 * registration, liveness of a claim's owner, and the detached watcher that
 * removes the cache and the placeholders once no registered process lives. */
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
#include <poll.h>
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

/* Older kernel headers (e.g. 4.18's) lack the name; the number is the same
 * on every architecture (system calls from 5.x on share one table). */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#include <time.h>
#include <unistd.h>

#include "crc64.h"
#include "error.h"
#include "log.h"
#include "thread_name.h"
#include "cache_internal.h"

/* A token for this process image, different after fork and exec, so a
 * chunk claimed by an image that exec'd (same pid, fetch lost) is known as
 * abandoned. */
unsigned nc_new_token(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned t = (unsigned)ts.tv_nsec ^ ((unsigned)ts.tv_sec << 20) ^ ((unsigned)getpid() << 8);
    return t ? t : 1;
}

/* Registers this pid with the current image's token (updating the entry a
 * pre-exec image of this pid left). */
void nc_register_pid(void)
{
    int me = getpid();
    for (int i = 0; i < MAX_PIDS; i++)
        if (atomic_load(&NC.h->pids[i]) == me) {
            atomic_store(&NC.h->toks[i], NC.tok);
            return;
        }
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < MAX_PIDS; i++) {
            int old = atomic_load(&NC.h->pids[i]);
            if ((pass == 0 ? old != 0 : nc_pid_alive(old)) ||
                !atomic_compare_exchange_strong(&NC.h->pids[i], &old, me))
                continue;
            atomic_store(&NC.h->toks[i], NC.tok);
            return;
        }
}

/* True while the process image that claimed a chunk can still finish it. */
bool nc_owner_alive(int pid, unsigned tok)
{
    if (pid == getpid())
        return tok == NC.tok;
    if (!nc_pid_alive(pid))
        return false;
    for (int i = 0; i < MAX_PIDS; i++)
        if (atomic_load(&NC.h->pids[i]) == pid)
            return atomic_load(&NC.h->toks[i]) == tok;
    return true; /* not registered (table full): trust the pid */
}

/* A registered process alive (other than us, unless include_self: a
 * process that exec'd keeps the registration of its earlier image): its
 * pid, or 0 when there is none. */
int nc_live_user(bool include_self)
{
    int me = getpid();
    for (int i = 0; i < MAX_PIDS; i++) {
        int p = atomic_load(&NC.h->pids[i]);
        if (p && (p != me || include_self) && nc_pid_alive(p))
            return p;
    }
    return 0;
}

bool nc_users_alive(bool include_self)
{
    return nc_live_user(include_self) != 0;
}

/* ------------------------------------------------------------ watcher */

/* Processes that leave without exit handlers (_exit, as dash does after a
 * command; a signal; exec into a program without us) cannot clean up, so
 * the process that creates a cache starts a watcher (a detached process,
 * see detached.c) that removes it, and the placeholders, once no
 * registered process is alive.  It is woken when a process detaches and
 * looks every second otherwise.  It also holds the data files open, and
 * keeps them until the last process out has exited (wait_for_leaver): that
 * process then exits without waiting for the kernel to free the cache's
 * pages; that happens here, after it left.  It keeps the
 * directory descriptor: it never reaches the cache by path. */

#define WATCH_PERIOD_MS 1000
#define BROADCAST_PERIOD_MS 250 /* the agent's tick: relinks within a quarter second */

void nc_wake_watcher(void)
{
    atomic_fetch_add(&NC.h->watch_seq, 1);
    nc_futex_wake(&NC.h->watch_seq);
}

/* True while the state file in our directory is the one this watcher
 * guards (not removed by the last detach, not replaced by a newer cache). */
bool nc_still_ours(void)
{
    struct stat st;
    return fstatat(NC.dirfd, "state", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == NC.state_ino;
}

/* How long the watcher waits for the last process out to be gone before it
 * drops the data files anyway (a process that detached but does not exit:
 * its own drop then frees the pages). */
#define LEAVER_WAIT_MS 10000

/* Waits (at most LEAVER_WAIT_MS) until the process that detached last has
 * exited -- a zombie has dropped every descriptor and mapping -- so that
 * the watcher's descriptors are the data files' last references and their
 * pages are freed here, not on that process's exit path.  A pidfd wakes us
 * at its exit; kernels before 5.3 have none: we look every 10 ms. */
static void wait_for_leaver(void)
{
    int pid = atomic_load(&NC.h->leaving_pid);
    if (pid <= 0 || pid == getpid())
        return;
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd >= 0) {
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        while (poll(&p, 1, LEAVER_WAIT_MS) < 0 && errno == EINTR)
            ;
        ossc_libc.close(pfd);
        return;
    }
    for (int waited = 0; waited < LEAVER_WAIT_MS && nc_pid_alive(pid); waited += 10) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void nc_watch(void *unused)
{
    (void)unused;
    ossc_in_hook = 1;
    /* The process's name in ps/top (its command line stays the
     * application's: fork copied it); the threads it starts inherit it. */
    ossc_thread_name("ossc-watcher");
    int held[256];
    int nheld = 0;
    for (uint32_t i = 0; i < NC.h->nfiles && nheld < (int)(sizeof(held) / sizeof(held[0])); i++) {
        int fd = nc_open_data((int)i, O_RDONLY);
        if (fd >= 0)
            held[nheld++] = fd;
    }
    nc_bc_watch_start();
    int period = nc_bc_watching() ? BROADCAST_PERIOD_MS : WATCH_PERIOD_MS;
    for (;;) {
        unsigned seq = atomic_load(&NC.h->watch_seq);
        if (!nc_still_ours())
            break;
        if (!nc_users_alive(true)) {
            nc_bc_watch_stop(); /* no request may hold a file of a cache going away */
            nc_byte_lock(1, 1);
            bool orphaned = nc_still_ours() && !nc_users_alive(true);
            if (orphaned)
                nc_remove_everything();
            nc_byte_unlock(1);
            if (orphaned) {
                wait_for_leaver();
                return;
            }
            /* A process came in meanwhile: it loads from OSS or from the
             * upstream already chosen; this node no longer serves. */
        }
        nc_bc_watch_tick();
        nc_futex_wait(&NC.h->watch_seq, seq, period);
    }
    nc_bc_watch_stop();
    wait_for_leaver(); /* the last process removed the cache and is leaving */
}

void nc_start_watcher(void)
{
    /* The cache's descriptors, and the log's: the watcher (and the
     * broadcasting agent in it) logs where the application does. */
    int keep[3] = {NC.dirfd, NC.lockfd, ossc_log_fd()};
    int nkeep = keep[2] > 2 ? 3 : 2;
    for (int i = 1; i < nkeep; i++) /* sorted, as ossc_spawn_detached wants */
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    if (keep[0] <= 2 || ossc_spawn_detached(nc_watch, NULL, keep, nkeep) < 0)
        OSSC_WARN("cannot start the cache watcher (%s): the cache in %s stays after a "
                  "process exits without exit handlers until the next run",
                  strerror(errno), NC.dir);
}
