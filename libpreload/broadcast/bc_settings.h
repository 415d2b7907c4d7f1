/* bc_settings.h - a node's broadcasting settings, from the environment
 * (OSSC_BROADCAST_*) over config.json's "broadcast" object
 * (docs/broadcast.md "Settings").  Part of the node
 * cache's settings: the application processes (peer chunk source) and the
 * watcher (agent: registry and chunk server) read the same copy.  Holds the
 * shared secret: never log or print a bc_settings. */
#ifndef OSSC_BC_SETTINGS_H
#define OSSC_BC_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ossc.h"

#define BC_SECRET_MAX 1024

typedef struct ossc_bc_settings {
    bool enabled;              /* OSSC_BROADCAST_REDIS or broadcast.redis set */
    char redis_url[1024];      /* OSSC_BROADCAST_REDIS (has the password: never logged) */
    char redis_shown[300];     /* host:port/db, for messages */
    char advertise[128];       /* OSSC_BROADCAST_ADVERTISE host:port */
    char listen[128];          /* OSSC_BROADCAST_LISTEN, default: advertise */
    uint8_t secret[BC_SECRET_MAX];
    size_t secret_len;
    const char *secret_source; /* where the secret came from, for messages (static text) */
    unsigned secret_file_mode; /* the secret file's permission bits (0: no file); readable
                                  by group or others is warned about (agent.c) */
    char secret_file[256];     /* its path, for that warning */
    int sources;               /* OSSC_BROADCAST_SOURCES, default 1 */
    int stall_s;               /* OSSC_BROADCAST_STALL_SECONDS, default 5 */
    int connect_timeout_ms;    /* OSSC_BROADCAST_CONNECT_TIMEOUT_MS, default 1000 */
} ossc_bc_settings;

/* Every environment variable ossc_bc_settings_load() reads, NULL last
 * (tests and the fuzzer clear them all). */
extern const char *const ossc_bc_env_names[];

/* Reads OSSC_BROADCAST_* and, for each one unset, its key in the
 * "broadcast" object of the config file ossc_config_load(config_path)
 * reads (NULL or "": $OSS_CONNECTOR_CONFIG, else the default path).  0 with
 * enabled false when neither OSSC_BROADCAST_REDIS nor broadcast.redis is
 * set; -1 with err (EINVAL) naming the variable, or the file and the key,
 * at fault: a malformed URL or address, a value of the wrong type or out of
 * range, a secret file that cannot be read, is writable by others or
 * shorter than 16 bytes, a relative broadcast.secretFile, a
 * broadcast.secret key (the secret never comes from config.json), no
 * secret at all (no secret file, no OSSC_BROADCAST_SECRET, no password in
 * the Redis URL).  *bad_env gets the variable's name or the dotted key.
 * Unknown keys in "broadcast" are one warning in the log.  A config file
 * that cannot be read or parsed adds nothing (the engine reports it). */
int ossc_bc_settings_load(ossc_bc_settings *b, const char *config_path, const char **bad_env,
                          ossc_error *err);

#endif
