/* nodecache.h - the node cache: one shared-memory cache of a model's large
 * files per MODEL_DIR and node, the MODEL_DIR mirror and the settings.
 *
 * Callable without the interposer: the libc functions it needs are given
 * to it (ossc_nodecache_use_libc; the interposer passes its real symbols,
 * a test passes libc's), and it calls the engine, never a hook. */
#ifndef OSSC_NODECACHE_H
#define OSSC_NODECACHE_H

#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "ossc.h"
#include "bc_settings.h"

/* ------------------------------------------------------------ libc */

/* The libc functions the node cache calls that the interposer hooks: under
 * LD_PRELOAD a plain call would come back into the hooks.  Every member is
 * required; set once, before the first attach. */
struct ossc_libc {
    int (*open)(const char *, int, ...);
    int (*openat)(int, const char *, int, ...);
    ssize_t (*read)(int, void *, size_t);
    int (*close)(int);
    int (*dup2)(int, int);
    int (*fcntl)(int, int, ...);
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    int (*munmap)(void *, size_t);
};
extern struct ossc_libc ossc_libc;
void ossc_nodecache_use_libc(const struct ossc_libc *libc);

/* Thread-local re-entry guard: set while our own code runs libc calls that
 * might come back into the hooks (e.g. libcurl opening its CA bundle). */
extern _Thread_local int ossc_in_hook;

/* ------------------------------------------------------------ settings */

typedef struct ossc_preload_settings {
    char endpoint[512];
    char region[64];
    char oss_path[2048];       /* oss://bucket/prefix/ */
    char bucket[64];
    char prefix[1024];         /* with trailing '/' or "" */
    char model_dir[4096];      /* absolute, no trailing '/' */
    char cache_root[4096];     /* where shared cache directories live */
    char config_path[4096];
    uint64_t small_file_size;  /* files below this are downloaded to MODEL_DIR */
    uint64_t memory_limit;     /* bytes of prefetched data kept at most */
    uint64_t prefetch_window;  /* bytes of prefetch requests in flight at most */
    int release_delay_s;       /* cache kept this long after last close/unmap */
    bool enable;               /* ENABLE_CONNECTOR=1 */
    bool lazy;                 /* prefetch only files that were opened (OSSC_LAZY=1) */
    bool hugepages;            /* ask for huge pages as chunks land (OSSC_CACHE_HUGEPAGES) */
    ossc_bc_settings bc;       /* model broadcasting (OSSC_BROADCAST_*; holds the secret) */
    char bad_env[64];          /* after an invalid setting: the variable at fault */
    /* In-process directories (inproc.c) only; empty under LD_PRELOAD. */
    bool in_process;           /* errors go back to the caller, not to stderr */
    char cred_path[4096];      /* credentials of the cache's client */
    ossc_cred_callback cred_callback;
    void *cred_userdata;
} ossc_preload_settings;

/* Reads the documented environment (and our additions).  Returns 0 when
 * the interposer should run, 1 when it is not configured (inert), -1 on
 * invalid settings (err names the variable at fault). */
int ossc_settings_load(ossc_preload_settings *s, ossc_error *err);
/* The environment knobs shared by both modes (cache root, small-file size,
 * memory limit, release delay, lazy); -1 with a message naming the bad
 * variable. */
int ossc_settings_tunables(ossc_preload_settings *s, ossc_error *err);

/* ------------------------------------------------------------ cache */

/* The shared, node-wide cache of MODEL_DIR's large files (cache.c). */
int ossc_cache_attach(const ossc_preload_settings *s);
/* Leaves the cache: stops the prefetcher if we lead, unregisters this
 * process, and the last one out removes the cache and the placeholders.
 * The caller first drops the users its fds and mappings count. */
void ossc_cache_detach(void);

/* Index of the large file at this absolute path (inside MODEL_DIR), or -1. */
int ossc_cache_lookup_path(const char *abs_path);
/* The file whose placeholder st describes (a regular file of its device,
 * inode and modification time as made: an inode number reused by another
 * file does not match), or -1: a placeholder reached by another name (a
 * symlink or hard link to it, a bind mount, /proc/self/cwd/...), which the
 * path lookup misses. */
int ossc_cache_lookup_inode(const struct stat *st);
/* The file whose cache data file is the inode (dev, ino), or -1: an fd of
 * ours inherited across exec (a shell's "cmd < MODEL_DIR/x"). */
int ossc_cache_lookup_data(uint64_t dev, uint64_t ino);
/* Path of file i's placeholder in MODEL_DIR. */
int ossc_cache_placeholder(int file, char *out, size_t cap);
/* Size of large file i. */
uint64_t ossc_cache_file_size(int file);
/* Opens the cache data file of file i read-only (real kernel fd), counts a
 * user and asks for its data first.  -1 with errno on failure. */
int ossc_cache_open(int file, int flags);
/* Before serving any byte of file i: blocks until the whole file is in
 * the cache (fetching what nobody else fetches) and VERIFIED (its chunks'
 * CRC-64, combined, equals the object's; refetched once on a mismatch).
 * [off, off+len) is the range the caller needs.  0, or -1 with errno (EIO
 * for a file whose bytes failed the check twice, ENOENT, EACCES ...). */
int ossc_cache_wait(int file, uint64_t off, uint64_t len);
/* Blocks until [off, off+len) of file i has landed, unverified: for
 * progress in steps (inproc.c); serve nothing before ossc_cache_wait. */
int ossc_cache_fetch(int file, uint64_t off, uint64_t len);
void ossc_cache_user_add(int file);
void ossc_cache_user_drop(int file);
void ossc_cache_demand(int file);
/* After fork, in the child: forget engine threads and locks. */
void ossc_cache_after_fork_child(void);
/* Around an exec (prefetch.c): the leader lets its transfers in flight
 * land before its image goes (true: it stopped its prefetcher), and starts
 * it again when the exec failed.  Anyone else passes through at once. */
bool ossc_cache_before_exec(void);
void ossc_cache_after_failed_exec(void);

/* For in-process directories (inproc.c), which attach, detach and attach
 * again within one process. */
const ossc_error *ossc_cache_attach_error(void); /* why the last attach failed */
void ossc_cache_reset(void);       /* after detach: unmap, close, free the client */
uint32_t ossc_cache_nfiles(void);
const char *ossc_cache_file_key(int file);
const char *ossc_cache_file_rel(int file);
int ossc_cache_data_path(int file, char *out, size_t cap);

/* ------------------------------------------------------------ detached */

/* Runs body(arg) in a detached process of its own (double fork, new
 * session, "/" as cwd, default signals, only the descriptors in keep --
 * sorted, all > 2 -- stay open, 0-2 are /dev/null) and returns 0 in the
 * caller once it started, -1 when it could not fork. */
int ossc_spawn_detached(void (*body)(void *), void *arg, const int *keep, int nkeep);
/* Set in the forking thread while ossc_spawn_detached forks: fork handlers
 * return at once in those children (they are not application processes). */
extern _Thread_local int ossc_forking_detached;

/* ------------------------------------------------------------ model dir */

/* Lists OSS_PATH, mirrors it into MODEL_DIR (small files downloaded,
 * large files as placeholders of their size) and returns the large files
 * (sorted by key) for the cache.  Never deletes a file it did not create
 * (a manifest, written before anything is created, remembers those);
 * refuses when MODEL_DIR holds others, is not a directory owned by our
 * euid and closed to group/others, or its manifest names a path outside
 * it.  Never follows a symlink below MODEL_DIR.  On failure, removes what
 * it created (no placeholder is left to read as zeros). */
typedef struct ossc_large_file {
    char *key;       /* object key */
    char *rel;       /* path relative to MODEL_DIR */
    uint64_t size;
    uint64_t ph_ino;     /* the placeholder as made (inode, mtime in ns): */
    int64_t ph_mtime_ns; /* only that file is removed later; ino 0 = unknown */
} ossc_large_file;
int ossc_modeldir_prepare(ossc_client *c, const ossc_preload_settings *s,
                          ossc_large_file **files, size_t *nfiles, ossc_error *err);
void ossc_large_files_free(ossc_large_file *files, size_t n);

/* After the preparation, for the last process out, the watcher and an
 * attach that failed: removes the large files' placeholders rels[0..n)
 * (regular files, or the links symlinks mode put there) beneath MODEL_DIR's
 * descriptor, following no symlink anywhere: an entry behind a link planted
 * later is left alone, never the file the link reaches; a regular file that
 * is no longer the placeholder made there is left too (a warning names it).  Best effort;
 * nothing when MODEL_DIR is no longer a directory of our euid. */
typedef struct ossc_placeholder {
    const char *rel;
    uint64_t ino;     /* as made (ossc_large_file's ph_*); 0: remove whatever */
    int64_t mtime_ns; /* regular file is there */
} ossc_placeholder;
void ossc_modeldir_remove_placeholders(const char *model_dir, const ossc_placeholder *ph,
                                       size_t n);
/* Symlinks mode: replaces the placeholder rel by a symlink to target
 * (atomically, by rename), beneath MODEL_DIR's descriptor, following no
 * symlink.  0 (also when another process linked it already), or -1 with
 * err naming the file (ELOOP/ENOTDIR for a symlink on the way). */
int ossc_modeldir_link_placeholder(const char *model_dir, const char *rel, const char *target,
                                   ossc_error *err);

/* snprintf for paths: 0, or -1 with errno ENAMETOOLONG when it does not
 * fit (callers never act on a truncated path). */
int ossc_pathf(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
