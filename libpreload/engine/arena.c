/* arena.c - block-chained bump allocator for listing strings.
 *
 * Strings are packed into 64 KiB blocks; one allocation serves hundreds of
 * keys and everything is released by one walk of the chain.  A string
 * bigger than a quarter of a block gets a block of its own, inserted behind
 * the current one, so the current block keeps filling (a 40 KiB key never
 * wastes the tail of a half-used block). */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK_SIZE (64 * 1024)
#define ARENA_OWN_BLOCK (ARENA_BLOCK_SIZE / 4)

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
};

struct ossc_arena {
    struct arena_block *head; /* the block being filled; older ones follow */
    size_t footprint;
};

/* Allocates an empty block able to hold cap bytes. */
static struct arena_block *block_new(size_t cap)
{
    struct arena_block *b;

    if (cap > SIZE_MAX - sizeof *b)
        return NULL;
    b = malloc(sizeof *b + cap);
    if (!b)
        return NULL;
    b->next = NULL;
    b->used = 0;
    b->cap = cap;
    return b;
}

/* An arena with no blocks yet: the first string allocates one. */
ossc_arena *ossc_arena_new(void)
{
    return calloc(1, sizeof(ossc_arena));
}

/* Reserves n bytes: in the head block when they fit, in a dedicated block
 * for big requests, otherwise in a fresh standard block that becomes the
 * head.  NULL on ENOMEM. */
static char *arena_alloc(ossc_arena *a, size_t n)
{
    struct arena_block *b = a->head;
    char *p;

    if (b && b->cap - b->used >= n) {
        p = b->data + b->used;
        b->used += n;
        return p;
    }
    if (n > ARENA_OWN_BLOCK) {
        b = block_new(n);
        if (!b)
            return NULL;
        b->used = n;
        if (a->head) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            a->head = b;
        }
        a->footprint += sizeof *b + n;
        return b->data;
    }
    b = block_new(ARENA_BLOCK_SIZE - sizeof *b);
    if (!b)
        return NULL;
    b->next = a->head;
    a->head = b;
    a->footprint += ARENA_BLOCK_SIZE;
    b->used = n;
    return b->data;
}

/* Copies len bytes of s (which need not be NUL-terminated) plus a NUL. */
char *ossc_arena_strndup(ossc_arena *a, const char *s, size_t len)
{
    char *p;

    if (!a || len == SIZE_MAX)
        return NULL;
    p = arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* strndup of the whole NUL-terminated s. */
char *ossc_arena_strdup(ossc_arena *a, const char *s)
{
    return ossc_arena_strndup(a, s, strlen(s));
}

/* Splices src's chain behind dst's head (dst keeps filling its current
 * block) and frees src.  Strings of src stay valid and now belong to dst. */
void ossc_arena_merge(ossc_arena *dst, ossc_arena *src)
{
    struct arena_block *tail;

    if (!dst || !src || dst == src)
        return;
    if (src->head) {
        if (!dst->head) {
            dst->head = src->head;
        } else {
            for (tail = src->head; tail->next; tail = tail->next)
                ;
            tail->next = dst->head->next;
            dst->head->next = src->head;
        }
        dst->footprint += src->footprint;
    }
    free(src);
}

/* Frees every block and the arena; NULL is a no-op. */
void ossc_arena_free(ossc_arena *a)
{
    struct arena_block *b, *next;

    if (!a)
        return;
    for (b = a->head; b; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}

/* Bytes held in blocks (headers included), for tests and statistics. */
size_t ossc_arena_footprint(const ossc_arena *a)
{
    return a ? a->footprint : 0;
}
