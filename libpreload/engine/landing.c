/* landing.c - getting a tmpfs file's pages ready before a GET's bytes are
 * copied into a shared mapping of it.
 *
 * Where the CPU went (perf of the LD_PRELOAD fill, 2 GiB into /dev/shm on
 * the 2-core VM): 39 % in page faults -- one exception per 4 KiB page as
 * the I/O threads copied into the freshly mapped cache file, after a
 * fallocate (19 %) had already allocated and zeroed every page -- against
 * 17 % receiving the bytes.  curl landing the same bytes with write() takes
 * no fault at all.  Here each step of OSSC_LAND_STEP bytes is allocated,
 * zeroed and mapped in one MADV_POPULATE_WRITE call on the I/O thread just
 * before its bytes are copied: one pass over the pages instead of two, no
 * exception per page, and one fault per step where the kernel gives huge
 * pages (MADV_HUGEPAGE on the mapping).  Steps keep the process's mmap lock,
 * which MADV_POPULATE_WRITE holds for reading, free between them: the
 * application's own mmap and brk are never queued behind a whole chunk. */
#include "landing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

static atomic_bool use_hugepages = true;
/* Cleared the first time the kernel answers EINVAL (before 5.14). */
static atomic_bool populate_works = true;

void ossc_land_use_hugepages(bool on)
{
    atomic_store(&use_hugepages, on);
}

bool ossc_land_hugepages(void)
{
    return atomic_load(&use_hugepages);
}

void ossc_land_pretend_no_populate(bool on)
{
    atomic_store(&populate_works, !on);
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

/* Prepares the file's bytes [off, off + len), mapped at addr. */
static int prepare_step(int fd, char *addr, uint64_t off, uint64_t len)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)addr & ~(page - 1);
    uintptr_t hi = ((uintptr_t)addr + (uintptr_t)len + page - 1) & ~(page - 1);
    if (atomic_load(&populate_works)) {
        int rc;
        do
            rc = madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
        while (rc < 0 && errno == EINTR);
        if (rc == 0)
            return 0;
        int e = errno;
        if (e == EINVAL)
            atomic_store(&populate_works, false); /* old kernel: fallocate from now on */
        else if (e != EFAULT)
            return e; /* ENOMEM: out of memory (a cgroup's limit) */
        /* EFAULT: a page could not be allocated (a full tmpfs would have
         * raised SIGBUS on access); fallocate says why, as an errno. */
    }
    int e = fallocate_range(fd, off, len);
    return e ? e : 0;
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
        int e = prepare_step(r->dst_fd, r->dst + r->dst_ready, off, end - off);
        if (e)
            return e;
        r->dst_ready += end - off;
    }
    return 0;
}
