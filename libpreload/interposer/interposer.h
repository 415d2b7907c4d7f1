/* interposer.h - the LD_PRELOAD interposer: shared declarations.
 *
 * Layers (torsocks-style): hook_*.c are thin forwarders for each family of
 * libc calls; they ask "is this ours?" and either call the real libc
 * function or the node cache (nodecache.h: the shared cache of the model's
 * large files and the MODEL_DIR mirror); fdtable.c knows which of this
 * process's fds and mappings are ours. */
#ifndef OSSC_INTERPOSER_H
#define OSSC_INTERPOSER_H

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "nodecache.h"
#include "ossc.h"

#define OSSC_EXPORT __attribute__((visibility("default")))

/* Declares mode_t `mode`: the open family's optional third argument, read
 * from the variadic list only when flags say it was passed (O_CREAT,
 * O_TMPFILE), else 0.  For functions whose last named parameter is `flags`. */
#define OSSC_MODE_ARG(flags, mode)                                                         \
    mode_t mode = 0;                                                                       \
    if ((flags) & (O_CREAT | O_TMPFILE)) {                                                 \
        va_list ap;                                                                        \
        va_start(ap, flags);                                                               \
        mode = (mode_t)va_arg(ap, int);                                                    \
        va_end(ap);                                                                        \
    }

/* ------------------------------------------------------------ real libc */

/* Pointers to the next definition of every hooked symbol, resolved once
 * with dlsym(RTLD_NEXT) before any hook can run.  A missing required
 * symbol aborts with a clear message; one resolving to ourselves too. */
struct ossc_real {
    int (*open)(const char *, int, ...);
    int (*open64)(const char *, int, ...);
    int (*openat)(int, const char *, int, ...);
    int (*openat64)(int, const char *, int, ...);
    int (*open_2)(const char *, int);
    int (*open64_2)(const char *, int);
    int (*openat_2)(int, const char *, int);
    int (*openat64_2)(int, const char *, int);
    FILE *(*fopen)(const char *, const char *);
    FILE *(*fopen64)(const char *, const char *);
    FILE *(*freopen)(const char *, const char *, FILE *);
    FILE *(*freopen64)(const char *, const char *, FILE *);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*pread)(int, void *, size_t, off_t);
    ssize_t (*pread64)(int, void *, size_t, off_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*preadv)(int, const struct iovec *, int, off_t);
    ssize_t (*preadv64)(int, const struct iovec *, int, off_t);
    ssize_t (*read_chk)(int, void *, size_t, size_t);
    ssize_t (*pread64_chk)(int, void *, size_t, off_t, size_t);
    ssize_t (*pread_chk)(int, void *, size_t, off_t, size_t);
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    void *(*mmap64)(void *, size_t, int, int, int, off_t);
    int (*munmap)(void *, size_t);
    int (*close)(int);
    int (*close_range)(unsigned int, unsigned int, int);
    void (*closefrom)(int);
    int (*fclose)(FILE *);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*fcntl64)(int, int, ...);
    int (*posix_fadvise)(int, off_t, off_t, int);
    int (*posix_fadvise64)(int, off_t, off_t, int);
    ssize_t (*sendfile)(int, int, off_t *, size_t);
    ssize_t (*sendfile64)(int, int, off_t *, size_t);
    ssize_t (*copy_file_range)(int, off_t *, int, off_t *, size_t, unsigned int);
    int (*fstat)(int, struct stat *);
    int (*fstat64)(int, struct stat64 *);
    int (*fxstat)(int, int, struct stat *);
    int (*fxstat64)(int, int, struct stat64 *);
    int (*fstatat)(int, const char *, struct stat *, int);
    int (*fstatat64)(int, const char *, struct stat64 *, int);
    int (*statx)(int, const char *, int, unsigned int, struct statx *);
    off_t (*lseek)(int, off_t, int);
    off_t (*lseek64)(int, off_t, int);
    int (*execve)(const char *, char *const[], char *const[]);
    int (*execv)(const char *, char *const[]);
    int (*execvp)(const char *, char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
    int (*fexecve)(int, char *const[], char *const[]);
    int (*execveat)(int, const char *, char *const[], char *const[], int);
};
extern struct ossc_real ossc_real;
void ossc_real_resolve(void);
/* libc's fstat (or __fxstat where this libc has no fstat symbol). */
int ossc_real_fstat(int fd, struct stat *st);

/* True once the library is active in this process: loaded by LD_PRELOAD,
 * configured, and the cache attached.  Hooks are pure pass-through
 * otherwise (including when the library is merely dlopen'ed by Python). */
extern atomic_bool ossc_preload_active;


/* ------------------------------------------------------------ fd table */

/* Which fds of this process are ours (fd -> file index).  Only fds below
 * OSSC_FD_SLOTS can be: an fd of ours that would land above it is refused
 * with EMFILE (a read of an untracked fd would not wait for its bytes). */
#define OSSC_FD_SLOTS 65536
void ossc_fd_set(int fd, int file);
int ossc_fd_get(int fd); /* file index or -1 */
int ossc_fd_take(int fd); /* removes, returns file index or -1 */
/* fds first..last (last < 0: to the end) stop being ours, each dropped as
 * a user of its file: they are about to be closed (close_range, closefrom). */
void ossc_fd_take_range(int first, int last);
/* The process that owns the table: set by ossc_fd_owner_reset when the
 * interposer (LD_PRELOAD or in-process hooks) starts, and in every fork's
 * child from then on (an atfork handler).  False in a vfork child, whose
 * changes to the table are ignored; false before any reset (no fd is
 * ours then). */
void ossc_fd_owner_reset(void);
bool ossc_fd_owner(void);
/* A read-only open (or fopen) that libc made on a path the lookup missed
 * but that reached one of our placeholders by another name (a symlink,
 * hard link, bind mount, /proc/self/cwd/...): the fd (stream) is swapped
 * for one of ours, or the open fails with that errno; anything else is
 * returned as it is.  Cost: one fstat (hook_open.c).  Used by the
 * LD_PRELOAD hooks and by the in-process forwarders. */
int ossc_other_name_open(int fd, int flags);
FILE *ossc_other_name_fopen(FILE *fp, const char *mode);
/* The same for a stream libc's freopen (real) just reopened: the cache
 * file is swapped in under the stream's own fd number; if that fails the
 * freopen fails as libc's would (NULL, the stream closed). */
FILE *ossc_other_name_freopen(FILE *(*real)(const char *, const char *, FILE *), FILE *fp,
                              const char *mode);
/* Mappings of our files (for munmap). */
void ossc_map_add(void *addr, size_t len, int file);
/* munmap of [addr, addr+len): records ending there stop counting as users
 * of their files; records unmapped in part keep the rest (fdtable.c). */
void ossc_map_unmapped(void *addr, size_t len);
/* Tells the kernel, just before a mapping of ours goes (munmap, exit),
 * not to carry its accessed bits over to the pages (MADV_SEQUENTIAL): the
 * page-table teardown then skips moving each 4 KiB page unmapped for the
 * first time to the active LRU list, which made unmapping a freshly landed
 * model 2.2x slower than unmapping pages used before (0.16 s of a 4 GiB
 * model's exit on the 2-core VM).  While mapped, nothing changes: only the
 * teardown's recency update is skipped. */
void ossc_map_unmap_advise(void *addr, size_t len);
/* ossc_map_unmap_advise on the parts of [addr, addr+len) that are recorded
 * mappings of ours (a munmap about to run): other mappings in the range
 * are left alone, so a munmap that then fails leaves them as they were;
 * nothing for an address that is not page-aligned (munmap fails on it). */
void ossc_map_advise_unmapping(void *addr, size_t len);
/* ossc_map_unmap_advise on every recorded mapping: at process exit, whose
 * teardown unmaps them all. */
void ossc_map_advise_all_for_exit(void);
/* Counts every fd and mapping of ours once more (after fork). */
void ossc_fd_recount_after_fork(void);
/* The fds this image was started with that are open on our cache files (a
 * shell's "exec cmd < MODEL_DIR/x": the fd crossed the exec, the table did
 * not).  ossc_fd_note_inherited lists the regular files open at start,
 * before the cache is attached (whose own files -- the lock, the state, the
 * data files its I/O threads write -- must never be taken for the
 * application's); ossc_fd_adopt_inherited, after attach and
 * ossc_fd_owner_reset, records those that are cache data files, each
 * counted as a user, and waits for each such file whole (the image may
 * read it through stdio, which no hook sees, as for fopen). */
void ossc_fd_note_inherited(void);
void ossc_fd_adopt_inherited(void);
/* Drops every fd and mapping (at exit). */
void ossc_fd_release_all(void);

/* Absolute, normalised form of path (relative to dirfd when not absolute);
 * no symlink resolution beyond what realpath of MODEL_DIR already did.
 * Returns 0 or -1 when it does not fit. */
int ossc_abs_path(int dirfd, const char *path, char *out, size_t cap);

#endif
