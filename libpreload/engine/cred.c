/* cred.c - credentials from a callback, a JSON credential file or the
 * environment, with refresh and "keep the last good ones" semantics.
 *
 * Secrets are never put into error messages or logs: messages name the
 * file, the variable or the JSON field, and jansson's parse error text is
 * cut before its "near '<token>'" part, which could quote a secret. */
#include "cred.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "log.h"

#define REFRESH_WINDOW_S 300  /* refresh this long before Expiration */
#define CALLBACK_MAX_AGE_S 60 /* callback credentials without expiration */
#define RETRY_INTERVAL_S 1    /* at most one refresh attempt per second */

#define ENV_ID "OSS_ACCESS_KEY_ID"
#define ENV_SECRET "OSS_ACCESS_KEY_SECRET"
#define ENV_TOKEN "OSS_SESSION_TOKEN"

/* Reads exactly n decimal digits into *out and advances *p; -1 otherwise. */
static int take_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Gregorian month length, so 2023-02-29 is refused rather than normalised. */
static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : days[month - 1];
}

/* "YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm|-hh:mm]" -> Unix time.  A missing
 * zone is taken as UTC (credential files are documented as UTC).  Returns
 * -1 for anything else, including impossible dates. */
int64_t ossc_parse_iso8601(const char *s)
{
    const char *p = s;
    int year, mon, day, hour, min, sec, off = 0;
    struct tm tm;

    if (!s)
        return -1;
    if (take_digits(&p, 4, &year) || *p++ != '-' || take_digits(&p, 2, &mon) || *p++ != '-' ||
        take_digits(&p, 2, &day))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (take_digits(&p, 2, &hour) || *p++ != ':' || take_digits(&p, 2, &min) || *p++ != ':' ||
        take_digits(&p, 2, &sec))
        return -1;
    if (*p == '.' || *p == ',') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (take_digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (take_digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 3600 + om * 60);
    }
    if (*p != '\0')
        return -1;
    if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) ||
        hour > 23 || min > 59 || sec > 60)
        return -1;

    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    return (int64_t)timegm(&tm) - off;
}

/* Copies a credential value into a fixed field; EINVAL naming `what` (never
 * the value) when it does not fit. */
static int copy_field(char *dst, size_t cap, const char *val, const char *where,
                      const char *what, ossc_error *err)
{
    size_t n = strlen(val);

    if (n >= cap)
        return ossc_error_set(err, EINVAL, "%s: '%s' is too long (%zu bytes, at most %zu)",
                              where, what, n, cap - 1);
    memcpy(dst, val, n + 1);
    return 0;
}

/* A string member of the credential file, or NULL when absent/null.  Sets
 * *bad when present with another type. */
static const char *member_string(json_t *root, const char *name, int *bad)
{
    json_t *v = json_object_get(root, name);

    *bad = 0;
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

/* Parses the credential file at path into *out and records its identity
 * (mtime, size, inode) in *st.  Errors name the file and field. */
static int read_cred_file(const char *path, ossc_credentials *out, struct stat *st,
                          ossc_error *err)
{
    char where[4200];
    char text[JSON_ERROR_TEXT_LENGTH];
    json_error_t jerr;
    json_t *root = NULL;
    FILE *fp = NULL;
    const char *id, *secret, *token, *exp;
    int bad;

    snprintf(where, sizeof where, "credentials file %s", path);
    memset(out, 0, sizeof *out);
    fp = fopen(path, "re");
    if (!fp) {
        int e = errno;
        ossc_error_set(err, e == ENOENT ? ENOENT : (e == EACCES || e == EPERM) ? EACCES : e,
                       "%s: cannot open: %s", where, strerror(e));
        goto err;
    }
    if (fstat(fileno(fp), st) != 0) {
        int e = errno;
        ossc_error_set(err, e, "%s: cannot stat: %s", where, strerror(e));
        goto err;
    }
    root = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        char *near;
        snprintf(text, sizeof text, "%s", jerr.text);
        near = strstr(text, " near ");
        if (near)
            *near = '\0';
        ossc_error_set(err, EINVAL, "%s: line %d, column %d: invalid JSON: %s", where,
                       jerr.line, jerr.column, text);
        goto err;
    }
    if (!json_is_object(root)) {
        ossc_error_set(err, EINVAL, "%s: the top level must be a JSON object", where);
        goto err;
    }
    id = member_string(root, "AccessKeyId", &bad);
    if (!id || !id[0]) {
        ossc_error_set(err, EINVAL, "%s: 'AccessKeyId' is missing or not a non-empty string",
                       where);
        goto err;
    }
    secret = member_string(root, "AccessKeySecret", &bad);
    if (!secret || !secret[0]) {
        ossc_error_set(err, EINVAL,
                       "%s: 'AccessKeySecret' is missing or not a non-empty string", where);
        goto err;
    }
    token = member_string(root, "SecurityToken", &bad);
    if (bad) {
        ossc_error_set(err, EINVAL, "%s: 'SecurityToken' must be a string", where);
        goto err;
    }
    exp = member_string(root, "Expiration", &bad);
    if (bad) {
        ossc_error_set(err, EINVAL, "%s: 'Expiration' must be a string", where);
        goto err;
    }
    if (copy_field(out->access_key_id, sizeof out->access_key_id, id, where, "AccessKeyId",
                   err) ||
        copy_field(out->access_key_secret, sizeof out->access_key_secret, secret, where,
                   "AccessKeySecret", err) ||
        copy_field(out->security_token, sizeof out->security_token, token ? token : "", where,
                   "SecurityToken", err))
        goto err;
    if (exp && exp[0]) {
        int64_t t = ossc_parse_iso8601(exp);
        if (t < 0) {
            ossc_error_set(err, EINVAL,
                           "%s: 'Expiration' is not an ISO 8601 time like "
                           "2024-08-02T15:04:05Z: '%.64s'",
                           where, exp);
            goto err;
        }
        out->expiration = t;
    }
    json_decref(root);
    fclose(fp);
    return 0;
err:
    explicit_bzero(out, sizeof *out);
    json_decref(root);
    if (fp)
        fclose(fp);
    return -1;
}

/* Remembers which version of the file the cache corresponds to. */
static void record_identity(ossc_cred_source *src, const struct stat *st)
{
    src->file_mtime = st->st_mtim;
    src->file_size = st->st_size;
    src->file_ino = st->st_ino;
}

/* True when st describes another version of the file than the cache. */
static int identity_differs(const ossc_cred_source *src, const struct stat *st)
{
    return st->st_mtim.tv_sec != src->file_mtime.tv_sec ||
           st->st_mtim.tv_nsec != src->file_mtime.tv_nsec || st->st_size != src->file_size ||
           st->st_ino != src->file_ino;
}

/* True when credentials expiring at `expiration` should be replaced now. */
static int near_expiry(int64_t expiration, time_t now)
{
    return expiration != 0 && (int64_t)now >= expiration - REFRESH_WINDOW_S;
}

/* Warns once per Expiration value when the credentials just read from the
 * file have already expired: requests signed with them will likely be
 * refused (403), and the user should know why before that happens. */
static void warn_if_expired(ossc_cred_source *src, time_t now)
{
    int64_t exp = src->cached.expiration;
    time_t t = (time_t)exp;
    struct tm tm;
    char when[32] = "?";

    if (!exp || exp > (int64_t)now || exp == src->warned_expiration)
        return;
    src->warned_expiration = exp;
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    OSSC_WARN("credentials file %s: 'Expiration' %s is already in the past (%lld s ago); "
              "using these credentials anyway and re-reading the file at most once a "
              "second until it holds newer ones; requests meanwhile may be refused (403)",
              src->path, when, (long long)((int64_t)now - exp));
}

/* Initialises the parts common to every kind. */
static void init_common(ossc_cred_source *src, ossc_cred_kind kind)
{
    memset(src, 0, sizeof *src);
    src->kind = kind;
    pthread_mutex_init(&src->lock, NULL);
}

/* Reads the variables into *out; EACCES naming the missing variable. */
static int read_env(ossc_credentials *out, ossc_error *err)
{
    const char *id = getenv(ENV_ID), *secret = getenv(ENV_SECRET), *token = getenv(ENV_TOKEN);

    memset(out, 0, sizeof *out);
    if (!id || !id[0])
        return ossc_error_set(err, EACCES, "environment variable %s is not set", ENV_ID);
    if (!secret || !secret[0])
        return ossc_error_set(err, EACCES, "environment variable %s is not set", ENV_SECRET);
    if (copy_field(out->access_key_id, sizeof out->access_key_id, id, "environment", ENV_ID,
                   err) ||
        copy_field(out->access_key_secret, sizeof out->access_key_secret, secret,
                   "environment", ENV_SECRET, err) ||
        copy_field(out->security_token, sizeof out->security_token, token ? token : "",
                   "environment", ENV_TOKEN, err)) {
        explicit_bzero(out, sizeof *out);
        return -1;
    }
    return 0;
}

/* Checks the variables exist now; they are read again at every get. */
int ossc_cred_init_env(ossc_cred_source *src, ossc_error *err)
{
    ossc_credentials tmp;
    int rc;

    init_common(src, OSSC_CRED_ENV);
    rc = read_env(&tmp, err);
    explicit_bzero(&tmp, sizeof tmp);
    if (rc != 0)
        ossc_cred_destroy(src);
    return rc;
}

/* Reads the file once; it must be valid at init. */
int ossc_cred_init_file(ossc_cred_source *src, const char *path, ossc_error *err)
{
    struct stat st;
    int n;

    init_common(src, OSSC_CRED_FILE);
    if (!path || !path[0]) {
        ossc_error_set(err, EINVAL, "credentials file path is empty");
        goto err;
    }
    n = snprintf(src->path, sizeof src->path, "%s", path);
    if (n < 0 || (size_t)n >= sizeof src->path) {
        ossc_error_set(err, ENAMETOOLONG, "credentials file path is too long: %.200s...", path);
        goto err;
    }
    if (read_cred_file(src->path, &src->cached, &st, err) != 0)
        goto err;
    record_identity(src, &st);
    src->have_cached = 1;
    src->fetched_at = src->attempted_at = time(NULL);
    warn_if_expired(src, src->fetched_at);
    return 0;
err:
    ossc_cred_destroy(src);
    return -1;
}

/* Runs the callback and validates what it produced (both id and secret
 * non-empty, every field NUL-terminated). */
static int call_callback(ossc_cred_source *src, ossc_credentials *out, ossc_error *err)
{
    memset(out, 0, sizeof *out);
    if (src->callback(src->userdata, out) != 0) {
        explicit_bzero(out, sizeof *out);
        return ossc_error_set(err, EACCES, "credentials callback failed");
    }
    out->access_key_id[sizeof out->access_key_id - 1] = '\0';
    out->access_key_secret[sizeof out->access_key_secret - 1] = '\0';
    out->security_token[sizeof out->security_token - 1] = '\0';
    if (!out->access_key_id[0] || !out->access_key_secret[0]) {
        explicit_bzero(out, sizeof *out);
        return ossc_error_set(err, EACCES,
                              "credentials callback returned an empty access key id or secret");
    }
    return 0;
}

/* Calls the callback once; it must succeed at init. */
int ossc_cred_init_callback(ossc_cred_source *src, ossc_cred_callback cb, void *userdata,
                            ossc_error *err)
{
    init_common(src, OSSC_CRED_CALLBACK);
    if (!cb) {
        ossc_error_set(err, EINVAL, "credentials callback is NULL");
        goto err;
    }
    src->callback = cb;
    src->userdata = userdata;
    if (call_callback(src, &src->cached, err) != 0)
        goto err;
    src->have_cached = 1;
    src->fetched_at = src->attempted_at = time(NULL);
    return 0;
err:
    ossc_cred_destroy(src);
    return -1;
}

/* FILE: re-reads when the file is a different version (mtime, size or
 * inode changed) or the cache is within the refresh window; at most once
 * per second.  A failed re-read keeps the cache and logs a warning. */
static void refresh_file(ossc_cred_source *src, time_t now)
{
    struct stat st;
    ossc_credentials fresh;
    ossc_error e;
    int changed = stat(src->path, &st) == 0 && identity_differs(src, &st);

    if (!changed && !near_expiry(src->cached.expiration, now))
        return;
    if (now - src->attempted_at < RETRY_INTERVAL_S && !changed)
        return;
    src->attempted_at = now;
    ossc_error_clear(&e);
    if (read_cred_file(src->path, &fresh, &st, &e) == 0) {
        src->cached = fresh;
        record_identity(src, &st);
        src->fetched_at = now;
        explicit_bzero(&fresh, sizeof fresh);
        OSSC_INFO("credentials file %s re-read", src->path);
        warn_if_expired(src, now);
        return;
    }
    /* Do not re-parse this broken version at every call; a later change or
     * the expiry window triggers the next attempt. */
    if (changed)
        record_identity(src, &st);
    OSSC_WARN("%s; keeping the previously read credentials", e.message);
}

/* CALLBACK: asks again within the refresh window, or every 60 s when the
 * credentials carry no expiration; at most once per second. */
static void refresh_callback(ossc_cred_source *src, time_t now)
{
    ossc_credentials fresh;
    ossc_error e;
    int due = src->cached.expiration ? near_expiry(src->cached.expiration, now)
                                     : now - src->fetched_at >= CALLBACK_MAX_AGE_S;

    if (!due || now - src->attempted_at < RETRY_INTERVAL_S)
        return;
    src->attempted_at = now;
    ossc_error_clear(&e);
    if (call_callback(src, &fresh, &e) == 0) {
        src->cached = fresh;
        src->fetched_at = now;
        explicit_bzero(&fresh, sizeof fresh);
        return;
    }
    OSSC_WARN("%s; keeping the previous credentials", e.message);
}

/* Refreshes as the source's policy says, then copies the current
 * credentials out.  Only ENV can fail after a successful init (variables
 * unset since). */
int ossc_cred_get(ossc_cred_source *src, ossc_credentials *out, ossc_error *err)
{
    time_t now = time(NULL);
    int rc = 0;

    pthread_mutex_lock(&src->lock);
    switch (src->kind) {
    case OSSC_CRED_ENV:
        rc = read_env(out, err);
        break;
    case OSSC_CRED_FILE:
        refresh_file(src, now);
        *out = src->cached;
        break;
    case OSSC_CRED_CALLBACK:
        refresh_callback(src, now);
        *out = src->cached;
        break;
    }
    pthread_mutex_unlock(&src->lock);
    return rc;
}

/* Wipes cached secrets; safe on a source whose init failed. */
void ossc_cred_destroy(ossc_cred_source *src)
{
    if (!src)
        return;
    pthread_mutex_destroy(&src->lock);
    explicit_bzero(src, sizeof *src);
}
