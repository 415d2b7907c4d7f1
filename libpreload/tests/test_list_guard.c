/* test_list_guard.c - what ends every paging loop (list_guard.c): tokens
 * never sent twice, names only growing, pages no longer than asked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "list_guard.h"
#include "xml.h"

/* A page built by hand: keys, then prefixes, truncated with next. */
static ossc_list_result *page_of(const char *const *keys, const char *const *prefixes,
                                 const char *next)
{
    ossc_list_result *p = ossc_list_result_new();
    for (; keys && *keys; keys++)
        ossc_list_result_push(p, *keys, 1, 0, "");
    for (; prefixes && *prefixes; prefixes++) {
        const char **grown = realloc(p->prefixes, (p->prefix_count + 1) * sizeof *grown);
        grown[p->prefix_count++] = *prefixes; /* static strings */
        p->prefixes = grown;
        p->_cap_prefixes = p->prefix_count;
    }
    p->truncated = next != NULL;
    p->next_token = next ? next : "";
    return p;
}

/* Hands the guard the page page_of(keys, prefixes, next) as the reply to
 * the request that sent token used; returns what ossc_list_guard_page
 * returns (the page is freed, as a paging loop frees it). */
static int guard_page(ossc_list_guard *g, const char *const *keys, const char *const *prefixes,
                      const char *next, const char *used, ossc_error *e)
{
    ossc_list_result *p = page_of(keys, prefixes, next);
    int rc = ossc_list_guard_page(g, p, used, e);
    ossc_list_result_free(p);
    return rc;
}

/* Tokens: a normal listing ends; a truncated page without a token, a
 * token used twice and a token cycle on empty pages are refused. */
static void test_list_guard_tokens(void)
{
    static const char *const ab[] = {"a", "b", NULL}, *const cd[] = {"c", "d", NULL};
    ossc_list_guard g;
    ossc_error e;

    /* a normal listing: two pages, then the end */
    ossc_list_guard_init(&g, 0);
    CHECK(guard_page(&g, ab, NULL, "t1", "", &e) == 0);
    CHECK(guard_page(&g, cd, NULL, NULL, "t1", &e) == 0);
    ossc_list_guard_free(&g);

    /* truncated without a token; the same token again; a token cycle on
     * empty pages */
    ossc_list_guard_init(&g, 0);
    CHECK(guard_page(&g, ab, NULL, "", "", &e) == -1);
    CHECK(strstr(e.message, "without a continuation token") != NULL);
    ossc_list_guard_free(&g);

    ossc_list_guard_init(&g, 0);
    CHECK(guard_page(&g, ab, NULL, "t1", "", &e) == 0);
    CHECK(guard_page(&g, cd, NULL, "t1", "t1", &e) == -1);
    CHECK(strstr(e.message, "repeats a continuation token already used: 't1'") != NULL);
    CHECK(strstr(e.message, "page after token 't1'") != NULL);
    ossc_list_guard_free(&g);

    ossc_list_guard_init(&g, 0);
    int failed_at = 0;
    for (int i = 0; i < 100 && !failed_at; i++) {
        char used[8], next[8];
        snprintf(used, sizeof used, i ? "t%d" : "", (i - 1) % 3);
        snprintf(next, sizeof next, "t%d", i % 3);
        if (guard_page(&g, NULL, NULL, next, used, &e) < 0)
            failed_at = i;
    }
    CHECK(failed_at == 3);
    ossc_list_guard_free(&g);
}

/* Names only grow from page to page: a page repeated under a fresh token,
 * or a common prefix that repeats a name, went backwards. */
static void test_list_guard_backwards(void)
{
    static const char *const ab[] = {"a", "b", NULL}, *const bc[] = {"b", "c", NULL};
    static const char *const p_b[] = {"a/", NULL};
    ossc_list_guard g;
    ossc_error e;

    ossc_list_guard_init(&g, 0);
    CHECK(guard_page(&g, ab, NULL, "t1", "", &e) == 0);
    CHECK(guard_page(&g, ab, NULL, "t2", "t1", &e) == -1);
    CHECK(strstr(e.message, "went backwards: 'a' listed after 'b'") != NULL);
    /* a common prefix that repeats a name counts too */
    CHECK(guard_page(&g, NULL, p_b, NULL, "t1", &e) == -1);
    CHECK(guard_page(&g, bc, NULL, NULL, "t1", &e) == -1);
    ossc_list_guard_free(&g);
}

/* Within one page: names in order, none repeated, no more than asked. */
static void test_list_check_page(void)
{
    static const char *const ba[] = {"b", "a", NULL}, *const aa[] = {"a", "a", NULL};
    static const char *const abc[] = {"a", "b", "c", NULL};
    ossc_list_result *p;
    ossc_error e;

    p = page_of(ba, NULL, NULL);
    CHECK(ossc_list_check_page(p, 0, NULL, &e) == -1);
    CHECK(strstr(e.message, "out of order: 'a' after 'b'") != NULL);
    ossc_list_result_free(p);
    p = page_of(aa, NULL, NULL);
    CHECK(ossc_list_check_page(p, 0, NULL, &e) == -1);
    ossc_list_result_free(p);
    p = page_of(abc, NULL, NULL);
    CHECK(ossc_list_check_page(p, 2, NULL, &e) == -1);
    CHECK(strstr(e.message, "page of 3 entries, more than the 2 asked for") != NULL);
    CHECK(ossc_list_check_page(p, 3, NULL, &e) == 0);
    CHECK(ossc_list_check_page(p, 3, "a", &e) == -1); /* start-after ignored */
    CHECK(ossc_list_check_page(p, 3, "0", &e) == 0);
    ossc_list_result_free(p);
}

int main(void)
{
    test_list_guard_tokens();
    test_list_guard_backwards();
    test_list_check_page();
    return check_summary("test_list_guard");
}
