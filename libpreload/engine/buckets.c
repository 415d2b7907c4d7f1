/* buckets.c - service-level ListBuckets (GET / on the endpoint). */
#include <errno.h>
#include <stdio.h>

#include "client.h"
#include "error.h"
#include "xml.h"

#define LIST_BUCKETS_PAGE "1000"

int ossc_list_buckets(ossc_client *c, char *out, size_t cap, size_t *needed, ossc_error *err)
{
    char marker[128] = "";
    size_t used = 0;
    int truncated;

    ossc_error_clear(err);
    if (cap)
        out[0] = '\0';
    do {
        ossc_req *r = ossc_req_new("GET", "", "");
        if (!r || ossc_req_query(r, "max-keys", LIST_BUCKETS_PAGE) < 0 ||
            (marker[0] && ossc_req_query(r, "marker", marker) < 0)) {
            ossc_req_free(r);
            return ossc_error_set(err, ENOMEM, "out of memory");
        }
        int rc = ossc_http_run(c->list_http, r);
        if (rc == 0)
            rc = ossc_xml_parse_bucket_names(r->resp ? r->resp : "", r->resp_len, out, cap,
                                             &used, &truncated, marker, sizeof marker, err);
        else
            ossc_req_fail(r, err);
        ossc_req_free(r);
        if (rc < 0) {
            if (err)
                ossc_error_set(err, err->code, "list buckets: %s", err->message);
            return -1;
        }
    } while (truncated);
    if (needed)
        *needed = used + 1;
    if (used + 1 > cap)
        return ossc_error_set(err, ERANGE, "list buckets: %zu bytes needed for the names",
                              used + 1);
    return 0;
}
