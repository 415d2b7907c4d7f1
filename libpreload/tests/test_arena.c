/* test_arena.c - the listing string arena: copies, big strings, merge. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "check.h"

/* Many small strings stay intact and share blocks. */
static void test_many_small(void)
{
    ossc_arena *a = ossc_arena_new();
    enum { N = 50000 };
    char **ptrs = calloc(N, sizeof *ptrs);
    char buf[64];
    size_t total = 0;
    int bad = 0;

    CHECK(a != NULL);
    CHECK(ossc_arena_footprint(a) == 0);
    for (int i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "dir/%05d/file-%d.jpg", i % 97, i);
        ptrs[i] = ossc_arena_strdup(a, buf);
        total += strlen(buf) + 1;
    }
    for (int i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "dir/%05d/file-%d.jpg", i % 97, i);
        if (!ptrs[i] || strcmp(ptrs[i], buf) != 0)
            bad++;
    }
    CHECK(bad == 0);
    /* one block per 64 KiB of strings, with little waste */
    CHECK(ossc_arena_footprint(a) >= total);
    CHECK(ossc_arena_footprint(a) < total + total / 8 + 65536);
    free(ptrs);
    ossc_arena_free(a);
}

/* strndup copies exactly len bytes (source need not be terminated) and
 * adds the NUL; empty strings work. */
static void test_strndup(void)
{
    ossc_arena *a = ossc_arena_new();
    const char src[5] = {'a', 'b', 'c', 'd', 'e'};
    char *p = ossc_arena_strndup(a, src, 3);

    CHECK(p != NULL);
    CHECK_STR(p, "abc");
    p = ossc_arena_strndup(a, src, 0);
    CHECK(p != NULL && p[0] == '\0');
    p = ossc_arena_strdup(a, "");
    CHECK(p != NULL && p[0] == '\0');
    CHECK(ossc_arena_strndup(a, src, SIZE_MAX) == NULL);
    CHECK(ossc_arena_strdup(NULL, "x") == NULL);
    ossc_arena_free(a);
    ossc_arena_free(NULL);
}

/* A string bigger than a block gets its own block, and the current block
 * keeps serving small strings afterwards. */
static void test_big(void)
{
    ossc_arena *a = ossc_arena_new();
    size_t big_len = 200 * 1024;
    char *big = malloc(big_len + 1);
    char *small1, *small2, *copy;
    size_t before;

    memset(big, 'x', big_len);
    big[big_len] = '\0';
    small1 = ossc_arena_strdup(a, "first");
    before = ossc_arena_footprint(a);
    copy = ossc_arena_strdup(a, big);
    CHECK(copy != NULL && strlen(copy) == big_len && copy[0] == 'x');
    CHECK(ossc_arena_footprint(a) >= before + big_len + 1);
    CHECK(ossc_arena_footprint(a) < before + big_len + 1024);
    small2 = ossc_arena_strdup(a, "second");
    /* still in the first block, right after "first" */
    CHECK(small2 == small1 + 6);
    CHECK_STR(small1, "first");
    CHECK_STR(small2, "second");
    /* a big string as the very first allocation */
    {
        ossc_arena *b = ossc_arena_new();
        char *c = ossc_arena_strdup(b, big);
        CHECK(c != NULL && strlen(c) == big_len);
        CHECK(ossc_arena_strdup(b, "after") != NULL);
        ossc_arena_free(b);
    }
    free(big);
    ossc_arena_free(a);
}

/* Merge keeps every string of both arenas valid under dst. */
static void test_merge(void)
{
    ossc_arena *dst = ossc_arena_new(), *src = ossc_arena_new(), *empty = ossc_arena_new();
    char *d[3000], *s[3000];
    char buf[64];
    size_t fp;
    int bad = 0;

    for (int i = 0; i < 3000; i++) {
        snprintf(buf, sizeof buf, "dst-key-%d-padding-padding-padding", i);
        d[i] = ossc_arena_strdup(dst, buf);
        snprintf(buf, sizeof buf, "src-key-%d-padding-padding-padding", i);
        s[i] = ossc_arena_strdup(src, buf);
    }
    fp = ossc_arena_footprint(dst) + ossc_arena_footprint(src);
    ossc_arena_merge(dst, src); /* src is freed */
    ossc_arena_merge(dst, empty);
    CHECK(ossc_arena_footprint(dst) == fp);
    for (int i = 0; i < 3000; i++) {
        snprintf(buf, sizeof buf, "dst-key-%d-padding-padding-padding", i);
        if (strcmp(d[i], buf) != 0)
            bad++;
        snprintf(buf, sizeof buf, "src-key-%d-padding-padding-padding", i);
        if (strcmp(s[i], buf) != 0)
            bad++;
    }
    CHECK(bad == 0);
    CHECK(ossc_arena_strdup(dst, "more") != NULL);
    /* merging into an empty arena */
    {
        ossc_arena *e = ossc_arena_new(), *f = ossc_arena_new();
        char *x = ossc_arena_strdup(f, "from-f");
        ossc_arena_merge(e, f);
        CHECK_STR(x, "from-f");
        CHECK(ossc_arena_strdup(e, "new") != NULL);
        ossc_arena_free(e);
    }
    ossc_arena_free(dst);
}

int main(void)
{
    test_many_small();
    test_strndup();
    test_big();
    test_merge();
    return check_summary("test_arena");
}
