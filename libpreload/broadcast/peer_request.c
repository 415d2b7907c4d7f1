/* peer_request.c - the path and Range of a chunk server request, parsed
 * strictly (peer_request.h): one canonical spelling is accepted, so what
 * the MAC covers is exactly what is served. */
#include "peer_request.h"

#include <stdbool.h>
#include <stddef.h>

/* Digits of a uint32 index and of a uint64 byte offset. */
#define INDEX_DIGITS_MAX 10
#define OFFSET_DIGITS_MAX 20

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_lower_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

/* A decimal number at *p of at most max_digits digits, no leading zero
 * (but "0"), that fits in *out (<= limit); advances *p past it.  False when
 * there is none or it overflows. */
static bool parse_decimal(const char **p, int max_digits, uint64_t limit, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    int n = 0;
    if (!is_digit(*s) || (s[0] == '0' && is_digit(s[1])))
        return false;
    for (; is_digit(*s); s++, n++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (n == max_digits || v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return true;
}

int bc_request_parse_path(const char *path, uint32_t nfiles, char vid[BC_VID_LEN + 1],
                          uint32_t *index)
{
    if (!path || path[0] != '/')
        return 400;
    const char *p = path + 1;
    for (int i = 0; i < BC_VID_LEN; i++) {
        if (!is_lower_hex(p[i]))
            return 400;
    }
    if (p[BC_VID_LEN] != '/')
        return 400;
    const char *num = p + BC_VID_LEN + 1;
    uint64_t v;
    if (!parse_decimal(&num, INDEX_DIGITS_MAX, UINT32_MAX, &v) || *num != '\0')
        return 400;
    if (v >= nfiles)
        return 404;
    for (int i = 0; i < BC_VID_LEN; i++)
        vid[i] = p[i];
    vid[BC_VID_LEN] = '\0';
    *index = (uint32_t)v;
    return 0;
}

int bc_request_parse_range(const char *value, uint64_t size, uint64_t *off, uint64_t *len)
{
    static const char unit[] = "bytes=";
    if (!value)
        return 400;
    for (size_t i = 0; i < sizeof unit - 1; i++) {
        if (value[i] != unit[i])
            return 400;
    }
    const char *p = value + sizeof unit - 1;
    uint64_t first, last;
    if (!parse_decimal(&p, OFFSET_DIGITS_MAX, UINT64_MAX, &first) || *p++ != '-' ||
        !parse_decimal(&p, OFFSET_DIGITS_MAX, UINT64_MAX, &last) || *p != '\0' || last < first)
        return 400;
    if (last >= size)
        return 416;
    *off = first;
    *len = last - first + 1;
    return 0;
}
