/* landing.c - getting a tmpfs file's pages ready before a GET's bytes land
 * in it, and landing them: by pwrite while one of the file's two write
 * turns is free, else copied into a shared mapping of it.
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
 * the same within the noise either way (docs/benchmarks.md).
 *
 * How the bytes go in (ossc_land_copy): a copy into the mapping pays a
 * page fault and the zeroing of every fresh page (a mapping must show
 * zeros; fallocate leaves that to the first fault), while pwrite into a
 * fallocated page does neither: on the 2-core VM 0.4 CPU s per GiB
 * against 0.8-2 s through the mapping.  But pwrite holds the file's inode
 * lock across the copy, and the parts of one file landing at once queued
 * and spun on it (15 % of a model load's CPU, an earlier pwrite-only
 * engine).  So each file has two write turns, taken without waiting: a
 * thread that gets one lands its piece by pwrite, the others copy theirs
 * into the mapping meanwhile.  Nobody waits for a turn, and at most two
 * threads of a process write one file at once, so the inode lock is held
 * briefly (a piece of a GET, ~16 KiB) and wanted by one other writer at a
 * time, besides fallocate and other processes.  Both paths write the same
 * page-cache pages, so readers see one file (a page two parts share is
 * zeroed once, under its folio lock, by whichever path touches it first).
 * Measured (fill_cpu, 1 GiB, 8
 * files, 2-core VM): one turn per file landed ~45 % of the bytes by
 * pwrite, two ~60 %, four ~82 %, at the same CPU within the noise for two
 * and four (1.00-1.07x curl against 1.17-1.22x through the mapping alone);
 * two keeps the lock's queue short where many cores land one file. */
#include "landing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
#endif
    /* Nobody reads through this mapping: its teardown (munmap when the GET
     * ends) need not carry the copy's accessed bits over to the pages, the
     * kernel's per-page move to the active LRU list (VM_SEQ_READ makes it
     * skip that; tmpfs has no readahead for it to change).  While the GET
     * runs, reclaim does not count references through this mapping either:
     * the pages are fresh and about to be used by whoever asked for them. */
    (void)madvise(m, len, MADV_SEQUENTIAL);
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

/* The write turns: a file maps to a pair by (device, inode); unrelated
 * files may share a pair (then they only take turns more often).  Each
 * turn sits on its own cache line, as every piece landed touches one. */
#define LAND_TURNS 64
#define TURNS_PER_FILE 2
static struct {
    atomic_flag busy;
    char pad[64 - sizeof(atomic_flag)];
} land_turns[LAND_TURNS] = {[0 ... LAND_TURNS - 1] = {ATOMIC_FLAG_INIT, {0}}};

int ossc_land_turn_of(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    uint64_t h = ((uint64_t)st.st_dev * 0x9E3779B97F4A7C15u) ^ (uint64_t)st.st_ino;
    h *= 0xBF58476D1CE4E5B9u;
    return (int)(h >> 58) & ~(TURNS_PER_FILE - 1); /* the first of a pair */
}
_Static_assert(LAND_TURNS == 64 && LAND_TURNS % TURNS_PER_FILE == 0,
               "ossc_land_turn_of() keeps 6 bits, a pair never straddles the end");

/* Testing hooks (not in landing.h; tests/test_landing.c holds a file's
 * turns to force the mapping path): take one without waiting / give it
 * back; ossc_land_turns_per_file() is how many follow ossc_land_turn_of(). */
int ossc_land_turns_per_file(void);

int ossc_land_turns_per_file(void)
{
    return TURNS_PER_FILE;
}

bool ossc_land_turn_take(int turn);
void ossc_land_turn_give(int turn);

bool ossc_land_turn_take(int turn)
{
    return !atomic_flag_test_and_set_explicit(&land_turns[turn].busy, memory_order_acquire);
}

void ossc_land_turn_give(int turn)
{
    atomic_flag_clear_explicit(&land_turns[turn].busy, memory_order_release);
}

bool ossc_land_whole_pages(int fd, uint64_t off, uint64_t len)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if (off % page != 0 || off + len < off)
        return false;
    if ((off + len) % page == 0)
        return true;
    struct stat st;
    return fstat(fd, &st) == 0 && off + len >= (uint64_t)st.st_size;
}

int ossc_land_pwrite(int fd, const char *data, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, data, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        data += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int ossc_land_copy(ossc_req *r, const char *data, size_t len)
{
    int first = r->land_turn;
    for (int turn = first; first >= 0 && turn < first + TURNS_PER_FILE && turn < LAND_TURNS;
         turn++) {
        if (ossc_land_turn_take(turn)) {
            int e = ossc_land_pwrite(r->dst_fd, data, len, r->dst_off + r->received);
            ossc_land_turn_give(turn);
            return e;
        }
    }
    memcpy(r->dst + r->received, data, len);
    return 0;
}
