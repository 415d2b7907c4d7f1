/* config.c - /etc/oss-connector/config.json over built-in defaults.
 *
 * Every known key is described once in key_table (dotted name, type,
 * destination, range); loading walks the JSON object against the table.
 * Malformed JSON, wrong types and out-of-range values are errors naming the
 * file and the key; unknown keys are collected and reported in one warning
 * (the product may grow keys we do not know, and those must not break us). */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "log.h"

/* Fills cfg with the documented defaults (config.h states each one). */
void ossc_config_defaults(ossc_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->log_level = OSSC_LOG_INFO;
    snprintf(cfg->log_path, sizeof cfg->log_path, "%s", "/var/log/oss-connector/connector.log");
    snprintf(cfg->audit_path, sizeof cfg->audit_path, "%s", "/var/log/oss-connector/audit.log");
    cfg->audit_threshold_ms = 100.0;

    cfg->dataset.prefetch_concurrency = 24;
    cfg->dataset.prefetch_worker = 2;
    cfg->dataset.enable_fast_list = false;
    cfg->dataset.list_concurrency = 16;
    cfg->dataset.list_worker = 1;

    cfg->checkpoint.prefetch_concurrency = 24;
    cfg->checkpoint.prefetch_worker = 4;
    cfg->checkpoint.upload_concurrency = 64;

    cfg->prefetch.vcpus = 16;
    cfg->prefetch.workers = 16;
    cfg->prefetch.nice = 10;
    cfg->fast_list.vcpus = 1;
    cfg->fast_list.workers = 16;

    cfg->http.part_size = 8ull << 20;
    cfg->http.part_size_set = false;
    cfg->http.adaptive = true;
    cfg->http.if_match = true;
    cfg->http.max_retries = 5;
    cfg->http.connect_timeout_ms = 5000;
    cfg->http.low_speed_timeout_s = 30;
    cfg->http.low_speed_limit_bytes = 1024;
    cfg->http.retry_base_ms = 100;
    cfg->http.retry_max_ms = 5000;
    cfg->http.path_style = false;
    cfg->http.verify_tls = true;
    cfg->http.ca_file[0] = '\0';
    cfg->http.sign_version = 0;
}

enum key_type { KEY_INT, KEY_U64, KEY_DOUBLE, KEY_BOOL, KEY_PATH };

struct key_def {
    const char *name; /* dotted: "datasetConfig.prefetchWorker" */
    enum key_type type;
    size_t offset;    /* into ossc_config */
    double min, max;  /* inclusive, for numbers */
};

#define OFF(field) offsetof(ossc_config, field)

static const struct key_def key_table[] = {
    {"logLevel", KEY_INT, OFF(log_level), 0, 3},
    {"logPath", KEY_PATH, OFF(log_path), 0, 0},
    {"auditPath", KEY_PATH, OFF(audit_path), 0, 0},
    {"auditThresholdMs", KEY_DOUBLE, OFF(audit_threshold_ms), 0, 3600000},

    {"datasetConfig.prefetchConcurrency", KEY_INT, OFF(dataset.prefetch_concurrency), 1, 1024},
    {"datasetConfig.prefetchWorker", KEY_INT, OFF(dataset.prefetch_worker), 1, 1024},
    {"datasetConfig.enableFastList", KEY_BOOL, OFF(dataset.enable_fast_list), 0, 0},
    {"datasetConfig.listConcurrency", KEY_INT, OFF(dataset.list_concurrency), 1, 1024},
    {"datasetConfig.listWorker", KEY_INT, OFF(dataset.list_worker), 1, 1024},

    {"checkpointConfig.prefetchConcurrency", KEY_INT, OFF(checkpoint.prefetch_concurrency), 1,
     1024},
    {"checkpointConfig.prefetchWorker", KEY_INT, OFF(checkpoint.prefetch_worker), 1, 1024},
    {"checkpointConfig.uploadConcurrency", KEY_INT, OFF(checkpoint.upload_concurrency), 1, 1024},

    {"prefetch.vcpus", KEY_INT, OFF(prefetch.vcpus), 1, 1024},
    {"prefetch.workers", KEY_INT, OFF(prefetch.workers), 1, 1024},
    {"prefetch.nice", KEY_INT, OFF(prefetch.nice), 0, 19},
    {"fastList.vcpus", KEY_INT, OFF(fast_list.vcpus), 1, 1024},
    {"fastList.workers", KEY_INT, OFF(fast_list.workers), 1, 1024},

    /* OSS parts: 100 KiB minimum (except the last), 5 GiB maximum. */
    {"http.partSize", KEY_U64, OFF(http.part_size), 102400, 5368709120.0},
    {"http.adaptive", KEY_BOOL, OFF(http.adaptive), 0, 0},
    {"http.ifMatch", KEY_BOOL, OFF(http.if_match), 0, 0},
    {"http.maxRetries", KEY_INT, OFF(http.max_retries), 0, 100},
    {"http.connectTimeoutMs", KEY_INT, OFF(http.connect_timeout_ms), 1, 600000},
    {"http.lowSpeedTimeoutSec", KEY_INT, OFF(http.low_speed_timeout_s), 1, 3600},
    {"http.lowSpeedLimitBytes", KEY_INT, OFF(http.low_speed_limit_bytes), 1, 1073741824},
    {"http.retryBaseMs", KEY_INT, OFF(http.retry_base_ms), 1, 60000},
    {"http.retryMaxMs", KEY_INT, OFF(http.retry_max_ms), 1, 600000},
    {"http.pathStyle", KEY_BOOL, OFF(http.path_style), 0, 0},
    {"http.verifyTls", KEY_BOOL, OFF(http.verify_tls), 0, 0},
    {"http.caFile", KEY_PATH, OFF(http.ca_file), 0, 0},
    {"http.signVersion", KEY_INT, OFF(http.sign_version), 0, 4},
};

/* Objects whose members are keys of their own ("datasetConfig.x"). */
static const char *const sections[] = {
    "datasetConfig", "checkpointConfig", "prefetch", "fastList", "http",
};

/* Sections another module reads and checks itself, through
 * ossc_config_section: "broadcast" (broadcast/bc_settings.c).  Skipped
 * here, so that a bad value there turns off that feature only (with its own
 * warning) and never fails the whole file. */
static const char *const foreign_sections[] = {
    "broadcast",
};

static int is_foreign_section(const char *name)
{
    for (size_t i = 0; i < sizeof foreign_sections / sizeof foreign_sections[0]; i++)
        if (strcmp(foreign_sections[i], name) == 0)
            return 1;
    return 0;
}

/* The table entry for a dotted key, or NULL when we do not know it. */
static const struct key_def *find_key(const char *name)
{
    for (size_t i = 0; i < sizeof key_table / sizeof key_table[0]; i++)
        if (strcmp(key_table[i].name, name) == 0)
            return &key_table[i];
    return NULL;
}

/* True for top-level keys whose value is an object of further keys. */
static int is_section(const char *name)
{
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        if (strcmp(sections[i], name) == 0)
            return 1;
    return 0;
}

/* Stores one JSON value into cfg according to def, checking type and range.
 * Errors are EINVAL naming the file and the dotted key. */
static int apply_key(const char *file, const struct key_def *def, json_t *v, ossc_config *cfg,
                     ossc_error *err)
{
    char *dst = (char *)cfg + def->offset;

    switch (def->type) {
    case KEY_INT:
    case KEY_U64: {
        json_int_t n;
        if (!json_is_integer(v))
            goto range;
        n = json_integer_value(v);
        if ((double)n < def->min || (double)n > def->max)
            goto range;
        if (strcmp(def->name, "http.signVersion") == 0 && n != 0 && n != 1 && n != 4)
            return ossc_error_set(err, EINVAL, "config %s: key '%s' must be 0, 1 or 4", file,
                                  def->name);
        if (def->type == KEY_INT)
            *(int *)(void *)dst = (int)n;
        else
            *(uint64_t *)(void *)dst = (uint64_t)n;
        if (def->offset == OFF(http.part_size))
            cfg->http.part_size_set = true; /* the user's choice: never resized */
        return 0;
    range:
        return ossc_error_set(err, EINVAL,
                              "config %s: key '%s' must be an integer between %.0f and %.0f", file,
                              def->name, def->min, def->max);
    }
    case KEY_DOUBLE: {
        double d;
        if (!json_is_number(v))
            goto drange;
        d = json_number_value(v);
        if (!(d >= def->min && d <= def->max))
            goto drange;
        *(double *)(void *)dst = d;
        return 0;
    drange:
        return ossc_error_set(err, EINVAL,
                              "config %s: key '%s' must be a number between %.0f and %.0f", file,
                              def->name, def->min, def->max);
    }
    case KEY_BOOL:
        if (!json_is_boolean(v))
            return ossc_error_set(err, EINVAL, "config %s: key '%s' must be true or false", file,
                                  def->name);
        *(bool *)(void *)dst = json_is_true(v);
        return 0;
    case KEY_PATH: {
        const char *s;
        int n;
        if (!json_is_string(v))
            return ossc_error_set(err, EINVAL, "config %s: key '%s' must be a string", file,
                                  def->name);
        s = json_string_value(v);
        if (strlen(s) != json_string_length(v))
            return ossc_error_set(err, EINVAL, "config %s: key '%s' contains a NUL byte", file,
                                  def->name);
        n = snprintf(dst, PATH_MAX, "%s", s);
        if (n < 0 || n >= PATH_MAX)
            return ossc_error_set(err, EINVAL, "config %s: key '%s' is longer than %d bytes",
                                  file, def->name, PATH_MAX - 1);
        return 0;
    }
    }
    return ossc_error_set(err, EINVAL, "config %s: key '%s' has an unsupported type", file,
                          def->name);
}

/* Appends ", 'name'" to the unknown-key list (silently stops when full:
 * it only feeds a warning). */
static void note_unknown(char *list, size_t cap, const char *name)
{
    size_t used = strlen(list);

    if (used < cap)
        snprintf(list + used, cap - used, "%s'%s'", used ? ", " : "", name);
}

/* Applies every member of obj (the top level, or a section when prefix is
 * not NULL) to cfg. */
static int apply_object(const char *file, const char *prefix, json_t *obj, ossc_config *cfg,
                        char *unknown, size_t unknown_cap, ossc_error *err)
{
    const char *name;
    json_t *v;

    json_object_foreach(obj, name, v) {
        char full[256];
        const struct key_def *def;
        int n = snprintf(full, sizeof full, "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
                         name);

        if (n < 0 || (size_t)n >= sizeof full) {
            note_unknown(unknown, unknown_cap, "(over-long key)");
            continue;
        }
        if (!prefix && is_section(name)) {
            if (!json_is_object(v))
                return ossc_error_set(err, EINVAL, "config %s: key '%s' must be an object", file,
                                      name);
            if (apply_object(file, name, v, cfg, unknown, unknown_cap, err) != 0)
                return -1;
            continue;
        }
        if (!prefix && is_foreign_section(name))
            continue;
        def = find_key(full);
        if (!def) {
            note_unknown(unknown, unknown_cap, full);
            continue;
        }
        if (apply_key(file, def, v, cfg, err) != 0)
            return -1;
    }
    return 0;
}

/* Checks rules that involve more than one key. */
static int check_consistency(const char *file, const ossc_config *cfg, ossc_error *err)
{
    if (cfg->http.retry_max_ms < cfg->http.retry_base_ms)
        return ossc_error_set(err, EINVAL,
                              "config %s: key 'http.retryMaxMs' (%d) must not be smaller than "
                              "'http.retryBaseMs' (%d)",
                              file, cfg->http.retry_max_ms, cfg->http.retry_base_ms);
    return 0;
}

/* Parses one file over a copy of the defaults; cfg is written only when the
 * whole file is valid. */
static int load_file(const char *path, ossc_config *cfg, ossc_error *err)
{
    ossc_config tmp;
    json_error_t jerr;
    json_t *root = NULL;
    FILE *fp = NULL;
    char unknown[1024] = "";
    int n;

    ossc_config_defaults(&tmp);
    n = snprintf(tmp.source, sizeof tmp.source, "%s", path);
    if (n < 0 || (size_t)n >= sizeof tmp.source) {
        ossc_error_set(err, ENAMETOOLONG, "config path is too long: %.200s...", path);
        goto err;
    }
    fp = fopen(path, "re");
    if (!fp) {
        int e = errno;
        ossc_error_set(err, e, "config %s: cannot open: %s", path, strerror(e));
        goto err;
    }
    root = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jansson reports a missing ',' as "'}' expected": say so */
        ossc_error_set(err, EINVAL, "config %s: line %d, column %d: invalid JSON: %s%s", path,
                       jerr.line, jerr.column, jerr.text,
                       strncmp(jerr.text, "'}' expected", 12) == 0 ? " (missing ','?)" : "");
        goto err;
    }
    if (!json_is_object(root)) {
        ossc_error_set(err, EINVAL, "config %s: the top level must be a JSON object", path);
        goto err;
    }
    if (apply_object(path, NULL, root, &tmp, unknown, sizeof unknown, err) != 0)
        goto err;
    if (check_consistency(path, &tmp, err) != 0)
        goto err;
    if (unknown[0])
        OSSC_WARN("config %s: ignoring unknown keys %s", path, unknown);

    json_decref(root);
    fclose(fp);
    *cfg = tmp;
    return 0;
err:
    json_decref(root);
    if (fp)
        fclose(fp);
    return -1;
}

/* Resolution order: explicit path, then $OSS_CONNECTOR_CONFIG (both must
 * exist), then the default path only if present.  An empty string counts as
 * "not given" so bindings can pass "" for None.  cfg holds the defaults
 * whenever -1 is returned. */
static int load_any(const char *path, ossc_config *cfg, ossc_error *err)
{
    if (path && path[0])
        return load_file(path, cfg, err);
    path = getenv(OSSC_CONFIG_ENV);
    if (path && path[0]) {
        if (load_file(path, cfg, err) != 0) {
            if (err)
                ossc_error_set(err, err->code, "%s (from $%s)", err->message, OSSC_CONFIG_ENV);
            return -1;
        }
        return 0;
    }
    if (access(OSSC_DEFAULT_CONFIG_PATH, F_OK) == 0)
        return load_file(OSSC_DEFAULT_CONFIG_PATH, cfg, err);
    return 0;
}

/* The file ossc_config_load(path, ...) reads: path, else
 * $OSS_CONNECTOR_CONFIG, else the default path when it exists; NULL when
 * none (the defaults alone). */
static const char *config_path_in_use(const char *path)
{
    if (path && path[0])
        return path;
    path = getenv(OSSC_CONFIG_ENV);
    if (path && path[0])
        return path;
    return access(OSSC_DEFAULT_CONFIG_PATH, F_OK) == 0 ? OSSC_DEFAULT_CONFIG_PATH : NULL;
}

/* Reads the whole file again (a few KiB, once per process that attaches a
 * model): the section's owner checks its own keys. */
json_t *ossc_config_section(const char *path, const char *name, char *file, size_t cap,
                            ossc_error *err)
{
    json_error_t jerr;
    json_t *root, *sec;

    ossc_error_clear(err);
    if (cap)
        file[0] = '\0';
    path = config_path_in_use(path);
    if (!path)
        return NULL;
    snprintf(file, cap, "%s", path);
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (access(path, R_OK) != 0) {
            int e = errno;
            ossc_error_set(err, e, "config %s: cannot open: %s", path, strerror(e));
        } else {
            ossc_error_set(err, EINVAL, "config %s: line %d, column %d: invalid JSON: %s", path,
                           jerr.line, jerr.column, jerr.text);
        }
        return NULL;
    }
    sec = json_is_object(root) ? json_object_get(root, name) : NULL;
    json_incref(sec);
    json_decref(root);
    return sec;
}

/* $OSSC_HTTP_ADAPTIVE over http.adaptive: unset or empty leaves the file's
 * value; "0" or "1" replaces it; anything else is EINVAL naming it. */
static int apply_env(ossc_config *cfg, ossc_error *err)
{
    const char *v = getenv(OSSC_ADAPTIVE_ENV);
    if (!v || !v[0])
        return 0;
    if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
        return ossc_error_set(err, EINVAL, "$%s='%.40s' must be 0 or 1", OSSC_ADAPTIVE_ENV, v);
    cfg->http.adaptive = v[0] == '1';
    return 0;
}

int ossc_config_load(const char *path, ossc_config *cfg, ossc_error *err)
{
    ossc_config_defaults(cfg);
    if (load_any(path, cfg, err) != 0)
        return -1;
    if (apply_env(cfg, err) != 0) {
        ossc_config_defaults(cfg);
        return -1;
    }
    return 0;
}
