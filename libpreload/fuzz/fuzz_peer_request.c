/* fuzz_peer_request.c - the chunk server's request parser (peer_request.c)
 * on arbitrary bytes.  Input: 8 bytes of file size and 4 of file count
 * (little endian), then "<path>\n<Range value>" (no newline: the whole
 * rest is the path, and no Range).  Aborts when a contract breaks: a
 * parsed index is >= nfiles, a vid is not 32 lowercase hex digits, a
 * parsed range is not inside [0, size), what was accepted is not the one
 * canonical spelling ("/<vid>/<index>", "bytes=<a>-<b>"), or a refusal is
 * not one of the documented statuses.  The whole text is also checked as
 * an Authorization and as an OSSC-Peer-Auth value a peer sent: made-up
 * bytes must never verify (peer_auth.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "peer_auth.h"
#include "peer_request.h"

static void check_path(const char *path, uint32_t nfiles)
{
    char vid[BC_VID_LEN + 1];
    uint32_t index = UINT32_MAX;
    int st = bc_request_parse_path(path, nfiles, vid, &index);
    if (st == 400 || st == 404)
        return;
    if (st != 0 || index >= nfiles || strlen(vid) != BC_VID_LEN ||
        strspn(vid, "0123456789abcdef") != BC_VID_LEN)
        abort();
    char canon[64];
    snprintf(canon, sizeof canon, "/%s/%" PRIu32, vid, index);
    if (strcmp(canon, path) != 0)
        abort();
}

static void check_range(const char *value, uint64_t size)
{
    uint64_t off = UINT64_MAX, len = 0;
    int st = bc_request_parse_range(value, size, &off, &len);
    if (st == 400 || st == 416)
        return;
    if (st != 0 || len == 0 || off >= size || len > size - off)
        abort();
    char canon[64];
    snprintf(canon, sizeof canon, "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
    if (strcmp(canon, value) != 0)
        abort();
}

static void check_auth(const char *value)
{
    static const uint8_t secret[] = "a fuzzing secret of 32 bytes ...";
    size_t len = sizeof secret - 1;
    if (bc_auth_check(secret, len, "GET", "/v/0", "bytes=0-9", "127.0.0.1:7070", value,
                      1700000000) ||
        bc_reply_auth_check(secret, len, value, 206, "bytes 0-9/10", NULL, value) ||
        bc_reply_auth_check(secret, len, "OSSC-PEER 28333333:00", 503, NULL, value, value))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12)
        return 0;
    uint64_t file_size = 0;
    uint32_t nfiles = 0;
    for (int i = 7; i >= 0; i--)
        file_size = file_size << 8 | data[i];
    for (int i = 11; i >= 8; i--)
        nfiles = nfiles << 8 | data[i];
    char *text = fuzz_cstring(data + 12, size - 12);
    if (!text)
        return 0;
    check_auth(text);
    char *nl = strchr(text, '\n');
    if (nl)
        *nl = '\0';
    check_path(text, nfiles);
    check_range(nl ? nl + 1 : NULL, file_size);
    free(text);
    return 0;
}
