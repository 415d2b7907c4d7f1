/* lifecycle.c - turning the interposer on at load, across fork, at exit.
 *
 * Active only when this library really interposes (it was LD_PRELOADed, so
 * `open` resolves to ours) and OSS_PATH/MODEL_DIR are set.  When the same
 * library is dlopen'ed as the Python package's engine, nothing happens. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "preload.h"

atomic_bool ossc_preload_active;
_Thread_local int ossc_in_hook;

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
    ossc_cache_detach();
    ossc_in_hook--;
}

__attribute__((constructor)) static void ossc_preload_init(void)
{
    ossc_real_resolve();
    if (!getenv("OSS_PATH") || !getenv("MODEL_DIR") || !interposing())
        return;
    ossc_in_hook++;
    ossc_config cfg;
    ossc_error err;
    const char *cfg_path = getenv(OSSC_CONFIG_ENV);
    if (ossc_config_load(cfg_path && cfg_path[0] ? cfg_path : NULL, &cfg, &err) == 0)
        ossc_log_init(cfg.log_level, cfg.log_path);
    ossc_preload_settings s;
    int rc = ossc_settings_load(&s);
    if (rc == 0)
        rc = ossc_cache_attach(&s);
    if (rc == 0) {
        pthread_atfork(before_fork, NULL, after_fork_child);
        atexit(at_exit);
        atomic_store(&ossc_preload_active, true);
        OSSC_INFO("LD_PRELOAD active: MODEL_DIR %s <- %s", s.model_dir, s.oss_path);
    }
    ossc_in_hook--;
}
