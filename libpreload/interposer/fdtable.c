/* fdtable.c - which of this process's file descriptors and mappings
 * belong to cached model files.  Lookups are lock-free (every hooked read
 * asks); updates take a mutex.
 *
 * The table is the process's memory, which a vfork child shares: a child of
 * vfork (Python's subprocess, posix_spawn-like code) that closes or dup2s
 * fds before its exec changes its own fd table, not its parent's.  So the
 * table changes only in the process that owns it (getpid() == owner_pid,
 * set at start and after fork); a vfork child's changes are ignored.  The
 * getpid() is paid only when an fd of ours is involved. */
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "interposer.h"
#include "log.h"

#define MAX_MAPS 4096

static atomic_int fd_file[OSSC_FD_SLOTS]; /* file index + 1, 0 = not ours */

struct mapping {
    uintptr_t addr;
    size_t len;
    int file;
};
static struct mapping maps[MAX_MAPS];
static size_t nmaps;
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;

static atomic_int owner_pid;

static void owner_after_fork(void)
{
    atomic_store(&owner_pid, (int)getpid());
}

static void owner_watch_forks(void)
{
    pthread_atfork(NULL, NULL, owner_after_fork);
}

void ossc_fd_owner_reset(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    atomic_store(&owner_pid, (int)getpid());
    pthread_once(&once, owner_watch_forks); /* a fork's child owns its copy */
}

bool ossc_fd_owner(void)
{
    return (int)getpid() == atomic_load_explicit(&owner_pid, memory_order_relaxed);
}

void ossc_fd_set(int fd, int file)
{
    if (fd >= 0 && fd < OSSC_FD_SLOTS && ossc_fd_owner())
        atomic_store(&fd_file[fd], file + 1);
}

int ossc_fd_get(int fd)
{
    if (fd < 0 || fd >= OSSC_FD_SLOTS)
        return -1;
    return atomic_load_explicit(&fd_file[fd], memory_order_relaxed) - 1;
}

int ossc_fd_take(int fd)
{
    if (fd < 0 || fd >= OSSC_FD_SLOTS)
        return -1;
    if (atomic_load_explicit(&fd_file[fd], memory_order_relaxed) == 0 || !ossc_fd_owner())
        return -1;
    return atomic_exchange(&fd_file[fd], 0) - 1;
}

void ossc_fd_take_range(int first, int last)
{
    if (first < 0)
        first = 0;
    if (last >= OSSC_FD_SLOTS || last < 0)
        last = OSSC_FD_SLOTS - 1;
    for (int fd = first; fd <= last; fd++) {
        int f = ossc_fd_take(fd);
        if (f >= 0)
            ossc_cache_user_drop(f);
    }
}

void ossc_map_add(void *addr, size_t len, int file)
{
    pthread_mutex_lock(&maps_lock);
    if (nmaps < MAX_MAPS) {
        maps[nmaps].addr = (uintptr_t)addr;
        maps[nmaps].len = len;
        maps[nmaps].file = file;
        nmaps++;
    } else {
        /* Table full: the file stays counted as in use (kept in memory)
         * rather than risk releasing data still mapped. */
    }
    pthread_mutex_unlock(&maps_lock);
}

/* The page size, read once. */
static uintptr_t page_size(void)
{
    static uintptr_t page;
    if (!page)
        page = (uintptr_t)sysconf(_SC_PAGESIZE);
    return page;
}

void ossc_map_unmap_advise(void *addr, size_t len)
{
    /* The page-table teardown skips a mapping's accessed bits under
     * MADV_SEQUENTIAL (VM_SEQ_READ; MADV_RANDOM too from Linux 6.3, but not
     * before).  Errors are of no consequence: it is advice. */
    (void)madvise(addr, len, MADV_SEQUENTIAL);
}

void ossc_map_advise_unmapping(void *addr, size_t len)
{
    uintptr_t a = (uintptr_t)addr, e = a + len;
    if (len == 0 || e < a || (a & (page_size() - 1)))
        return; /* munmap fails on it: the advice would outlive it */
    pthread_mutex_lock(&maps_lock);
    for (size_t i = 0; i < nmaps; i++) {
        uintptr_t m = maps[i].addr, me = m + maps[i].len;
        uintptr_t lo = m > a ? m : a, hi = me < e ? me : e;
        if (lo < hi)
            ossc_map_unmap_advise((void *)lo, hi - lo);
    }
    pthread_mutex_unlock(&maps_lock);
}

/* munmap of [addr, addr+len): every recorded mapping it overlaps loses
 * that part; one unmapped whole stops counting as a user of its file (its
 * bytes may then be released), one unmapped in part keeps what is left
 * recorded (its file stays in use: released bytes would read as zeros
 * there).  A hole in the middle splits the record in two; when the table
 * has no room for the second half, the whole stays recorded (in use). */
void ossc_map_unmapped(void *addr, size_t len)
{
    uintptr_t page = page_size();
    /* The kernel unmaps whole pages: the end rounds up. */
    uintptr_t a = (uintptr_t)addr, e = (a + len + page - 1) & ~(page - 1);
    if (len == 0 || e < a)
        return;
    pthread_mutex_lock(&maps_lock);
    for (size_t i = 0; i < nmaps;) {
        uintptr_t m = maps[i].addr, me = m + maps[i].len;
        if (me <= a || m >= e) {
            i++;
            continue;
        }
        if (a <= m && e >= me) { /* all of it (the file's lock nests in ours) */
            ossc_cache_user_drop(maps[i].file);
            maps[i] = maps[--nmaps];
            continue;
        }
        if (a <= m) { /* its head */
            maps[i].addr = e;
            maps[i].len = me - e;
        } else if (e >= me) { /* its tail */
            maps[i].len = a - m;
        } else if (nmaps < MAX_MAPS) { /* a hole: head and tail stay */
            maps[nmaps] = (struct mapping){e, me - e, maps[i].file};
            nmaps++;
            maps[i].len = a - m;
            ossc_cache_user_add(maps[i].file); /* two records: two users */
        }
        i++;
    }
    pthread_mutex_unlock(&maps_lock);
}

void ossc_fd_recount_after_fork(void)
{
    for (int fd = 0; fd < OSSC_FD_SLOTS; fd++) {
        int f = ossc_fd_get(fd);
        if (f >= 0)
            ossc_cache_user_add(f);
    }
    for (size_t i = 0; i < nmaps; i++)
        ossc_cache_user_add(maps[i].file);
}

/* The regular files this image was started with (ossc_fd_note_inherited,
 * before the cache opens any file of its own). */
#define INHERITED_MAX 256
static struct inherited {
    int fd;
    uint64_t dev, ino;
} inherited[INHERITED_MAX];
static size_t ninherited;

void ossc_fd_note_inherited(void)
{
    ninherited = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return; /* no /proc: an inherited fd stays unrecorded, as before */
    for (struct dirent *e; (e = readdir(d)) && ninherited < INHERITED_MAX;) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        struct stat st;
        if (*end || e->d_name[0] == '.' || fd < 0 || fd >= OSSC_FD_SLOTS || fd == dirfd(d) ||
            ossc_real_fstat((int)fd, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        inherited[ninherited++] = (struct inherited){(int)fd, (uint64_t)st.st_dev,
                                                     (uint64_t)st.st_ino};
    }
    closedir(d);
}

void ossc_fd_adopt_inherited(void)
{
    for (size_t i = 0; i < ninherited; i++) {
        struct stat st;
        int fd = inherited[i].fd;
        if (ossc_fd_get(fd) >= 0 || ossc_real_fstat(fd, &st) < 0 ||
            (uint64_t)st.st_dev != inherited[i].dev || (uint64_t)st.st_ino != inherited[i].ino)
            continue;
        int f = ossc_cache_lookup_data(inherited[i].dev, inherited[i].ino);
        if (f < 0)
            continue;
        ossc_fd_set(fd, f);
        ossc_cache_user_add(f);
        /* The new image may read it through stdio (stdin, fdopen), whose
         * reads no hook sees: the whole file first, as for fopen. */
        if (ossc_cache_wait(f, 0, ossc_cache_file_size(f)) < 0)
            OSSC_WARN("descriptor %d, inherited across exec, is of the model file %s, whose "
                      "bytes could not be fetched: its reads fail", fd, ossc_cache_file_rel(f));
    }
    ninherited = 0;
}

void ossc_map_advise_all_for_exit(void)
{
    pthread_mutex_lock(&maps_lock);
    for (size_t i = 0; i < nmaps; i++)
        ossc_map_unmap_advise((void *)maps[i].addr, maps[i].len);
    pthread_mutex_unlock(&maps_lock);
}

void ossc_fd_release_all(void)
{
    for (int fd = 0; fd < OSSC_FD_SLOTS; fd++) {
        int f = ossc_fd_take(fd);
        if (f >= 0)
            ossc_cache_user_drop(f);
    }
    pthread_mutex_lock(&maps_lock);
    for (size_t i = 0; i < nmaps; i++)
        ossc_cache_user_drop(maps[i].file);
    nmaps = 0;
    pthread_mutex_unlock(&maps_lock);
}
