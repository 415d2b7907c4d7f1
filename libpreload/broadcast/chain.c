/* chain.c - who a node receives from, and the model version id: pure
 * functions (see chain.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "chain.h"

int bc_chain_upstream(const bc_node_info *m, size_t n, const char *self_id, int sources,
                      bool (*excluded)(const char *id, void *ctx), void *ctx)
{
    if (sources < 1)
        sources = 1;
    /* Walk the view (m without the excluded members, self always kept),
     * remembering the last `sources` view entries in a ring: when self is
     * reached, the entry `sources` places back is its upstream. */
    size_t view_pos = 0;
    int found_upstream = -1;
    for (size_t i = 0; i < n; i++) {
        bool is_self = strcmp(m[i].id, self_id) == 0;
        if (!is_self && excluded && excluded(m[i].id, ctx))
            continue;
        if (is_self) {
            if (view_pos < (size_t)sources)
                return -1;
            /* The view entry at view_pos - sources: walk back over m. */
            size_t back = (size_t)sources;
            for (size_t j = i; j-- > 0;) {
                if (excluded && excluded(m[j].id, ctx) && strcmp(m[j].id, self_id) != 0)
                    continue;
                if (--back == 0) {
                    found_upstream = (int)j;
                    break;
                }
            }
            return found_upstream;
        }
        view_pos++;
    }
    return -1;
}

static void put_u64le(unsigned char b[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

/* Fields are framed (strings NUL-terminated, numbers 8 bytes LE) so that
 * no two different inputs hash the same bytes. */
void bc_version_id(const char *oss_path, const bc_version_file *files, size_t n, char out[33])
{
    static const char tag[] = "ossc-broadcast-version-1";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(ctx, tag, sizeof tag) &&
             EVP_DigestUpdate(ctx, oss_path, strlen(oss_path) + 1);
    unsigned char num[8];
    for (size_t i = 0; ok && i < n; i++) {
        ok = EVP_DigestUpdate(ctx, files[i].rel, strlen(files[i].rel) + 1);
        put_u64le(num, files[i].size);
        ok = ok && EVP_DigestUpdate(ctx, num, sizeof num);
        put_u64le(num, files[i].crc);
        ok = ok && EVP_DigestUpdate(ctx, num, sizeof num);
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &md_len) && md_len >= 16;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        /* Only on allocation failure inside libcrypto: an id no real
         * version has, so this node shares with nobody. */
        memset(out, '0', 32);
        out[32] = '\0';
        return;
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}
