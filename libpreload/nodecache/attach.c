/* attach.c - attaching to MODEL_DIR's cache (opening and checking the
 * cache root and directory, joining a live cache or building one), fork,
 * detach and reset. */
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
#include "landing.h"
#include "log.h"
#include "cache_internal.h"

/* ------------------------------------------------------------ attach */

struct cache_process NC = {.source = &ossc_engine_chunk_source, .catalog = &ossc_engine_catalog, .dirfd = -1, .lockfd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

/* An attach that cannot go on: logged, kept for in-process callers, and
 * told on stderr by a process with ENABLE_CONNECTOR (which then drops it
 * for the processes it starts: one message per process tree). */
__attribute__((format(printf, 2, 3))) int nc_refuse(int code, const char *fmt, ...)
{
    char msg[sizeof(NC.attach_err.message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ossc_error_set(&NC.attach_err, code, "%s", msg);
    OSSC_ERROR("%s", msg);
    if (!NC.s.in_process && NC.s.enable)
        fprintf(stderr, "oss-connector: %s\n", msg);
    errno = code;
    return -1;
}

void nc_close_cache_fds(void)
{
    if (NC.lockfd >= 0)
        ossc_libc.close(NC.lockfd);
    if (NC.dirfd >= 0)
        ossc_libc.close(NC.dirfd);
    NC.lockfd = NC.dirfd = -1;
}

bool nc_missing(int e)
{
    return e == ENOENT;
}

/* Opens the cache root, creating it 0700 when nc_missing (only a process with
 * ENABLE_CONNECTOR creates anything).  It must be a directory, not a
 * symlink, and sticky when others may write in it (as /dev/shm and /tmp
 * are): there, nobody else can rename or remove our entries. */
int nc_open_root(void)
{
    char root[sizeof(NC.s.cache_root)];
    snprintf(root, sizeof(root), "%s", NC.s.cache_root);
    for (size_t n = strlen(root); n > 1 && root[n - 1] == '/';)
        root[--n] = '\0'; /* "link/" would follow the link */
    if (NC.s.enable && mkdir(root, 0700) < 0 && errno != EEXIST)
        return nc_refuse(errno, "cannot create the cache root %s (OSSC_CACHE_DIR): %s", root,
                      strerror(errno));
    int fd = ossc_libc.open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && nc_missing(errno) && !NC.s.enable)
        return -ATTACH_INERT;
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
        return nc_refuse(ENOTDIR, "cache root %s (OSSC_CACHE_DIR) is a symlink or not a directory: "
                      "refusing to use it", root);
    if (fd < 0)
        return nc_refuse(errno, "cannot open the cache root %s (OSSC_CACHE_DIR): %s", root,
                      strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || ((st.st_mode & 0022) && !(st.st_mode & S_ISVTX))) {
        ossc_libc.close(fd);
        return nc_refuse(EPERM, "cache root %s (OSSC_CACHE_DIR) is writable by others and not "
                      "sticky (mode %04o): refusing to use it (make it 0700, or sticky as "
                      "/dev/shm is: chmod +t)", root, (unsigned)(st.st_mode & 07777));
    }
    /* The owner of a directory may rename or remove any entry in it, sticky
     * or not: a root of another user's would let that user swap our cache
     * directory's name under us. */
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        ossc_libc.close(fd);
        return nc_refuse(EPERM, "cache root %s (OSSC_CACHE_DIR) belongs to uid %u, neither us "
                      "(uid %u) nor root: refusing to use it, as its owner could replace our "
                      "cache there (use a directory of ours, or /dev/shm)",
                      root, (unsigned)st.st_uid, (unsigned)geteuid());
    }
    return fd;
}

/* Opens our cache directory in the root (creating it 0700 when we may):
 * never through a symlink, and only when it is a directory owned by our
 * effective uid that nobody else can enter. */
int nc_open_cache_dir(int rootfd, const char *name)
{
    if (NC.s.enable && mkdirat(rootfd, name, 0700) < 0 && errno != EEXIST)
        return nc_refuse(errno, "cannot create the cache directory %s: %s", NC.dir, strerror(errno));
    int fd = ossc_libc.openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && nc_missing(errno))
        return NC.s.enable ? -ATTACH_AGAIN : -ATTACH_INERT;
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
        return nc_refuse(ENOTDIR, "cache directory %s is a symlink or not a directory (planted by "
                      "another user?): refusing to use it; remove it", NC.dir);
    if (fd < 0)
        return nc_refuse(errno, "cannot open the cache directory %s: %s", NC.dir, strerror(errno));
    struct stat st;
    int e = fstat(fd, &st) < 0 ? errno : 0;
    if (e || st.st_uid != geteuid() || (st.st_mode & 0077)) {
        ossc_libc.close(fd);
        if (e)
            return nc_refuse(e, "cannot inspect the cache directory %s: %s", NC.dir, strerror(e));
        if (st.st_uid != geteuid())
            return nc_refuse(EPERM, "cache directory %s belongs to uid %u, not to us (uid %u) "
                          "(planted by another user?): refusing to use it; remove it", NC.dir,
                          (unsigned)st.st_uid, (unsigned)geteuid());
        return nc_refuse(EPERM, "cache directory %s has mode %04o, others may enter it: refusing "
                      "to use it; remove it", NC.dir, (unsigned)(st.st_mode & 07777));
    }
    return fd;
}

/* The real path of MODEL_DIR, which names the cache: of the directory when
 * it exists, else of its parent (the first run creates MODEL_DIR). */
void nc_real_model_dir(const char *dir, char *out, size_t cap)
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
 * ATTACH_INERT / ATTACH_AGAIN.  One function (about 80 lines) because every
 * step runs under the setup lock, which each exit path must release. */
int nc_attach_once(const char *name)
{
    int rootfd = nc_open_root();
    if (rootfd < 0)
        return rootfd == -ATTACH_INERT ? ATTACH_INERT : -1;
    NC.dirfd = nc_open_cache_dir(rootfd, name);
    ossc_libc.close(rootfd);
    if (NC.dirfd < 0) {
        int rc = NC.dirfd == -ATTACH_INERT ? ATTACH_INERT : NC.dirfd == -ATTACH_AGAIN ? ATTACH_AGAIN : -1;
        NC.dirfd = -1;
        return rc;
    }
    /* Only a process with ENABLE_CONNECTOR creates: others join a live cache or stay inert. */
    NC.lockfd = nc_open_in_cache("lock", O_RDWR | (NC.s.enable ? O_CREAT : 0), 0600);
    struct stat st;
    if (NC.lockfd < 0) {
        int e = errno;
        nc_close_cache_fds();
        if (nc_missing(e))
            return NC.s.enable ? ATTACH_AGAIN : ATTACH_INERT; /* removed meanwhile, or none */
        return nc_refuse(e, "cannot open %s/lock: %s", NC.dir, strerror(e));
    }
    if (fstat(NC.lockfd, &st) < 0 || !S_ISREG(st.st_mode)) {
        nc_close_cache_fds();
        return nc_refuse(EPERM, "%s/lock is not a regular file: refusing to use it", NC.dir);
    }
    nc_byte_lock(1, 1);
    if (fstat(NC.lockfd, &st) < 0 || st.st_nlink == 0) {
        nc_close_cache_fds(); /* the last one out removed it while we waited */
        return ATTACH_AGAIN;
    }
    bool created = false;
    int rc = nc_map_existing();
    if (rc == 0 && strcmp(NC.h->oss_path, NC.s.oss_path) != 0) {
        int pid = nc_live_user(true);
        if (pid) {
            char in_use[sizeof(NC.h->oss_path)];
            snprintf(in_use, sizeof(in_use), "%s", NC.h->oss_path);
            ossc_libc.munmap(NC.h, NC.state_len);
            NC.h = NULL;
            nc_byte_unlock(1);
            nc_close_cache_fds();
            return nc_refuse(EBUSY, "MODEL_DIR %s is in use for %s (process %d uses it): "
                          "refusing to mirror %s into it; use another MODEL_DIR, or wait until "
                          "those processes end", NC.s.model_dir, in_use, pid, NC.s.oss_path);
        }
    }
    if (rc == 0 && !nc_users_alive(true)) {
        /* Left by processes that are all gone. */
        uint32_t n = NC.h->nfiles;
        ossc_libc.munmap(NC.h, NC.state_len);
        NC.h = NULL;
        if (NC.s.enable)
            nc_remove_cache_files(n); /* start over */
        rc = -1;
    }
    if (rc < 0 && !NC.s.enable) {
        nc_byte_unlock(1);
        nc_close_cache_fds();
        return ATTACH_INERT; /* a process without ENABLE_CONNECTOR and nothing live to share */
    }
    if (rc < 0) {
        rc = nc_create_state();
        created = rc == 0;
    }
    if (rc == 0) {
        nc_register_pid();
        /* After an exec, what this pid's earlier image was fetching is lost. */
        if (!created)
            nc_reclaim_abandoned(0, NC.h->total_chunks);
    }
    if (created)
        nc_start_watcher();
    if (rc < 0 && fstatat(NC.dirfd, "state", &st, AT_SYMLINK_NOFOLLOW) < 0)
        nc_remove_lock_and_dir(); /* nothing was built: leave nothing behind */
    nc_byte_unlock(1);
    if (rc < 0)
        nc_close_cache_fds();
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
    NC.tok = nc_new_token();
    NC.s = *s;
    memset(&NC.attach_err, 0, sizeof(NC.attach_err));
    nc_real_model_dir(s->model_dir, NC.model_dir_real, sizeof(NC.model_dir_real));
    char name[64];
    snprintf(name, sizeof(name), "ossc-%u-%016llx", (unsigned)getuid(),
             (unsigned long long)nc_fnv1a(NC.model_dir_real));
    if (ossc_pathf(NC.dir, sizeof(NC.dir), "%s/%s", s->cache_root, name) < 0)
        return s->enable ? nc_refuse(ENAMETOOLONG, "cache root %s: path too long", s->cache_root)
                         : ATTACH_INERT;
    int rc = ATTACH_AGAIN;
    for (int tries = 0; rc == ATTACH_AGAIN && tries < 100; tries++)
        rc = nc_attach_once(name);
    if (rc == ATTACH_AGAIN)
        rc = nc_refuse(EAGAIN, "cache directory %s kept disappearing while attaching", NC.dir);
    if (rc < 0 && !s->enable)
        return ATTACH_INERT; /* logged; the process that has ENABLE_CONNECTOR reports */
    if (rc != 0)
        return rc;
    NC.wfd = malloc((NC.h->nfiles ? NC.h->nfiles : 1) * sizeof(*NC.wfd));
    NC.told = calloc(NC.h->nfiles ? NC.h->nfiles : 1, sizeof(*NC.told));
    for (uint32_t i = 0; NC.wfd && i < NC.h->nfiles; i++)
        NC.wfd[i] = -1;
    nc_real_model_dir(s->model_dir, NC.model_dir_real, sizeof(NC.model_dir_real));
    struct stat md;
    NC.model_dev = stat(NC.model_dir_real, &md) == 0 ? (uint64_t)md.st_dev : 0;
    ossc_land_use_hugepages(s->hugepages); /* for the mappings chunks land through */
    nc_bc_attach(); /* before the prefetcher: chunks from peers when broadcasting */
    nc_try_lead();
    return 0;
}

void ossc_cache_after_fork_child(void)
{
    pthread_mutex_init(&NC.lock, NULL);
    NC.client = NULL; /* the parent's engine threads do not exist here */
    NC.leader = 0;    /* fcntl locks are not inherited */
    NC.tok = nc_new_token();
    if (NC.h)
        nc_register_pid();
}

void ossc_cache_detach(void)
{
    if (!NC.h)
        return;
    if (NC.leader) {
        nc_stop_prefetcher();
        pthread_join(NC.prefetcher, NULL);
        NC.leader = 0;
        atomic_store(&NC.h->leader_pid, 0);
        nc_byte_unlock(0);
    }
    nc_byte_lock(1, 1);
    int me = getpid();
    for (int i = 0; i < MAX_PIDS; i++) {
        int expected = me;
        atomic_compare_exchange_strong(&NC.h->pids[i], &expected, 0);
    }
    if (!nc_users_alive(false)) {
        /* Leaving the process (not an in-process session that lives on):
         * its exit drops its descriptors and mappings of the data files, and
         * the last reference frees their pages -- gigabytes, hundreds of
         * milliseconds -- in whoever drops it.  The watcher waits for this
         * pid to be gone before it drops its own, so that is the watcher. */
        if (!NC.s.in_process)
            atomic_store(&NC.h->leaving_pid, me);
        nc_remove_everything();
    }
    nc_byte_unlock(1);
    nc_wake_watcher();
}

/* ------------------------------------------------- in-process sessions */

/* inproc.c attaches, detaches and attaches again in one process; these
 * give it what the LD_PRELOAD lifecycle never needs. */

const ossc_error *ossc_cache_attach_error(void)
{
    return &NC.attach_err;
}

/* After ossc_cache_detach: unmaps everything, closes the lock file and
 * frees this process's engine, so a later attach starts clean. */
void ossc_cache_reset(void)
{
    if (NC.h) {
        for (uint32_t i = 0; NC.wfd && i < NC.h->nfiles; i++)
            if (NC.wfd[i] >= 0)
                ossc_libc.close(NC.wfd[i]);
        ossc_libc.munmap(NC.h, NC.state_len);
    }
    free(NC.wfd);
    NC.wfd = NULL;
    free(NC.told);
    NC.told = NULL;
    NC.h = NULL;
    NC.files = NULL;
    NC.state = NULL;
    NC.owner = NC.errs = NULL;
    NC.owner_tok = NULL;
    NC.origin = NULL;
    nc_bc_detach();
    nc_close_cache_fds();
    if (NC.client && NC.client_pid == getpid()) {
        ossc_in_hook++;
        ossc_client_free(NC.client);
        ossc_in_hook--;
    }
    NC.client = NULL;
    NC.client_pid = 0;
    NC.leader = 0;
    atomic_store(&NC.stop, false);
}
