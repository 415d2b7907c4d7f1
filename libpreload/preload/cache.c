/* cache.c - one cache of a model's large files per node, shared by every
 * process that loads it.
 *
 * Layout in <cache_root>/ossc-<uid>-<hash>/ (directory 0700, files 0600):
 *   state     shared state: header, one record per large file, and one
 *             32-bit state word per chunk (ABSENT, FETCHING, READY, FAILED,
 *             RELEASING), mapped MAP_SHARED by every process;
 *   data.<i>  the bytes of large file i at their offsets (tmpfs when the
 *             root is /dev/shm).  Applications get real fds of these files,
 *             so any call we do not intercept still reads the right bytes
 *             once they are there, and mmap shares pages with no copy;
 *   lock      fcntl locks: byte 0 = prefetch leader, byte 1 = setup.
 *
 * A chunk is fetched by whoever claims it first (compare-and-swap ABSENT
 * -> FETCHING with its pid): the leader's prefetcher in file order, or a
 * process that needs it now.  Waiters sleep on the state word (futex).  A
 * claim by a process that died is taken back, and the leader lock passes
 * to another process, so loading continues when the fetching process dies.
 * Chunks are released (hole punched) only under the file's lock, when no
 * process has the file open or mapped, after the release delay. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "preload.h"

#define STATE_MAGIC 0x3143534fu /* "OSC1" */
#define STATE_VERSION 3
#define MAX_PIDS 512

enum chunk_state { ABSENT = 0, FETCHING = 1, READY = 2, FAILED = 3, RELEASING = 4 };

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
};

static struct {
    ossc_preload_settings s;
    char dir[PATH_MAX];
    char model_dir_real[PATH_MAX];
    int lockfd;
    struct shm_header *h;
    size_t state_len;
    ino_t state_ino;        /* of the state file this process created (the watcher's) */
    struct shm_file *files;
    atomic_uint *state;
    atomic_int *owner;
    atomic_int *errs;
    atomic_uint *owner_tok;
    unsigned tok;           /* this process image: new at attach, fork and exec */
    int *wfd;               /* per file: descriptor chunks are written through, lazily */
    pthread_mutex_t lock;   /* guards client creation and wfd */
    ossc_client *client;    /* of this pid (never carried across fork) */
    pid_t client_pid;
    int leader;
    pthread_t prefetcher;
    atomic_bool stop;
    ossc_error attach_err;  /* why the last attach failed (in-process callers) */
} C = {.lockfd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

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
    int fd = ossc_real.open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true; /* no /proc: trust kill() */
    ssize_t n = ossc_real.read(fd, buf, sizeof(buf) - 1);
    ossc_real.close(fd);
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
    return ossc_real.fcntl(C.lockfd, wait ? F_SETLKW : F_SETLK, &fl);
}

static void byte_unlock(int byte)
{
    struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
    ossc_real.fcntl(C.lockfd, F_SETLK, &fl);
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
        char path[PATH_MAX + 32];
        ossc_pathf(path, sizeof(path), "%s/data.%d", C.dir, i);
        fd = C.wfd[i] = ossc_real.open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            OSSC_ERROR("cannot open cache file %s: %s", path, strerror(errno));
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

static void settle(uint64_t gc, int err)
{
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
        settle(gc, EIO);
        return -1;
    }
    uint64_t off = c * C.h->chunk_size;
    ossc_in_hook++;
    fx->future = ossc_get_async_fd(cl, C.s.bucket, f->key, off, fx->len, fd, off, &err);
    ossc_in_hook--;
    if (!fx->future) {
        OSSC_ERROR("%s: %s", f->rel, err.message);
        settle(gc, err.code ? err.code : EIO);
        return -1;
    }
    return 0;
}

/* Waits for a started chunk and publishes its state. */
static void fetch_finish(fetch *fx)
{
    struct shm_file *f = &C.files[fx->file];
    uint64_t gc = f->first_chunk + fx->chunk;
    ossc_error err;
    ossc_in_hook++;
    int64_t n = ossc_future_wait(fx->future, &err);
    ossc_future_free(fx->future);
    ossc_in_hook--;
    fx->future = NULL;
    if (n == (int64_t)fx->len) {
        settle(gc, 0);
        return;
    }
    if (n >= 0)
        OSSC_ERROR("%s (oss://%s/%s): object is shorter than listed (%lld of %llu bytes at "
                   "chunk %llu): it changed after MODEL_DIR was prepared",
                   f->rel, C.s.bucket, f->key, (long long)n, (unsigned long long)fx->len,
                   (unsigned long long)fx->chunk);
    else
        OSSC_ERROR("%s: %s", f->rel, err.message);
    settle(gc, n >= 0 ? EIO : (err.code ? err.code : EIO));
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

int ossc_cache_wait(int file, uint64_t off, uint64_t len)
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
    char path[PATH_MAX + 32];
    ossc_pathf(path, sizeof(path), "%s/data.%d", C.dir, file);
    int fd = ossc_real.open(path, O_RDONLY | (flags & O_CLOEXEC));
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
            char path[PATH_MAX + 32];
            ossc_pathf(path, sizeof(path), "%s/data.%u", C.dir, i);
            int fd = ossc_real.open(path, O_RDWR | O_CLOEXEC);
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
                ossc_real.close(fd);
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

/* ------------------------------------------------------------ attach */

static uint64_t fnv1a(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = a; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = b; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static size_t state_size(uint32_t nfiles, uint64_t chunks)
{
    return sizeof(struct shm_header) + nfiles * sizeof(struct shm_file) +
           chunks * (2 * sizeof(atomic_uint) + 2 * sizeof(atomic_int));
}

static void bind_state(void *base, size_t len)
{
    C.h = base;
    C.state_len = len;
    C.files = (struct shm_file *)((char *)base + sizeof(struct shm_header));
    C.state = (atomic_uint *)(C.files + C.h->nfiles);
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

/* Any registered process alive (other than us, unless include_self: a
 * process that exec'd keeps the registration of its earlier image). */
static bool users_alive(bool include_self)
{
    int me = getpid();
    for (int i = 0; i < MAX_PIDS; i++) {
        int p = atomic_load(&C.h->pids[i]);
        if (p && (p != me || include_self) && pid_alive(p))
            return true;
    }
    return false;
}

static void remove_cache_dir(uint32_t nfiles)
{
    char path[PATH_MAX + 32];
    for (uint32_t i = 0; i < nfiles; i++) {
        ossc_pathf(path, sizeof(path), "%s/data.%u", C.dir, i);
        unlink(path);
    }
    ossc_pathf(path, sizeof(path), "%s/state", C.dir);
    unlink(path);
}

/* Last one out (under the setup lock): the cache goes, and so do the
 * placeholders (they would read as zeros without the interposer). */
static void remove_everything(void)
{
    for (uint32_t i = 0; i < C.h->nfiles; i++) {
        char ph[PATH_MAX];
        if (ossc_pathf(ph, sizeof(ph), "%s/%s", C.s.model_dir, C.files[i].rel) == 0)
            unlink(ph);
    }
    remove_cache_dir(C.h->nfiles);
    char lockpath[PATH_MAX + 32];
    ossc_pathf(lockpath, sizeof(lockpath), "%s/lock", C.dir);
    unlink(lockpath);
    rmdir(C.dir);
}

/* ------------------------------------------------------------ watcher */

/* Processes that leave without exit handlers (_exit, as dash does after a
 * command; a signal; exec into a program without us) cannot clean up, so
 * the process that creates a cache starts a watcher (a detached process,
 * see detached.c) that removes it, and the placeholders, once no
 * registered process is alive.  It is woken when a process detaches and
 * looks every second otherwise.  It also holds the data files open: the
 * last application process then exits without waiting for the kernel to
 * free the cache's pages; that happens here, after it left. */

#define WATCH_PERIOD_MS 1000

static void wake_watcher(void)
{
    atomic_fetch_add(&C.h->watch_seq, 1);
    futex_wake(&C.h->watch_seq);
}

/* True while the state file at our path is the one this watcher guards
 * (not removed by the last detach, not replaced by a newer cache). */
static bool still_ours(void)
{
    char path[PATH_MAX + 32];
    struct stat st;
    ossc_pathf(path, sizeof(path), "%s/state", C.dir);
    return stat(path, &st) == 0 && st.st_ino == C.state_ino;
}

static void watch(void *unused)
{
    (void)unused;
    ossc_in_hook = 1;
    int held[256];
    int nheld = 0;
    for (uint32_t i = 0; i < C.h->nfiles && nheld < (int)(sizeof(held) / sizeof(held[0])); i++) {
        char path[PATH_MAX + 32];
        ossc_pathf(path, sizeof(path), "%s/data.%u", C.dir, i);
        int fd = ossc_real.open(path, O_RDONLY | O_CLOEXEC);
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
    int keep[1] = {C.lockfd};
    if (C.lockfd <= 2 || ossc_spawn_detached(watch, NULL, keep, 1) < 0)
        OSSC_WARN("cannot start the cache watcher (%s): the cache in %s stays after a "
                  "process exits without exit handlers until the next run",
                  strerror(errno), C.dir);
}

/* Maps an existing, ready state file; 0 on success. */
static int map_existing(void)
{
    char path[PATH_MAX + 32];
    ossc_pathf(path, sizeof(path), "%s/state", C.dir);
    int fd = ossc_real.open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    void *m = MAP_FAILED;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(struct shm_header))
        m = ossc_real.mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ossc_real.close(fd);
    if (m == MAP_FAILED)
        return -1;
    struct shm_header *h = m;
    if (h->magic != STATE_MAGIC || h->version != STATE_VERSION || !atomic_load(&h->ready) ||
        state_size(h->nfiles, h->total_chunks) != (size_t)st.st_size) {
        ossc_real.munmap(m, (size_t)st.st_size);
        return -1;
    }
    bind_state(m, (size_t)st.st_size);
    return 0;
}

/* Builds MODEL_DIR and a new state file (under the setup lock). */
static int create_state(void)
{
    ossc_client *cl = client();
    if (!cl)
        return -1;
    ossc_large_file *lf = NULL;
    size_t n = 0;
    ossc_error err;
    if (ossc_modeldir_prepare(cl, &C.s, &lf, &n, &err) < 0) {
        OSSC_ERROR("cannot prepare MODEL_DIR %s from %s: %s", C.s.model_dir, C.s.oss_path,
                   err.message);
        C.attach_err = err;
        if (!C.s.in_process)
            fprintf(stderr, "oss-connector: cannot prepare MODEL_DIR %s from %s: %s\n",
                    C.s.model_dir, C.s.oss_path, err.message);
        return -1;
    }
    uint64_t chunk = ossc_client_part_size(cl), total = 0;
    for (size_t i = 0; i < n; i++)
        total += (lf[i].size + chunk - 1) / chunk;
    size_t len = state_size((uint32_t)n, total);
    char path[PATH_MAX + 32], tmp[PATH_MAX + 48];
    ossc_pathf(path, sizeof(path), "%s/state", C.dir);
    ossc_pathf(tmp, sizeof(tmp), "%s/state.%d", C.dir, (int)getpid());
    int fd = ossc_real.open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    void *m = MAP_FAILED;
    struct stat st;
    if (fd >= 0 && ftruncate(fd, (off_t)len) == 0 && fstat(fd, &st) == 0) {
        m = ossc_real.mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        C.state_ino = st.st_ino;
    }
    if (fd >= 0)
        ossc_real.close(fd);
    if (m == MAP_FAILED) {
        OSSC_ERROR("cannot create cache state %s: %s", tmp, strerror(errno));
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
        next += f->nchunks;
        char dpath[PATH_MAX + 32];
        ossc_pathf(dpath, sizeof(dpath), "%s/data.%zu", C.dir, i);
        int dfd = ossc_real.open(dpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (dfd < 0 || ftruncate(dfd, (off_t)f->size) < 0) {
            OSSC_ERROR("cannot create cache file %s: %s", dpath, strerror(errno));
            rc = -1;
        }
        if (dfd >= 0)
            ossc_real.close(dfd);
    }
    ossc_large_files_free(lf, n);
    if (rc == 0 && rename(tmp, path) < 0) {
        OSSC_ERROR("cannot install cache state %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc < 0) {
        unlink(tmp);
        ossc_real.munmap(m, len);
        C.h = NULL;
        return -1;
    }
    atomic_store(&h->ready, 1);
    OSSC_INFO("MODEL_DIR %s mirrors %s: %u large files, %llu chunks of %llu bytes", C.s.model_dir,
              C.s.oss_path, h->nfiles, (unsigned long long)total, (unsigned long long)chunk);
    return 0;
}

int ossc_cache_attach(const ossc_preload_settings *s)
{
    C.tok = new_token();
    C.s = *s;
    memset(&C.attach_err, 0, sizeof(C.attach_err));
    char dir[PATH_MAX];
    ossc_pathf(dir, sizeof(dir), "%s/ossc-%u-%016llx", s->cache_root, (unsigned)getuid(),
             (unsigned long long)fnv1a(s->oss_path, s->model_dir));
    ossc_pathf(C.dir, sizeof(C.dir), "%s", dir);
    if (mkdir(s->cache_root, 0700) < 0 && errno != EEXIST) {
        OSSC_ERROR("cannot create cache root %s: %s", s->cache_root, strerror(errno));
        return -1;
    }
    if (mkdir(C.dir, 0700) < 0 && errno != EEXIST) {
        OSSC_ERROR("cannot create cache directory %s: %s", C.dir, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(C.dir, &st) < 0 || st.st_uid != getuid() || (st.st_mode & 0077)) {
        OSSC_ERROR("cache directory %s is not private to this user: refusing to use it", C.dir);
        return -1;
    }
    char lockpath[PATH_MAX + 32];
    ossc_pathf(lockpath, sizeof(lockpath), "%s/lock", C.dir);
    C.lockfd = ossc_real.open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (C.lockfd < 0) {
        OSSC_ERROR("cannot open %s: %s", lockpath, strerror(errno));
        return -1;
    }
    byte_lock(1, 1);
    bool created = false;
    int rc = map_existing();
    if (rc == 0 && !users_alive(true) && s->enable) {
        /* Left by processes that are all gone: start over. */
        uint32_t n = C.h->nfiles;
        ossc_real.munmap(C.h, C.state_len);
        C.h = NULL;
        remove_cache_dir(n);
        rc = -1;
    }
    if (rc < 0) {
        if (!s->enable) {
            byte_unlock(1);
            return 1; /* a child without ENABLE_CONNECTOR and nothing to share */
        }
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
    if (rc < 0) {
        /* Nothing was built: leave no empty cache directory behind. */
        unlink(lockpath);
        rmdir(C.dir);
    }
    byte_unlock(1);
    if (rc < 0)
        return -1;
    C.wfd = malloc((C.h->nfiles ? C.h->nfiles : 1) * sizeof(*C.wfd));
    for (uint32_t i = 0; C.wfd && i < C.h->nfiles; i++)
        C.wfd[i] = -1;
    if (!realpath(C.s.model_dir, C.model_dir_real))
        snprintf(C.model_dir_real, sizeof(C.model_dir_real), "%s", C.s.model_dir);
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
    ossc_fd_release_all();
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
                ossc_real.close(C.wfd[i]);
        ossc_real.munmap(C.h, C.state_len);
    }
    free(C.wfd);
    C.wfd = NULL;
    C.h = NULL;
    C.files = NULL;
    C.state = NULL;
    C.owner = C.errs = NULL;
    C.owner_tok = NULL;
    if (C.lockfd >= 0)
        ossc_real.close(C.lockfd);
    C.lockfd = -1;
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
