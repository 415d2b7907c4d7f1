/* test_list_result.c - the list result container: merging pages without
 * copying strings, the columns a binding converts in bulk, and a
 * 100k-entry listing to check the arena-backed result stays compact. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "arena.h"
#include "check.h"
#include "error.h"
#include "xml.h"

static void test_list_take_and_columns(void)
{
    ossc_list_result *a = ossc_list_result_new(), *b = ossc_list_result_new();
    ossc_list_columns cols;
    ossc_error e;
    const char *k0;

    if (!a || !b)
        return;
    CHECK(ossc_list_result_push(a, "a/1", 1, 10, "e1") == 0);
    CHECK(ossc_list_result_push(b, "b/2", 2, 20, "") == 0);
    CHECK(ossc_list_result_push(b, "b/\xe6\x95\xb0", 3, 30, "e3") == 0);
    k0 = b->objects[0].key;
    CHECK(ossc_list_result_take(a, b) == 0); /* b is freed */
    CHECK(a->count == 3);
    CHECK(a->objects[1].key == k0); /* moved, not copied */
    CHECK_STR(a->objects[2].key, "b/\xe6\x95\xb0");

    ossc_error_clear(&e);
    CHECK(ossc_list_result_columns(a, &cols, &e) == 0);
    CHECK(cols.count == 3);
    CHECK(cols.keys_len == sizeof "a/1" + sizeof "b/2" + sizeof "b/\xe6\x95\xb0");
    CHECK(memcmp(cols.keys, "a/1\0b/2\0b/\xe6\x95\xb0\0", cols.keys_len) == 0);
    CHECK(cols.etags_len == sizeof "e1" + 1 + sizeof "e3");
    CHECK(memcmp(cols.etags, "e1\0\0e3\0", cols.etags_len) == 0);
    CHECK(cols.sizes[0] == 1 && cols.sizes[2] == 3);
    CHECK(cols.mtimes[1] == 20);
    ossc_list_columns_free(&cols);
    CHECK(cols.keys == NULL);
    ossc_list_columns_free(&cols); /* twice is harmless */

    /* an empty result packs to empty columns */
    b = ossc_list_result_new();
    CHECK(ossc_list_result_columns(b, &cols, &e) == 0);
    CHECK(cols.count == 0 && cols.keys_len == 0);
    ossc_list_columns_free(&cols);
    ossc_list_result_free(b);
    ossc_list_result_free(a);
}

/* 100 pages x 1000 entries parsed into one result, then 100k pushes: all
 * entries intact, and the arena stays close to the bytes it stores. */
static void test_large_listing(void)
{
    enum { PAGES = 100, PER_PAGE = 1000, N = PAGES * PER_PAGE };
    size_t cap = PER_PAGE * 256 + 1024, strings = 0;
    char *doc = malloc(cap);
    ossc_list_result *r = NULL, *p;
    ossc_error e;
    char key[128];
    int bad = 0;

    for (int page = 0; page < PAGES; page++) {
        size_t o = 0;
        o += (size_t)snprintf(doc + o, cap - o,
                              "<ListBucketResult><Name>b</Name><IsTruncated>%s</IsTruncated>"
                              "<NextContinuationToken>tok-%d</NextContinuationToken>",
                              page + 1 < PAGES ? "true" : "false", page);
        for (int i = 0; i < PER_PAGE; i++) {
            int n = page * PER_PAGE + i;
            o += (size_t)snprintf(doc + o, cap - o,
                                  "<Contents><Key>train/shard-%03d/img_%07d.jpg</Key>"
                                  "<LastModified>2024-08-02T15:04:05.000Z</LastModified>"
                                  "<ETag>\"%032x\"</ETag><Size>%d</Size>"
                                  "<StorageClass>Standard</StorageClass></Contents>",
                                  n % 128, n, n, n);
        }
        o += (size_t)snprintf(doc + o, cap - o, "</ListBucketResult>");
        ossc_error_clear(&e);
        if (ossc_xml_parse_list(doc, o, &r, &e) != 0) {
            fprintf(stderr, "page %d: %s\n", page, e.message);
            bad++;
            break;
        }
    }
    free(doc);
    CHECK(bad == 0);
    if (!r)
        return;
    CHECK(r->count == N);
    CHECK(r->truncated == 0);
    CHECK_STR(r->next_token, "");
    for (int n = 0; n < (int)r->count; n++) {
        char etag[40];
        snprintf(key, sizeof key, "train/shard-%03d/img_%07d.jpg", n % 128, n);
        snprintf(etag, sizeof etag, "%032x", n);
        if (strcmp(r->objects[n].key, key) != 0 || r->objects[n].size != (uint64_t)n ||
            strcmp(r->objects[n].etag, etag) != 0 || r->objects[n].mtime != 1722611045)
            bad++;
        strings += strlen(key) + 1 + strlen(etag) + 1;
    }
    CHECK(bad == 0);
    /* the 100 page tokens add a little; blocks are 64 KiB */
    CHECK(ossc_arena_footprint(r->_arena) >= strings);
    CHECK(ossc_arena_footprint(r->_arena) < strings + strings / 16 + 65536);
    CHECK(r->_cap_objects >= r->count && r->_cap_objects < 2 * r->count + 256);

    /* the same through ossc_list_result_push (how fast list merges) */
    p = ossc_list_result_new();
    CHECK(p != NULL);
    if (p) {
        for (int n = 0; n < N; n++) {
            snprintf(key, sizeof key, "train/shard-%03d/img_%07d.jpg", n % 128, n);
            if (ossc_list_result_push(p, key, (uint64_t)n, n, n % 2 ? "etag" : "") != 0)
                bad++;
        }
        CHECK(bad == 0);
        CHECK(p->count == N);
        CHECK_STR(p->objects[12345].key, "train/shard-057/img_0012345.jpg");
        CHECK_STR(p->objects[12345].etag, "etag");
        CHECK_STR(p->objects[12346].etag, "");
        CHECK(p->objects[99999].size == 99999);
        CHECK_STR(p->next_token, "");
        CHECK(ossc_arena_footprint(p->_arena) < (size_t)N * 40 + 65536);
        ossc_list_result_free(p);
    }
    ossc_list_result_free(r);
}

int main(void)
{
    test_list_take_and_columns();
    test_large_listing();
    xmlCleanupParser();
    return check_summary("test_list_result");
}
