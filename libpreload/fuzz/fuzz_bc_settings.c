/* fuzz_bc_settings.c - broadcasting settings (ossc_bc_settings_load,
 * broadcast/bc_settings.c) from arbitrary config file contents, fed
 * through a memfd, with no OSSC_BROADCAST_* variable set: the "broadcast"
 * object's keys, the Redis URL parser, host:port checks, the secret file
 * rules, and the public JSON view (ossc_broadcast_settings).
 *
 * Aborts when a refusal has no message, names neither the file nor the key
 * it blames, or leaves anything in the settings (they are wiped: the
 * secret may have been read); when accepted settings break their ranges or
 * hold an unterminated string, or are enabled without a secret of 16+
 * bytes; when the public view is not one JSON object.
 *
 * Name resolution: a Redis host without an advertised address is resolved
 * to pick the local address; getaddrinfo is overridden here to accept
 * numeric hosts only, so no input makes the fuzzer wait on DNS. */
#include <dlfcn.h>
#include <jansson.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "bc_settings.h"
#include "error.h"
#include "fuzz_common.h"
#include "ossc.h"

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    static int (*real)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **);
    if (!real)
        real = (int (*)(const char *, const char *, const struct addrinfo *,
                        struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
    struct addrinfo h = hints ? *hints : (struct addrinfo){0};
    h.ai_flags |= AI_NUMERICHOST;
    return real ? real(node, service, &h, res) : EAI_FAIL;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i])
            return 0;
    return 1;
}

#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int env_cleared;
    if (!env_cleared) {
        for (size_t i = 0; ossc_bc_env_names[i]; i++)
            unsetenv(ossc_bc_env_names[i]);
        unsetenv("OSS_CONNECTOR_CONFIG");
        env_cleared = 1;
    }
    static ossc_bc_settings b;
    char path[64];
    const char *bad = NULL;
    ossc_error err;

    fuzz_memfd_fill(data, size, path, sizeof path);
    ossc_error_clear(&err);
    if (ossc_bc_settings_load(&b, path, &bad, &err) != 0) {
        if (!bad || !err.message[0] || !all_zero(&b, sizeof b))
            abort();
        if (!strstr(err.message, path) && !strstr(err.message, bad))
            abort(); /* names the file, or the key at fault */
    } else if (!b.enabled) {
        if (!all_zero(&b, sizeof b))
            abort();
    } else {
        if (!TERMINATED(b.redis_url) || !TERMINATED(b.redis_shown) ||
            !TERMINATED(b.advertise) || !TERMINATED(b.listen) || !b.redis_url[0] ||
            !b.advertise[0] || !b.listen[0] || !b.secret_source)
            abort();
        if (b.sources < 1 || b.sources > 64 || b.stall_s < 3 || b.stall_s > 600 ||
            b.connect_timeout_ms < 50 || b.connect_timeout_ms > 60000)
            abort();
        if (b.secret_len < 16 || b.secret_len > sizeof b.secret)
            abort();
    }

    char *json = NULL;
    ossc_error_clear(&err);
    if (ossc_broadcast_settings(path, &json, &err) == 0) {
        json_t *o = json ? json_loads(json, 0, NULL) : NULL;
        if (!json_is_object(o))
            abort();
        json_decref(o);
        free(json);
    } else if (!err.message[0]) {
        abort();
    }
    return 0;
}
