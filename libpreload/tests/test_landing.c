/* test_landing.c - a GET's bytes landing in a tmpfs file (engine/landing.c):
 * every byte where it belongs, each step fallocated ahead of the copy, huge
 * pages asked for or not, at offsets and lengths that align with nothing,
 * by pwrite (the file's write turns free), through the mapping (the turns
 * held by someone else) and both mixed, and by threads sharing the turns. */
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "http.h"
#include "landing.h"

static char path[64];

/* Testing hooks of landing.c (not in landing.h). */
bool ossc_land_turn_take(int turn);
void ossc_land_turn_give(int turn);
int ossc_land_turns_per_file(void);

/* Holds (or gives back) every write turn of the file whose first is t. */
static void hold_turns(int t, bool hold)
{
    for (int i = 0; i < ossc_land_turns_per_file(); i++) {
        if (hold)
            CHECK(ossc_land_turn_take(t + i));
        else
            ossc_land_turn_give(t + i);
    }
}

/* How land() lands its pieces: the write turns free (pwrite), held by
 * the test all along (the mapping), or held for every other piece (both). */
enum how { BY_PWRITE, BY_MAPPING, MIXED };

/* A fresh file of `size` bytes on /dev/shm (tmpfs), sparse. */
static int shm_file(uint64_t size)
{
    snprintf(path, sizeof(path), "/dev/shm/ossc-test-landing-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
        perror(path);
        exit(1);
    }
    return fd;
}

static unsigned char pattern(uint64_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

/* Lands [off, off + len) of a file of `size` bytes as the I/O thread does:
 * received in pieces of `piece` bytes, each prepared then copied; checks
 * every byte through read() and that the rest of the file stayed zero. */
static void land(uint64_t size, uint64_t off, uint64_t len, size_t piece, enum how how)
{
    int fd = shm_file(size);
    long page = sysconf(_SC_PAGESIZE);
    uint64_t start = off & ~(uint64_t)(page - 1);
    size_t span = (size_t)((off + len - start + (uint64_t)page - 1) & ~(uint64_t)(page - 1));
    char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)start);
    CHECK(m != MAP_FAILED);
    if (m == MAP_FAILED)
        exit(1);
    ossc_land_advise(m, span);
    ossc_req r;
    memset(&r, 0, sizeof(r));
    r.dst = m + (off - start);
    r.dst_fd = fd;
    r.dst_off = off;
    r.dst_cap = len;
    r.land_turn = ossc_land_turn_of(fd);
    CHECK(r.land_turn >= 0);
    unsigned char *src = malloc(piece);
    int failed = 0;
    for (uint64_t got = 0; got < len;) {
        size_t n = len - got < piece ? (size_t)(len - got) : piece;
        for (size_t i = 0; i < n; i++)
            src[i] = pattern(off + got + i);
        if (got + n > r.dst_ready && ossc_land_prepare(&r, got + n) != 0)
            failed++;
        CHECK(r.dst_ready >= got + n);
        bool hold = how == BY_MAPPING || (how == MIXED && (got / piece) % 2 == 1);
        if (hold)
            hold_turns(r.land_turn, true);
        CHECK(ossc_land_copy(&r, (const char *)src, n) == 0);
        if (hold)
            hold_turns(r.land_turn, false);
        got += n;
        r.received = got;
    }
    CHECK(failed == 0);
    CHECK(r.dst_ready == len);
    munmap(m, span);

    unsigned char *back = malloc((size_t)size);
    CHECK(pread(fd, back, (size_t)size, 0) == (ssize_t)size);
    int wrong = 0;
    for (uint64_t i = 0; i < size; i++)
        wrong += back[i] != (i >= off && i < off + len ? pattern(i) : 0);
    CHECK(wrong == 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && (uint64_t)st.st_size == size); /* never grown */
    free(back);
    free(src);
    close(fd);
    unlink(path);
}

static void every_shape(enum how how)
{
    land(8u << 20, 0, 8u << 20, 16384, how);                       /* one aligned chunk */
    land(11u << 20, (3u << 20) + 100, (5u << 20) + 7, 16411, how); /* aligned with nothing */
    land((6u << 20) + 1234, 4u << 20, (2u << 20) + 1234, 65536, how); /* up to an odd EOF */
    land(1u << 20, 4095, 2, 1, how);                               /* across a page boundary */
    land(1u << 20, 4090, 20, 3, how);                 /* pieces that split pages */
    land(5u << 20, 0, 5u << 20, 5u << 20, how);                    /* one piece, many steps */
}

/* Threads landing neighbouring parts of one file at once, as a GET's parts
 * do: they share the file's write turns, so some pieces go in by pwrite
 * and the others through the mapping, at page-splitting offsets. */
#define PARTS 4
struct part {
    ossc_req r;
    uint64_t off;
    int failed;
};

static void *land_part(void *arg)
{
    struct part *p = arg;
    unsigned char src[7001];
    for (uint64_t got = 0; got < p->r.dst_cap;) {
        size_t n = p->r.dst_cap - got < sizeof(src) ? (size_t)(p->r.dst_cap - got) : sizeof(src);
        for (size_t i = 0; i < n; i++)
            src[i] = pattern(p->off + got + i);
        if ((got + n > p->r.dst_ready && ossc_land_prepare(&p->r, got + n) != 0) ||
            ossc_land_copy(&p->r, (const char *)src, n) != 0)
            p->failed++;
        got += n;
        p->r.received = got;
    }
    return NULL;
}

/* A pwrite that fails (here a descriptor open for reading only) fails the
 * piece with its errno: nothing lands, nothing crashes, the turn is given
 * back (the next piece, through a good descriptor, lands). */
static void failed_pwrite_is_an_error(void)
{
    int fd = shm_file(1u << 20);
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(ro >= 0);
    char *m = mmap(NULL, 1u << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(m != MAP_FAILED);
    if (ro < 0 || m == MAP_FAILED)
        exit(1);
    ossc_req r;
    memset(&r, 0, sizeof(r));
    r.dst = m;
    r.dst_fd = ro;
    r.dst_cap = 1u << 20;
    r.land_turn = ossc_land_turn_of(fd);
    CHECK(ossc_land_prepare(&r, 4096) == EBADF); /* fallocate on a read-only fd */
    r.dst_fd = fd;
    CHECK(ossc_land_prepare(&r, 4096) == 0);
    r.dst_fd = ro;
    char bytes[4096];
    memset(bytes, 0x5a, sizeof bytes);
    CHECK(ossc_land_copy(&r, bytes, sizeof bytes) == EBADF);
    r.dst_fd = fd;
    CHECK(ossc_land_copy(&r, bytes, sizeof bytes) == 0);
    char back[4096];
    CHECK(pread(fd, back, sizeof back, 0) == (ssize_t)sizeof back);
    CHECK(memcmp(back, bytes, sizeof back) == 0);
    munmap(m, 1u << 20);
    close(ro);
    close(fd);
    unlink(path);
}

static void threads_share_the_turns(void)
{
    uint64_t part_len = (3u << 20) + 333, size = PARTS * part_len;
    int fd = shm_file(size);
    char *m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(m != MAP_FAILED);
    if (m == MAP_FAILED)
        exit(1);
    struct part parts[PARTS];
    pthread_t t[PARTS];
    memset(parts, 0, sizeof(parts));
    for (int i = 0; i < PARTS; i++) {
        struct part *p = &parts[i];
        p->off = (uint64_t)i * part_len;
        p->r.dst = m + p->off;
        p->r.dst_fd = fd;
        p->r.dst_off = p->off;
        p->r.dst_cap = part_len;
        p->r.land_turn = ossc_land_turn_of(fd);
        CHECK(pthread_create(&t[i], NULL, land_part, p) == 0);
    }
    for (int i = 0; i < PARTS; i++) {
        pthread_join(t[i], NULL);
        CHECK(parts[i].failed == 0);
    }
    munmap(m, (size_t)size);
    unsigned char *back = malloc((size_t)size);
    CHECK(pread(fd, back, (size_t)size, 0) == (ssize_t)size);
    int wrong = 0;
    for (uint64_t i = 0; i < size; i++)
        wrong += back[i] != pattern(i);
    CHECK(wrong == 0);
    free(back);
    close(fd);
    unlink(path);
}

/* Which ranges may land through a mapping: whole pages, or up to the end
 * of the file; a range sharing a page with a neighbour may not (a failed
 * fallocate of the neighbour could drop that page: SIGBUS on a full
 * tmpfs), nor one that wraps. */
static void whole_pages_only(void)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t size = (6u << 20) + 1234;
    int fd = shm_file(size);
    CHECK(ossc_land_whole_pages(fd, 0, page));
    CHECK(ossc_land_whole_pages(fd, page, 2 * page));
    CHECK(ossc_land_whole_pages(fd, 4u << 20, (2u << 20) + 1234)); /* to the odd end */
    CHECK(ossc_land_whole_pages(fd, 4u << 20, (2u << 20) + 9999)); /* past it */
    CHECK(!ossc_land_whole_pages(fd, 100, page));                 /* starts mid-page */
    CHECK(!ossc_land_whole_pages(fd, 0, page + 1));               /* ends mid-page */
    CHECK(!ossc_land_whole_pages(fd, (3u << 20) + 100, (5u << 20) + 7));
    CHECK(!ossc_land_whole_pages(fd, page, UINT64_MAX - 1));      /* wraps */
    close(fd);
    unlink(path);
}

int main(void)
{
    whole_pages_only();
    enum how hows[] = {BY_PWRITE, BY_MAPPING, MIXED};
    for (size_t h = 0; h < sizeof(hows) / sizeof(hows[0]); h++) {
        ossc_land_use_hugepages(true);
        every_shape(hows[h]);
        ossc_land_use_hugepages(false);
        every_shape(hows[h]);
    }
    ossc_land_use_hugepages(true);
    threads_share_the_turns();
    failed_pwrite_is_an_error();
    return check_summary("test_landing");
}
