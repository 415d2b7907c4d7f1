/* lifecycle.c - turning the interposer on at load, across fork, at exit.
 *
 * Active only when this library really interposes (it was LD_PRELOADed, so
 * `open` resolves to ours) and OSS_PATH/MODEL_DIR are set.  When the same
 * library is dlopen'ed as the Python package's engine, nothing happens. */
#include <dlfcn.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "interposer.h"

atomic_bool ossc_preload_active;

static bool interposing(void)
{
    extern int open(const char *, int, ...);
    void *first = dlsym(RTLD_DEFAULT, "open");
    return first == (void *)&open;
}

static void before_fork(void)
{
}

static void after_fork_child(void)
{
    if (ossc_forking_detached || !atomic_load(&ossc_preload_active))
        return;
    ossc_cache_after_fork_child();
    ossc_fd_recount_after_fork();
}

static void at_exit(void)
{
    if (!atomic_exchange(&ossc_preload_active, false))
        return;
    ossc_in_hook++;
    ossc_map_advise_all_for_exit(); /* the exit's unmapping skips accessed bits */
    ossc_fd_release_all(); /* our fds and mappings stop counting as users */
    ossc_cache_detach();
    ossc_in_hook--;
}

/* unsetenv, done by hand: bash defines its own unsetenv, which would
 * resolve ahead of libc's and, before bash's main, change nothing. */
static void drop_from_environ(const char *name)
{
    extern char **environ;
    size_t n = strlen(name);
    for (char **ep = environ; ep && *ep;) {
        if (strncmp(*ep, name, n) == 0 && (*ep)[n] == '=') {
            char **dp = ep;
            do
                dp[0] = dp[1];
            while (*dp++);
        } else {
            ep++;
        }
    }
}

/* After a failed setup (reported once, here): the engine's threads go, and
 * so does ENABLE_CONNECTOR from this process's environment -- before main,
 * so a shell's own variables never hold it -- so that the processes it
 * starts (wrappers such as pyenv's shims run several, and exec) stay inert
 * instead of each trying, waiting for retries and printing the error again. */
static void give_up(void)
{
    ossc_cache_reset();
    drop_from_environ("ENABLE_CONNECTOR");
}

/* An invalid setting is reported once per process tree: by the first
 * process that has ENABLE_CONNECTOR (give_up then drops it), or, in a tree
 * without it, by the first process that meets a malformed tunable
 * (OSSC_*), which drops that variable: the processes it starts run with
 * the default, and none of them repeats the message.  A process without
 * ENABLE_CONNECTOR whose OSS_PATH, MODEL_DIR or endpoint is unusable has
 * nothing to join: it stays inert, in the log only. */
static void settings_failed(const ossc_preload_settings *s, const ossc_error *err)
{
    bool tunable = strncmp(s->bad_env, "OSSC_", 5) == 0;
    OSSC_ERROR("%s: connector disabled", err->message);
    if (s->enable || tunable)
        fprintf(stderr, "oss-connector: %s: connector disabled\n", err->message);
    if (tunable)
        drop_from_environ(s->bad_env);
}

__attribute__((constructor)) static void ossc_preload_init(void)
{
    ossc_real_resolve();
    if (!getenv("OSS_PATH") || !getenv("MODEL_DIR") || !interposing())
        return;
    ossc_in_hook++;
    /* libcrypto frees its state in an exit handler of its own, which runs
     * before ours (at_exit, from our destructor): an I/O thread still
     * signing a prefetch then crashes the exiting program (SIGSEGV in
     * CRYPTO_THREAD_read_lock).  Before our first use of it, tell libcrypto
     * to leave its state to the kernel at exit. */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
    ossc_config cfg;
    ossc_error err;
    const char *cfg_path = getenv(OSSC_CONFIG_ENV);
    if (ossc_config_load(cfg_path && cfg_path[0] ? cfg_path : NULL, &cfg, &err) == 0)
        ossc_log_init(cfg.log_level, cfg.log_path);
    ossc_preload_settings s;
    int rc = ossc_settings_load(&s, &err);
    if (rc < 0)
        settings_failed(&s, &err);
    if (rc == 0) {
        ossc_fd_note_inherited(); /* before the cache opens files of its own */
        rc = ossc_cache_attach(&s);
    }
    if (rc == 0) {
        ossc_fd_owner_reset();
        ossc_fd_adopt_inherited();
        pthread_atfork(before_fork, NULL, after_fork_child);
        atexit(at_exit);
        atomic_store(&ossc_preload_active, true);
        OSSC_INFO("LD_PRELOAD active: MODEL_DIR %s <- %s", s.model_dir, s.oss_path);
    } else if (rc < 0) {
        give_up();
    }
    ossc_in_hook--;
}
