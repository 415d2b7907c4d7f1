/* real.c - the libc functions behind every hook, resolved once. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interposer.h"

struct ossc_real ossc_real;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static void die(const char *what, const char *name)
{
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "libossc_preload: %s: %s\n", what, name);
    if (n > 0)
        (void)!write(2, msg, (size_t)n);
    abort();
}

/* dlsym(RTLD_NEXT) for one symbol; `required` ones must exist, and none may
 * resolve to this library itself (that would recurse forever). */
static void *next_symbol(const char *name, void *self, int required)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p && required)
        die("required libc symbol not found", name);
    if (p && p == self)
        die("symbol resolves to the interposer itself", name);
    return p;
}

#define RESOLVE(field, sym, required)                                                      \
    ossc_real.field = (__typeof__(ossc_real.field))next_symbol(sym, NULL, required)

static void resolve_all(void)
{
    RESOLVE(open, "open", 1);
    RESOLVE(open64, "open64", 1);
    RESOLVE(openat, "openat", 1);
    RESOLVE(openat64, "openat64", 1);
    RESOLVE(open_2, "__open_2", 0);
    RESOLVE(open64_2, "__open64_2", 0);
    RESOLVE(openat_2, "__openat_2", 0);
    RESOLVE(openat64_2, "__openat64_2", 0);
    RESOLVE(fopen, "fopen", 1);
    RESOLVE(fopen64, "fopen64", 1);
    RESOLVE(freopen, "freopen", 1);
    RESOLVE(freopen64, "freopen64", 1);
    RESOLVE(read, "read", 1);
    RESOLVE(pread, "pread", 1);
    RESOLVE(pread64, "pread64", 1);
    RESOLVE(readv, "readv", 1);
    RESOLVE(preadv, "preadv", 1);
    RESOLVE(preadv64, "preadv64", 1);
    RESOLVE(read_chk, "__read_chk", 0);
    RESOLVE(pread64_chk, "__pread64_chk", 0);
    RESOLVE(pread_chk, "__pread_chk", 0);
    RESOLVE(mmap, "mmap", 1);
    RESOLVE(mmap64, "mmap64", 1);
    RESOLVE(munmap, "munmap", 1);
    RESOLVE(close, "close", 1);
    RESOLVE(close_range, "close_range", 0); /* glibc >= 2.34 */
    RESOLVE(closefrom, "closefrom", 0);     /* glibc >= 2.34 */
    RESOLVE(fclose, "fclose", 1);
    RESOLVE(dup, "dup", 1);
    RESOLVE(dup2, "dup2", 1);
    RESOLVE(dup3, "dup3", 1);
    RESOLVE(fcntl, "fcntl", 1);
    RESOLVE(fcntl64, "fcntl64", 0);
    RESOLVE(posix_fadvise, "posix_fadvise", 1);
    RESOLVE(posix_fadvise64, "posix_fadvise64", 1);
    RESOLVE(sendfile, "sendfile", 1);
    RESOLVE(sendfile64, "sendfile64", 1);
    RESOLVE(copy_file_range, "copy_file_range", 0);
    RESOLVE(fstat, "fstat", 0);
    RESOLVE(fstat64, "fstat64", 0);
    RESOLVE(fxstat, "__fxstat", 0);
    RESOLVE(fxstat64, "__fxstat64", 0);
    RESOLVE(fstatat, "fstatat", 0);
    RESOLVE(fstatat64, "fstatat64", 0);
    RESOLVE(statx, "statx", 0);
    RESOLVE(lseek, "lseek", 1);
    RESOLVE(lseek64, "lseek64", 1);
    RESOLVE(execve, "execve", 1);
    RESOLVE(execv, "execv", 1);
    RESOLVE(execvp, "execvp", 1);
    RESOLVE(execvpe, "execvpe", 1);
    RESOLVE(fexecve, "fexecve", 1);
    RESOLVE(execveat, "execveat", 0); /* glibc >= 2.34 */
    /* The node cache calls libc through these, never through our hooks. */
    ossc_nodecache_use_libc(&(struct ossc_libc){
        .open = ossc_real.open,
        .openat = ossc_real.openat,
        .read = ossc_real.read,
        .close = ossc_real.close,
        .dup2 = ossc_real.dup2,
        .fcntl = ossc_real.fcntl,
        .mmap = ossc_real.mmap,
        .munmap = ossc_real.munmap,
    });
}

int ossc_real_fstat(int fd, struct stat *st)
{
    return ossc_real.fstat ? ossc_real.fstat(fd, st) : ossc_real.fxstat(1, fd, st);
}

void ossc_real_resolve(void)
{
    pthread_once(&resolve_once, resolve_all);
}
