/* libc.c - what the node cache is given from outside: the libc functions
 * the interposer hooks (under LD_PRELOAD a plain call would come back into
 * the hooks), the re-entry guard the hooks honour, and a path formatter. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "nodecache.h"

struct ossc_libc ossc_libc;
_Thread_local int ossc_in_hook;

void ossc_nodecache_use_libc(const struct ossc_libc *libc)
{
    ossc_libc = *libc;
}

int ossc_pathf(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}
