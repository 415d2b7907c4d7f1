/* test_landing.c - a GET's bytes landing in a shared mapping of a tmpfs file
 * (engine/landing.c): every byte where it belongs, each step fallocated
 * ahead of the copy, huge pages asked for or not, at offsets and lengths
 * that align with nothing. */
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
static void land(uint64_t size, uint64_t off, uint64_t len, size_t piece)
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
    unsigned char *src = malloc(piece);
    int failed = 0;
    for (uint64_t got = 0; got < len;) {
        size_t n = len - got < piece ? (size_t)(len - got) : piece;
        for (size_t i = 0; i < n; i++)
            src[i] = pattern(off + got + i);
        if (got + n > r.dst_ready && ossc_land_prepare(&r, got + n) != 0)
            failed++;
        CHECK(r.dst_ready >= got + n);
        memcpy(r.dst + got, src, n);
        got += n;
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

static void every_shape(void)
{
    land(8u << 20, 0, 8u << 20, 16384);                       /* one aligned chunk */
    land(11u << 20, (3u << 20) + 100, (5u << 20) + 7, 16411); /* aligned with nothing */
    land((6u << 20) + 1234, 4u << 20, (2u << 20) + 1234, 65536); /* up to an odd EOF */
    land(1u << 20, 4095, 2, 1);                               /* across a page boundary */
    land(5u << 20, 0, 5u << 20, 5u << 20);                    /* one piece, many steps */
}

int main(void)
{
    ossc_land_use_hugepages(true);
    every_shape();
    ossc_land_use_hugepages(false);
    every_shape();
    ossc_land_use_hugepages(true);
    return check_summary("test_landing");
}
