/* fdtable.c - which of this process's file descriptors and mappings
 * belong to cached model files.  Lookups are lock-free (every hooked read
 * asks); updates take a mutex. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "interposer.h"

#define FD_SLOTS 65536 /* fds above this are never ours: we refuse them */
#define MAX_MAPS 4096

static atomic_int fd_file[FD_SLOTS]; /* file index + 1, 0 = not ours */

struct mapping {
    uintptr_t addr;
    size_t len;
    int file;
};
static struct mapping maps[MAX_MAPS];
static size_t nmaps;
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;

void ossc_fd_set(int fd, int file)
{
    if (fd >= 0 && fd < FD_SLOTS)
        atomic_store(&fd_file[fd], file + 1);
}

int ossc_fd_get(int fd)
{
    if (fd < 0 || fd >= FD_SLOTS)
        return -1;
    return atomic_load_explicit(&fd_file[fd], memory_order_relaxed) - 1;
}

int ossc_fd_take(int fd)
{
    if (fd < 0 || fd >= FD_SLOTS)
        return -1;
    return atomic_exchange(&fd_file[fd], 0) - 1;
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

/* Any munmap touching a recorded mapping ends it (partial unmaps of model
 * files are rare; the whole mapping counts as released once any part of it
 * is unmapped only when the unmap covers its start). */
int ossc_map_take(void *addr, size_t len)
{
    int file = -1;
    uintptr_t a = (uintptr_t)addr;
    pthread_mutex_lock(&maps_lock);
    for (size_t i = 0; i < nmaps; i++) {
        if (maps[i].addr >= a && maps[i].addr < a + len) {
            file = maps[i].file;
            maps[i] = maps[--nmaps];
            break;
        }
    }
    pthread_mutex_unlock(&maps_lock);
    return file;
}

void ossc_fd_recount_after_fork(void)
{
    for (int fd = 0; fd < FD_SLOTS; fd++) {
        int f = ossc_fd_get(fd);
        if (f >= 0)
            ossc_cache_user_add(f);
    }
    for (size_t i = 0; i < nmaps; i++)
        ossc_cache_user_add(maps[i].file);
}

void ossc_fd_release_all(void)
{
    for (int fd = 0; fd < FD_SLOTS; fd++) {
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
