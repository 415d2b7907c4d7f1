/* inproc.c - a model directory prepared inside one process (ossc_dir.h).
 *
 * Same directory and same shared cache as LD_PRELOAD mode (modeldir.c,
 * cache.c), attached on request instead of by a constructor.  Symlinks
 * mode fetches every large file, pins it (a user per file, so the janitor
 * never releases it) and links it into the directory; hooks mode turns
 * the exported hooks on and routes this process's calls to them by GOT
 * rewriting (gotpatch.c, inproc_hooks.c).
 *
 * Across fork: a child of a hooks-mode process keeps the hooks (its memory
 * is a copy) and registers with the cache like an LD_PRELOAD child; a
 * child of a symlinks-mode process only reads through the links and leaves
 * the pins to its parent. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "inproc.h"
#include "log.h"
#include "ossc_dir.h"
#include "interposer.h"

#define WAIT_STEP (128ull << 20) /* bytes waited for between deadline checks */

static struct {
    pthread_mutex_t lock;
    bool attached;
    bool inherited;     /* fork child of a symlinks-mode process */
    bool pinned;
    bool linked;
    bool atfork;
    ossc_dir_mode mode;
    ossc_preload_settings s;
    uint32_t nfiles;
    uint32_t wait_file; /* next file / offset to wait for */
    uint64_t wait_off;
    uint64_t done, total;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Credentials pushed from the caller (never a callback into Python from an
 * engine thread, which could need the GIL a hooked loader holds). */
static struct {
    pthread_mutex_t lock;
    ossc_credentials c;
    bool set;
} CR = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int pushed_credentials(void *userdata, ossc_credentials *out)
{
    (void)userdata;
    pthread_mutex_lock(&CR.lock);
    bool ok = CR.set;
    if (ok)
        *out = CR.c;
    pthread_mutex_unlock(&CR.lock);
    return ok ? 0 : -1;
}

int ossc_dir_set_credentials(const ossc_credentials *creds)
{
    pthread_mutex_lock(&CR.lock);
    CR.c = *creds;
    CR.set = true;
    pthread_mutex_unlock(&CR.lock);
    return 0;
}

static void forget_credentials(void)
{
    pthread_mutex_lock(&CR.lock);
    memset(&CR.c, 0, sizeof(CR.c));
    CR.set = false;
    pthread_mutex_unlock(&CR.lock);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------ fork */

static void after_fork_child(void)
{
    if (ossc_forking_detached)
        return; /* the cache's watcher, not an application process */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    S.lock = fresh;
    CR.lock = fresh;
    ossc_got_after_fork_child();
    if (!S.attached || S.inherited)
        return;
    if (S.mode == OSSC_DIR_HOOKS) {
        ossc_inproc_inflight_reset();
        ossc_cache_after_fork_child();
        ossc_fd_recount_after_fork();
    } else {
        S.inherited = true;
    }
}

/* ------------------------------------------------------------ settings */

static int settings_from(ossc_preload_settings *s, const ossc_client_options *co,
                         const ossc_dir_options *o, ossc_error *err)
{
    memset(s, 0, sizeof(*s));
    s->in_process = true;
    s->enable = true;
    if (ossc_pathf(s->endpoint, sizeof(s->endpoint), "%s", co->endpoint) < 0 ||
        ossc_pathf(s->region, sizeof(s->region), "%s", co->region ? co->region : "") < 0 ||
        ossc_pathf(s->config_path, sizeof(s->config_path), "%s",
                   co->config_path ? co->config_path : "") < 0 ||
        ossc_pathf(s->cred_path, sizeof(s->cred_path), "%s",
                   co->cred_path ? co->cred_path : "") < 0)
        return ossc_error_set(err, EINVAL, "endpoint, region, config or credential path too long");
    if (o->pushed_credentials) {
        s->cred_callback = pushed_credentials;
    } else {
        s->cred_callback = co->cred_callback;
        s->cred_userdata = co->cred_userdata;
    }

    char key[1024];
    if (ossc_parse_uri(o->uri, s->bucket, sizeof(s->bucket), key, sizeof(key), err) < 0)
        return -1;
    size_t kl = strlen(key);
    if (ossc_pathf(s->prefix, sizeof(s->prefix), "%s%s", key,
                   kl && key[kl - 1] != '/' ? "/" : "") < 0 ||
        ossc_pathf(s->oss_path, sizeof(s->oss_path), "oss://%s/%s", s->bucket, s->prefix) < 0)
        return ossc_error_set(err, EINVAL, "%s: prefix too long", o->uri);

    int rc = 0;
    if (o->dir[0] == '/') {
        rc = ossc_pathf(s->model_dir, sizeof(s->model_dir), "%s", o->dir);
    } else {
        char cwd[PATH_MAX];
        rc = getcwd(cwd, sizeof(cwd)) ? ossc_pathf(s->model_dir, sizeof(s->model_dir), "%s/%s",
                                                   cwd, o->dir)
                                      : -1;
    }
    if (rc < 0)
        return ossc_error_set(err, ENAMETOOLONG, "%s: cannot make the path absolute", o->dir);
    size_t ml = strlen(s->model_dir);
    while (ml > 1 && s->model_dir[ml - 1] == '/')
        s->model_dir[--ml] = '\0';
    if (strcmp(s->model_dir, "/") == 0)
        return ossc_error_set(err, EINVAL, "the model directory must not be '/'");

    if (ossc_settings_tunables(s, err) < 0)
        return -1;
    bool env_lazy = s->lazy;
    if (o->small_file_size == 0)
        return ossc_error_set(err, EINVAL, "small_file_size must be positive");
    if (o->small_file_size > 0)
        s->small_file_size = (uint64_t)o->small_file_size;
    if (o->memory_limit == 0)
        return ossc_error_set(err, EINVAL, "memory_limit must be positive");
    if (o->memory_limit > 0)
        s->memory_limit = (uint64_t)o->memory_limit;
    if (o->release_delay_s > 86400)
        return ossc_error_set(err, EINVAL, "release_delay must be 0..86400 seconds");
    if (o->release_delay_s >= 0)
        s->release_delay_s = o->release_delay_s;
    if (o->cache_root && o->cache_root[0] &&
        ossc_pathf(s->cache_root, sizeof(s->cache_root), "%s", o->cache_root) < 0)
        return ossc_error_set(err, ENAMETOOLONG, "%s: cache directory path too long",
                              o->cache_root);
    if (o->mode == OSSC_DIR_HOOKS) {
        s->lazy = o->lazy < 0 ? env_lazy : o->lazy != 0;
    } else {
        if (o->lazy > 0)
            return ossc_error_set(err, EINVAL,
                                  "lazy loading needs the in-process hooks (libc_hook=True): "
                                  "without them every large file is fetched before the "
                                  "directory is usable");
        s->lazy = false; /* OSSC_LAZY only concerns hooks */
    }
    if (mkdir(s->cache_root, 0700) < 0 && errno != EEXIST)
        return ossc_error_set(err, errno, "cannot create the cache directory %s: %s",
                              s->cache_root, strerror(errno));
    return 0;
}

/* ------------------------------------------------------------ symlinks */

/* The large files must fit where the cache lives (tmpfs: RAM). */
static int check_space(ossc_error *err)
{
    uint64_t need = 0;
    char path[PATH_MAX + 32];
    for (uint32_t i = 0; i < S.nfiles; i++) {
        struct stat st;
        uint64_t have = 0;
        if (ossc_cache_data_path((int)i, path, sizeof(path)) == 0 && stat(path, &st) == 0)
            have = (uint64_t)st.st_blocks * 512u;
        uint64_t size = ossc_cache_file_size((int)i);
        need += size > have ? size - have : 0;
    }
    struct statvfs vf;
    if (S.nfiles == 0 || ossc_cache_data_path(0, path, sizeof(path)) < 0 || statvfs(path, &vf) < 0)
        return 0;
    uint64_t avail = (uint64_t)vf.f_bavail * vf.f_frsize;
    if (need > avail)
        return ossc_error_set(err, ENOSPC,
                              "%s needs %llu more bytes in %s for its large files, %llu are "
                              "free: use libc_hook=True (optionally lazy) or a larger cache "
                              "directory",
                              S.s.oss_path, (unsigned long long)need, S.s.cache_root,
                              (unsigned long long)avail);
    return 0;
}

static void pin_all(bool pin)
{
    if (S.pinned == pin)
        return;
    for (uint32_t i = 0; i < S.nfiles; i++) {
        if (pin) {
            ossc_cache_user_add((int)i);
            ossc_cache_demand((int)i);
        } else {
            ossc_cache_user_drop((int)i);
        }
    }
    S.pinned = pin;
}

/* Replaces each placeholder by a symlink to its (complete) cache file,
 * beneath MODEL_DIR's descriptor (modeldir.c): never through a link. */
static int link_all(ossc_error *err)
{
    for (uint32_t i = 0; i < S.nfiles; i++) {
        char data[PATH_MAX + 32];
        if (ossc_cache_data_path((int)i, data, sizeof(data)) < 0)
            return ossc_error_set(err, ENAMETOOLONG, "%s/%s: path too long", S.s.model_dir,
                                  ossc_cache_file_rel((int)i));
        if (ossc_modeldir_link_placeholder(S.s.model_dir, ossc_cache_file_rel((int)i), data,
                                           err) < 0)
            return -1;
    }
    S.linked = true;
    OSSC_INFO("%s: %u large files in the cache, linked from %s", S.s.oss_path, S.nfiles,
              S.s.model_dir);
    return 0;
}

/* ------------------------------------------------------------ teardown */

/* Files the application still has open (hooks mode): read through real
 * fds of the cache files after the hooks are gone, so complete them. */
static void complete_open_files(void)
{
    bool *open = calloc(S.nfiles ? S.nfiles : 1, sizeof(bool));
    if (!open)
        return;
    for (int fd = 0; fd < 65536; fd++) {
        int f = ossc_fd_get(fd);
        if (f >= 0 && (uint32_t)f < S.nfiles)
            open[f] = true;
    }
    for (uint32_t i = 0; i < S.nfiles; i++)
        if (open[i] && ossc_cache_wait((int)i, 0, ossc_cache_file_size((int)i)) < 0)
            OSSC_WARN("%s still open at close but could not be completed: %s",
                      ossc_cache_file_rel((int)i), strerror(errno));
    free(open);
}

static void teardown(void)
{
    if (S.mode == OSSC_DIR_HOOKS) {
        ossc_got_uninstall();
        atomic_store(&ossc_preload_active, false);
        while (ossc_inproc_inflight() > 0) {
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
        }
        complete_open_files();
    }
    pin_all(false);
    ossc_in_hook++;
    ossc_fd_release_all(); /* our fds and mappings stop counting as users */
    ossc_cache_detach();
    ossc_cache_reset();
    ossc_in_hook--;
    forget_credentials();
    S.attached = false;
    S.inherited = false;
    S.linked = false;
}

/* ------------------------------------------------------------ public */

static int prepare_locked(const ossc_client_options *co, const ossc_dir_options *o,
                          ossc_error *err)
{
    if (S.attached && S.inherited) {
        ossc_cache_reset(); /* the parent's session: not ours to end */
        S.attached = S.inherited = false;
    }
    if (S.attached)
        return ossc_error_set(err, EBUSY,
                              "this process already serves %s from %s: close that connector "
                              "first (one prepared directory per process)",
                              S.s.model_dir, S.s.oss_path);
    if (atomic_load(&ossc_preload_active))
        return ossc_error_set(err, EBUSY,
                              "libossc_preload.so is active through LD_PRELOAD in this process: "
                              "its OSS_PATH/MODEL_DIR already serve the model");
    if (settings_from(&S.s, co, o, err) < 0)
        return -1;
    S.mode = o->mode;

    ossc_in_hook++;
    int rc = ossc_cache_attach(&S.s);
    ossc_in_hook--;
    if (rc != 0) {
        const ossc_error *ae = ossc_cache_attach_error();
        if (ae->code)
            *err = *ae;
        else
            ossc_error_set(err, EIO,
                           "cannot attach the shared cache in %s for %s (see the connector "
                           "log)",
                           S.s.cache_root, S.s.model_dir);
        ossc_cache_reset();
        return -1;
    }
    S.attached = true;
    S.pinned = S.linked = S.inherited = false;
    S.nfiles = ossc_cache_nfiles();
    S.wait_file = 0;
    S.wait_off = 0;
    S.done = 0;
    S.total = 0;
    for (uint32_t i = 0; i < S.nfiles; i++)
        S.total += ossc_cache_file_size((int)i);
    ossc_fd_owner_reset(); /* this process owns the fd table (fdtable.c) */
    if (!S.atfork) {
        pthread_atfork(NULL, NULL, after_fork_child);
        S.atfork = true;
    }

    if (S.mode == OSSC_DIR_HOOKS) {
        const ossc_got_target *targets;
        size_t n;
        char real[PATH_MAX];
        if (!realpath(S.s.model_dir, real))
            snprintf(real, sizeof(real), "%s", S.s.model_dir);
        ossc_inproc_set_dirs(S.s.model_dir, real);
        atomic_store(&ossc_preload_active, true);
        if (ossc_inproc_targets(&targets, &n, err) < 0 || ossc_got_install(targets, n, err) < 0) {
            teardown();
            return -1;
        }
        S.linked = true; /* nothing to wait for */
        OSSC_INFO("in-process hooks active: %s <- %s (%u large files%s)", S.s.model_dir,
                  S.s.oss_path, S.nfiles, S.s.lazy ? ", lazy" : "");
        return 0;
    }
    if (check_space(err) < 0) {
        teardown();
        return -1;
    }
    pin_all(true);
    return 0;
}

int ossc_dir_prepare(const ossc_client_options *co, const ossc_dir_options *o, ossc_error *err)
{
    if (!co || !co->endpoint || !co->endpoint[0] || !o || !o->uri || !o->dir || !o->dir[0])
        return ossc_error_set(err, EINVAL, "prepare_directory: endpoint, uri and dir are required");
    if (o->mode != OSSC_DIR_SYMLINKS && o->mode != OSSC_DIR_HOOKS)
        return ossc_error_set(err, EINVAL, "prepare_directory: unknown mode %d", (int)o->mode);
    ossc_real_resolve();
    pthread_mutex_lock(&S.lock);
    int rc = prepare_locked(co, o, err);
    pthread_mutex_unlock(&S.lock);
    return rc;
}

int ossc_dir_wait(int timeout_ms, uint64_t *done, uint64_t *total, ossc_error *err)
{
    pthread_mutex_lock(&S.lock);
    int rc = 0;
    if (!S.attached || S.inherited) {
        rc = ossc_error_set(err, EINVAL, "no directory is prepared in this process");
        goto out;
    }
    uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    while (!S.linked && S.wait_file < S.nfiles) {
        int f = (int)S.wait_file;
        uint64_t size = ossc_cache_file_size(f);
        uint64_t len = size - S.wait_off < WAIT_STEP ? size - S.wait_off : WAIT_STEP;
        ossc_in_hook++;
        int w = ossc_cache_fetch(f, S.wait_off, len);
        if (w == 0 && S.wait_off + len >= size)
            w = ossc_cache_wait(f, 0, size); /* the file's CRC, before it is linked */
        ossc_in_hook--;
        if (w < 0) {
            int e = errno ? errno : EIO;
            rc = ossc_error_set(err, e, "cannot fetch oss://%s/%s (%s/%s): %s", S.s.bucket,
                                ossc_cache_file_key(f), S.s.model_dir, ossc_cache_file_rel(f),
                                strerror(e));
            goto out;
        }
        S.wait_off += len;
        S.done += len;
        if (S.wait_off >= size) {
            S.wait_file++;
            S.wait_off = 0;
        }
        if (now_ms() >= deadline)
            break;
    }
    if (!S.linked && S.wait_file >= S.nfiles && link_all(err) < 0) {
        rc = -1;
        goto out;
    }
    rc = S.linked ? 1 : 0;
out:
    if (done)
        *done = S.mode == OSSC_DIR_HOOKS ? S.total : S.done;
    if (total)
        *total = S.total;
    pthread_mutex_unlock(&S.lock);
    return rc;
}

int ossc_dir_close(ossc_error *err)
{
    (void)err;
    pthread_mutex_lock(&S.lock);
    if (S.attached && S.inherited) {
        ossc_cache_reset();
        S.attached = S.inherited = false;
    } else if (S.attached) {
        teardown();
    }
    pthread_mutex_unlock(&S.lock);
    return 0;
}

int ossc_dir_hooked_slots(void)
{
    return (int)ossc_got_patched();
}
