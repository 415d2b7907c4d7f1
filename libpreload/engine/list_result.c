/* list_result.c - the list result container: entries and common prefixes
 * in two growing arrays, every string in one arena owned by the result.
 *
 * Appending is amortised O(1) (arrays double, starting at 256); strings
 * are either copied into the arena once (ossc_list_result_push) or are
 * already there (the page parser's ossc_list_result_push_owned).  Merging
 * pages (ossc_list_result_take) moves arrays and arena blocks without
 * copying a string, so a 100k-key listing costs a few reallocs, not 100k
 * mallocs. */
#include "xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "list_result.h"

#define LIST_INITIAL_CAP 256

/* An empty result with its arena; next_token starts as "". */
ossc_list_result *ossc_list_result_new(void)
{
    ossc_list_result *r = calloc(1, sizeof *r);

    if (!r)
        return NULL;
    r->_arena = ossc_arena_new();
    if (!r->_arena) {
        free(r);
        return NULL;
    }
    r->next_token = "";
    return r;
}

/* Frees the arrays, every string (the arena) and r; NULL is a no-op. */
void ossc_list_result_free(ossc_list_result *r)
{
    if (!r)
        return;
    free(r->objects);
    free(r->prefixes);
    ossc_arena_free(r->_arena);
    free(r);
}

/* Makes room for `more` entries after the first `count` in *arr (element
 * size `size`, capacity *cap), doubling.  -1 on ENOMEM or overflow. */
static int grow(void **arr, size_t *cap, size_t count, size_t more, size_t size)
{
    size_t want, c;
    void *p;

    if (more > SIZE_MAX - count)
        return -1;
    want = count + more;
    if (want <= *cap)
        return 0;
    c = *cap ? *cap : LIST_INITIAL_CAP;
    while (c < want) {
        if (c > SIZE_MAX / 2)
            return -1;
        c *= 2;
    }
    if (c > SIZE_MAX / size)
        return -1;
    p = realloc(*arr, c * size);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

/* Contract in list_result.h. */
int ossc_list_result_push_owned(ossc_list_result *r, const char *key, uint64_t size,
                                int64_t mtime, const char *etag)
{
    ossc_object_info *o;

    if (grow((void **)&r->objects, &r->_cap_objects, r->count, 1, sizeof *r->objects) != 0)
        return -1;
    o = &r->objects[r->count++];
    o->key = key;
    o->size = size;
    o->mtime = mtime;
    o->etag = etag;
    o->crc64 = 0;
    o->has_crc64 = 0;
    return 0;
}

/* Contract in list_result.h. */
int ossc_list_result_push_prefix(ossc_list_result *r, const char *prefix)
{
    if (grow((void **)&r->prefixes, &r->_cap_prefixes, r->prefix_count, 1,
             sizeof *r->prefixes) != 0)
        return -1;
    r->prefixes[r->prefix_count++] = prefix;
    return 0;
}

/* Copies key (and etag, unless empty) into the arena and appends. */
int ossc_list_result_push(ossc_list_result *r, const char *key, uint64_t size, int64_t mtime,
                          const char *etag)
{
    const char *k, *e = "";

    if (!r || !key)
        return -1;
    k = ossc_arena_strdup(r->_arena, key);
    if (!k)
        return -1;
    if (etag && etag[0]) {
        e = ossc_arena_strdup(r->_arena, etag);
        if (!e)
            return -1;
    }
    return ossc_list_result_push_owned(r, k, size, mtime, e);
}

/* Moves every entry and prefix of src behind those of dst, hands src's
 * strings (its arena) to dst and frees src; no string is copied.  dst keeps
 * its own truncated / next_token.  On ENOMEM returns -1 and leaves both
 * untouched. */
int ossc_list_result_take(ossc_list_result *dst, ossc_list_result *src)
{
    if (grow((void **)&dst->objects, &dst->_cap_objects, dst->count, src->count,
             sizeof *dst->objects) != 0 ||
        grow((void **)&dst->prefixes, &dst->_cap_prefixes, dst->prefix_count,
             src->prefix_count, sizeof *dst->prefixes) != 0)
        return -1;
    if (src->count)
        memcpy(dst->objects + dst->count, src->objects, src->count * sizeof *src->objects);
    if (src->prefix_count)
        memcpy(dst->prefixes + dst->prefix_count, src->prefixes,
               src->prefix_count * sizeof *src->prefixes);
    dst->count += src->count;
    dst->prefix_count += src->prefix_count;
    ossc_arena_merge(dst->_arena, src->_arena);
    src->_arena = NULL;
    ossc_list_result_free(src);
    return 0;
}
