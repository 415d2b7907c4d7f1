/* error.c - filling ossc_error and mapping OSS error codes to errno.
 *
 * Mapping choices worth knowing (callers and the Python layer rely on them):
 *  - InvalidRange / HTTP 416 -> ERANGE, not EINVAL, so a reader can tell
 *    "offset past the end of the object" apart from a malformed request.
 *  - SlowDown, ServiceUnavailable, InternalError, 429 and 5xx -> EIO.  The
 *    HTTP layer retries these by status before an errno is ever chosen; what
 *    reaches the caller is a final failure, and EAGAIN would make read()
 *    callers spin (Python turns it into BlockingIOError).
 *  - PreconditionFailed / HTTP 412 -> ESTALE: the object changed under an
 *    If-Match read, the NFS meaning of "stale handle".
 *  - RequestTimeout / HTTP 408 -> ETIMEDOUT.
 *  - Anything unknown (including 3xx redirects and no status at all) -> EIO.
 */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Formats into a local buffer first, then copies: callers may pass
 * err->message itself as an argument (to prefix context), and vsnprintf
 * into an overlapping buffer is undefined. */
int ossc_error_set(ossc_error *err, int code, const char *fmt, ...)
{
    char buf[OSSC_ERR_MSG_MAX];
    va_list ap;

    if (!err)
        return -1;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    err->code = code;
    snprintf(err->message, sizeof err->message, "%s", buf);
    return -1;
}

/* Zeroes every field so a reused ossc_error carries nothing stale. */
void ossc_error_clear(ossc_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

struct code_errno {
    const char *code;
    int err;
};

/* OSS (and S3-compatible) error codes with a more precise meaning than
 * their HTTP status. */
static const struct code_errno code_table[] = {
    {"NoSuchKey", ENOENT},
    {"NoSuchUpload", ENOENT},
    {"NoSuchBucket", ENOENT},
    {"AccessDenied", EACCES},
    {"SignatureDoesNotMatch", EACCES},
    {"InvalidAccessKeyId", EACCES},
    {"SecurityTokenExpired", EACCES},
    {"InvalidSecurityToken", EACCES},
    {"RequestTimeTooSkewed", EACCES},
    {"InvalidArgument", EINVAL},
    {"InvalidObjectName", EINVAL},
    {"InvalidBucketName", EINVAL},
    {"KeyTooLong", EINVAL},
    {"EntityTooLarge", EINVAL},
    {"EntityTooSmall", EINVAL},
    {"InvalidPart", EINVAL},
    {"InvalidPartOrder", EINVAL},
    {"MalformedXML", EINVAL},
    {"InvalidRange", ERANGE},
    {"BucketAlreadyExists", EEXIST},
    {"FileAlreadyExists", EEXIST},
    {"BucketNotEmpty", ENOTEMPTY},
    {"PreconditionFailed", ESTALE},
    {"NotImplemented", ENOTSUP},
    {"SlowDown", EIO},
    {"ServiceUnavailable", EIO},
    {"InternalError", EIO},
    {"RequestTimeout", ETIMEDOUT},
};

/* The server's code wins when we know it; the status decides otherwise. */
int ossc_errno_for_oss(const char *oss_code, int http_status)
{
    if (oss_code && oss_code[0]) {
        for (size_t i = 0; i < sizeof code_table / sizeof code_table[0]; i++)
            if (strcmp(oss_code, code_table[i].code) == 0)
                return code_table[i].err;
    }
    switch (http_status) {
    case 400:
        return EINVAL;
    case 401:
    case 403:
        return EACCES;
    case 404:
        return ENOENT;
    case 405:
    case 501:
        return ENOTSUP;
    case 408:
        return ETIMEDOUT;
    case 409:
        return EEXIST;
    case 412:
        return ESTALE;
    case 416:
        return ERANGE;
    default:
        return EIO;
    }
}
