/* test_crc64.c - CRC-64/ECMA-182 against values computed by crcmod/oss2.
 *
 * The expected values were produced with oss2.utils.Crc64 (crcmod, poly
 * 0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xffffffffffffffff, rev=True) over
 * the same LCG byte stream as lcg_fill() below:
 *     x = (x * 6364136223846793005 + 1442695040888963407) mod 2^64
 *     byte = x >> 56, seed 12345. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "crc64.h"

/* Fills buf with the deterministic byte stream the vectors were made from. */
static void lcg_fill(uint64_t seed, unsigned char *buf, size_t n)
{
    uint64_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        buf[i] = (unsigned char)(x >> 56);
    }
}

static const struct {
    size_t len;
    uint64_t crc;
} lcg_vectors[] = {
    {0, UINT64_C(0x0000000000000000)},
    {1, UINT64_C(0xEE4744C635C5BB45)},
    {2, UINT64_C(0x901713E4F59D048A)},
    {3, UINT64_C(0x771D58D336295508)},
    {7, UINT64_C(0x6789B2B91EA102DD)},
    {8, UINT64_C(0x148557AB0512D8CB)},
    {9, UINT64_C(0xD22978FCCAA8089A)},
    {15, UINT64_C(0x59C7469C19AFF367)},
    {16, UINT64_C(0x6DDCB32AA36B9A2A)},
    {17, UINT64_C(0x910650BC32A4A4B5)},
    {31, UINT64_C(0x81DCC213640A37A2)},
    {63, UINT64_C(0x5C5AD8EE14755D50)},
    {64, UINT64_C(0x669651DE090D0614)},
    {65, UINT64_C(0x60E7FFEB97AC4635)},
    {255, UINT64_C(0xC4DD9601E88285DF)},
    {1000, UINT64_C(0xBC9748B9CE103B55)},
    {4099, UINT64_C(0x6E1B91A4D5E33BDD)},
    {65541, UINT64_C(0x7B0705AD55AAFAB3)},
    {1048576, UINT64_C(0x6C310719B5046CBE)},
};

#define BIG (1u << 20)

/* Well-known check values. */
static void test_known_strings(void)
{
    CHECK(ossc_crc64_update(0, "123456789", 9) == UINT64_C(0x995DC9BBDF1939FA));
    CHECK(ossc_crc64_update(0, "", 0) == 0);
    CHECK(ossc_crc64_update(0, NULL, 0) == 0);
    CHECK(ossc_crc64_update(0, "a", 1) == UINT64_C(0x330284772E652B05));
    const char *fox = "The quick brown fox jumps over the lazy dog";
    CHECK(ossc_crc64_update(0, fox, strlen(fox)) == UINT64_C(0x5B5EB8C2E54AA1C4));
}

/* Whole-buffer CRCs of the LCG stream, at lengths around the 8-byte step. */
static void test_lcg_vectors(const unsigned char *buf)
{
    for (size_t i = 0; i < sizeof lcg_vectors / sizeof lcg_vectors[0]; i++) {
        uint64_t got = ossc_crc64_update(0, buf, lcg_vectors[i].len);
        if (got != lcg_vectors[i].crc)
            fprintf(stderr, "len %zu: got %016llx\n", lcg_vectors[i].len,
                    (unsigned long long)got);
        CHECK(got == lcg_vectors[i].crc);
    }
}

/* Feeding the data in pieces (of every small size, and at odd alignments)
 * must give the same value as one call. */
static void test_incremental(const unsigned char *buf)
{
    const size_t n = 4099;
    uint64_t whole = ossc_crc64_update(0, buf, n);
    for (size_t step = 1; step <= 33; step++) {
        uint64_t c = 0;
        for (size_t off = 0; off < n; off += step)
            c = ossc_crc64_update(c, buf + off, off + step <= n ? step : n - off);
        CHECK(c == whole);
    }
    /* unaligned start */
    uint64_t c = ossc_crc64_update(0, buf, 3);
    c = ossc_crc64_update(c, buf + 3, n - 3);
    CHECK(c == whole);
}

/* combine(crc(A), crc(B), len(B)) == crc(A||B) for many split points,
 * including empty A and empty B. */
static void test_combine_splits(const unsigned char *buf)
{
    const size_t n = 65541;
    uint64_t whole = ossc_crc64_update(0, buf, n);
    const size_t splits[] = {0, 1, 7, 8, 9, 100, 4096, 32768, 65540, 65541};
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
        size_t s = splits[i];
        uint64_t a = ossc_crc64_update(0, buf, s);
        uint64_t b = ossc_crc64_update(0, buf + s, n - s);
        CHECK(ossc_crc64_combine(a, b, n - s) == whole);
    }
    /* the oss2 mkCombineFun example: "12345" + "6789" */
    uint64_t a = ossc_crc64_update(0, "12345", 5);
    uint64_t b = ossc_crc64_update(0, "6789", 4);
    CHECK(ossc_crc64_combine(a, b, 4) == UINT64_C(0x995DC9BBDF1939FA));
    CHECK(ossc_crc64_combine(a, 0, 0) == a);
}

/* Combining many parts in order (as a multipart download does). */
static void test_combine_parts(const unsigned char *buf)
{
    const size_t part = 10007;
    uint64_t acc = 0;
    for (size_t off = 0; off < BIG; off += part) {
        size_t len = off + part <= BIG ? part : BIG - off;
        acc = ossc_crc64_combine(acc, ossc_crc64_update(0, buf + off, len), len);
    }
    CHECK(acc == ossc_crc64_update(0, buf, BIG));
}

/* Large lengths: combine over 16 MiB + 3 zero bytes against direct
 * computation, and associativity with a length above 2^32. */
static void test_combine_large(void)
{
    const size_t zlen = (16u << 20) + 3;
    unsigned char *zeros = calloc(1, zlen);
    CHECK(zeros != NULL);
    if (!zeros)
        return;
    uint64_t a = ossc_crc64_update(0, "abc", 3);
    uint64_t direct = ossc_crc64_update(a, zeros, zlen);
    CHECK(ossc_crc64_combine(a, ossc_crc64_update(0, zeros, zlen), zlen) == direct);
    free(zeros);

    uint64_t x = UINT64_C(0x0123456789ABCDEF), y = UINT64_C(0xFEDCBA9876543210);
    uint64_t z = UINT64_C(0x1111222233334444);
    uint64_t ly = (UINT64_C(5) << 32) + 17, lz = UINT64_C(3) << 40;
    uint64_t left = ossc_crc64_combine(ossc_crc64_combine(x, y, ly), z, lz);
    uint64_t right = ossc_crc64_combine(x, ossc_crc64_combine(y, z, lz), ly + lz);
    CHECK(left == right);
}

int main(void)
{
    unsigned char *buf = malloc(BIG);
    if (!buf) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    lcg_fill(12345, buf, BIG);
    test_known_strings();
    test_lcg_vectors(buf);
    test_incremental(buf);
    test_combine_splits(buf);
    test_combine_parts(buf);
    test_combine_large();
    free(buf);
    return check_summary("test_crc64");
}
