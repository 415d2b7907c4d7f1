/* test_bc_settings.c - broadcasting settings (broadcast/bc_settings.c):
 * OSSC_BROADCAST_* over the "broadcast" object of config.json, one setting
 * at a time; bad values name the variable, or the file and the key. */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bc_settings.h"
#include "hostport.h"
#include "check.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "ossc.h"
#include "tmpfiles.h"

#define SECRET "0123456789abcdef-the-shared-secret"


/* The resolver as a cluster's DNS at a pod's start: "again.test" answers
 * EAI_AGAIN while gai_again_left > 0, then resolves as 127.0.0.1; every
 * other name goes to the real resolver. */
static int gai_again_left, gai_again_asked;

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
        (int (*)(const char *, const char *, const struct addrinfo *,
                 struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
    if (node && strcmp(node, "again.test") == 0) {
        gai_again_asked++;
        if (gai_again_left > 0) {
            gai_again_left--;
            return EAI_AGAIN;
        }
        node = "127.0.0.1";
    }
    return real ? real(node, service, hints, res) : EAI_FAIL;
}

static void clear_env(void)
{
    for (size_t i = 0; ossc_bc_env_names[i]; i++)
        unsetenv(ossc_bc_env_names[i]);
    unsetenv("OSS_CONNECTOR_CONFIG");
}

static char secret_path[256];

/* A secret file only its owner can write (write_tmp follows the umask). */
static void make_secret_file(void)
{
    snprintf(secret_path, sizeof secret_path, "%s", write_tmp("secret", SECRET "\n"));
    chmod(secret_path, 0600);
}

/* Writes config.json holding `broadcast` (a JSON value) and loads it. */
static int load_with(const char *broadcast, ossc_bc_settings *b, const char **bad,
                     ossc_error *err, const char **path_out)
{
    char text[2048];
    snprintf(text, sizeof text, "{\"logLevel\": 1, \"broadcast\": %s}", broadcast);
    const char *path = write_tmp("config.json", text);
    if (path_out)
        *path_out = path;
    ossc_error_clear(err);
    *bad = NULL;
    return ossc_bc_settings_load(b, path, bad, err);
}

static void test_off_without_redis(void)
{
    ossc_bc_settings b;
    ossc_error err;
    const char *bad;
    clear_env();
    CHECK(ossc_bc_settings_load(&b, NULL, &bad, &err) == 0 && !b.enabled);
    /* other broadcast keys without a Redis URL: still off, no error */
    CHECK(load_with("{\"sources\": 2}", &b, &bad, &err, NULL) == 0 && !b.enabled);
    CHECK(load_with("{}", &b, &bad, &err, NULL) == 0 && !b.enabled);
}

static void test_config_only(void)
{
    ossc_bc_settings b;
    ossc_error err;
    const char *bad;
    char cfg[1024];
    clear_env();
    snprintf(cfg, sizeof cfg,
             "{\"redis\": \"redis://10.1.2.3:6380/2\", \"advertise\": \"10.0.0.5:7171\","
             " \"listen\": \"0.0.0.0:7171\", \"secretFile\": \"%s\", \"sources\": 2,"
             " \"stallSeconds\": 9, \"connectTimeoutMs\": 250}",
             secret_path);
    CHECK(load_with(cfg, &b, &bad, &err, NULL) == 0);
    CHECK(b.enabled);
    CHECK_STR(b.redis_url, "redis://10.1.2.3:6380/2");
    CHECK_STR(b.redis_shown, "10.1.2.3:6380/2");
    CHECK_STR(b.advertise, "10.0.0.5:7171");
    CHECK_STR(b.listen, "0.0.0.0:7171");
    CHECK(b.sources == 2 && b.stall_s == 9 && b.connect_timeout_ms == 250);
    CHECK(b.secret_len == strlen(SECRET) && memcmp(b.secret, SECRET, b.secret_len) == 0);

    /* defaults: listen = advertise = the local address towards Redis :7070 */
    snprintf(cfg, sizeof cfg, "{\"redis\": \"redis://127.0.0.1:6379\", \"secretFile\": \"%s\"}",
             secret_path);
    CHECK(load_with(cfg, &b, &bad, &err, NULL) == 0);
    CHECK(b.enabled && b.sources == 1 && b.stall_s == 5 && b.connect_timeout_ms == 1000);
    CHECK_STR(b.advertise, "127.0.0.1:7070");
    CHECK_STR(b.listen, "127.0.0.1:7070");

    /* a Redis password in config.json (readable by other users, usually)
     * is never turned into the peer secret: a secret file is asked for */
    CHECK(load_with("{\"redis\": \"redis://:pw-of-redis@127.0.0.1:6379\"}", &b, &bad, &err,
                    NULL) == -1);
    CHECK(!b.enabled && bad && strcmp(bad, "broadcast.secretFile") == 0);
    CHECK(strstr(err.message, "key 'broadcast.redis'") && strstr(err.message, "secretFile"));
    CHECK(!strstr(err.message, "pw-of-redis"));

    /* $OSS_CONNECTOR_CONFIG is the file when no path is given */
    const char *path;
    snprintf(cfg, sizeof cfg, "{\"redis\": \"redis://:pw@127.0.0.1:6379\", \"sources\": 3, "
             "\"secretFile\": \"%s\"}", secret_path);
    CHECK(load_with(cfg, &b, &bad, &err, &path) == 0);
    setenv("OSS_CONNECTOR_CONFIG", path, 1);
    CHECK(ossc_bc_settings_load(&b, "", &bad, &err) == 0 && b.enabled && b.sources == 3);
    CHECK(ossc_bc_settings_load(&b, NULL, &bad, &err) == 0 && b.enabled && b.sources == 3);
    unsetenv("OSS_CONNECTOR_CONFIG");
}

static void test_env_wins(void)
{
    ossc_bc_settings b;
    ossc_error err;
    const char *bad;
    char cfg[1024];
    clear_env();
    snprintf(cfg, sizeof cfg,
             "{\"redis\": \"redis://10.9.9.9:6379\", \"advertise\": \"10.0.0.5:7171\","
             " \"secretFile\": \"/nonexistent/secret\", \"sources\": 2, \"stallSeconds\": 9}");
    setenv("OSSC_BROADCAST_REDIS", "redis://127.0.0.1:6390/1", 1);
    setenv("OSSC_BROADCAST_SOURCES", "4", 1);
    setenv("OSSC_BROADCAST_SECRET_FILE", secret_path, 1);
    CHECK(load_with(cfg, &b, &bad, &err, NULL) == 0);
    CHECK(b.enabled);
    CHECK_STR(b.redis_url, "redis://127.0.0.1:6390/1");
    CHECK(b.sources == 4);     /* the variable */
    CHECK(b.stall_s == 9);     /* the config: no variable */
    CHECK_STR(b.advertise, "10.0.0.5:7171");
    CHECK(b.secret_len == strlen(SECRET));

    /* a bad variable is reported as the variable, even over a good key */
    setenv("OSSC_BROADCAST_SOURCES", "many", 1);
    CHECK(load_with(cfg, &b, &bad, &err, NULL) == -1 && !b.enabled);
    CHECK_STR(err.message, "OSSC_BROADCAST_SOURCES='many' must be a whole number from 1 to 64");
    CHECK_STR(bad, "OSSC_BROADCAST_SOURCES");
    setenv("OSSC_BROADCAST_SOURCES", "4", 1);
    setenv("OSSC_BROADCAST_ADVERTISE", "no-port", 1);
    CHECK(load_with(cfg, &b, &bad, &err, NULL) == -1);
    CHECK_STR(err.message,
              "OSSC_BROADCAST_ADVERTISE='no-port' must be host:port ([address]:port for IPv6)");
    /* a host other nodes' URLs cannot carry (the registry would skip this
     * node: it would serve nobody, silently) is refused by name */
    static const char *const bad_hosts[] = {"evil/x:7070", "user@h:7070", "a b:7070",
                                            "h?q:7070", "h\tx:7070"};
    for (size_t i = 0; i < sizeof bad_hosts / sizeof *bad_hosts; i++) {
        setenv("OSSC_BROADCAST_ADVERTISE", bad_hosts[i], 1);
        bad = NULL;
        CHECK(load_with(cfg, &b, &bad, &err, NULL) == -1 && !b.enabled);
        CHECK_STR(bad ? bad : "(null)", "OSSC_BROADCAST_ADVERTISE");
        CHECK(strstr(err.message, "the host must be a name, an IPv4 address or "
                                  "[an IPv6 address]") != NULL);
        CHECK(strstr(err.message, bad_hosts[i]) != NULL);
    }
    setenv("OSSC_BROADCAST_ADVERTISE", "node-1.example_x:7070", 1);
    CHECK(load_with(cfg, &b, &bad, &err, NULL) == 0);
    CHECK_STR(b.advertise, "node-1.example_x:7070");
    clear_env();
}

/* The environment of a node with broadcasting on: the secret file and
 * Redis at redis_url, nothing else. */
static void only_redis_env(const char *redis_url)
{
    clear_env();
    setenv("OSSC_BROADCAST_SECRET_FILE", secret_path, 1);
    setenv("OSSC_BROADCAST_REDIS", redis_url, 1);
}

/* No advertised address given: the local address towards Redis, port 7070;
 * a Redis host that does not resolve (".invalid" never does) gives no
 * guess (127.0.0.1 would send nodes on other hosts to themselves) but an
 * error naming OSSC_BROADCAST_ADVERTISE and the host. */
static void test_default_advertise(void)
{
    ossc_bc_settings b;
    ossc_error err;
    const char *bad = NULL;
    only_redis_env("redis://127.0.0.1:6390/0");
    CHECK(ossc_bc_settings_load(&b, NULL, &bad, &err) == 0 && b.enabled);
    CHECK_STR(b.advertise, "127.0.0.1:7070");
    CHECK_STR(b.listen, "127.0.0.1:7070");

    setenv("OSSC_BROADCAST_REDIS", "redis://ossc-redis.invalid:6379/0", 1);
    CHECK(ossc_bc_settings_load(&b, NULL, &bad, &err) == -1 && !b.enabled);
    CHECK(err.code == EINVAL && b.secret_len == 0);
    CHECK_STR(bad ? bad : "(null)", "OSSC_BROADCAST_ADVERTISE");
    CHECK(strstr(err.message, "Redis host 'ossc-redis.invalid'") != NULL);
    CHECK(strstr(err.message, "set OSSC_BROADCAST_ADVERTISE=host:port") != NULL);

    setenv("OSSC_BROADCAST_ADVERTISE", "10.0.0.5:7070", 1);
    CHECK(ossc_bc_settings_load(&b, NULL, &bad, &err) == 0 && b.enabled);
    CHECK_STR(b.advertise, "10.0.0.5:7070");
    unsetenv("OSSC_BROADCAST_ADVERTISE");

    /* "Try again" from the resolver: asked again every 50 ms, within the
     * connect timeout (200 ms: 4 waits, 5 questions), then given up. */
    setenv("OSSC_BROADCAST_REDIS", "redis://again.test:6390/0", 1);
    setenv("OSSC_BROADCAST_CONNECT_TIMEOUT_MS", "200", 1);
    gai_again_left = 3;
    gai_again_asked = 0;
    CHECK(ossc_bc_settings_load(&b, NULL, &bad, &err) == 0 && b.enabled);
    CHECK_STR(b.advertise, "127.0.0.1:7070");
    CHECK(gai_again_asked == 4);
    gai_again_left = 1000;
    gai_again_asked = 0;
    CHECK(ossc_bc_settings_load(&b, NULL, &bad, &err) == -1 && !b.enabled);
    CHECK_STR(bad ? bad : "(null)", "OSSC_BROADCAST_ADVERTISE");
    CHECK(strstr(err.message, "Redis host 'again.test'") != NULL);
    CHECK(gai_again_asked == 5);
    gai_again_left = 0;
    clear_env();
}

/* Whether this host has IPv6 loopback that routes (a container may have
 * IPv6 off): a UDP connect to ::1 (no packet sent). */
static bool have_ipv6_loopback(void)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(9)};
    a.sin6_addr = in6addr_loopback;
    int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0)
        close(s);
    return ok;
}

/* IPv6: "[address]:port" given, or found towards a Redis host that has only
 * an IPv6 address (an IPv6-only cluster). */
static void test_ipv6_addresses(void)
{
    ossc_bc_settings b;
    ossc_error err;
    const char *bad = NULL;
    only_redis_env("redis://[fd00::1]:6390/0");
    setenv("OSSC_BROADCAST_ADVERTISE", "[fd00::5]:7171", 1);
    setenv("OSSC_BROADCAST_LISTEN", "[::]:7171", 1);
    CHECK(ossc_bc_settings_load(&b, NULL, &bad, &err) == 0 && b.enabled);
    CHECK_STR(b.advertise, "[fd00::5]:7171");
    CHECK_STR(b.listen, "[::]:7171");
    unsetenv("OSSC_BROADCAST_ADVERTISE");
    unsetenv("OSSC_BROADCAST_LISTEN");
    if (have_ipv6_loopback()) {
        setenv("OSSC_BROADCAST_REDIS", "redis://[::1]:6390/0", 1);
        CHECK(ossc_bc_settings_load(&b, NULL, &bad, &err) == 0 && b.enabled);
        CHECK_STR(b.advertise, "[::1]:7070");
        CHECK_STR(b.listen, "[::1]:7070");
        /* an IPv4-mapped address is the IPv4 address it maps */
        setenv("OSSC_BROADCAST_REDIS", "redis://[::ffff:127.0.0.1]:6390/0", 1);
        CHECK(ossc_bc_settings_load(&b, NULL, &bad, &err) == 0 && b.enabled);
        CHECK_STR(b.advertise, "127.0.0.1:7070");
    } else {
        fprintf(stderr, "test_bc_settings: no IPv6 loopback here: default IPv6 address "
                        "not checked\n");
    }
    clear_env();
}

/* The address format itself (hostport.h). */
static void test_hostport(void)
{
    char host[64], out[64];
    int port = -1;
    CHECK(bc_hostport_split("10.0.0.5:7070", host, sizeof host, &port) == 0);
    CHECK_STR(host, "10.0.0.5");
    CHECK(port == 7070);
    CHECK(bc_hostport_split("[fe80::1]:0", host, sizeof host, &port) == 0);
    CHECK_STR(host, "fe80::1");
    CHECK(port == 0);
    CHECK(bc_hostport_split("node-1.example:65535", host, sizeof host, &port) == 0);
    const char *bad[] = {"", ":7070", "host", "host:", "host:65536", "host:-1", "host:7o70",
                         "::1:7070", "[::1]", "[::1]7070", "[::1]:", "[]:7070", "[::1:7070",
                         "host:123456", "a:b:1", "[fe80::1%eth0]:7070", "[node-1]:7070",
                         "[10.0.0.5]:7070", "host]:1", "a[b:1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(bc_hostport_split(bad[i], host, sizeof host, &port) == -1);
    CHECK(bc_hostport_split("averyveryverylonghostname:1", host, 8, &port) == -1);
    CHECK(bc_hostport_join("::1", 7070, out, sizeof out) == 0);
    CHECK_STR(out, "[::1]:7070");
    CHECK(bc_hostport_join("10.0.0.5", 1, out, sizeof out) == 0);
    CHECK_STR(out, "10.0.0.5:1");
    CHECK(bc_hostport_join("10.0.0.5", 7070, out, 8) == -1);
}

/* One bad value: -1, the message, the key named in *bad, nothing kept. */
static void expect_bad(const char *broadcast, const char *key, const char *message_tail)
{
    ossc_bc_settings b;
    ossc_error err;
    const char *bad, *path;
    char want[1024];
    CHECK(load_with(broadcast, &b, &bad, &err, &path) == -1);
    CHECK(err.code == EINVAL && !b.enabled && b.secret_len == 0);
    snprintf(want, sizeof want, "config %s: key '%s'%s", path, key, message_tail);
    CHECK_STR(err.message, want);
    CHECK_STR(bad ? bad : "(null)", key);
}

static void test_bad_values(void)
{
    char cfg[1024];
    clear_env();
    const char *ok = "\"redis\": \"redis://:pw@127.0.0.1:6379\"";
    snprintf(cfg, sizeof cfg, "{%s, \"sources\": \"2\"}", ok);
    expect_bad(cfg, "broadcast.sources", " must be an integer between 1 and 64");
    snprintf(cfg, sizeof cfg, "{%s, \"sources\": 65}", ok);
    expect_bad(cfg, "broadcast.sources", " must be an integer between 1 and 64");
    snprintf(cfg, sizeof cfg, "{%s, \"stallSeconds\": 0}", ok);
    expect_bad(cfg, "broadcast.stallSeconds", " must be an integer between 3 and 600");
    /* below the chunk server's 2 s long-poll + 1 s: every ask would time out */
    snprintf(cfg, sizeof cfg, "{%s, \"stallSeconds\": 2}", ok);
    expect_bad(cfg, "broadcast.stallSeconds", " must be an integer between 3 and 600");
    snprintf(cfg, sizeof cfg, "{%s, \"stallSeconds\": 2.5}", ok);
    expect_bad(cfg, "broadcast.stallSeconds", " must be an integer between 3 and 600");
    snprintf(cfg, sizeof cfg, "{%s, \"connectTimeoutMs\": true}", ok);
    expect_bad(cfg, "broadcast.connectTimeoutMs", " must be an integer between 50 and 60000");
    /* Addresses: an IPv6 one must be bracketed ("::1:7070" could be ::1
     * port 7070 or ::1:7070 with no port), brackets hold an IPv6 address
     * and nothing else (no zone id), and the advertised port is not 0. */
    static const struct {
        const char *member, *value;
        bool port_zero;
    } addresses[] = {
        {"advertise", "10.0.0.5", false},
        {"advertise", "::1:7070", false},
        {"advertise", "[fe80::1%eth0]:7070", false},
        {"listen", "[::1]7070", false},
        {"advertise", "10.0.0.5:0", true},
    };
    for (size_t i = 0; i < sizeof addresses / sizeof *addresses; i++) {
        char key[64], tail[160];
        snprintf(cfg, sizeof cfg, "{%s, \"%s\": \"%s\"}", ok, addresses[i].member,
                 addresses[i].value);
        snprintf(key, sizeof key, "broadcast.%s", addresses[i].member);
        snprintf(tail, sizeof tail,
                 addresses[i].port_zero ? " ('%s'): the port must be from 1 to 65535"
                                        : " ('%s') must be host:port ([address]:port for IPv6)",
                 addresses[i].value);
        expect_bad(cfg, key, tail);
    }
    snprintf(cfg, sizeof cfg, "{%s, \"listen\": 7070}", ok);
    expect_bad(cfg, "broadcast.listen", " must be a non-empty string");
    snprintf(cfg, sizeof cfg, "{%s, \"secretFile\": \"\"}", ok);
    expect_bad(cfg, "broadcast.secretFile", " must be a non-empty string");
    expect_bad("{\"redis\": 6379}", "broadcast.redis", " must be a non-empty string");

    /* the secret file: absolute, readable, nobody else may write, 16 bytes */
    snprintf(cfg, sizeof cfg, "{%s, \"secretFile\": \"secret\"}", ok);
    expect_bad(cfg, "broadcast.secretFile", " (secret): must be an absolute path");
    char want[512], path[300];
    snprintf(path, sizeof path, "%s/missing", tmpdir);
    snprintf(cfg, sizeof cfg, "{%s, \"secretFile\": \"%s\"}", ok, path);
    snprintf(want, sizeof want, " (%s): cannot read it: No such file or directory", path);
    expect_bad(cfg, "broadcast.secretFile", want);
    snprintf(path, sizeof path, "%s", write_tmp("shared-secret", SECRET));
    chmod(path, 0620);
    snprintf(cfg, sizeof cfg, "{%s, \"secretFile\": \"%s\"}", ok, path);
    snprintf(want, sizeof want, " (%s) must be a regular file nobody else can write", path);
    expect_bad(cfg, "broadcast.secretFile", want);
    /* a FIFO (or any file that is not regular): refused at once; opening it
     * for reading used to wait for a writer, i.e. hang the node's start */
    snprintf(path, sizeof path, "%s/secret-fifo", tmpdir);
    CHECK(mkfifo(path, 0600) == 0);
    snprintf(cfg, sizeof cfg, "{%s, \"secretFile\": \"%s\"}", ok, path);
    snprintf(want, sizeof want, " (%s) must be a regular file nobody else can write", path);
    expect_bad(cfg, "broadcast.secretFile", want);
    unlink(path);
    /* readable by others: accepted (a Kubernetes Secret mounts 0644 by
     * default), its mode kept so the agent warns once */
    snprintf(path, sizeof path, "%s", write_tmp("shared-read-secret", SECRET));
    chmod(path, 0644);
    snprintf(cfg, sizeof cfg, "{%s, \"secretFile\": \"%s\"}", ok, path);
    ossc_bc_settings rb;
    const char *rbad;
    ossc_error rerr;
    CHECK(load_with(cfg, &rb, &rbad, &rerr, NULL) == 0 && rb.secret_file_mode == 0644);
    CHECK(strcmp(rb.secret_file, path) == 0);
    chmod(path, 0600);
    CHECK(load_with(cfg, &rb, &rbad, &rerr, NULL) == 0 && rb.secret_file_mode == 0600);
    snprintf(path, sizeof path, "%s", write_tmp("short-secret", "short\n"));
    chmod(path, 0600);
    snprintf(cfg, sizeof cfg, "{%s, \"secretFile\": \"%s\"}", ok, path);
    snprintf(want, sizeof want, " (%s): the secret must have at least 16 bytes", path);
    expect_bad(cfg, "broadcast.secretFile", want);
}

static void test_refusals(void)
{
    ossc_bc_settings b;
    ossc_error err;
    const char *bad, *path;
    char want[1024];
    clear_env();

    /* the secret itself in config.json: refused, and never echoed */
    CHECK(load_with("{\"redis\": \"redis://127.0.0.1:6379\", \"secret\": \"" SECRET "\"}", &b,
                    &bad, &err, &path) == -1);
    CHECK(!b.enabled && strstr(err.message, "'broadcast.secret'") &&
          strstr(err.message, "broadcast.secretFile") && !strstr(err.message, SECRET));
    CHECK_STR(bad, "broadcast.secret");

    /* "broadcast" of another type */
    CHECK(load_with("\"redis://127.0.0.1:6379\"", &b, &bad, &err, &path) == -1);
    snprintf(want, sizeof want, "config %s: key 'broadcast' must be an object", path);
    CHECK_STR(err.message, want);

    /* a malformed URL: named by its key, password hidden */
    CHECK(load_with("{\"redis\": \"rediss://:topsecretpw@h:1\"}", &b, &bad, &err, &path) == -1);
    snprintf(want, sizeof want, "config %s: key 'broadcast.redis': broadcast redis URL", path);
    CHECK(strncmp(err.message, want, strlen(want)) == 0);
    CHECK(!strstr(err.message, "topsecretpw"));
    CHECK_STR(bad, "broadcast.redis");

    /* a listen host other nodes' URLs could not carry: named by its key */
    CHECK(load_with("{\"redis\": \"redis://127.0.0.1:6379\", \"listen\": \"h/x:7070\"}", &b,
                    &bad, &err, &path) == -1);
    snprintf(want, sizeof want, "config %s: key 'broadcast.listen' ('h/x:7070'): the host must "
             "be a name, an IPv4 address or [an IPv6 address]", path);
    CHECK_STR(err.message, want);
    CHECK_STR(bad, "broadcast.listen");

    /* no secret anywhere */
    CHECK(load_with("{\"redis\": \"redis://127.0.0.1:6379\"}", &b, &bad, &err, NULL) == -1);
    CHECK(strstr(err.message, "broadcasting needs a shared secret") != NULL);
}

/* A config file the engine refuses adds nothing here: off when only it
 * could have enabled broadcasting, the environment alone otherwise. */
static void test_unreadable_config(void)
{
    ossc_bc_settings b;
    ossc_error err;
    const char *bad;
    clear_env();
    const char *path = write_tmp("broken.json", "{\"broadcast\": {\"redis\": ");
    CHECK(ossc_bc_settings_load(&b, path, &bad, &err) == 0 && !b.enabled);
    setenv("OSSC_BROADCAST_REDIS", "redis://:pw@127.0.0.1:6379", 1);
    CHECK(ossc_bc_settings_load(&b, path, &bad, &err) == 0 && b.enabled);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/no-such-config.json", tmpdir);
    CHECK(ossc_bc_settings_load(&b, missing, &bad, &err) == 0 && b.enabled);
    clear_env();
}

/* Unknown keys in "broadcast": one warning naming them, settings kept; the
 * engine's own loader neither fails on nor warns about the section. */
static void test_unknown_keys(void)
{
    ossc_bc_settings b;
    ossc_error err;
    const char *bad, *path;
    char logpath[300];
    clear_env();
    snprintf(logpath, sizeof logpath, "%s/warn.log", tmpdir);
    ossc_log_init(OSSC_LOG_WARN, logpath);
    CHECK(load_with("{\"redis\": \"redis://:pw@127.0.0.1:6379\", \"sourcess\": 2,"
                    " \"sources\": \"bad for the engine, not for config.c\"}",
                    &b, &bad, &err, &path) == -1);
    char cfgtext[1024];
    snprintf(cfgtext, sizeof cfgtext, "{\"redis\": \"redis://127.0.0.1:6379\", \"sourcess\": 2, "
             "\"secretFile\": \"%s\"}", secret_path);
    CHECK(load_with(cfgtext, &b, &bad, &err, &path) == 0);
    CHECK(b.enabled && b.sources == 1);
    ossc_config cfg;
    CHECK(ossc_config_load(path, &cfg, &err) == 0);
    ossc_log_init(OSSC_LOG_WARN, NULL);
    char *log = slurp(logpath);
    CHECK(strstr(log, "ignoring unknown keys 'broadcast.sourcess'") != NULL);
    CHECK(strstr(log, "ignoring unknown keys 'broadcast'") == NULL);
    free(log);
}

/* The public view for ossc doctor: the settings, never the secret. */
static void test_public_view(void)
{
    ossc_error err;
    char *json = NULL, cfg[1024];
    const char *path;
    clear_env();
    path = write_tmp("config.json", "{}");
    CHECK(ossc_broadcast_settings(path, &json, &err) == 0);
    CHECK_STR(json ? json : "(null)", "{\"enabled\":false}");
    ossc_string_free(json);

    snprintf(cfg, sizeof cfg,
             "{\"broadcast\": {\"redis\": \"redis://:redis-pw-not-shown@127.0.0.1:6390/3\","
             " \"advertise\": \"10.0.0.5:7171\", \"sources\": 2}}");
    path = write_tmp("config.json", cfg);
    setenv("OSSC_BROADCAST_SECRET_FILE", secret_path, 1);
    CHECK(ossc_broadcast_settings(path, &json, &err) == 0);
    CHECK_STR(json ? json : "(null)",
              "{\"enabled\":true,\"redis\":\"127.0.0.1:6390/3\",\"advertise\":\"10.0.0.5:7171\","
              "\"listen\":\"10.0.0.5:7171\",\"sources\":2,\"stall_seconds\":5,"
              "\"connect_timeout_ms\":1000,\"secret_from\":\"OSSC_BROADCAST_SECRET_FILE\"}");
    CHECK(json && !strstr(json, "redis-pw-not-shown") && !strstr(json, SECRET));
    ossc_string_free(json);
    unsetenv("OSSC_BROADCAST_SECRET_FILE");
    CHECK(ossc_broadcast_settings(path, &json, &err) == -1 && json == NULL);
    CHECK(strstr(err.message, "not derived from a Redis password"));
    /* the same URL from the environment: the secret is derived from it */
    setenv("OSSC_BROADCAST_REDIS", "redis://:redis-pw-not-shown@127.0.0.1:6390/3", 1);
    CHECK(ossc_broadcast_settings(path, &json, &err) == 0);
    CHECK(json && strstr(json, "\"secret_from\":\"the Redis URL's password\""));
    ossc_string_free(json);
    unsetenv("OSSC_BROADCAST_REDIS");

    path = write_tmp("config.json", "{\"broadcast\": {\"redis\": \"redis://:pw@h:1\", "
                                    "\"stallSeconds\": 0}}");
    CHECK(ossc_broadcast_settings(path, &json, &err) == -1 && json == NULL);
    CHECK(err.code == EINVAL && strstr(err.message, "key 'broadcast.stallSeconds'"));
}

int main(void)
{
    if (make_tmpdir("bc-settings") != 0)
        return 1;
    ossc_log_init(OSSC_LOG_ERROR, NULL);
    make_secret_file();
    test_off_without_redis();
    test_config_only();
    test_env_wins();
    test_default_advertise();
    test_ipv6_addresses();
    test_hostport();
    test_bad_values();
    test_refusals();
    test_unreadable_config();
    test_unknown_keys();
    test_public_view();
    remove_tmpdir();
    return check_summary("test_bc_settings");
}
