/* bench_crc64.c - throughput of ossc_crc64_update() (not a meson test).
 *
 * Build and run by hand, e.g.:
 *     cc -O3 -std=c11 -D_GNU_SOURCE -Ilibpreload/engine \
 *        libpreload/tests/bench_crc64.c libpreload/engine/crc64.c \
 *        -lpthread -o /tmp/bench_crc64 && /tmp/bench_crc64 [MiB]
 * OSSC_CRC64_NO_CLMUL=1 in the environment measures the table fallback.
 *
 * Reports the best of several passes over a buffer of MiB mebibytes (default
 * 1024) in one call and in 16 KiB / 256 KiB calls (curl write-callback
 * sizes), plus small-buffer rates, in GB/s (10^9 bytes per second). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc64.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CRC of buf[0..len) fed in calls of at most `chunk` bytes. */
static uint64_t crc_chunked(const unsigned char *buf, size_t len, size_t chunk)
{
    uint64_t c = 0;
    for (size_t off = 0; off < len; off += chunk)
        c = ossc_crc64_update(c, buf + off, len - off < chunk ? len - off : chunk);
    return c;
}

/* Best rate over `passes` passes of `total` bytes in `chunk`-byte calls. */
static void bench_big(const unsigned char *buf, size_t total, size_t chunk, int passes)
{
    double best = 1e30;
    uint64_t c = 0;
    for (int i = 0; i < passes; i++) {
        double t0 = now();
        c ^= crc_chunked(buf, total, chunk);
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    printf("  %8zu MiB in %8zu-byte calls: %6.2f GB/s  (crc %016llx)\n", total >> 20,
           chunk, (double)total / best / 1e9, (unsigned long long)c);
}

/* Best rate over five runs of one small buffer hashed repeatedly (stays in
 * L1; each call continues the previous CRC, so calls do not overlap). */
static void bench_small(const unsigned char *buf, size_t len)
{
    size_t reps = (size_t)(64u << 20) / len;
    double best = 1e30;
    uint64_t c = 0;
    for (int run = 0; run < 5; run++) {
        double t0 = now();
        for (size_t i = 0; i < reps; i++)
            c = ossc_crc64_update(c, buf, len);
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    printf("  %8zu-byte buffer, repeated:      %6.2f GB/s  (%.1f ns/call, crc %016llx)\n",
           len, (double)(reps * len) / best / 1e9, best / (double)reps * 1e9,
           (unsigned long long)c);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
    size_t total = mib << 20;
    unsigned char *buf = malloc(total);
    if (!buf) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    uint64_t x = 1;
    for (size_t i = 0; i < total; i++) {
        x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        buf[i] = (unsigned char)(x >> 56);
    }
    printf("ossc_crc64_update%s:\n", getenv("OSSC_CRC64_NO_CLMUL") ? " (NO_CLMUL)" : "");
    bench_big(buf, total, total, 5);
    bench_big(buf, total, 256u << 10, 5);
    bench_big(buf, total, 16u << 10, 5);
    const size_t small[] = {16, 64, 127, 128, 200, 256, 512, 1024, 4096, 16384};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++)
        bench_small(buf, small[i]);
    free(buf);
    return 0;
}
