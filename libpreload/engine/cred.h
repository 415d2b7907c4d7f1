/* cred.h - where credentials come from: a callback, a JSON credential file,
 * or the environment.  Thread-safe; keeps the last good credentials. */
#ifndef OSSC_CRED_H
#define OSSC_CRED_H

#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include "ossc.h"

typedef enum ossc_cred_kind {
    OSSC_CRED_ENV,
    OSSC_CRED_FILE,
    OSSC_CRED_CALLBACK,
} ossc_cred_kind;

typedef struct ossc_cred_source {
    ossc_cred_kind kind;
    char path[4096];
    ossc_cred_callback callback;
    void *userdata;
    pthread_mutex_t lock;
    ossc_credentials cached;
    int have_cached;
    struct timespec file_mtime;  /* FILE: mtime of the version last read */
    off_t file_size;             /* FILE: size of the version last read */
    ino_t file_ino;              /* FILE: inode of the version last read */
    time_t fetched_at;           /* when the cached credentials were obtained */
    time_t attempted_at;         /* last refresh attempt (throttles retries to 1/s) */
    int64_t warned_expiration;   /* FILE: the past Expiration last warned about */
} ossc_cred_source;

/* Environment: OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN
 * (read at every ossc_cred_get, so changes are seen).  Missing id or secret
 * is an error at init (EACCES naming the variable). */
int ossc_cred_init_env(ossc_cred_source *src, ossc_error *err);
/* JSON file {"AccessKeyId","AccessKeySecret","SecurityToken","Expiration"}.
 * Read at init (errors naming the file: ENOENT, EACCES, EINVAL for bad JSON
 * or missing fields); re-read when its mtime changes or the cached
 * credentials are within 5 minutes of Expiration (ISO 8601 UTC).  An
 * Expiration already in the past is logged once (a warning naming the
 * file and the time), not refused: the server decides, and the file is
 * re-read at most once a second until it holds newer credentials. */
int ossc_cred_init_file(ossc_cred_source *src, const char *path, ossc_error *err);
/* Callback: called at init and again when the cached credentials are
 * within 5 minutes of expiration (or 60 s old when there is no expiration). */
int ossc_cred_init_callback(ossc_cred_source *src, ossc_cred_callback cb, void *userdata,
                            ossc_error *err);
/* Current credentials (copied into *out). */
int ossc_cred_get(ossc_cred_source *src, ossc_credentials *out, ossc_error *err);
void ossc_cred_destroy(ossc_cred_source *src);

/* "2024-08-02T15:04:05Z" -> Unix time; -1 when malformed. */
int64_t ossc_parse_iso8601(const char *s);

#endif
