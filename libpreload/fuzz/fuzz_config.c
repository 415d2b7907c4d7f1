/* fuzz_config.c - the config JSON reader (ossc_config_load, config.c) on
 * arbitrary file contents, fed through a memfd (nothing is written to
 * disk).  Aborts when a rejected file changes the config (the contract:
 * defaults whenever -1 is returned), when a failure has no message or does
 * not name the file, or when an accepted one holds an unterminated path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ossc_config cfg, defaults;
    char path[64];
    ossc_error err;

    fuzz_memfd_fill(data, size, path, sizeof path);
    ossc_error_clear(&err);
    if (ossc_config_load(path, &cfg, &err) != 0) {
        ossc_config_defaults(&defaults);
        if (memcmp(&cfg, &defaults, sizeof cfg) != 0)
            abort();
        if (!strstr(err.message, path))
            abort(); /* errors name the file */
        return 0;
    }
    if (strcmp(cfg.source, path) != 0 || !memchr(cfg.log_path, '\0', sizeof cfg.log_path) ||
        !memchr(cfg.audit_path, '\0', sizeof cfg.audit_path) ||
        !memchr(cfg.http.ca_file, '\0', sizeof cfg.http.ca_file))
        abort();
    return 0;
}
