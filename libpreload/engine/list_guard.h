/* list_guard.h - what every paging loop checks of each list page, so that
 * no server reply (a truncated page without a token, a token that comes
 * back, a page that goes backwards or is longer than asked) can make a
 * listing loop forever, grow without bound or yield an entry twice. */
#ifndef OSSC_LIST_GUARD_H
#define OSSC_LIST_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "ossc.h"

/* Checks one page's names on their own: at most max_keys entries (keys
 * and common prefixes together, as OSS counts them), keys strictly
 * ascending, common prefixes strictly ascending, and every name after
 * `after` (NULL or "" = no lower bound).  0, or -1 with err (EIO) saying
 * which rule broke and naming the entries; the caller adds bucket and
 * prefix. */
int ossc_list_check_page(const ossc_list_result *page, int max_keys, const char *after,
                         ossc_error *err);

/* The state of one sequential listing: the greatest name returned so far
 * and (hashes of) every continuation token sent.  Costs 8 bytes a page. */
typedef struct ossc_list_guard {
    int max_keys;
    char *last;          /* greatest name of the pages so far (malloc'd), or NULL */
    uint64_t *tokens;    /* open-addressing set of token hashes, 0 = empty slot */
    size_t ntokens, cap;
} ossc_list_guard;

void ossc_list_guard_init(ossc_list_guard *g, int max_keys);
void ossc_list_guard_free(ossc_list_guard *g);

/* Checks the page received for the request sent with `token` ("" for the
 * first): ossc_list_check_page after every earlier name, and, when the
 * page is truncated, a next token that is not empty and was never sent
 * before (a server that hands out a token twice would loop).  Records the
 * page's greatest name and its next token.  0, or -1 with err (EIO, or
 * ENOMEM) naming the token; the caller adds bucket and prefix. */
int ossc_list_guard_page(ossc_list_guard *g, const ossc_list_result *page, const char *token,
                         ossc_error *err);

#endif
