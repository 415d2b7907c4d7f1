/* settings.c - the interposer's configuration: the product's documented
 * environment variables plus ours, and config.json (read by the engine). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "nodecache.h"

#define DEFAULT_SMALL_FILE (4ull << 20)
#define DEFAULT_RELEASE_DELAY 120
#define DEFAULT_PREFETCH_WINDOW (256ull << 20)

/* "8G", "512M", "1048576" -> bytes; 0 when malformed. */
static uint64_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return 0;
    switch (*end) {
    case 'k': case 'K': v <<= 10; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'g': case 'G': v <<= 30; end++; break;
    case 't': case 'T': v <<= 40; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B')
        end++;
    if (*end == 'B')
        end++;
    return *end ? 0 : v;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* A malformed variable: remembered in s->bad_env (the caller drops it from
 * the environment of the processes it starts: reported once per tree). */
#define BAD(s, err, name, ...)                                                              \
    (snprintf((s)->bad_env, sizeof((s)->bad_env), "%s", name),                             \
     ossc_error_set(err, EINVAL, __VA_ARGS__))

int ossc_settings_load(ossc_preload_settings *s, ossc_error *err)
{
    memset(s, 0, sizeof(*s));
    const char *path = env("OSS_PATH"), *dir = env("MODEL_DIR"), *ep = env("OSS_ENDPOINT");
    if (!path || !dir)
        return 1;
    s->enable = env("ENABLE_CONNECTOR") && strcmp(getenv("ENABLE_CONNECTOR"), "1") == 0;
    if (!ep)
        return ossc_error_set(err, EINVAL, "OSS_PATH and MODEL_DIR are set but OSS_ENDPOINT "
                                           "is not");
    snprintf(s->endpoint, sizeof(s->endpoint), "%s", ep);
    snprintf(s->region, sizeof(s->region), "%s", env("OSS_REGION") ? env("OSS_REGION") : "");
    snprintf(s->config_path, sizeof(s->config_path), "%s",
             env("OSS_CONNECTOR_CONFIG") ? env("OSS_CONNECTOR_CONFIG") : "");

    /* oss://bucket/prefix -> bucket, "prefix/" */
    char key[1024];
    ossc_error uri_err;
    if (ossc_parse_uri(path, s->bucket, sizeof(s->bucket), key, sizeof(key), &uri_err) < 0)
        return BAD(s, err, "OSS_PATH", "OSS_PATH: %s", uri_err.message);
    size_t kl = strlen(key);
    ossc_pathf(s->prefix, sizeof(s->prefix), "%s%s", key, kl && key[kl - 1] != '/' ? "/" : "");
    ossc_pathf(s->oss_path, sizeof(s->oss_path), "oss://%s/%s", s->bucket, s->prefix);

    if (dir[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)) ||
            ossc_pathf(s->model_dir, sizeof(s->model_dir), "%s/%s", cwd, dir) < 0)
            return ossc_error_set(err, ENAMETOOLONG, "MODEL_DIR '%s': cannot make it absolute",
                                  dir);
    } else {
        snprintf(s->model_dir, sizeof(s->model_dir), "%s", dir);
    }
    size_t ml = strlen(s->model_dir);
    while (ml > 1 && s->model_dir[ml - 1] == '/')
        s->model_dir[--ml] = '\0';
    if (strcmp(s->model_dir, "/") == 0)
        return BAD(s, err, "MODEL_DIR", "MODEL_DIR must not be '/'");
    return ossc_settings_tunables(s, err);
}

/* The knobs shared by LD_PRELOAD and in-process directories, from the
 * environment: OSSC_CACHE_DIR, OSSC_SMALL_FILE_SIZE, OSSC_MEMORY_LIMIT,
 * OSSC_PREFETCH_WINDOW, OSSC_RELEASE_DELAY, OSSC_LAZY, OSSC_CACHE_HUGEPAGES.  Fills
 * defaults first; a malformed value fails with EINVAL and a message naming the variable. */
int ossc_settings_tunables(ossc_preload_settings *s, ossc_error *err)
{
    snprintf(s->cache_root, sizeof(s->cache_root), "%s",
             env("OSSC_CACHE_DIR") ? env("OSSC_CACHE_DIR") : "/dev/shm");

    s->small_file_size = DEFAULT_SMALL_FILE;
    if (env("OSSC_SMALL_FILE_SIZE") &&
        !(s->small_file_size = parse_size(env("OSSC_SMALL_FILE_SIZE"))))
        return BAD(s, err, "OSSC_SMALL_FILE_SIZE", "OSSC_SMALL_FILE_SIZE='%s' is not a size (e.g. 4M)",
                              getenv("OSSC_SMALL_FILE_SIZE"));
    struct sysinfo si;
    uint64_t ram = sysinfo(&si) == 0 ? (uint64_t)si.totalram * si.mem_unit : (8ull << 30);
    s->memory_limit = ram / 2;
    if (env("OSSC_MEMORY_LIMIT") && !(s->memory_limit = parse_size(env("OSSC_MEMORY_LIMIT"))))
        return BAD(s, err, "OSSC_MEMORY_LIMIT", "OSSC_MEMORY_LIMIT='%s' is not a size (e.g. 16G)",
                              getenv("OSSC_MEMORY_LIMIT"));
    s->prefetch_window = DEFAULT_PREFETCH_WINDOW;
    if (env("OSSC_PREFETCH_WINDOW") &&
        !(s->prefetch_window = parse_size(env("OSSC_PREFETCH_WINDOW"))))
        return BAD(s, err, "OSSC_PREFETCH_WINDOW", "OSSC_PREFETCH_WINDOW='%s' is not a size (e.g. 256M)",
                              getenv("OSSC_PREFETCH_WINDOW"));
    s->release_delay_s = DEFAULT_RELEASE_DELAY;
    if (env("OSSC_RELEASE_DELAY")) {
        char *end;
        long v = strtol(getenv("OSSC_RELEASE_DELAY"), &end, 10);
        if (*end || v < 0 || v > 86400)
            return BAD(s, err, "OSSC_RELEASE_DELAY", "OSSC_RELEASE_DELAY='%s' must be seconds 0..86400",
                                  getenv("OSSC_RELEASE_DELAY"));
        s->release_delay_s = (int)v;
    }
    if (env("OSSC_LAZY")) {
        const char *v = getenv("OSSC_LAZY");
        if (strcmp(v, "1") != 0 && strcmp(v, "0") != 0)
            return BAD(s, err, "OSSC_LAZY", "OSSC_LAZY='%s' must be 0 or 1", v);
        s->lazy = v[0] == '1';
    }
    s->hugepages = true;
    if (env("OSSC_CACHE_HUGEPAGES")) {
        const char *v = getenv("OSSC_CACHE_HUGEPAGES");
        if (strcmp(v, "1") != 0 && strcmp(v, "0") != 0)
            return BAD(s, err, "OSSC_CACHE_HUGEPAGES", "OSSC_CACHE_HUGEPAGES='%s' must be 0 or 1",
                       v);
        s->hugepages = v[0] == '1';
    }
    /* Read by the engine's config (engine/config.c); checked here too so a
     * malformed value is a tunable like the others: reported once per
     * process tree and dropped from the environment of its children. */
    if (env("OSSC_HTTP_ADAPTIVE")) {
        const char *v = getenv("OSSC_HTTP_ADAPTIVE");
        if (strcmp(v, "1") != 0 && strcmp(v, "0") != 0)
            return BAD(s, err, "OSSC_HTTP_ADAPTIVE", "OSSC_HTTP_ADAPTIVE='%s' must be 0 or 1", v);
    }
    /* Broadcasting misconfigured: loading goes on from OSS, with the
     * variable or config key at fault named (a fleet never fails to start
     * over it).  s->config_path is set by both callers before this. */
    const char *bad_bc = NULL;
    ossc_error bc_err = {0};
    if (ossc_bc_settings_load(&s->bc, s->config_path, &bad_bc, &bc_err) < 0) {
        OSSC_WARN("broadcasting off: %s", bc_err.message);
        memset(&s->bc, 0, sizeof(s->bc));
    }
    return 0;
}
