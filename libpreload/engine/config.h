/* config.h - /etc/oss-connector/config.json and its defaults.
 *
 * Documented keys (product compatible) and our own additions; see
 * docs/configuration.md for every key, its default and meaning. */
#ifndef OSSC_CONFIG_H
#define OSSC_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include "ossc.h"

#define OSSC_DEFAULT_CONFIG_PATH "/etc/oss-connector/config.json"
#define OSSC_CONFIG_ENV "OSS_CONNECTOR_CONFIG"
#define OSSC_ADAPTIVE_ENV "OSSC_HTTP_ADAPTIVE"

typedef struct ossc_config {
    char source[PATH_MAX];      /* file it was read from, "" for defaults */
    int log_level;              /* logLevel: 0 DEBUG .. 3 ERROR, default 1 */
    char log_path[PATH_MAX];    /* logPath, default /var/log/oss-connector/connector.log */
    char audit_path[PATH_MAX];  /* auditPath, default /var/log/oss-connector/audit.log */
    double audit_threshold_ms;  /* auditThresholdMs (ours), default 100 */

    struct {
        int prefetch_concurrency; /* datasetConfig.prefetchConcurrency, 24 */
        int prefetch_worker;      /* datasetConfig.prefetchWorker, 2 */
        bool enable_fast_list;    /* datasetConfig.enableFastList, false */
        int list_concurrency;     /* datasetConfig.listConcurrency, 16 */
        int list_worker;          /* datasetConfig.listWorker, 1 */
    } dataset;
    struct {
        int prefetch_concurrency; /* checkpointConfig.prefetchConcurrency, 24 */
        int prefetch_worker;      /* checkpointConfig.prefetchWorker, 4 */
        int upload_concurrency;   /* checkpointConfig.uploadConcurrency, 64 */
    } checkpoint;
    struct {
        int vcpus;                /* prefetch.vcpus, 16 */
        int workers;              /* prefetch.workers, 16 */
        int nice;                 /* prefetch.nice (ours): nice value of these threads, 10 */
    } prefetch;
    struct {
        int vcpus;                /* fastList.vcpus, 1 */
        int workers;              /* fastList.workers, 16 */
    } fast_list;

    /* Our additions, under "http": */
    struct {
        uint64_t part_size;       /* http.partSize: bytes per ranged GET / upload part, 8 MiB */
        bool part_size_set;       /* http.partSize was given: reads never resize parts */
        bool adaptive;            /* http.adaptive: part size and streams per read from
                                     measured throughput (adapt.h), true; OSSC_HTTP_ADAPTIVE
                                     (0 or 1) overrides it */
        bool if_match;            /* http.ifMatch: a read pinned to a version sends it as
                                     If-Match, true; false (a proxy that rewrites ETags but
                                     forwards If-Match): replies' ETags are only compared */
        int max_retries;          /* http.maxRetries, 5 */
        int connect_timeout_ms;   /* http.connectTimeoutMs, 5000 */
        int low_speed_timeout_s;  /* http.lowSpeedTimeoutSec: abort a transfer stalled this long, 30 */
        int low_speed_limit_bytes; /* http.lowSpeedLimitBytes: "stalled" is below this many
                                      bytes/s over low_speed_timeout_s, 1024 */
        int retry_base_ms;        /* http.retryBaseMs, 100 */
        int retry_max_ms;         /* http.retryMaxMs, 5000 */
        bool path_style;          /* http.pathStyle: force path-style addressing, false */
        bool verify_tls;          /* http.verifyTls, true */
        char ca_file[PATH_MAX];   /* http.caFile, "" = system bundle */
        int sign_version;         /* http.signVersion: 1 or 4; 0 = 4 when a region is known, else 1 */
    } http;
} ossc_config;

void ossc_config_defaults(ossc_config *cfg);

/* Loads path over the defaults.  path NULL: $OSS_CONNECTOR_CONFIG, else the
 * default path when it exists, else defaults only.  A path given explicitly
 * that does not exist is an error (ENOENT naming the file).  Malformed JSON,
 * wrong types or out-of-range values: EINVAL naming file, line and key.
 * Unknown keys are logged as warnings (and ignored).  $OSSC_HTTP_ADAPTIVE,
 * when set, overrides http.adaptive: "0" or "1", else EINVAL naming it. */
int ossc_config_load(const char *path, ossc_config *cfg, ossc_error *err);

struct json_t;

/* The value of `name` at the top level of the config file that
 * ossc_config_load(path) would read, for a module that checks its own keys
 * (ossc_config_load skips such sections: "broadcast"; the caller checks it
 * is an object).  A new reference (json_decref it), with file (cap bytes)
 * set to the file's path.  NULL with err->code 0: no file in use, or no such
 * key.  NULL with err set (naming the file): it cannot be read or is not
 * JSON. */
struct json_t *ossc_config_section(const char *path, const char *name, char *file, size_t cap,
                                   ossc_error *err);

#endif
