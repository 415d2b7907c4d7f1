/* hook_mmap.c - mapping an fd of ours waits until its file is in the
 * cache and verified (the file mapped jumps to the front of the prefetch
 * queue; EIO when its bytes failed the CRC check), then maps the cache
 * file itself: pages are shared with the page cache, nothing is copied
 * until a MAP_PRIVATE mapping is written to. */
#include <errno.h>
#include <sys/mman.h>

#include "interposer.h"

static void *map_ours(void *addr, size_t len, int prot, int flags, int fd, off_t off,
                      void *(*real)(void *, size_t, int, int, int, off_t))
{
    int f = -1;
    if (atomic_load_explicit(&ossc_preload_active, memory_order_relaxed) && !ossc_in_hook &&
        fd >= 0 && !(flags & MAP_ANONYMOUS))
        f = ossc_fd_get(fd);
    if (f < 0)
        return real(addr, len, prot, flags, fd, off);
    if ((prot & PROT_WRITE) && (flags & MAP_SHARED)) {
        errno = EACCES; /* the cache is read-only for applications */
        return MAP_FAILED;
    }
    ossc_in_hook++;
    ossc_cache_demand(f);
    int rc = ossc_cache_wait(f, (uint64_t)off, len);
    ossc_in_hook--;
    if (rc < 0)
        return MAP_FAILED;
    void *p = real(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED) {
        ossc_cache_user_add(f);
        ossc_map_add(p, len, f);
    }
    return p;
}

OSSC_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    ossc_real_resolve();
    return map_ours(addr, len, prot, flags, fd, off, ossc_real.mmap);
}

OSSC_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    ossc_real_resolve();
    return map_ours(addr, len, prot, flags, fd, off, ossc_real.mmap64);
}

/* The parts of the range that are mappings of ours are advised first
 * (ossc_map_advise_unmapping: their teardown skips the accessed bits). */
OSSC_EXPORT int munmap(void *addr, size_t len)
{
    ossc_real_resolve();
    bool active = atomic_load_explicit(&ossc_preload_active, memory_order_relaxed);
    if (active)
        ossc_map_advise_unmapping(addr, len);
    int rc = ossc_real.munmap(addr, len);
    if (rc == 0 && active)
        ossc_map_unmapped(addr, len);
    return rc;
}
