/* fuzz_xml_error.c - the OSS error document parser (ossc_xml_parse_error,
 * xml.c) on arbitrary reply bodies.  Aborts when a parsed error leaves a
 * field unterminated or changes err->code, which the contract leaves alone;
 * and the upload id parser (ossc_xml_parse_upload_id) on the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz_common.h"
#include "xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ossc_error err;
    char upload_id[128];

    ossc_error_clear(&err);
    err.code = 4242;
    if (ossc_xml_parse_error((const char *)data, size, &err) == 0) {
        if (err.code != 4242)
            abort();
        if (!memchr(err.oss_code, '\0', sizeof err.oss_code) ||
            !memchr(err.request_id, '\0', sizeof err.request_id) ||
            !memchr(err.message, '\0', sizeof err.message))
            abort();
    }
    ossc_error_clear(&err);
    if (ossc_xml_parse_upload_id((const char *)data, size, upload_id, sizeof upload_id, &err) == 0 &&
        !memchr(upload_id, '\0', sizeof upload_id))
        abort();
    return 0;
}
