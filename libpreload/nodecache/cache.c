/* cache.c - one cache of a model's large files per node, shared by every
 * process that loads it.
 *
 * Layout in <cache_root>/ossc-<uid>-<hash of the real MODEL_DIR>/
 * (directory 0700, files 0600):
 *   state     shared state: header, one record per large file, and per
 *             chunk a 32-bit state word (ABSENT, FETCHING, READY, FAILED,
 *             RELEASING) and the CRC-64 of its bytes as they came off the
 *             wire, mapped MAP_SHARED by every process;
 *   data.<i>  the bytes of large file i at their offsets (tmpfs when the
 *             root is /dev/shm).  Applications get real fds of these files,
 *             so mmap shares pages with no copy;
 *   lock      fcntl locks: byte 0 = prefetch leader, byte 1 = setup.
 *
 * Trust: the cache directory is opened once (O_DIRECTORY|O_NOFOLLOW) and
 * must be a directory of our own that nobody else can enter; every file in
 * it is reached relative to that descriptor with O_NOFOLLOW, so a symlink
 * planted by another user never makes us write, read or delete elsewhere.
 * One cache per MODEL_DIR: the state records the OSS_PATH it mirrors, and
 * a run for another OSS_PATH is refused while processes use it.
 *
 * A chunk is fetched by whoever claims it first (compare-and-swap ABSENT
 * -> FETCHING with its pid): the leader's prefetcher in file order, or a
 * process that needs it now.  Waiters sleep on the state word (futex).  A
 * claim by a process that died is taken back, and the leader lock passes
 * to another process, so loading continues when the fetching process dies.
 * When a file's last chunk lands, the chunk CRCs are combined and compared
 * with the object's CRC (HEAD's x-oss-hash-crc64ecma): no byte of a file is
 * served before it is VERIFIED; a mismatch refetches the file once, a
 * second one makes it CORRUPT (EIO on every read, never data).
 * Chunks are released (hole punched) only under the file's lock, when no
 * process has the file open or mapped, after the release delay. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "crc64.h"
#include "error.h"
#include "log.h"
#include "nodecache.h"

#define STATE_MAGIC 0x3143534fu /* "OSC1" */
#define STATE_VERSION 4
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
    atomic_int pids[MAX_PIDS];
    atomic_uint toks[MAX_PIDS]; /* the image of that pid now registered (changes at exec) */
    char oss_path[2048];
    char model_dir[4096];
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
    atomic_int verifier;    /* pid comparing, while VERIFYING */
    atomic_uint mismatches;
};

static struct {
    ossc_preload_settings s;
    char dir[PATH_MAX];
    char model_dir_real[PATH_MAX];
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
    unsigned tok;           /* this process image: new at attach, fork and exec */
    int *wfd;               /* per file: descriptor chunks are written through, lazily */
    bool *told;             /* per file: its corruption was reported on stderr */
    pthread_mutex_t lock;   /* guards client creation and wfd */
    ossc_client *client;    /* of this pid (never carried across fork) */
    pid_t client_pid;
    int leader;
    pthread_t prefetcher;
    atomic_bool stop;
    ossc_error attach_err;  /* why the last attach failed (in-process callers) */
} C = {.dirfd = -1, .lockfd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A process that exited but was not reaped yet (a zombie) counts as dead:
 * it will never finish what it claimed. */
static bool pid_alive(int pid)
{
    if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
        return false;
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    int fd = ossc_libc.open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true; /* no /proc: trust kill() */
    ssize_t n = ossc_libc.read(fd, buf, sizeof(buf) - 1);
    ossc_libc.close(fd);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return !(paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'));
}

static void futex_wait(atomic_uint *addr, unsigned expected, int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT, expected, &ts, NULL, 0);
}

static void futex_wake(atomic_uint *addr)
{
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* ---------------------------------------------------------- file locks */

static void file_lock(struct shm_file *f)
{
    int me = getpid();
    for (int spins = 0;; spins++) {
        int expected = 0;
        if (atomic_compare_exchange_weak(&f->lock, &expected, me))
            return;
        if (expected != me && !pid_alive(expected))
            atomic_compare_exchange_strong(&f->lock, &expected, 0);
        if (spins > 100) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
}

static void file_unlock(struct shm_file *f)
{
    atomic_store(&f->lock, 0);
}

/* fcntl record lock on one byte of the lock file (not inherited by fork). */
static int byte_lock(int byte, int wait)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
    return ossc_libc.fcntl(C.lockfd, wait ? F_SETLKW : F_SETLK, &fl);
}

static void byte_unlock(int byte)
{
    struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
    ossc_libc.fcntl(C.lockfd, F_SETLK, &fl);
}

/* ------------------------------------------------------------- engine */

static ossc_client *client(void)
{
    pid_t me = getpid();
    pthread_mutex_lock(&C.lock);
    if (!C.client || C.client_pid != me) {
        ossc_error err;
        ossc_client_options o = {
            .endpoint = C.s.endpoint,
            .region = C.s.region[0] ? C.s.region : NULL,
            .config_path = C.s.config_path[0] ? C.s.config_path : NULL,
            .cred_path = C.s.cred_path[0] ? C.s.cred_path : NULL,
            .cred_callback = C.s.cred_callback,
            .cred_userdata = C.s.cred_userdata,
            .profile = OSSC_PROFILE_MODEL,
        };
        ossc_in_hook++;
        C.client = ossc_client_new(&o, &err);
        ossc_in_hook--;
        C.client_pid = me;
        if (!C.client)
            OSSC_ERROR("cannot create the OSS client: %s", err.message);
    }
    ossc_client *c = C.client;
    pthread_mutex_unlock(&C.lock);
    return c;
}

/* Opens a file of the cache directory, never through a symlink: names are
 * resolved relative to the checked directory descriptor only. */
static int open_in_cache(const char *name, int flags, mode_t mode)
{
    return ossc_libc.openat(C.dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
}

static int open_data(int i, int flags)
{
    char name[32];
    snprintf(name, sizeof(name), "data.%d", i);
    return open_in_cache(name, flags, 0);
}

/* The descriptor chunks of file i are written through (opened once, for
 * reading and writing: the engine lands the bytes through a shared mapping
 * of each chunk's range, see ossc_get_async_fd, and keeps it mapped only
 * for the transfer, so the process maps no more of the cache than the
 * application does). */
static int data_fd(int i)
{
    if (!C.wfd)
        return -1;
    pthread_mutex_lock(&C.lock);
    int fd = C.wfd[i];
    if (fd < 0) {
        fd = C.wfd[i] = open_data(i, O_RDWR);
        if (fd < 0)
            OSSC_ERROR("cannot open cache file %s/data.%d: %s", C.dir, i, strerror(errno));
    }
    pthread_mutex_unlock(&C.lock);
    return fd;
}

/* ------------------------------------------------------------- chunks */

static uint64_t chunk_len(const struct shm_file *f, uint64_t c)
{
    uint64_t off = c * C.h->chunk_size;
    return f->size - off < C.h->chunk_size ? f->size - off : C.h->chunk_size;
}

static bool claim(uint64_t gc)
{
    unsigned expected = ABSENT;
    if (!atomic_compare_exchange_strong(&C.state[gc], &expected, FETCHING))
        return false;
    atomic_store(&C.owner[gc], getpid());
    atomic_store(&C.owner_tok[gc], C.tok);
    return true;
}

static void settle(uint64_t gc, int err, uint64_t crc)
{
    atomic_store(&C.crc[gc], crc); /* published by the state store below */
    if (err)
        atomic_store(&C.errs[gc], err);
    atomic_store(&C.state[gc], err ? FAILED : READY);
    futex_wake(&C.state[gc]);
}

typedef struct fetch {
    int file;
    uint64_t chunk; /* within the file */
    ossc_future *future;
    uint64_t len;
} fetch;

/* Starts the GET of a claimed chunk; on immediate failure settles it. */
static int fetch_start(fetch *fx, int file, uint64_t c)
{
    struct shm_file *f = &C.files[file];
    uint64_t gc = f->first_chunk + c;
    fx->file = file;
    fx->chunk = c;
    fx->len = chunk_len(f, c);
    fx->future = NULL;
    ossc_client *cl = client();
    int fd = data_fd(file);
    ossc_error err;
    if (!cl || fd < 0) {
        settle(gc, EIO, 0);
        return -1;
    }
    uint64_t off = c * C.h->chunk_size;
    ossc_in_hook++;
    fx->future = ossc_get_async_fd(cl, C.s.bucket, f->key, off, fx->len, fd, off, &err);
    ossc_in_hook--;
    if (!fx->future) {
        OSSC_ERROR("%s: %s", f->rel, err.message);
        settle(gc, err.code ? err.code : EIO, 0);
        return -1;
    }
    return 0;
}

static void verify_file(int file);

/* Waits for a started chunk and publishes its state and the CRC of the
 * bytes as they came off the wire; the chunk that completes its file has
 * the file verified at once (whoever fetched it). */
static void fetch_finish(fetch *fx)
{
    struct shm_file *f = &C.files[fx->file];
    uint64_t gc = f->first_chunk + fx->chunk;
    ossc_error err;
    uint64_t crc = 0;
    ossc_in_hook++;
    int64_t n = ossc_future_wait(fx->future, &err);
    int have_crc = n >= 0 ? ossc_future_crc64(fx->future, &crc, NULL) : -1;
    ossc_future_free(fx->future);
    ossc_in_hook--;
    fx->future = NULL;
    if (n == (int64_t)fx->len && have_crc >= 0) {
        settle(gc, 0, crc);
        verify_file(fx->file);
        return;
    }
    if (n == (int64_t)fx->len)
        OSSC_ERROR("%s (oss://%s/%s): no CRC for chunk %llu", f->rel, C.s.bucket, f->key,
                   (unsigned long long)fx->chunk);
    else if (n >= 0)
        OSSC_ERROR("%s (oss://%s/%s): object is shorter than listed (%lld of %llu bytes at "
                   "chunk %llu): it changed after MODEL_DIR was prepared",
                   f->rel, C.s.bucket, f->key, (long long)n, (unsigned long long)fx->len,
                   (unsigned long long)fx->chunk);
    else
        OSSC_ERROR("%s: %s", f->rel, err.message);
    settle(gc, n >= 0 ? EIO : (err.code ? err.code : EIO), 0);
}

/* Gives up a started chunk (the process is leaving): the transfer is
 * cancelled and the chunk is free for whoever needs it next, at once,
 * instead of the exit waiting for every prefetch in flight. */
static void fetch_abandon(fetch *fx)
{
    struct shm_file *f = &C.files[fx->file];
    uint64_t gc = f->first_chunk + fx->chunk;
    ossc_in_hook++;
    ossc_future_free(fx->future);
    ossc_in_hook--;
    fx->future = NULL;
    unsigned expected = FETCHING;
    if (atomic_compare_exchange_strong(&C.state[gc], &expected, ABSENT)) {
        atomic_fetch_sub(&C.h->cached_bytes, fx->len);
        futex_wake(&C.state[gc]);
    }
}

static void try_lead(void);
static bool owner_alive(int pid, unsigned tok);

/* Takes back the chunks in [from, to) that a process image claimed and
 * can no longer finish -- it died, or it exec'd (same pid, new image: the
 * transfers went with the old one) -- so they are fetched again at full
 * concurrency instead of one by one by whoever waits for them.  Returns
 * how many came free. */
static uint64_t reclaim_abandoned(uint64_t from, uint64_t to)
{
    int memo_pid = 0, dead_pid = 0;
    unsigned memo_tok = 0;
    bool memo_alive = true;
    uint64_t freed = 0, freed_bytes = 0;
    for (uint32_t i = 0; i < C.h->nfiles; i++) { /* files hold consecutive chunks */
        struct shm_file *f = &C.files[i];
        uint64_t lo = from > f->first_chunk ? from : f->first_chunk;
        uint64_t end = f->first_chunk + f->nchunks, hi = to < end ? to : end;
        for (uint64_t gc = lo; gc < hi; gc++) {
            if (atomic_load(&C.state[gc]) != FETCHING)
                continue;
            int pid = atomic_load(&C.owner[gc]);
            unsigned tok = atomic_load(&C.owner_tok[gc]);
            if (pid != memo_pid || tok != memo_tok) {
                memo_pid = pid;
                memo_tok = tok;
                memo_alive = owner_alive(pid, tok);
            }
            if (memo_alive)
                continue;
            unsigned expected = FETCHING;
            if (atomic_load(&C.owner[gc]) != pid || atomic_load(&C.owner_tok[gc]) != tok ||
                !atomic_compare_exchange_strong(&C.state[gc], &expected, ABSENT))
                continue;
            freed_bytes += chunk_len(f, gc - f->first_chunk);
            futex_wake(&C.state[gc]);
            dead_pid = pid;
            freed++;
        }
    }
    if (freed) {
        atomic_fetch_sub(&C.h->cached_bytes, freed_bytes);
        if (dead_pid == getpid())
            OSSC_INFO("%llu chunks this process claimed before it exec'd are fetched again",
                      (unsigned long long)freed);
        else
            OSSC_WARN("process %d (or another) left with %llu chunks unfinished; fetching "
                      "them again", dead_pid, (unsigned long long)freed);
    }
    return freed;
}

/* Waiters keep prefetching alive: when the leader died, one takes over. */
static void check_leader(void)
{
    if (!C.leader && !pid_alive(atomic_load(&C.h->leader_pid)))
        try_lead();
}

int ossc_cache_fetch(int file, uint64_t off, uint64_t len)
{
    struct shm_file *f = &C.files[file];
    if (off >= f->size || len == 0)
        return 0;
    if (len > f->size - off)
        len = f->size - off;
    uint64_t c0 = off / C.h->chunk_size, c1 = (off + len - 1) / C.h->chunk_size;

    /* Fast path: everything already there. */
    bool all = true;
    for (uint64_t c = c0; c <= c1 && all; c++)
        all = atomic_load_explicit(&C.state[f->first_chunk + c], memory_order_acquire) == READY;
    if (all)
        return 0;

    size_t cap = (size_t)(c1 - c0 + 1);
    fetch *mine = calloc(cap, sizeof(*mine));
    if (!mine) {
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    for (bool again = true; again;) {
        again = false;
        /* Claim what nobody fetches and fetch it concurrently ourselves. */
        size_t n = 0;
        for (uint64_t c = c0; c <= c1; c++)
            if (claim(f->first_chunk + c)) {
                atomic_fetch_add(&C.h->cached_bytes, chunk_len(f, c));
                if (fetch_start(&mine[n], file, c) == 0)
                    n++;
            }
        for (size_t i = 0; i < n; i++)
            fetch_finish(&mine[i]);

        /* Wait for chunks others are fetching.  Chunks that come free
         * again (a fetcher left, or died and its claims were taken back)
         * send us round again, to fetch them all concurrently. */
        for (uint64_t c = c0; c <= c1 && !again && rc == 0; c++) {
            uint64_t gc = f->first_chunk + c;
            for (;;) {
                unsigned st = atomic_load(&C.state[gc]);
                if (st == READY)
                    break;
                if (st == FAILED) {
                    errno = atomic_load(&C.errs[gc]);
                    if (!errno)
                        errno = EIO;
                    rc = -1;
                    break;
                }
                uint64_t first = f->first_chunk;
                if (st == ABSENT ||
                    (st == FETCHING && reclaim_abandoned(first + c0, first + c1 + 1))) {
                    again = true;
                    break;
                }
                futex_wait(&C.state[gc], st, 50);
                check_leader();
            }
        }
    }
    free(mine);
    return rc;
}

/* ------------------------------------------------------------- trust */

/* The file's CRC from its chunks' CRCs, in order (no data read). */
static uint64_t file_crc(const struct shm_file *f)
{
    uint64_t crc = atomic_load(&C.crc[f->first_chunk]);
    for (uint64_t c = 1; c < f->nchunks; c++)
        crc = ossc_crc64_combine(crc, atomic_load(&C.crc[f->first_chunk + c]), chunk_len(f, c));
    return crc;
}

static bool all_ready(const struct shm_file *f)
{
    for (uint64_t c = 0; c < f->nchunks; c++)
        if (atomic_load_explicit(&C.state[f->first_chunk + c], memory_order_acquire) != READY)
            return false;
    return true;
}

static void set_verify(struct shm_file *f, unsigned v)
{
    atomic_store(&f->verify, v);
    futex_wake(&f->verify);
}

/* When every chunk of the file is READY and nobody checked it yet: one
 * process (compare-and-swap) combines the chunk CRCs and compares them with
 * the object's.  Match: VERIFIED.  First mismatch: the chunks go back to
 * ABSENT and are fetched again (by the prefetcher or whoever waits).
 * Second: CORRUPT.  Without a CRC from the server, the sizes (checked at
 * HEAD and per chunk) are all there is: VERIFIED, and the log says so.
 * Cost: one CRC combine per chunk, no data read. */
static void verify_file(int file)
{
    struct shm_file *f = &C.files[file];
    unsigned expected = UNVERIFIED;
    if (atomic_load(&f->verify) != UNVERIFIED || !all_ready(f) ||
        !atomic_compare_exchange_strong(&f->verify, &expected, VERIFYING))
        return;
    atomic_store(&f->verifier, getpid());
    if (!all_ready(f)) { /* released or refetched meanwhile */
        set_verify(f, UNVERIFIED);
        return;
    }
    if (!f->has_crc) {
        OSSC_INFO("%s (oss://%s/%s): the server sent no CRC-64: served after the size check "
                  "only, not CRC-verified", f->rel, C.s.bucket, f->key);
        set_verify(f, VERIFIED);
        return;
    }
    uint64_t crc = file_crc(f);
    if (crc == f->object_crc) {
        OSSC_DEBUG("%s (oss://%s/%s): CRC-64 verified", f->rel, C.s.bucket, f->key);
        set_verify(f, VERIFIED);
        return;
    }
    unsigned seen = atomic_fetch_add(&f->mismatches, 1) + 1;
    OSSC_ERROR("oss://%s/%s (%s/%s): the bytes received have CRC-64 %016llx, the object's is "
               "%016llx: %s", C.s.bucket, f->key, C.s.model_dir, f->rel,
               (unsigned long long)crc, (unsigned long long)f->object_crc,
               seen < 2 ? "fetching the file again" : "second mismatch, the file is CORRUPT: "
               "every read of it fails with EIO");
    if (seen >= 2) {
        set_verify(f, CORRUPT);
        return;
    }
    uint64_t freed = 0;
    for (uint64_t c = 0; c < f->nchunks; c++) {
        unsigned ready = READY;
        if (atomic_compare_exchange_strong(&C.state[f->first_chunk + c], &ready, ABSENT)) {
            freed += chunk_len(f, c);
            futex_wake(&C.state[f->first_chunk + c]);
        }
    }
    atomic_fetch_sub(&C.h->cached_bytes, freed);
    set_verify(f, UNVERIFIED);
}

/* A CORRUPT file: EIO, with the key on stderr once per process. */
static int refuse_corrupt(int file)
{
    struct shm_file *f = &C.files[file];
    if (C.told && !C.told[file] && !C.s.in_process) {
        C.told[file] = true;
        fprintf(stderr, "oss-connector: oss://%s/%s (%s/%s): the bytes received twice do not "
                "match the object's CRC-64: refusing to serve them (EIO)\n", C.s.bucket, f->key,
                C.s.model_dir, f->rel);
    }
    OSSC_ERROR("read of %s/%s refused: oss://%s/%s is CORRUPT (CRC-64 mismatch)", C.s.model_dir,
               f->rel, C.s.bucket, f->key);
    errno = EIO;
    return -1;
}

/* The serving rule: no byte of a large file before the whole file is
 * VERIFIED.  So [off, off+len) only says the caller needs some bytes: the
 * whole file is fetched (concurrently, by us for what nobody else fetches,
 * past the memory limit: a demanded file is always completed) and checked.
 * Returns 0, or -1 with errno (EIO for a CORRUPT file). */
int ossc_cache_wait(int file, uint64_t off, uint64_t len)
{
    (void)off;
    (void)len;
    struct shm_file *f = &C.files[file];
    for (;;) {
        unsigned v = atomic_load_explicit(&f->verify, memory_order_acquire);
        if (v == VERIFIED)
            return 0;
        if (v == CORRUPT)
            return refuse_corrupt(file);
        if (v == VERIFYING) {
            int pid = atomic_load(&f->verifier);
            unsigned verifying = VERIFYING;
            if (pid && !pid_alive(pid) &&
                atomic_compare_exchange_strong(&f->verify, &verifying, UNVERIFIED))
                continue; /* the verifier died mid-way: check again */
            futex_wait(&f->verify, VERIFYING, 50);
            continue;
        }
        if (ossc_cache_fetch(file, 0, f->size) < 0)
            return -1;
        verify_file(file);
    }
}

/* ------------------------------------------------------------- users */

void ossc_cache_user_add(int file)
{
    struct shm_file *f = &C.files[file];
    file_lock(f);
    atomic_fetch_add(&f->users, 1);
    atomic_store(&f->released, 0);
    file_unlock(f);
}

void ossc_cache_user_drop(int file)
{
    struct shm_file *f = &C.files[file];
    file_lock(f);
    if (atomic_fetch_sub(&f->users, 1) <= 1) {
        atomic_store(&f->users, 0);
        atomic_store(&f->last_release_ms, now_ms());
    }
    file_unlock(f);
}

void ossc_cache_demand(int file)
{
    struct shm_file *f = &C.files[file];
    unsigned expected = 0;
    unsigned seq = atomic_fetch_add(&C.h->demand_seq, 1) + 1;
    atomic_compare_exchange_strong(&f->demand, &expected, seq);
}

/* Failed chunks get another chance when a file is opened again. */
static void retry_failed(int file)
{
    struct shm_file *f = &C.files[file];
    for (uint64_t c = 0; c < f->nchunks; c++) {
        unsigned expected = FAILED;
        if (atomic_compare_exchange_strong(&C.state[f->first_chunk + c], &expected, ABSENT))
            atomic_fetch_sub(&C.h->cached_bytes, chunk_len(f, c));
    }
}

int ossc_cache_open(int file, int flags)
{
    int fd = open_data(file, O_RDONLY);
    if (fd >= 0 && !(flags & O_CLOEXEC))
        ossc_libc.fcntl(fd, F_SETFD, 0);
    if (fd < 0)
        return -1;
    ossc_cache_user_add(file);
    retry_failed(file);
    ossc_cache_demand(file);
    return fd;
}

int ossc_cache_placeholder(int file, char *out, size_t cap)
{
    return ossc_pathf(out, cap, "%s/%s", C.s.model_dir, C.files[file].rel);
}

uint64_t ossc_cache_file_size(int file)
{
    return C.files[file].size;
}

int ossc_cache_lookup_path(const char *abs)
{
    const char *roots[2] = {C.s.model_dir, C.model_dir_real};
    for (int k = 0; k < 2; k++) {
        size_t n = strlen(roots[k]);
        if (!n || strncmp(abs, roots[k], n) != 0 || abs[n] != '/')
            continue;
        const char *rel = abs + n + 1;
        int lo = 0, hi = (int)C.h->nfiles - 1;
        while (lo <= hi) {
            int mid = (lo + hi) / 2;
            int cmp = strcmp(rel, C.files[mid].rel);
            if (cmp == 0)
                return mid;
            if (cmp < 0)
                hi = mid - 1;
            else
                lo = mid + 1;
        }
    }
    return -1;
}

/* ---------------------------------------------------------- prefetcher */

/* Next chunk to prefetch: files asked for by the application first (in the
 * order they were asked for), then every other file in key order. */
static bool next_chunk(int *file, uint64_t *chunk)
{
    int best = -1;
    uint64_t best_rank = UINT64_MAX, best_chunk = 0;
    for (uint32_t i = 0; i < C.h->nfiles; i++) {
        struct shm_file *f = &C.files[i];
        if (atomic_load(&f->released))
            continue;
        unsigned d = atomic_load(&f->demand);
        if (!d && C.s.lazy)
            continue; /* lazy: only what was opened */
        uint64_t rank = d ? d : (1ull << 32) + i;
        if (rank >= best_rank)
            continue;
        for (uint64_t c = 0; c < f->nchunks; c++)
            if (atomic_load(&C.state[f->first_chunk + c]) == ABSENT) {
                best = (int)i;
                best_rank = rank;
                best_chunk = c;
                break;
            }
    }
    if (best < 0)
        return false;
    *file = best;
    *chunk = best_chunk;
    return true;
}

/* Releases files nobody has used for the release delay. */
static void janitor(void)
{
    uint64_t now = now_ms();
    for (uint32_t i = 0; i < C.h->nfiles; i++) {
        struct shm_file *f = &C.files[i];
        uint64_t last = atomic_load(&f->last_release_ms);
        if (atomic_load(&f->users) > 0 || !last ||
            now - last < (uint64_t)C.s.release_delay_s * 1000u || atomic_load(&f->released))
            continue;
        file_lock(f);
        if (atomic_load(&f->users) == 0) {
            /* Bytes fetched again are verified again (a CORRUPT file stays so). */
            if (atomic_load(&f->verify) != CORRUPT) {
                atomic_store(&f->verify, UNVERIFIED);
                atomic_store(&f->mismatches, 0);
            }
            int fd = open_data((int)i, O_RDWR);
            uint64_t freed = 0;
            for (uint64_t c = 0; c < f->nchunks; c++) {
                uint64_t gc = f->first_chunk + c;
                unsigned expected = READY;
                if (!atomic_compare_exchange_strong(&C.state[gc], &expected, RELEASING))
                    continue;
                /* Round up so the file's partial last page is freed too. */
                uint64_t plen = (chunk_len(f, c) + 4095) & ~(uint64_t)4095;
                if (fd >= 0)
                    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                              (off_t)(c * C.h->chunk_size), (off_t)plen);
                freed += chunk_len(f, c);
                atomic_store(&C.state[gc], ABSENT);
                futex_wake(&C.state[gc]);
            }
            if (fd >= 0)
                ossc_libc.close(fd);
            atomic_fetch_sub(&C.h->cached_bytes, freed);
            atomic_store(&f->released, 1);
            atomic_store(&f->demand, 0);
            if (freed)
                OSSC_INFO("released %llu cached bytes of %s (unused for %d s)",
                          (unsigned long long)freed, f->rel, C.s.release_delay_s);
        }
        file_unlock(f);
    }
}

/* Prefetch requests in flight: the engine's concurrency, but no more
 * bytes than the window.  Every transfer shares the link, so each takes
 * about window / bandwidth: a small window lets chunks land in order and
 * soon (a file opened ahead of its turn gets its bytes quickly) while
 * enough requests stay in flight to fill the link. */
static int prefetch_slots(ossc_client *cl)
{
    uint64_t by_window = C.s.prefetch_window / C.h->chunk_size;
    int slots = cl ? ossc_client_concurrency(cl) : 1;
    if (by_window < (uint64_t)slots)
        slots = (int)by_window;
    return slots > 0 ? slots : 1;
}

/* How often the leader looks for chunks whose fetcher left without
 * finishing them (a process that exec'd or was killed mid-transfer). */
#define RECLAIM_PERIOD_MS 200

static void *prefetch_main(void *arg)
{
    (void)arg;
    ossc_in_hook = 1; /* this thread's libc calls are never the application's */
    ossc_client *cl = client();
    if (cl)
        ossc_client_lower_thread(cl); /* below the application, like the I/O threads */
    int slots = prefetch_slots(cl);
    fetch *inflight = calloc((size_t)slots, sizeof(*inflight));
    int n = 0;
    uint64_t last_janitor = 0, last_reclaim = 0;
    if (!inflight)
        return NULL;
    while (!atomic_load(&C.stop)) {
        bool progressed = false;
        while (n < slots && atomic_load(&C.h->cached_bytes) < C.s.memory_limit) {
            int file;
            uint64_t c;
            if (!next_chunk(&file, &c))
                break;
            if (!claim(C.files[file].first_chunk + c))
                continue;
            atomic_fetch_add(&C.h->cached_bytes, chunk_len(&C.files[file], c));
            if (fetch_start(&inflight[n], file, c) == 0)
                n++;
            progressed = true;
        }
        for (int i = 0; i < n;) {
            if (ossc_future_done(inflight[i].future)) {
                fetch_finish(&inflight[i]);
                inflight[i] = inflight[--n];
                progressed = true;
            } else {
                i++;
            }
        }
        uint64_t now = now_ms();
        if (now - last_janitor >= 1000) {
            janitor();
            last_janitor = now;
        }
        if (now - last_reclaim >= RECLAIM_PERIOD_MS) {
            if (reclaim_abandoned(0, C.h->total_chunks))
                progressed = true;
            last_reclaim = now;
        }
        if (!progressed) {
            struct timespec ts = {0, n ? 1000000L : 20000000L};
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < n; i++) {
        if (ossc_future_done(inflight[i].future))
            fetch_finish(&inflight[i]);
        else
            fetch_abandon(&inflight[i]);
    }
    free(inflight);
    return NULL;
}

/* Becomes the prefetch leader when no live process is. */
static void try_lead(void)
{
    if (C.leader || byte_lock(0, 0) < 0)
        return;
    C.leader = 1;
    atomic_store(&C.h->leader_pid, getpid());
    atomic_store(&C.stop, false);
    if (pthread_create(&C.prefetcher, NULL, prefetch_main, NULL) != 0) {
        OSSC_ERROR("cannot start the prefetch thread: loading on demand only");
        C.leader = 0;
        byte_unlock(0);
    }
}

/* ------------------------------------------------------------- state */

static uint64_t fnv1a(const char *a)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = a; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

/* The CRCs come first after the files: both sizes are multiples of 8. */
_Static_assert(sizeof(struct shm_header) % 8 == 0, "CRC array alignment");
_Static_assert(sizeof(struct shm_file) % 8 == 0, "CRC array alignment");
static size_t state_size(uint32_t nfiles, uint64_t chunks)
{
    return sizeof(struct shm_header) + nfiles * sizeof(struct shm_file) +
           chunks * (sizeof(atomic_ullong) + 2 * sizeof(atomic_uint) + 2 * sizeof(atomic_int));
}

static void bind_state(void *base, size_t len)
{
    C.h = base;
    C.state_len = len;
    C.files = (struct shm_file *)((char *)base + sizeof(struct shm_header));
    C.crc = (atomic_ullong *)(C.files + C.h->nfiles);
    C.state = (atomic_uint *)(C.crc + C.h->total_chunks);
    C.owner = (atomic_int *)(C.state + C.h->total_chunks);
    C.errs = C.owner + C.h->total_chunks;
    C.owner_tok = (atomic_uint *)(C.errs + C.h->total_chunks);
}

/* A token for this process image, different after fork and exec, so a
 * chunk claimed by an image that exec'd (same pid, fetch lost) is known as
 * abandoned. */
static unsigned new_token(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned t = (unsigned)ts.tv_nsec ^ ((unsigned)ts.tv_sec << 20) ^ ((unsigned)getpid() << 8);
    return t ? t : 1;
}

/* Registers this pid with the current image's token (updating the entry a
 * pre-exec image of this pid left). */
static void register_pid(void)
{
    int me = getpid();
    for (int i = 0; i < MAX_PIDS; i++)
        if (atomic_load(&C.h->pids[i]) == me) {
            atomic_store(&C.h->toks[i], C.tok);
            return;
        }
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < MAX_PIDS; i++) {
            int old = atomic_load(&C.h->pids[i]);
            if ((pass == 0 ? old != 0 : pid_alive(old)) ||
                !atomic_compare_exchange_strong(&C.h->pids[i], &old, me))
                continue;
            atomic_store(&C.h->toks[i], C.tok);
            return;
        }
}

/* True while the process image that claimed a chunk can still finish it. */
static bool owner_alive(int pid, unsigned tok)
{
    if (pid == getpid())
        return tok == C.tok;
    if (!pid_alive(pid))
        return false;
    for (int i = 0; i < MAX_PIDS; i++)
        if (atomic_load(&C.h->pids[i]) == pid)
            return atomic_load(&C.h->toks[i]) == tok;
    return true; /* not registered (table full): trust the pid */
}

/* A registered process alive (other than us, unless include_self: a
 * process that exec'd keeps the registration of its earlier image): its
 * pid, or 0 when there is none. */
static int live_user(bool include_self)
{
    int me = getpid();
    for (int i = 0; i < MAX_PIDS; i++) {
        int p = atomic_load(&C.h->pids[i]);
        if (p && (p != me || include_self) && pid_alive(p))
            return p;
    }
    return 0;
}

static bool users_alive(bool include_self)
{
    return live_user(include_self) != 0;
}

/* Removes the cache's files, by name relative to the directory descriptor
 * (a symlink is removed as a link, never followed). */
static void remove_cache_files(uint32_t nfiles)
{
    char name[32];
    for (uint32_t i = 0; i < nfiles; i++) {
        snprintf(name, sizeof(name), "data.%u", i);
        unlinkat(C.dirfd, name, 0);
    }
    unlinkat(C.dirfd, "state", 0);
}

/* Removes the lock file, then the directory when it is empty and still the
 * one we opened.  Only under the setup lock (byte 1): a process waiting for
 * it on the removed file finds it unlinked (st_nlink 0) once it gets it,
 * and starts again. */
static void remove_lock_and_dir(void)
{
    struct stat mine, there;
    unlinkat(C.dirfd, "lock", 0);
    if (fstat(C.dirfd, &mine) == 0 && lstat(C.dir, &there) == 0 && mine.st_dev == there.st_dev &&
        mine.st_ino == there.st_ino)
        rmdir(C.dir);
}

/* Last one out (under the setup lock): the cache goes, and so do the
 * placeholders (they would read as zeros without the interposer). */
static void remove_everything(void)
{
    const char **rels = malloc((C.h->nfiles ? C.h->nfiles : 1) * sizeof(*rels));
    for (uint32_t i = 0; rels && i < C.h->nfiles; i++)
        rels[i] = C.files[i].rel;
    if (rels)
        ossc_modeldir_remove_placeholders(C.s.model_dir, rels, C.h->nfiles);
    free(rels);
    remove_cache_files(C.h->nfiles);
    remove_lock_and_dir();
}

/* ------------------------------------------------------------ watcher */

/* Processes that leave without exit handlers (_exit, as dash does after a
 * command; a signal; exec into a program without us) cannot clean up, so
 * the process that creates a cache starts a watcher (a detached process,
 * see detached.c) that removes it, and the placeholders, once no
 * registered process is alive.  It is woken when a process detaches and
 * looks every second otherwise.  It also holds the data files open: the
 * last application process then exits without waiting for the kernel to
 * free the cache's pages; that happens here, after it left.  It keeps the
 * directory descriptor: it never reaches the cache by path. */

#define WATCH_PERIOD_MS 1000

static void wake_watcher(void)
{
    atomic_fetch_add(&C.h->watch_seq, 1);
    futex_wake(&C.h->watch_seq);
}

/* True while the state file in our directory is the one this watcher
 * guards (not removed by the last detach, not replaced by a newer cache). */
static bool still_ours(void)
{
    struct stat st;
    return fstatat(C.dirfd, "state", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == C.state_ino;
}

static void watch(void *unused)
{
    (void)unused;
    ossc_in_hook = 1;
    int held[256];
    int nheld = 0;
    for (uint32_t i = 0; i < C.h->nfiles && nheld < (int)(sizeof(held) / sizeof(held[0])); i++) {
        int fd = open_data((int)i, O_RDONLY);
        if (fd >= 0)
            held[nheld++] = fd;
    }
    for (;;) {
        unsigned seq = atomic_load(&C.h->watch_seq);
        if (!still_ours())
            return;
        if (!users_alive(true)) {
            byte_lock(1, 1);
            bool orphaned = still_ours() && !users_alive(true);
            if (orphaned)
                remove_everything();
            byte_unlock(1);
            if (orphaned)
                return;
        }
        futex_wait(&C.h->watch_seq, seq, WATCH_PERIOD_MS);
    }
}

static void start_watcher(void)
{
    int keep[2] = {C.dirfd < C.lockfd ? C.dirfd : C.lockfd,
                   C.dirfd < C.lockfd ? C.lockfd : C.dirfd};
    if (keep[0] <= 2 || ossc_spawn_detached(watch, NULL, keep, 2) < 0)
        OSSC_WARN("cannot start the cache watcher (%s): the cache in %s stays after a "
                  "process exits without exit handlers until the next run",
                  strerror(errno), C.dir);
}

/* ------------------------------------------------------------ attach */

/* An attach that cannot go on: logged, kept for in-process callers, and
 * told on stderr by a process with ENABLE_CONNECTOR (which then drops it
 * for the processes it starts: one message per process tree). */
__attribute__((format(printf, 2, 3))) static int refuse(int code, const char *fmt, ...)
{
    char msg[sizeof(C.attach_err.message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ossc_error_set(&C.attach_err, code, "%s", msg);
    OSSC_ERROR("%s", msg);
    if (!C.s.in_process && C.s.enable)
        fprintf(stderr, "oss-connector: %s\n", msg);
    errno = code;
    return -1;
}

#define ATTACH_INERT 1  /* no ENABLE_CONNECTOR and no live cache: nothing to do */
#define ATTACH_AGAIN 2  /* the directory went away under us: start again */

static void close_cache_fds(void)
{
    if (C.lockfd >= 0)
        ossc_libc.close(C.lockfd);
    if (C.dirfd >= 0)
        ossc_libc.close(C.dirfd);
    C.lockfd = C.dirfd = -1;
}

static bool missing(int e)
{
    return e == ENOENT;
}

/* Opens the cache root, creating it 0700 when missing (only a process with
 * ENABLE_CONNECTOR creates anything).  It must be a directory, not a
 * symlink, and sticky when others may write in it (as /dev/shm and /tmp
 * are): there, nobody else can rename or remove our entries. */
static int open_root(void)
{
    char root[sizeof(C.s.cache_root)];
    snprintf(root, sizeof(root), "%s", C.s.cache_root);
    for (size_t n = strlen(root); n > 1 && root[n - 1] == '/';)
        root[--n] = '\0'; /* "link/" would follow the link */
    if (C.s.enable && mkdir(root, 0700) < 0 && errno != EEXIST)
        return refuse(errno, "cannot create the cache root %s (OSSC_CACHE_DIR): %s", root,
                      strerror(errno));
    int fd = ossc_libc.open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && missing(errno) && !C.s.enable)
        return -ATTACH_INERT;
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
        return refuse(ENOTDIR, "cache root %s (OSSC_CACHE_DIR) is a symlink or not a directory: "
                      "refusing to use it", root);
    if (fd < 0)
        return refuse(errno, "cannot open the cache root %s (OSSC_CACHE_DIR): %s", root,
                      strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || ((st.st_mode & 0022) && !(st.st_mode & S_ISVTX))) {
        ossc_libc.close(fd);
        return refuse(EPERM, "cache root %s (OSSC_CACHE_DIR) is writable by others and not "
                      "sticky (mode %04o): refusing to use it (make it 0700, or sticky as "
                      "/dev/shm is: chmod +t)", root, (unsigned)(st.st_mode & 07777));
    }
    return fd;
}

/* Opens our cache directory in the root (creating it 0700 when we may):
 * never through a symlink, and only when it is a directory owned by our
 * effective uid that nobody else can enter. */
static int open_cache_dir(int rootfd, const char *name)
{
    if (C.s.enable && mkdirat(rootfd, name, 0700) < 0 && errno != EEXIST)
        return refuse(errno, "cannot create the cache directory %s: %s", C.dir, strerror(errno));
    int fd = ossc_libc.openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && missing(errno))
        return C.s.enable ? -ATTACH_AGAIN : -ATTACH_INERT;
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
        return refuse(ENOTDIR, "cache directory %s is a symlink or not a directory (planted by "
                      "another user?): refusing to use it; remove it", C.dir);
    if (fd < 0)
        return refuse(errno, "cannot open the cache directory %s: %s", C.dir, strerror(errno));
    struct stat st;
    int e = fstat(fd, &st) < 0 ? errno : 0;
    if (e || st.st_uid != geteuid() || (st.st_mode & 0077)) {
        ossc_libc.close(fd);
        if (e)
            return refuse(e, "cannot inspect the cache directory %s: %s", C.dir, strerror(e));
        if (st.st_uid != geteuid())
            return refuse(EPERM, "cache directory %s belongs to uid %u, not to us (uid %u) "
                          "(planted by another user?): refusing to use it; remove it", C.dir,
                          (unsigned)st.st_uid, (unsigned)geteuid());
        return refuse(EPERM, "cache directory %s has mode %04o, others may enter it: refusing "
                      "to use it; remove it", C.dir, (unsigned)(st.st_mode & 07777));
    }
    return fd;
}

/* Maps an existing, ready state file; 0 on success. */
static int map_existing(void)
{
    int fd = open_in_cache("state", O_RDWR, 0);
    if (fd < 0)
        return -1;
    struct stat st;
    void *m = MAP_FAILED;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (size_t)st.st_size >= sizeof(struct shm_header))
        m = ossc_libc.mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ossc_libc.close(fd);
    if (m == MAP_FAILED)
        return -1;
    struct shm_header *h = m;
    if (h->magic != STATE_MAGIC || h->version != STATE_VERSION || !atomic_load(&h->ready) ||
        state_size(h->nfiles, h->total_chunks) != (size_t)st.st_size) {
        ossc_libc.munmap(m, (size_t)st.st_size);
        return -1;
    }
    bind_state(m, (size_t)st.st_size);
    return 0;
}

/* A new file in the cache directory: a stale entry of that name (ours: the
 * directory is private) goes first, then O_EXCL creates it afresh. */
static int create_in_cache(const char *name)
{
    unlinkat(C.dirfd, name, 0);
    return open_in_cache(name, O_RDWR | O_CREAT | O_EXCL, 0600);
}

/* HEAD of every large file: its size must be the listing's, and its CRC
 * (when the server has one) is what the file's bytes are checked against.
 * Sequential: a model has few large files. */
static int head_large_files(ossc_client *cl, const ossc_large_file *lf, size_t n,
                            uint64_t *crc, uint32_t *has_crc)
{
    for (size_t i = 0; i < n; i++) {
        ossc_object_info info;
        ossc_error err;
        memset(&info, 0, sizeof(info));
        ossc_in_hook++;
        int rc = ossc_head(cl, C.s.bucket, lf[i].key, &info, &err);
        ossc_in_hook--;
        if (rc < 0)
            return refuse(err.code ? err.code : EIO, "cannot prepare MODEL_DIR %s from %s: HEAD "
                          "oss://%s/%s: %s", C.s.model_dir, C.s.oss_path, C.s.bucket, lf[i].key,
                          err.message);
        uint64_t size = info.size;
        crc[i] = info.crc64;
        has_crc[i] = info.has_crc64 ? 1 : 0;
        ossc_object_info_clear(&info);
        if (size != lf[i].size)
            return refuse(EIO, "cannot prepare MODEL_DIR %s from %s: oss://%s/%s is %llu bytes "
                          "by HEAD but %llu by the listing: it changed while MODEL_DIR was "
                          "prepared", C.s.model_dir, C.s.oss_path, C.s.bucket, lf[i].key,
                          (unsigned long long)size, (unsigned long long)lf[i].size);
    }
    return 0;
}

/* After ossc_modeldir_prepare succeeded but the cache could not be built:
 * its placeholders go (beneath MODEL_DIR, see modeldir.c), so the
 * application, with the interposer inert, gets ENOENT and never reads a
 * placeholder's zeros.  The small files stay: they hold the real bytes. */
static void remove_prepared(const ossc_large_file *lf, size_t n)
{
    const char **rels = malloc((n ? n : 1) * sizeof(*rels));
    for (size_t i = 0; rels && i < n; i++)
        rels[i] = lf[i].rel;
    if (rels)
        ossc_modeldir_remove_placeholders(C.s.model_dir, rels, n);
    free(rels);
}

/* Builds MODEL_DIR and a new state file (under the setup lock). */
static int create_state(void)
{
    ossc_client *cl = client();
    if (!cl)
        return refuse(EIO, "cannot create the OSS client for %s", C.s.oss_path);
    ossc_large_file *lf = NULL;
    size_t n = 0;
    ossc_error err;
    if (ossc_modeldir_prepare(cl, &C.s, &lf, &n, &err) < 0) {
        refuse(err.code ? err.code : EIO, "cannot prepare MODEL_DIR %s from %s: %s",
               C.s.model_dir, C.s.oss_path, err.message);
        C.attach_err = err;
        return -1;
    }
    uint64_t *objcrc = calloc(n ? n : 1, sizeof(*objcrc));
    uint32_t *has_crc = calloc(n ? n : 1, sizeof(*has_crc));
    if (!objcrc || !has_crc || head_large_files(cl, lf, n, objcrc, has_crc) < 0) {
        if (!objcrc || !has_crc)
            refuse(ENOMEM, "out of memory preparing %s", C.s.model_dir);
        free(objcrc);
        free(has_crc);
        remove_prepared(lf, n);
        ossc_large_files_free(lf, n);
        return -1;
    }
    uint64_t chunk = ossc_client_part_size(cl), total = 0;
    for (size_t i = 0; i < n; i++)
        total += (lf[i].size + chunk - 1) / chunk;
    size_t len = state_size((uint32_t)n, total);
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "state.%d", (int)getpid());
    int fd = create_in_cache(tmp);
    void *m = MAP_FAILED;
    struct stat st;
    if (fd >= 0 && ftruncate(fd, (off_t)len) == 0 && fstat(fd, &st) == 0) {
        m = ossc_libc.mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        C.state_ino = st.st_ino;
    }
    if (fd >= 0)
        ossc_libc.close(fd);
    if (m == MAP_FAILED) {
        refuse(errno, "cannot create cache state %s/%s: %s", C.dir, tmp, strerror(errno));
        unlinkat(C.dirfd, tmp, 0);
        free(objcrc);
        free(has_crc);
        remove_prepared(lf, n);
        ossc_large_files_free(lf, n);
        return -1;
    }
    struct shm_header *h = m;
    h->magic = STATE_MAGIC;
    h->version = STATE_VERSION;
    h->nfiles = (uint32_t)n;
    h->chunk_size = chunk;
    h->total_chunks = total;
    snprintf(h->oss_path, sizeof(h->oss_path), "%s", C.s.oss_path);
    snprintf(h->model_dir, sizeof(h->model_dir), "%s", C.s.model_dir);
    bind_state(m, len);
    uint64_t next = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct shm_file *f = &C.files[i];
        snprintf(f->rel, sizeof(f->rel), "%s", lf[i].rel);
        snprintf(f->key, sizeof(f->key), "%s", lf[i].key);
        f->size = lf[i].size;
        f->first_chunk = next;
        f->nchunks = (f->size + chunk - 1) / chunk;
        f->object_crc = objcrc[i];
        f->has_crc = has_crc[i];
        next += f->nchunks;
        char name[32];
        snprintf(name, sizeof(name), "data.%zu", i);
        int dfd = create_in_cache(name);
        if (dfd < 0 || ftruncate(dfd, (off_t)f->size) < 0) {
            rc = refuse(errno, "cannot create cache file %s/%s: %s", C.dir, name,
                        strerror(errno));
        }
        if (dfd >= 0)
            ossc_libc.close(dfd);
    }
    free(objcrc);
    free(has_crc);
    if (rc == 0 && renameat(C.dirfd, tmp, C.dirfd, "state") < 0)
        rc = refuse(errno, "cannot install cache state %s/state: %s", C.dir, strerror(errno));
    if (rc < 0)
        remove_prepared(lf, n);
    ossc_large_files_free(lf, n);
    if (rc < 0) {
        remove_cache_files((uint32_t)n);
        unlinkat(C.dirfd, tmp, 0);
        ossc_libc.munmap(m, len);
        C.h = NULL;
        return -1;
    }
    atomic_store(&h->ready, 1);
    OSSC_INFO("MODEL_DIR %s mirrors %s: %u large files, %llu chunks of %llu bytes", C.s.model_dir,
              C.s.oss_path, h->nfiles, (unsigned long long)total, (unsigned long long)chunk);
    return 0;
}

/* The real path of MODEL_DIR, which names the cache: of the directory when
 * it exists, else of its parent (the first run creates MODEL_DIR). */
static void real_model_dir(const char *dir, char *out, size_t cap)
{
    char buf[PATH_MAX];
    if (realpath(dir, buf)) {
        snprintf(out, cap, "%s", buf);
        return;
    }
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if (realpath(parent, buf) && ossc_pathf(out, cap, "%s/%s", buf, slash + 1) == 0)
            return;
    }
    snprintf(out, cap, "%s", dir);
}

/* One try at attaching (see ossc_cache_attach): 0, -1 refused, or
 * ATTACH_INERT / ATTACH_AGAIN. */
static int attach_once(const char *name)
{
    int rootfd = open_root();
    if (rootfd < 0)
        return rootfd == -ATTACH_INERT ? ATTACH_INERT : -1;
    C.dirfd = open_cache_dir(rootfd, name);
    ossc_libc.close(rootfd);
    if (C.dirfd < 0) {
        int rc = C.dirfd == -ATTACH_INERT ? ATTACH_INERT : C.dirfd == -ATTACH_AGAIN ? ATTACH_AGAIN : -1;
        C.dirfd = -1;
        return rc;
    }
    /* Only a process with ENABLE_CONNECTOR creates: others join a live cache or stay inert. */
    C.lockfd = open_in_cache("lock", O_RDWR | (C.s.enable ? O_CREAT : 0), 0600);
    struct stat st;
    if (C.lockfd < 0) {
        int e = errno;
        close_cache_fds();
        if (missing(e))
            return C.s.enable ? ATTACH_AGAIN : ATTACH_INERT; /* removed meanwhile, or none */
        return refuse(e, "cannot open %s/lock: %s", C.dir, strerror(e));
    }
    if (fstat(C.lockfd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close_cache_fds();
        return refuse(EPERM, "%s/lock is not a regular file: refusing to use it", C.dir);
    }
    byte_lock(1, 1);
    if (fstat(C.lockfd, &st) < 0 || st.st_nlink == 0) {
        close_cache_fds(); /* the last one out removed it while we waited */
        return ATTACH_AGAIN;
    }
    bool created = false;
    int rc = map_existing();
    if (rc == 0 && strcmp(C.h->oss_path, C.s.oss_path) != 0) {
        int pid = live_user(true);
        if (pid) {
            char in_use[sizeof(C.h->oss_path)];
            snprintf(in_use, sizeof(in_use), "%s", C.h->oss_path);
            ossc_libc.munmap(C.h, C.state_len);
            C.h = NULL;
            byte_unlock(1);
            close_cache_fds();
            return refuse(EBUSY, "MODEL_DIR %s is in use for %s (process %d uses it): "
                          "refusing to mirror %s into it; use another MODEL_DIR, or wait until "
                          "those processes end", C.s.model_dir, in_use, pid, C.s.oss_path);
        }
    }
    if (rc == 0 && !users_alive(true)) {
        /* Left by processes that are all gone. */
        uint32_t n = C.h->nfiles;
        ossc_libc.munmap(C.h, C.state_len);
        C.h = NULL;
        if (C.s.enable)
            remove_cache_files(n); /* start over */
        rc = -1;
    }
    if (rc < 0 && !C.s.enable) {
        byte_unlock(1);
        close_cache_fds();
        return ATTACH_INERT; /* a process without ENABLE_CONNECTOR and nothing live to share */
    }
    if (rc < 0) {
        rc = create_state();
        created = rc == 0;
    }
    if (rc == 0) {
        register_pid();
        /* After an exec, what this pid's earlier image was fetching is lost. */
        if (!created)
            reclaim_abandoned(0, C.h->total_chunks);
    }
    if (created)
        start_watcher();
    if (rc < 0 && fstatat(C.dirfd, "state", &st, AT_SYMLINK_NOFOLLOW) < 0)
        remove_lock_and_dir(); /* nothing was built: leave nothing behind */
    byte_unlock(1);
    if (rc < 0)
        close_cache_fds();
    return rc;
}

/* Attaches to MODEL_DIR's cache, creating it when this process has
 * ENABLE_CONNECTOR and none is live.  0 attached; 1 inert (no
 * ENABLE_CONNECTOR and no live cache, or this one refused: a process
 * without ENABLE_CONNECTOR creates nothing and reports nothing on
 * stderr); -1 refused or failed, with the reason on stderr once and in
 * ossc_cache_attach_error(). */
int ossc_cache_attach(const ossc_preload_settings *s)
{
    C.tok = new_token();
    C.s = *s;
    memset(&C.attach_err, 0, sizeof(C.attach_err));
    real_model_dir(s->model_dir, C.model_dir_real, sizeof(C.model_dir_real));
    char name[64];
    snprintf(name, sizeof(name), "ossc-%u-%016llx", (unsigned)getuid(),
             (unsigned long long)fnv1a(C.model_dir_real));
    if (ossc_pathf(C.dir, sizeof(C.dir), "%s/%s", s->cache_root, name) < 0)
        return s->enable ? refuse(ENAMETOOLONG, "cache root %s: path too long", s->cache_root)
                         : ATTACH_INERT;
    int rc = ATTACH_AGAIN;
    for (int tries = 0; rc == ATTACH_AGAIN && tries < 100; tries++)
        rc = attach_once(name);
    if (rc == ATTACH_AGAIN)
        rc = refuse(EAGAIN, "cache directory %s kept disappearing while attaching", C.dir);
    if (rc < 0 && !s->enable)
        return ATTACH_INERT; /* logged; the process that has ENABLE_CONNECTOR reports */
    if (rc != 0)
        return rc;
    C.wfd = malloc((C.h->nfiles ? C.h->nfiles : 1) * sizeof(*C.wfd));
    C.told = calloc(C.h->nfiles ? C.h->nfiles : 1, sizeof(*C.told));
    for (uint32_t i = 0; C.wfd && i < C.h->nfiles; i++)
        C.wfd[i] = -1;
    real_model_dir(s->model_dir, C.model_dir_real, sizeof(C.model_dir_real));
    try_lead();
    return 0;
}

void ossc_cache_after_fork_child(void)
{
    pthread_mutex_init(&C.lock, NULL);
    C.client = NULL; /* the parent's engine threads do not exist here */
    C.leader = 0;    /* fcntl locks are not inherited */
    C.tok = new_token();
    if (C.h)
        register_pid();
}

void ossc_cache_detach(void)
{
    if (!C.h)
        return;
    if (C.leader) {
        atomic_store(&C.stop, true);
        pthread_join(C.prefetcher, NULL);
        C.leader = 0;
        atomic_store(&C.h->leader_pid, 0);
        byte_unlock(0);
    }
    byte_lock(1, 1);
    int me = getpid();
    for (int i = 0; i < MAX_PIDS; i++) {
        int expected = me;
        atomic_compare_exchange_strong(&C.h->pids[i], &expected, 0);
    }
    if (!users_alive(false))
        remove_everything();
    byte_unlock(1);
    wake_watcher();
}

/* ------------------------------------------------- in-process sessions */

/* inproc.c attaches, detaches and attaches again in one process; these
 * give it what the LD_PRELOAD lifecycle never needs. */

const ossc_error *ossc_cache_attach_error(void)
{
    return &C.attach_err;
}

/* After ossc_cache_detach: unmaps everything, closes the lock file and
 * frees this process's engine, so a later attach starts clean. */
void ossc_cache_reset(void)
{
    if (C.h) {
        for (uint32_t i = 0; C.wfd && i < C.h->nfiles; i++)
            if (C.wfd[i] >= 0)
                ossc_libc.close(C.wfd[i]);
        ossc_libc.munmap(C.h, C.state_len);
    }
    free(C.wfd);
    C.wfd = NULL;
    free(C.told);
    C.told = NULL;
    C.h = NULL;
    C.files = NULL;
    C.state = NULL;
    C.owner = C.errs = NULL;
    C.owner_tok = NULL;
    close_cache_fds();
    if (C.client && C.client_pid == getpid()) {
        ossc_in_hook++;
        ossc_client_free(C.client);
        ossc_in_hook--;
    }
    C.client = NULL;
    C.client_pid = 0;
    C.leader = 0;
    atomic_store(&C.stop, false);
}

uint32_t ossc_cache_nfiles(void)
{
    return C.h ? C.h->nfiles : 0;
}

const char *ossc_cache_file_key(int file)
{
    return C.files[file].key;
}

const char *ossc_cache_file_rel(int file)
{
    return C.files[file].rel;
}

int ossc_cache_data_path(int file, char *out, size_t cap)
{
    return ossc_pathf(out, cap, "%s/data.%d", C.dir, file);
}
