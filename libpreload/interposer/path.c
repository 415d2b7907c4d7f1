/* path.c - turning the path an application passes into an absolute one,
 * to decide whether it names a file in MODEL_DIR. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "interposer.h"

/* Collapses "//", "/./" and "/x/../" in place (lexically; MODEL_DIR's own
 * symlinks are handled by also matching its realpath). */
static void normalise(char *p)
{
    char *out = p;
    const char *in = p;
    while (*in) {
        if (in[0] == '/' && in[1] == '/') {
            in++;
            continue;
        }
        if (in[0] == '/' && in[1] == '.' && (in[2] == '/' || !in[2])) {
            in += 2;
            continue;
        }
        if (in[0] == '/' && in[1] == '.' && in[2] == '.' && (in[3] == '/' || !in[3])) {
            while (out > p && *--out != '/')
                ;
            in += 3;
            continue;
        }
        *out++ = *in++;
    }
    if (out == p)
        *out++ = '/';
    *out = '\0';
}

int ossc_abs_path(int dirfd, const char *path, char *out, size_t cap)
{
    char base[PATH_MAX];
    if (path[0] == '/') {
        if (snprintf(out, cap, "%s", path) >= (int)cap)
            return -1;
        normalise(out);
        return 0;
    }
    if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof(base)))
            return -1;
    } else {
        char link[64];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
        ssize_t n = readlink(link, base, sizeof(base) - 1);
        if (n < 0)
            return -1;
        base[n] = '\0';
    }
    if (snprintf(out, cap, "%s/%s", base, path) >= (int)cap)
        return -1;
    normalise(out);
    return 0;
}
