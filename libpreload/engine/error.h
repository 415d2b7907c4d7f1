/* error.h - filling ossc_error and mapping OSS error codes to errno. */
#ifndef OSSC_ERROR_H
#define OSSC_ERROR_H

#include "ossc.h"

/* Sets err->code and a printf-style message; no-op when err is NULL.
 * Always returns -1 so callers can `return ossc_error_set(...)`. */
int ossc_error_set(ossc_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets err to "no error". */
void ossc_error_clear(ossc_error *err);

/* errno for an OSS error code (e.g. "NoSuchKey" -> ENOENT) or, when the
 * code is unknown/empty, for the HTTP status (404 -> ENOENT, 403 -> EACCES,
 * 5xx -> EIO, ...). */
int ossc_errno_for_oss(const char *oss_code, int http_status);

#endif
