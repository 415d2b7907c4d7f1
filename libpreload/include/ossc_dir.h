/*
 * ossc_dir.h - a model directory prepared inside one process, without
 * LD_PRELOAD (the Python model connector's prepare_directory).
 *
 * The directory looks exactly like LD_PRELOAD mode's MODEL_DIR: small
 * files downloaded, large files served from the node-wide shared cache
 * (docs/ld_preload.md).  Two ways to make the large files readable:
 *
 *  OSSC_DIR_SYMLINKS  every large file is fetched into the cache (at full
 *                     concurrency, ossc_dir_wait), then its placeholder is
 *                     replaced by a symlink to the cache file.  Any reader
 *                     (Rust, C, Python, child processes) then reads the
 *                     right bytes with no hook at all.  Files stay pinned
 *                     in memory until ossc_dir_close.
 *  OSSC_DIR_HOOKS     placeholders stay; the open/read/mmap/stat family is
 *                     redirected in this process by rewriting the GOT
 *                     entries of every loaded library (and of libraries
 *                     loaded later).  Loading starts at once and overlaps
 *                     the download; each read waits for the bytes it
 *                     covers, as under LD_PRELOAD.  Optionally lazy: a file
 *                     is fetched only when opened, and released after the
 *                     release delay without users.
 *
 * One prepared directory per process at a time.  Functions are
 * thread-safe; errors follow ossc.h's conventions.
 */
#ifndef OSSC_DIR_H
#define OSSC_DIR_H

#include "ossc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ossc_dir_mode {
    OSSC_DIR_SYMLINKS = 0,
    OSSC_DIR_HOOKS = 1,
} ossc_dir_mode;

typedef struct ossc_dir_options {
    const char *uri;          /* oss://bucket/prefix/ */
    const char *dir;          /* the local directory (created when missing) */
    ossc_dir_mode mode;
    int lazy;                 /* 1: fetch files only when opened (hooks mode);
                                 0: prefetch everything; -1: $OSSC_LAZY */
    int64_t small_file_size;  /* < 0: $OSSC_SMALL_FILE_SIZE or 4 MiB */
    int64_t memory_limit;     /* < 0: $OSSC_MEMORY_LIMIT or half of RAM */
    int release_delay_s;      /* < 0: $OSSC_RELEASE_DELAY or 120 */
    const char *cache_root;   /* NULL or "": $OSSC_CACHE_DIR or /dev/shm */
    int pushed_credentials;   /* the cache's engine takes its credentials from
                                 ossc_dir_set_credentials (never calls back) */
} ossc_dir_options;

/* Mirrors uri into dir (refusing a dir holding files the connector did not
 * create; nothing is deleted then) and attaches the shared cache.  In hooks
 * mode the hooks are live when it returns; in symlinks mode call
 * ossc_dir_wait until it returns 1.  On failure nothing stays installed. */
OSSC_API int ossc_dir_prepare(const ossc_client_options *client, const ossc_dir_options *opts,
                              ossc_error *err);

/* Symlinks mode: fetches for at most timeout_ms, then reports progress in
 * *done / *total (bytes of large files).  Returns 1 when every large file
 * is in the cache and linked, 0 when there is more to do, -1 on failure
 * (err names the file and the OSS error).  Hooks mode: returns 1. */
OSSC_API int ossc_dir_wait(int timeout_ms, uint64_t *done, uint64_t *total, ossc_error *err);

/* Credentials for an engine created with pushed_credentials. */
OSSC_API int ossc_dir_set_credentials(const ossc_credentials *creds);

/* Removes every hook (restoring each GOT entry), completes the files the
 * application still has open, unpins, detaches from the cache (the last
 * process removes it and the large files' entries in dir; small files and
 * the manifest stay).  No-op when nothing is prepared. */
OSSC_API int ossc_dir_close(ossc_error *err);

/* GOT entries currently redirected (0 when no hooks are installed). */
OSSC_API int ossc_dir_hooked_slots(void);

#ifdef __cplusplus
}
#endif
#endif
