/* fuzz_cred.c - the credentials JSON reader (ossc_cred_init_file, cred.c)
 * on arbitrary file contents, fed through a memfd, and the ISO 8601 time
 * parser (ossc_parse_iso8601) on the same bytes as a string.  Aborts when
 * accepted credentials are empty or unterminated, or when a failure does
 * not name the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cred.h"
#include "error.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ossc_cred_source src;
    ossc_credentials creds;
    char path[64];
    ossc_error err;
    char *s;

    fuzz_memfd_fill(data, size, path, sizeof path);
    ossc_error_clear(&err);
    if (ossc_cred_init_file(&src, path, &err) == 0) {
        if (ossc_cred_get(&src, &creds, &err) != 0)
            abort(); /* the file has not changed: the cached copy serves */
        if (!creds.access_key_id[0] || !creds.access_key_secret[0] ||
            !memchr(creds.access_key_id, '\0', sizeof creds.access_key_id) ||
            !memchr(creds.access_key_secret, '\0', sizeof creds.access_key_secret) ||
            !memchr(creds.security_token, '\0', sizeof creds.security_token) ||
            creds.expiration < 0)
            abort();
        ossc_cred_destroy(&src);
    } else if (!strstr(err.message, path)) {
        abort(); /* errors name the file */
    }

    s = fuzz_cstring(data, size);
    if (s) {
        (void)ossc_parse_iso8601(s); /* any value; the sanitizers judge */
        free(s);
    }
    return 0;
}
