/* crc64.c - CRC-64/ECMA-182 (reflected, init and xorout all ones), the
 * checksum OSS reports in x-oss-hash-crc64ecma.
 *
 * Contract (crc64.h): ossc_crc64_update(crc, buf, len) continues a CRC, with
 * crc = 0 to start and the previous return value to continue; combine()
 * joins the CRCs of two adjacent pieces.  Both are thread-safe: all tables
 * and constants are built exactly once (pthread_once), read-only afterwards.
 *
 * Why two update() paths: the CRC of every downloaded byte is checked, and
 * the slice-by-16 table loop (about 3 GB/s on one core) costs more CPU than
 * the transfer itself.  On x86-64 CPUs with PCLMULQDQ, update() instead
 * folds the data with carry-less multiplies (Intel, "Fast CRC Computation
 * for Generic Polynomials Using PCLMULQDQ Instruction", 2009), which runs
 * about five times faster (~15 GB/s).  The folded 16-byte remainder and the final
 * 0..15 bytes go through the table code, which is also the fallback for
 * other CPUs, for short buffers, and when OSSC_CRC64_NO_CLMUL is set in the
 * environment (read once, on first use).
 *
 * combine() uses precomputed GF(2) matrices for "append 2^k zero bytes". */
#include "crc64.h"

#include <pthread.h>
#include <stdlib.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC64_HAVE_CLMUL 1
#include <immintrin.h>
#else
#define CRC64_HAVE_CLMUL 0
#endif

/* The ECMA-182 polynomial 0x42F0E1EBA9EA3693, bit-reversed. */
#define CRC64_POLY_REFLECTED UINT64_C(0xC96C5795D7870F42)

/* Buffers shorter than this take the table path: the carry-less path needs
 * 128 bytes to fill its eight lanes (and at 128 bytes it is already about
 * 1.5x faster than the tables, despite its fixed cost of merging the lanes
 * and finishing the remainder). */
#define CLMUL_MIN_LEN 128
_Static_assert(CLMUL_MIN_LEN >= 128, "crc64_clmul() needs one 128-byte group");

/* A linear operator on the 64-bit CRC register: column i is the image of
 * the register value with only bit i set. */
typedef struct gf2_matrix {
    uint64_t col[64];
} gf2_matrix;

/* Multipliers that move a 128-bit chunk of the message `bits` bits further
 * along (see fold_constants()). */
typedef struct fold_k {
    uint64_t lo, hi;
} fold_k;

static uint64_t crc_table[16][256];
/* zero_ops[k] advances a raw register over 2^k zero bytes. */
static gf2_matrix zero_ops[64];
/* Folding by one 16-byte block, and by eight (one pass of the main loop). */
static fold_k fold_128, fold_1024;
/* Whether update() takes the carry-less path (decided once). */
static int use_clmul;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* Testing hooks: not in crc64.h, reached by tests/test_crc64.c through the
 * _testing library (the shared library hides them). */
uint64_t ossc_crc64_update_table(uint64_t crc, const void *buf, size_t len);
uint64_t ossc_crc64_update_clmul(uint64_t crc, const void *buf, size_t len);
int ossc_crc64_clmul_supported(void);
const char *ossc_crc64_impl(void);

/* Applies operator m to vector v (sum of the columns selected by v's bits). */
static uint64_t gf2_apply(const gf2_matrix *m, uint64_t v)
{
    uint64_t sum = 0;
    for (int i = 0; v != 0; i++, v >>= 1) {
        if (v & 1)
            sum ^= m->col[i];
    }
    return sum;
}

/* out = m * m, i.e. the operator applied twice.  out must not alias m. */
static void gf2_square(const gf2_matrix *m, gf2_matrix *out)
{
    for (int i = 0; i < 64; i++)
        out->col[i] = gf2_apply(m, m->col[i]);
}

/* Fills the byte table and its fifteen "shifted" companions: table k gives
 * the contribution of a byte that still has k more bytes to travel through
 * the register, which lets update() consume 16 bytes per step. */
static void build_byte_tables(void)
{
    for (unsigned b = 0; b < 256; b++) {
        uint64_t r = b;
        for (int bit = 0; bit < 8; bit++)
            r = (r & 1) ? (r >> 1) ^ CRC64_POLY_REFLECTED : r >> 1;
        crc_table[0][b] = r;
    }
    for (unsigned b = 0; b < 256; b++) {
        for (int k = 1; k < 16; k++) {
            uint64_t prev = crc_table[k - 1][b];
            crc_table[k][b] = (prev >> 8) ^ crc_table[0][prev & 0xff];
        }
    }
}

/* Builds zero_ops[k] = (one zero byte)^(2^k) by repeated squaring, starting
 * from the one-zero-bit operator (shift right, reduce by the polynomial). */
static void build_zero_ops(void)
{
    gf2_matrix bit_op, tmp;
    bit_op.col[0] = CRC64_POLY_REFLECTED;
    for (int i = 1; i < 64; i++)
        bit_op.col[i] = UINT64_C(1) << (i - 1);
    gf2_square(&bit_op, &tmp);       /* 2 bits */
    gf2_square(&tmp, &bit_op);       /* 4 bits */
    gf2_square(&bit_op, &zero_ops[0]); /* 8 bits = 1 byte */
    for (int k = 1; k < 64; k++)
        gf2_square(&zero_ops[k - 1], &zero_ops[k]);
}

/* x^n mod P in the register's bit-reflected form (bit i holds the
 * coefficient of x^(63-i)): start from 1 and multiply by x n times, which
 * is exactly the table code's one-zero-bit step. */
static uint64_t xpow_mod(unsigned n)
{
    uint64_t r = UINT64_C(1) << 63;
    while (n-- > 0)
        r = (r & 1) ? (r >> 1) ^ CRC64_POLY_REFLECTED : r >> 1;
    return r;
}

/* Derivation of the folding multipliers (computed here rather than pasted,
 * so they cannot disagree with the polynomial).
 *
 * A 16-byte block loaded little-endian into a 128-bit lane holds, in bit j,
 * the coefficient of x^(127-j) of its polynomial A.  Split A = H*x^64 + L,
 * H in the low quadword, L in the high one, each in reflected form.  Data
 * `bits` further on sees A multiplied by x^bits, and modulo P
 *     A*x^bits = H*x^(bits+64) + L*x^bits
 *             == H*(x^(bits+64) mod P) + L*(x^bits mod P),
 * two 64x64-bit carry-less products of degree <= 126, i.e. a new 128-bit
 * value that is simply XORed into the block `bits` later.  A carry-less
 * multiply of two reflected 64-bit values yields the reflected 127-bit
 * product one bit position short of the 128-bit lane layout (it is the
 * product times x^-1 there), so the multipliers carry one factor of x less:
 *     lo = x^(bits+63) mod P   (for H),   hi = x^(bits-1) mod P   (for L). */
static fold_k fold_constants(unsigned bits)
{
    fold_k k = {xpow_mod(bits + 63), xpow_mod(bits - 1)};
    return k;
}

/* Whether the CPU has PCLMULQDQ and the user has not turned the carry-less
 * path off (OSSC_CRC64_NO_CLMUL set to anything but "" or "0"). */
static int clmul_usable(void)
{
#if CRC64_HAVE_CLMUL
    const char *off = getenv("OSSC_CRC64_NO_CLMUL");
    if (off && *off && (off[0] != '0' || off[1] != '\0'))
        return 0;
    return ossc_crc64_clmul_supported();
#else
    return 0;
#endif
}

/* pthread_once target: all tables and the path choice in one go. */
static void build_tables(void)
{
    build_byte_tables();
    build_zero_ops();
    fold_128 = fold_constants(128);
    fold_1024 = fold_constants(1024);
    use_clmul = clmul_usable();
}

/* Reads 8 bytes as a little-endian integer (portable; compiles to one load
 * on little-endian targets). */
static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Advances the raw (uninverted) register r over len bytes: 16 bytes per
 * step through the sliced tables, then byte by byte. */
static uint64_t crc64_table(uint64_t r, const unsigned char *p, size_t len)
{
    while (len >= 16) {
        uint64_t lo = r ^ load_le64(p);
        uint64_t hi = load_le64(p + 8);
        r = crc_table[15][lo & 0xff] ^ crc_table[14][(lo >> 8) & 0xff] ^
            crc_table[13][(lo >> 16) & 0xff] ^ crc_table[12][(lo >> 24) & 0xff] ^
            crc_table[11][(lo >> 32) & 0xff] ^ crc_table[10][(lo >> 40) & 0xff] ^
            crc_table[9][(lo >> 48) & 0xff] ^ crc_table[8][lo >> 56] ^
            crc_table[7][hi & 0xff] ^ crc_table[6][(hi >> 8) & 0xff] ^
            crc_table[5][(hi >> 16) & 0xff] ^ crc_table[4][(hi >> 24) & 0xff] ^
            crc_table[3][(hi >> 32) & 0xff] ^ crc_table[2][(hi >> 40) & 0xff] ^
            crc_table[1][(hi >> 48) & 0xff] ^ crc_table[0][hi >> 56];
        p += 16;
        len -= 16;
    }
    while (len-- > 0)
        r = (r >> 8) ^ crc_table[0][(r ^ *p++) & 0xff];
    return r;
}

#if CRC64_HAVE_CLMUL
/* Only PCLMULQDQ beyond the x86-64 baseline (SSE2) is needed. */
#define CLMUL_TARGET __attribute__((target("pclmul")))

CLMUL_TARGET static inline __m128i load128(const unsigned char *p)
{
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}

CLMUL_TARGET static inline __m128i fold_k_vector(fold_k k)
{
    return _mm_set_epi64x((long long)k.hi, (long long)k.lo);
}

/* The 128-bit lane x moved forward by the distance k was built for (see
 * fold_constants()): low quadword times k.lo, high times k.hi. */
CLMUL_TARGET static inline __m128i fold(__m128i x, __m128i k)
{
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00),
                         _mm_clmulepi64_si128(x, k, 0x11));
}

/* Folds the n128 * 128 bytes at p (n128 >= 1), with the register r XORed
 * into their first 8 bytes, into one 128-bit value congruent to them modulo
 * P: eight independent lanes, each folded 1024 bits ahead per step (so the
 * multiply latencies overlap), then merged into the last lane 128 bits at a
 * time. */
CLMUL_TARGET static __m128i fold_blocks(uint64_t r, const unsigned char *p, size_t n128)
{
    __m128i x[8];
    for (int i = 0; i < 8; i++)
        x[i] = load128(p + 16 * i);
    x[0] = _mm_xor_si128(x[0], _mm_cvtsi64_si128((long long)r));
    const __m128i k1024 = fold_k_vector(fold_1024);
    while (--n128 > 0) {
        p += 128;
        for (int i = 0; i < 8; i++)
            x[i] = _mm_xor_si128(fold(x[i], k1024), load128(p + 16 * i));
    }
    const __m128i k128 = fold_k_vector(fold_128);
    __m128i acc = x[0];
    for (int i = 1; i < 8; i++)
        acc = _mm_xor_si128(fold(acc, k128), x[i]);
    return acc;
}

/* Carry-less path for len >= 128: fold whole 128-byte groups, then single
 * 16-byte blocks, into a 16-byte remainder A.  Running the table code over
 * A from a zero register gives A*x^64 mod P, the register value after all
 * folded bytes; the last len % 16 bytes continue from there. */
CLMUL_TARGET static uint64_t crc64_clmul(uint64_t r, const unsigned char *p, size_t len)
{
    size_t n128 = len / 128;
    __m128i acc = fold_blocks(r, p, n128);
    p += n128 * 128;
    len -= n128 * 128;
    const __m128i k128 = fold_k_vector(fold_128);
    for (; len >= 16; p += 16, len -= 16)
        acc = _mm_xor_si128(fold(acc, k128), load128(p));
    unsigned char rem[16];
    _mm_storeu_si128((__m128i *)(void *)rem, acc);
    return crc64_table(crc64_table(0, rem, sizeof rem), p, len);
}
#endif

/* Runs the raw register r over the buffer on the carry-less path when the
 * buffer is long enough and the CPU allows, else through the tables. */
static uint64_t crc64_raw(uint64_t r, const unsigned char *p, size_t len, int clmul)
{
#if CRC64_HAVE_CLMUL
    if (clmul && len >= CLMUL_MIN_LEN)
        return crc64_clmul(r, p, len);
#else
    (void)clmul;
#endif
    return crc64_table(r, p, len);
}

/* Public contract in crc64.h: crc values are post-xorout, so the register
 * is inverted on entry and exit (this gives the "init all ones" start when
 * crc = 0). */
uint64_t ossc_crc64_update(uint64_t crc, const void *buf, size_t len)
{
    pthread_once(&tables_once, build_tables);
    return ~crc64_raw(~crc, buf, len, use_clmul);
}

/* Testing hook: update() forced onto the table path. */
uint64_t ossc_crc64_update_table(uint64_t crc, const void *buf, size_t len)
{
    pthread_once(&tables_once, build_tables);
    return ~crc64_table(~crc, buf, len);
}

/* Testing hook: update() on the carry-less path whenever the CPU has it,
 * whatever OSSC_CRC64_NO_CLMUL says (short buffers still use the tables). */
uint64_t ossc_crc64_update_clmul(uint64_t crc, const void *buf, size_t len)
{
    pthread_once(&tables_once, build_tables);
    return ~crc64_raw(~crc, buf, len, ossc_crc64_clmul_supported());
}

/* Whether this CPU can run the carry-less path. */
int ossc_crc64_clmul_supported(void)
{
#if CRC64_HAVE_CLMUL
    __builtin_cpu_init(); /* needed if called before constructors have run */
    return __builtin_cpu_supports("pclmul");
#else
    return 0;
#endif
}

/* Which path update() takes for long buffers: "pclmul" or "table". */
const char *ossc_crc64_impl(void)
{
    pthread_once(&tables_once, build_tables);
    return use_clmul ? "pclmul" : "table";
}

/* crc(A||B) = Z^len_b(crc(A)) ^ crc(B), where Z advances a raw register over
 * one zero byte: the init/xorout terms cancel because both are all ones.
 * Z^len_b is applied as the product of the precomputed 2^k-byte operators
 * for the set bits of len_b, so the cost is O(popcount(len_b) * 64). */
uint64_t ossc_crc64_combine(uint64_t crc_a, uint64_t crc_b, uint64_t len_b)
{
    pthread_once(&tables_once, build_tables);
    uint64_t r = crc_a;
    for (int k = 0; len_b != 0; k++, len_b >>= 1) {
        if (len_b & 1)
            r = gf2_apply(&zero_ops[k], r);
    }
    return r ^ crc_b;
}
