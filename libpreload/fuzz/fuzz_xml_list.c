/* fuzz_xml_list.c - the streaming ListObjects / ListObjectsV2 parser
 * (ossc_xml_parse_list_early, xml_list.c) on arbitrary reply bodies.
 *
 * Besides ASan/UBSan's checks, it aborts when a documented contract is
 * broken: every string of a parsed page is readable and NUL-terminated,
 * the early continuation token is reported at most once and equals the
 * final next_token, a failed page leaves the entries of earlier pages
 * as they were, and the columns view holds exactly the keys. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz_common.h"
#include "xml.h"

/* One entry that is already in the result before the fuzzed page. */
static const char first_page[] =
    "<ListBucketResult><IsTruncated>true</IsTruncated>"
    "<NextContinuationToken>t1</NextContinuationToken>"
    "<Contents><Key>a/first</Key><Size>1</Size></Contents></ListBucketResult>";

typedef struct early_seen {
    int calls;
    char *token;
} early_seen;

static void on_next(const char *token, void *arg)
{
    early_seen *seen = arg;

    seen->calls++;
    if (seen->calls > 1)
        abort(); /* contract: at most once per page */
    seen->token = strdup(token);
    if (!seen->token)
        abort();
}

/* Walks every string of r, so ASan sees any that is dangling or unterminated. */
static size_t check_result(const ossc_list_result *r)
{
    size_t total = 0;

    for (size_t i = 0; i < r->count; i++) {
        if (!r->objects[i].key || !r->objects[i].etag)
            abort();
        total += strlen(r->objects[i].key) + 1;
        (void)strlen(r->objects[i].etag);
    }
    for (size_t i = 0; i < r->prefix_count; i++) {
        if (!r->prefixes[i])
            abort();
        (void)strlen(r->prefixes[i]);
    }
    if (!r->next_token)
        abort();
    (void)strlen(r->next_token);
    return total;
}

static void check_columns(const ossc_list_result *r, size_t keys_bytes)
{
    ossc_list_columns cols;
    ossc_error err;

    ossc_error_clear(&err);
    if (ossc_list_result_columns(r, &cols, &err) != 0)
        return; /* ENOMEM only */
    if (cols.count != r->count || cols.keys_len != keys_bytes)
        abort();
    if (r->count && memcmp(cols.keys, r->objects[0].key, strlen(r->objects[0].key) + 1) != 0)
        abort();
    ossc_list_columns_free(&cols);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ossc_list_result *r = NULL;
    early_seen seen = {0, NULL};
    ossc_error err;
    size_t before;

    ossc_error_clear(&err);
    if (ossc_xml_parse_list(first_page, sizeof first_page - 1, &r, &err) != 0 || r->count != 1)
        abort();
    before = r->count;

    if (ossc_xml_parse_list_early((const char *)data, size, &r, on_next, &seen, &err) == 0) {
        size_t keys_bytes = check_result(r);
        if (seen.token && strcmp(seen.token, r->next_token) != 0)
            abort(); /* contract: the early token is the page's next_token */
        check_columns(r, keys_bytes);
    } else {
        if (r->count != before || strcmp(r->objects[0].key, "a/first") != 0)
            abort(); /* contract: a failed page keeps the earlier entries */
        if (!err.message[0])
            abort(); /* a failure always says why */
        check_result(r);
    }
    free(seen.token);
    ossc_list_result_free(r);
    return 0;
}
