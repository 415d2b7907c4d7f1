/* cache_internal.h - the node cache's shared-memory layout and what its
 * files (sync, fetch, verify, files, prefetch, owners, layout, attach) share.
 * Not for the interposer: it uses nodecache.h. */
#ifndef OSSC_CACHE_INTERNAL_H
#define OSSC_CACHE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "error.h"
#include "bc_shared.h"
#include "catalog.h"
#include "chunk_source.h"
#include "nodecache.h"

#define STATE_MAGIC 0x3143534fu /* "OSC1" */
#define STATE_VERSION 9
#define MAX_PIDS 512

enum chunk_state { ABSENT = 0, FETCHING = 1, READY = 2, FAILED = 3, RELEASING = 4 };

/* A file's trust: UNVERIFIED until its last chunk lands and the combined
 * CRC matches (VERIFIED); VERIFYING while one process compares; CORRUPT
 * after two mismatches (sticky for the cache's life). */
enum verify_state { UNVERIFIED = 0, VERIFYING = 1, VERIFIED = 2, CORRUPT = 3 };

struct shm_header {
    uint32_t magic;
    uint32_t version;
    atomic_uint ready;
    uint32_t nfiles;
    uint64_t chunk_size;
    uint64_t total_chunks;
    atomic_ullong cached_bytes;
    atomic_uint demand_seq;
    atomic_int leader_pid;
    atomic_uint watch_seq;  /* bumped (futex) when a process detaches: wakes the watcher */
    atomic_int leaving_pid; /* the last process out, exiting: the watcher holds the data
                               files until it is gone, so it frees their pages itself */
    uint32_t pad;
    atomic_int pids[MAX_PIDS];
    atomic_uint toks[MAX_PIDS]; /* the image of that pid now registered (changes at exec) */
    char oss_path[2048];
    char model_dir[4096];
    struct bc_shared bc;    /* model broadcasting (broadcast/bc_shared.h) */
};

struct shm_file {
    char rel[1024];
    char key[1024];
    uint64_t size;
    uint64_t first_chunk;
    uint64_t nchunks;
    atomic_int users;
    atomic_int lock;        /* pid holding it, 0 = free */
    atomic_uint demand;     /* order in which files were asked for, 0 = not yet */
    atomic_uint released;
    atomic_ullong last_release_ms;
    uint64_t object_crc;    /* x-oss-hash-crc64ecma from HEAD, when has_crc */
    uint32_t has_crc;
    atomic_uint verify;     /* enum verify_state (futex word) */
    atomic_int verifier;    /* pid comparing (or releasing), while VERIFYING; 0 = alive */
    atomic_uint mismatches;
    atomic_uint oss_only;   /* bytes from a peer failed the check: from OSS only */
    uint32_t pad;
    uint64_t ph_ino;        /* the placeholder in MODEL_DIR as made (ossc_large_file) */
    int64_t ph_mtime_ns;
    char etag[OSSC_ETAG_MAX]; /* the version (HEAD's ETag, opaque part) every chunk is
                                 fetched from; "" when the store sent none, or one
                                 If-Match cannot carry (then chunks are not pinned) */
};

/* This process's view of the cache (one per process). */
struct cache_process {
    const ossc_chunk_source *source; /* where chunks come from (the engine by default) */
    const ossc_catalog *catalog;     /* what the large files are (the engine by default) */
    ossc_preload_settings s;
    char dir[PATH_MAX];
    char model_dir_real[PATH_MAX];
    uint64_t model_dev;     /* st_dev of MODEL_DIR (its placeholders'), 0 unknown */
    int dirfd;              /* the cache directory, opened O_NOFOLLOW and checked */
    int lockfd;
    struct shm_header *h;
    size_t state_len;
    ino_t state_ino;        /* of the state file this process created (the watcher's) */
    struct shm_file *files;
    atomic_ullong *crc;     /* per chunk: CRC-64 of its bytes, set before READY */
    atomic_uint *state;
    atomic_int *owner;
    atomic_int *errs;
    atomic_uint *owner_tok;
    atomic_uint *origin;    /* per chunk: 0 its bytes came from OSS, 1 from a peer */
    unsigned tok;           /* this process image: new at attach, fork and exec */
    int *wfd;               /* per file: descriptor chunks are written through, lazily */
    bool *told;             /* per file: its corruption was reported on stderr */
    pthread_mutex_t lock;   /* guards client creation and wfd */
    ossc_client *client;    /* of this pid (never carried across fork) */
    pid_t client_pid;
    int leader;
    pthread_t prefetcher;
    atomic_bool stop;
    atomic_uint stop_seq;   /* futex word: bumped with stop, wakes an idle prefetcher */
    ossc_error attach_err;  /* why the last attach failed (in-process callers) */
};
extern struct cache_process NC;

#define ATTACH_INERT 1  /* no ENABLE_CONNECTOR and no live cache: nothing to do */
#define ATTACH_AGAIN 2  /* the directory went away under us: start again */

/* fetch.c: one chunk transfer in flight. */
typedef struct fetch {
    int file;
    uint64_t chunk; /* within the file */
    ossc_chunk_fetch *handle; /* of NC.source */
    uint64_t len;
} fetch;

/* sync.c */
uint64_t nc_now_ms(void);
bool nc_pid_alive(int pid);
void nc_futex_wait(atomic_uint *addr, unsigned expected, int ms);
void nc_futex_wake(atomic_uint *addr);
void nc_file_lock(struct shm_file *f);
void nc_file_unlock(struct shm_file *f);
int nc_byte_lock(int byte, int wait);
void nc_byte_unlock(int byte);

/* fetch.c */
ossc_client *nc_client(void);
int nc_open_in_cache(const char *name, int flags, mode_t mode);
int nc_open_data(int i, int flags);
int nc_data_fd(int i);
uint64_t nc_chunk_len(const struct shm_file *f, uint64_t c);
bool nc_claim(uint64_t gc);
void nc_settle(uint64_t gc, int err, uint64_t crc);
int nc_fetch_start(fetch *fx, int file, uint64_t c);
void nc_fetch_finish(fetch *fx);
void nc_fetch_abandon(fetch *fx);
uint64_t nc_reclaim_abandoned(uint64_t from, uint64_t to);
void nc_take_back_release(struct shm_file *f, uint64_t gc);
void nc_check_leader(void);

/* verify.c */
uint64_t nc_file_crc(const struct shm_file *f);
bool nc_all_ready(const struct shm_file *f);
bool nc_set_verify(struct shm_file *f, unsigned v);
bool nc_begin_verify(struct shm_file *f, unsigned from);
void nc_verify_file(int file);
int nc_refuse_corrupt(int file);

/* files.c */
void nc_retry_failed(int file);

/* prefetch.c */
void nc_stop_prefetcher(void);
bool nc_next_chunk(int *file, uint64_t *chunk);
void nc_janitor(void);
int nc_prefetch_slots(int concurrency);
void *nc_prefetch_main(void *arg);
void nc_try_lead(void);

/* owners.c */
unsigned nc_new_token(void);
void nc_register_pid(void);
bool nc_owner_alive(int pid, unsigned tok);
int nc_live_user(bool include_self);
bool nc_users_alive(bool include_self);
void nc_wake_watcher(void);
bool nc_still_ours(void);
void nc_watch(void *unused);
void nc_start_watcher(void);

/* broadcast_node.c: the peer source at attach, the agent in the watcher */
void nc_bc_attach(void);
void nc_bc_detach(void);
bool nc_bc_watching(void);
void nc_bc_watch_start(void);
void nc_bc_watch_tick(void);
void nc_bc_watch_stop(void);

/* layout.c */
uint64_t nc_fnv1a(const char *a);
size_t nc_state_size(uint32_t nfiles, uint64_t chunks);
void nc_bind_state(void *base, size_t len);
void nc_remove_cache_files(uint32_t nfiles);
void nc_remove_lock_and_dir(void);
void nc_remove_everything(void);
int nc_map_existing(void);
int nc_create_in_cache(const char *name);
int nc_describe_large_files(const ossc_large_file *lf, size_t n, ossc_large_version *v);
void nc_remove_prepared(const ossc_large_file *lf, size_t n);
int nc_create_state(void);

/* attach.c */
__attribute__((format(printf, 2, 3))) int nc_refuse(int code, const char *fmt, ...);
void nc_close_cache_fds(void);
bool nc_missing(int e);
int nc_open_root(void);
int nc_open_cache_dir(int rootfd, const char *name);
void nc_real_model_dir(const char *dir, char *out, size_t cap);
int nc_attach_once(const char *name);

#endif
