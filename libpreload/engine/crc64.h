/* crc64.h - CRC-64/ECMA-182 as OSS computes it (x-oss-hash-crc64ecma):
 * reflected, init and xorout all ones (the "CRC-64/XZ" parameters). */
#ifndef OSSC_CRC64_H
#define OSSC_CRC64_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: crc = 0 for the first call; the return value of one call
 * is the `crc` argument of the next. */
uint64_t ossc_crc64_update(uint64_t crc, const void *buf, size_t len);

/* CRC of A||B from crc(A), crc(B) and len(B), without the data. */
uint64_t ossc_crc64_combine(uint64_t crc_a, uint64_t crc_b, uint64_t len_b);

#endif
