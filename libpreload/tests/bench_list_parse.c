/* bench_list_parse.c - time spent parsing ListObjectsV2 pages alone, no
 * network (not a meson test).
 *
 * Build and run by hand after `ninja -C build`, e.g.:
 *     cc -O2 -std=c11 -D_GNU_SOURCE -Ilibpreload/include -Ilibpreload/engine \
 *        libpreload/tests/bench_list_parse.c build/libpreload/libossc_testing.a \
 *        $(pkg-config --libs libcurl libcrypto libxml-2.0 jansson) -lpthread -ldl -lm \
 *        -o /tmp/bench_list_parse && /tmp/bench_list_parse [page.xml] [pages]
 *
 * Without a file, parses a generated page shaped like an OSS answer (1,000
 * <Contents> with Key, LastModified, ETag, Size, StorageClass, Type; keys
 * URL-encoded).  Each pass appends `pages` pages into one result, as a whole
 * listing does, and reports the best pass in microseconds per page and
 * keys per second. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xml.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A 1,000-key V2 page; *len receives its length.  Caller frees. */
static char *make_page(size_t *len)
{
    size_t cap = 1 << 20, o = 0;
    char *b = malloc(cap);

    if (!b)
        return NULL;
    o += (size_t)snprintf(b + o, cap - o,
                          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>"
                          "<Name>bench</Name><Prefix>list%%2F</Prefix><MaxKeys>1000</MaxKeys>"
                          "<KeyCount>1000</KeyCount><IsTruncated>true</IsTruncated>"
                          "<NextContinuationToken>CgJsaXN0LzAwMDAvMDAwMDA5OTk-</NextContinuationToken>"
                          "<EncodingType>url</EncodingType>");
    for (int i = 0; i < 1000; i++)
        o += (size_t)snprintf(b + o, cap - o,
                              "<Contents><Key>list%%2F%04d%%2F%08d</Key>"
                              "<LastModified>2024-08-02T15:04:05.000Z</LastModified>"
                              "<ETag>\"41610062B542D526D069CA3F0EBBECCA\"</ETag>"
                              "<Size>%d</Size><StorageClass>Standard</StorageClass>"
                              "<Type>Normal</Type></Contents>",
                              i / 100, i, i * 7);
    o += (size_t)snprintf(b + o, cap - o, "</ListBucketResult>");
    *len = o;
    return b;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *b;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

int main(int argc, char **argv)
{
    size_t len = 0;
    char *page = argc > 1 ? read_file(argv[1], &len) : make_page(&len);
    int pages = argc > 2 ? atoi(argv[2]) : 100;
    double best = 1e30;
    size_t keys = 0;

    if (!page) {
        fprintf(stderr, "cannot read the page\n");
        return 1;
    }
    for (int pass = 0; pass < 10; pass++) {
        ossc_list_result *r = NULL;
        ossc_error e;
        double t = now();
        for (int i = 0; i < pages; i++) {
            if (ossc_xml_parse_list(page, len, &r, &e) != 0) {
                fprintf(stderr, "parse failed: %s\n", e.message);
                return 1;
            }
        }
        t = now() - t;
        keys = r->count;
        ossc_list_result_free(r);
        if (t < best)
            best = t;
    }
    printf("%zu-byte page, %zu keys in %d pages: %.1f us/page, %.0f keys/s\n", len,
           keys / (size_t)pages, pages, best * 1e6 / pages, (double)keys / best);
    free(page);
    return 0;
}
