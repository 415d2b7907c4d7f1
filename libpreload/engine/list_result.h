/* list_result.h - appending strings that already live in a list result's
 * arena, for the list page parser (xml_list*.c).  The public side of the
 * container (new, push with copy, take, free) is declared in xml.h and
 * ossc.h; it lives in list_result.c. */
#ifndef OSSC_LIST_RESULT_H
#define OSSC_LIST_RESULT_H

#include <stdint.h>

#include "ossc.h"

/* Appends an entry whose key and etag are already in r's arena (no copy):
 * amortised O(1), the entry array doubles when full.  -1 on ENOMEM, r
 * unchanged. */
int ossc_list_result_push_owned(ossc_list_result *r, const char *key, uint64_t size,
                                int64_t mtime, const char *etag);

/* Appends a common prefix already in r's arena (no copy), as above. */
int ossc_list_result_push_prefix(ossc_list_result *r, const char *prefix);

#endif
