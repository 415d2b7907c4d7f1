/* list_guard.c - checks of list pages that make every paging loop end
 * (contract in list_guard.h).
 *
 * A listing loop ends only if each request moves forward.  Tokens are
 * opaque, so two facts are checked instead: names only ever grow (within a
 * page and from page to page: OSS and S3 list in byte order), and no token
 * is sent twice.  A server that repeats a page with fresh tokens fails the
 * first; one that cycles through tokens on empty pages fails the second.
 * Tokens are remembered as 64-bit FNV-1a hashes (a false "repeated" needs
 * a hash collision, ~n^2/2^65 for n pages). */
#include "list_guard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define LIST_DEFAULT_KEYS 1000

/* The smallest and greatest names of a page (NULL when it has none). */
static const char *first_name(const ossc_list_result *p)
{
    const char *k = p->count ? p->objects[0].key : NULL;
    const char *c = p->prefix_count ? p->prefixes[0] : NULL;

    return !k ? c : !c ? k : strcmp(k, c) < 0 ? k : c;
}

static const char *last_name(const ossc_list_result *p)
{
    const char *k = p->count ? p->objects[p->count - 1].key : NULL;
    const char *c = p->prefix_count ? p->prefixes[p->prefix_count - 1] : NULL;

    return !k ? c : !c ? k : strcmp(k, c) > 0 ? k : c;
}

int ossc_list_check_page(const ossc_list_result *page, int max_keys, const char *after,
                         ossc_error *err)
{
    size_t limit = (size_t)(max_keys > 0 ? max_keys : LIST_DEFAULT_KEYS);
    const char *first = first_name(page);

    if (page->count > limit || page->prefix_count > limit - page->count)
        return ossc_error_set(err, EIO,
                              "the server sent a page of %zu entries, more than the %zu asked for",
                              page->count + page->prefix_count, limit);
    for (size_t i = 1; i < page->count; i++)
        if (strcmp(page->objects[i - 1].key, page->objects[i].key) >= 0)
            return ossc_error_set(err, EIO,
                                  "the server sent keys out of order: '%.300s' after '%.300s'",
                                  page->objects[i].key, page->objects[i - 1].key);
    for (size_t i = 1; i < page->prefix_count; i++)
        if (strcmp(page->prefixes[i - 1], page->prefixes[i]) >= 0)
            return ossc_error_set(err, EIO,
                                  "the server sent common prefixes out of order: '%.300s' "
                                  "after '%.300s'", page->prefixes[i], page->prefixes[i - 1]);
    if (first && after && after[0] && strcmp(first, after) <= 0)
        return ossc_error_set(err, EIO,
                              "the listing went backwards: '%.300s' listed after '%.300s' "
                              "(a repeated page, or the server ignored the token or "
                              "start-after)", first, after);
    return 0;
}

void ossc_list_guard_init(ossc_list_guard *g, int max_keys)
{
    memset(g, 0, sizeof *g);
    g->max_keys = max_keys;
}

void ossc_list_guard_free(ossc_list_guard *g)
{
    free(g->last);
    free(g->tokens);
    memset(g, 0, sizeof *g);
}

static uint64_t token_hash(const char *t)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *t; t++)
        h = (h ^ (unsigned char)*t) * 0x100000001b3ULL;
    return h ? h : 1; /* 0 marks an empty slot */
}

/* Adds h to the set; 1 when it was there already, 0 when added, -1 on
 * ENOMEM.  Linear probing, kept at most half full. */
static int token_add(ossc_list_guard *g, uint64_t h)
{
    if (2 * (g->ntokens + 1) > g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        uint64_t *t = calloc(cap, sizeof *t);
        if (!t)
            return -1;
        for (size_t i = 0; i < g->cap; i++) {
            if (!g->tokens[i])
                continue;
            size_t j = g->tokens[i] & (cap - 1);
            while (t[j])
                j = (j + 1) & (cap - 1);
            t[j] = g->tokens[i];
        }
        free(g->tokens);
        g->tokens = t;
        g->cap = cap;
    }
    size_t j = h & (g->cap - 1);
    while (g->tokens[j]) {
        if (g->tokens[j] == h)
            return 1;
        j = (j + 1) & (g->cap - 1);
    }
    g->tokens[j] = h;
    g->ntokens++;
    return 0;
}

int ossc_list_guard_page(ossc_list_guard *g, const ossc_list_result *page, const char *token,
                         ossc_error *err)
{
    const char *last = last_name(page);
    const char *next = page->next_token ? page->next_token : "";

    if (page->truncated) {
        if (!next[0]) {
            ossc_error_set(err, EIO, "list response: truncated, but without a continuation "
                                     "token");
            goto err;
        }
        int seen = token_add(g, token_hash(next));
        if (seen < 0)
            return ossc_error_set(err, ENOMEM, "out of memory");
        if (seen) {
            ossc_error_set(err, EIO,
                           "the server repeats a continuation token already used: '%.200s' "
                           "(the listing would never end)", next);
            goto err;
        }
    }
    /* after the token: a repeated page with a repeated token is named by
     * its token */
    if (ossc_list_check_page(page, g->max_keys, g->last, err) < 0)
        goto err;
    if (last) {
        char *copy = strdup(last);
        if (!copy)
            return ossc_error_set(err, ENOMEM, "out of memory");
        free(g->last);
        g->last = copy;
    }
    return 0;
err:
    if (token && token[0] && err)
        ossc_error_set(err, err->code, "%.400s (page after token '%.200s')", err->message, token);
    return -1;
}
