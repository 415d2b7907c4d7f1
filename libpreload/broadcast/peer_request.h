/* peer_request.h - the pure parsing of a chunk server request (server.h):
 * the path "/<vid>/<file index>" and the header "Range: bytes=<a>-<b>",
 * into numbers, with every bound checked.  No I/O and no allocation, so
 * libpreload/fuzz/fuzz_peer_request.c can drive it with any bytes.
 *
 * Each function returns 0 on success or the HTTP status the server replies
 * with: 400 (malformed), 404 (no such file), 416 (range not in the file). */
#ifndef OSSC_BC_PEER_REQUEST_H
#define OSSC_BC_PEER_REQUEST_H

#include <stdint.h>

#define BC_VID_LEN 32 /* a model version id: 32 lowercase hex digits */

/* path = "/" vid "/" index, nothing before, between or after: vid exactly
 * BC_VID_LEN lowercase hex digits (copied NUL-terminated into vid), index
 * a decimal number without sign or leading zero.  400 for any other shape
 * ("/../x", "/vid/1/../x", "%2e", a trailing '/'), 404 when index >=
 * nfiles.  A parsed index is always < nfiles. */
int bc_request_parse_path(const char *path, uint32_t nfiles, char vid[BC_VID_LEN + 1],
                          uint32_t *index);

/* value = "bytes=" a "-" b, decimal, a <= b (one range, both ends given,
 * as the engine sends it): 400 for anything else (NULL included) or a
 * number past 2^64-1, 416 when b >= size.  On success [*off, *off+*len)
 * is inside [0, size) and *len >= 1. */
int bc_request_parse_range(const char *value, uint64_t size, uint64_t *off, uint64_t *len);

#endif
