/* landing.c - getting a tmpfs file's pages ready before a GET's bytes are
 * copied into a shared mapping of it.
 *
 * Each step of OSSC_LAND_STEP bytes is allocated (and zeroed) with
 * fallocate on the I/O thread just before its bytes are copied in; the copy
 * then faults each page in.  fallocate takes no lock of the process's, and
 * on Linux 6.4+ a fault on a shared tmpfs mapping takes only that mapping's
 * own lock (per-VMA locks), so landing never holds the process's mmap lock
 * while memory is touched for the first time.
 *
 * Why not MADV_POPULATE_WRITE (allocate, zero and map a step in one call,
 * no exception per page; used before): it holds the mmap lock for reading
 * for the whole step, and the I/O threads run niced (prefetch.nice), so one
 * preempted mid-step keeps the application's own mmap, munmap, mprotect and
 * brk -- dlopen and malloc, i.e. `import torch` -- waiting behind it.  On
 * the 2-core VM with a 4 GiB prefetch, the importing thread spent 1.4 s of
 * `import torch` asleep in rwsem_down_write_slowpath (perf sched), and the
 * import took 3.6-5.1 s against 1.9-2.0 s with fallocate; the fill's CPU was
 * the same within the noise either way (docs/benchmarks.md). */
#include "landing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

static atomic_bool use_hugepages = true;

void ossc_land_use_hugepages(bool on)
{
    atomic_store(&use_hugepages, on);
}

bool ossc_land_hugepages(void)
{
    return atomic_load(&use_hugepages);
}

void ossc_land_advise(void *m, size_t len)
{
#ifdef MADV_HUGEPAGE
    if (atomic_load(&use_hugepages))
        (void)madvise(m, len, MADV_HUGEPAGE); /* EINVAL without THP: small pages then */
#else
    (void)m;
    (void)len;
#endif
}

static int fallocate_range(int fd, uint64_t off, uint64_t len)
{
    int rc;
    do
        rc = fallocate(fd, 0, (off_t)off, (off_t)len);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? errno : 0;
}

/* Allocates the file's bytes [off, off + len): 0 or the errno (ENOSPC:
 * the file system is full, so the copy would have raised SIGBUS). */
static int prepare_step(int fd, uint64_t off, uint64_t len)
{
    return fallocate_range(fd, off, len);
}

int ossc_land_prepare(ossc_req *r, uint64_t upto)
{
    if (upto > r->dst_cap)
        upto = r->dst_cap;
    while (r->dst_ready < upto) {
        uint64_t off = r->dst_off + r->dst_ready;
        uint64_t end = (off / OSSC_LAND_STEP + 1) * OSSC_LAND_STEP;
        if (end > r->dst_off + r->dst_cap)
            end = r->dst_off + r->dst_cap;
        int e = prepare_step(r->dst_fd, off, end - off);
        if (e)
            return e;
        r->dst_ready += end - off;
    }
    return 0;
}
