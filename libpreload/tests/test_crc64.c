/* test_crc64.c - CRC-64/ECMA-182 against values computed by crcmod/oss2.
 *
 * The expected values were produced with oss2.utils.Crc64 (crcmod, poly
 * 0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xffffffffffffffff, rev=True) over
 * the same LCG byte stream as lcg_fill() below:
 *     x = (x * 6364136223846793005 + 1442695040888963407) mod 2^64
 *     byte = x >> 56, seed 12345.
 *
 * update() has two implementations (carry-less multiply folding on x86-64
 * CPUs with PCLMULQDQ, slice-by-16 tables elsewhere).  Both are checked
 * against the vectors through the testing hooks below, against each other
 * on every length 0..1024 at every 16-byte alignment and on random lengths
 * up to 16 MiB, and in chains split at random points that mix the two.  A
 * forked child checks that OSSC_CRC64_NO_CLMUL selects the tables. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "crc64.h"

/* Testing hooks in crc64.c (not in crc64.h). */
uint64_t ossc_crc64_update_table(uint64_t crc, const void *buf, size_t len);
uint64_t ossc_crc64_update_clmul(uint64_t crc, const void *buf, size_t len);
int ossc_crc64_clmul_supported(void);
const char *ossc_crc64_impl(void);

typedef uint64_t (*crc_fn)(uint64_t crc, const void *buf, size_t len);

/* The implementations under test: the public dispatcher and both paths. */
static const struct {
    const char *name;
    crc_fn fn;
} impls[] = {
    {"update", ossc_crc64_update},
    {"table", ossc_crc64_update_table},
    {"clmul", ossc_crc64_update_clmul},
};
#define N_IMPLS (sizeof impls / sizeof impls[0])

/* splitmix64: the random lengths, offsets, split points and seeds. */
static uint64_t rng_state = UINT64_C(0x0DDC0FFEEBADF00D);
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0; the modulo bias is irrelevant here). */
static size_t rng_below(size_t n)
{
    return (size_t)(rng_next() % n);
}

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
/* Random-length equivalence checks go up to this many bytes. */
#define HUGE (16u << 20)

/* Well-known check values. */
static void test_known_strings(crc_fn crc)
{
    CHECK(crc(0, "123456789", 9) == UINT64_C(0x995DC9BBDF1939FA));
    CHECK(crc(0, "", 0) == 0);
    CHECK(crc(0, NULL, 0) == 0);
    CHECK(crc(0, "a", 1) == UINT64_C(0x330284772E652B05));
    const char *fox = "The quick brown fox jumps over the lazy dog";
    CHECK(crc(0, fox, strlen(fox)) == UINT64_C(0x5B5EB8C2E54AA1C4));
}

/* Whole-buffer CRCs of the LCG stream, at lengths around the 8-byte step. */
static void test_lcg_vectors(crc_fn crc, const char *name, const unsigned char *buf)
{
    for (size_t i = 0; i < sizeof lcg_vectors / sizeof lcg_vectors[0]; i++) {
        uint64_t got = crc(0, buf, lcg_vectors[i].len);
        if (got != lcg_vectors[i].crc)
            fprintf(stderr, "%s: len %zu: got %016llx\n", name, lcg_vectors[i].len,
                    (unsigned long long)got);
        CHECK(got == lcg_vectors[i].crc);
    }
}

/* Table and carry-less paths (and the dispatcher) agree on buf[0..len),
 * starting both from 0 and from an arbitrary earlier CRC.  Reports the
 * first few disagreements. */
static void check_paths_agree(const unsigned char *buf, size_t len, uint64_t start)
{
    static int reported;
    const uint64_t starts[] = {0, start};
    for (int s = 0; s < 2; s++) {
        uint64_t want = ossc_crc64_update_table(starts[s], buf, len);
        uint64_t clmul = ossc_crc64_update_clmul(starts[s], buf, len);
        uint64_t pub = ossc_crc64_update(starts[s], buf, len);
        if ((clmul != want || pub != want) && reported++ < 5)
            fprintf(stderr, "len %zu start %016llx: table %016llx clmul %016llx update %016llx\n",
                    len, (unsigned long long)starts[s], (unsigned long long)want,
                    (unsigned long long)clmul, (unsigned long long)pub);
        CHECK(clmul == want);
        CHECK(pub == want);
    }
}

/* Every length 0..1024 at every offset 0..15 from a 16-byte boundary,
 * covering all group/block/tail combinations of the folding loop and the
 * switch-over length, on random bytes and on all-ones bytes. */
static void test_paths_every_length(const unsigned char *random)
{
    enum { MAXLEN = 1024 };
    unsigned char *ones = malloc(MAXLEN);
    CHECK(ones != NULL);
    if (!ones)
        return;
    memset(ones, 0xff, MAXLEN);
    const unsigned char *base = (const unsigned char *)(((uintptr_t)random + 15) & ~(uintptr_t)15);
    for (size_t off = 0; off < 16; off++) {
        for (size_t len = 0; len <= MAXLEN; len++) {
            check_paths_agree(base + off, len, rng_next());
            if (off == 0)
                check_paths_agree(ones, len, rng_next());
        }
    }
    free(ones);
}

/* Random lengths up to HUGE at random offsets. */
static void test_paths_random_lengths(const unsigned char *buf)
{
    for (int i = 0; i < 24; i++) {
        size_t len = rng_below(HUGE - 16 + 1);
        if (i < 8)
            len = rng_below(HUGE >> 6); /* more short-to-medium cases */
        check_paths_agree(buf + rng_below(16), len, rng_next());
    }
    check_paths_agree(buf, HUGE, 0);
}

/* One CRC computed in pieces split at random points, each piece fed to a
 * randomly chosen implementation, equals the table CRC of the whole. */
static void test_random_chains(const unsigned char *buf)
{
    for (int round = 0; round < 200; round++) {
        size_t len = rng_below(round < 150 ? 4096 : BIG);
        const unsigned char *p = buf + rng_below(16);
        uint64_t want = ossc_crc64_update_table(0, p, len);
        size_t pieces = 1 + rng_below(12);
        uint64_t c = 0;
        size_t off = 0;
        for (size_t k = 0; k < pieces; k++) {
            size_t n = k + 1 == pieces ? len - off : rng_below(len - off + 1);
            c = impls[rng_below(N_IMPLS)].fn(c, p + off, n);
            off += n;
        }
        CHECK(c == want);
    }
}

/* In a child whose first CRC call sees OSSC_CRC64_NO_CLMUL=1, update()
 * must take the table path (the choice is made once, on first use, so the
 * parent cannot test this on itself).  The child's exit status is its
 * failure count. */
static void test_env_forces_tables(void)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        setenv("OSSC_CRC64_NO_CLMUL", "1", 1);
        check_failures = 0;
        CHECK(strcmp(ossc_crc64_impl(), "table") == 0);
        test_known_strings(ossc_crc64_update);
        _exit(check_failures > 0);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
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
    /* Before any CRC call in this process: see test_env_forces_tables(). */
    test_env_forces_tables();

    unsigned char *buf = malloc(HUGE + 16);
    if (!buf) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    lcg_fill(12345, buf, BIG);
    lcg_fill(67890, buf + BIG, HUGE + 16 - BIG);

    const char *off = getenv("OSSC_CRC64_NO_CLMUL");
    int env_off = off && *off && strcmp(off, "0") != 0;
    printf("update() path: %s (pclmul %ssupported)\n", ossc_crc64_impl(),
           ossc_crc64_clmul_supported() ? "" : "not ");
    CHECK(strcmp(ossc_crc64_impl(), ossc_crc64_clmul_supported() && !env_off ? "pclmul" : "table") == 0);

    for (size_t i = 0; i < N_IMPLS; i++) {
        test_known_strings(impls[i].fn);
        test_lcg_vectors(impls[i].fn, impls[i].name, buf);
    }
    test_incremental(buf);
    test_combine_splits(buf);
    test_combine_parts(buf);
    test_combine_large();
    test_paths_every_length(buf);
    test_paths_random_lengths(buf);
    test_random_chains(buf);
    free(buf);
    return check_summary("test_crc64");
}
