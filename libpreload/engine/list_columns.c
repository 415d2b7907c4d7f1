/* list_columns.c - a list result's entries packed as columns (sizes,
 * mtimes, NUL-separated keys and etags) for a binding to convert in bulk:
 * a few calls across the FFI instead of several per entry.
 *
 * Cost: two passes over the entries (measure, then copy) and one malloc
 * for the whole block; the result itself is left as it is. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ossc.h"

/* Contract in ossc.h.  One allocation holds the two number arrays and the
 * two string blobs, in that order (the arrays stay 8-byte aligned). */
int ossc_list_result_columns(const ossc_list_result *r, ossc_list_columns *out,
                             ossc_error *err)
{
    size_t n = r->count, keys_len = 0, etags_len = 0, numbers;
    char *block, *k, *e;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        keys_len += strlen(r->objects[i].key) + 1;
        etags_len += (r->objects[i].etag ? strlen(r->objects[i].etag) : 0) + 1;
    }
    numbers = n * (sizeof *out->sizes + sizeof *out->mtimes);
    block = malloc(numbers + keys_len + etags_len + 1);
    if (!block)
        return ossc_error_set(err, ENOMEM, "out of memory packing %zu list entries", n);
    out->sizes = (uint64_t *)(void *)block;
    out->mtimes = (int64_t *)(void *)(block + n * sizeof *out->sizes);
    out->keys = k = block + numbers;
    out->etags = e = k + keys_len;
    for (size_t i = 0; i < n; i++) {
        const ossc_object_info *o = &r->objects[i];
        size_t kl = strlen(o->key) + 1, el = o->etag ? strlen(o->etag) + 1 : 1;
        out->sizes[i] = o->size;
        out->mtimes[i] = o->mtime;
        memcpy(k, o->key, kl);
        k += kl;
        memcpy(e, o->etag ? o->etag : "", el);
        e += el;
    }
    out->count = n;
    out->keys_len = keys_len;
    out->etags_len = etags_len;
    return 0;
}

/* Frees what ossc_list_result_columns allocated (the block starts at
 * sizes); an empty or NULL c is a no-op. */
void ossc_list_columns_free(ossc_list_columns *c)
{
    if (!c)
        return;
    free(c->sizes);
    memset(c, 0, sizeof *c);
}
