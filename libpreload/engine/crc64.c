/* crc64.c - CRC-64/ECMA-182 (reflected, init and xorout all ones), the
 * checksum OSS reports in x-oss-hash-crc64ecma.
 *
 * update() uses slice-by-16 tables; combine() uses precomputed GF(2) matrices
 * for "append 2^k zero bytes".  Both sets of tables are built exactly once
 * (pthread_once) and are read-only afterwards. */
#include "crc64.h"

#include <pthread.h>

/* The ECMA-182 polynomial 0x42F0E1EBA9EA3693, bit-reversed. */
#define CRC64_POLY_REFLECTED UINT64_C(0xC96C5795D7870F42)

/* A linear operator on the 64-bit CRC register: column i is the image of
 * the register value with only bit i set. */
typedef struct gf2_matrix {
    uint64_t col[64];
} gf2_matrix;

static uint64_t crc_table[16][256];
/* zero_ops[k] advances a raw register over 2^k zero bytes. */
static gf2_matrix zero_ops[64];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

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

/* pthread_once target: all tables in one go. */
static void build_tables(void)
{
    build_byte_tables();
    build_zero_ops();
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

/* Public contract in crc64.h: crc values are post-xorout, so the register
 * is inverted on entry and exit (this gives the "init all ones" start when
 * crc = 0).  The bulk runs 16 bytes per step through the sliced tables. */
uint64_t ossc_crc64_update(uint64_t crc, const void *buf, size_t len)
{
    pthread_once(&tables_once, build_tables);
    const unsigned char *p = buf;
    uint64_t r = ~crc;
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
    return ~r;
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
