/* test_registry.c - the broadcast registry against a real redis-server the
 * test starts itself (a free loopback port, no persistence, a scratch
 * dir; killed by pid at the end), plus the pure URL parser.  Skipped (77)
 * when redis-server is not on PATH, after the URL checks. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "check.h"
#include "log.h"
#include "chain.h"
#include "registry.h"

extern char **environ;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- URL parsing (pure) --------------------------------------------------- */

static void url_ok(const char *url, const char *host, int port, const char *user,
                   const char *password, int db)
{
    bc_redis_url u;
    ossc_error err = {0};
    int rc = bc_redis_url_parse(url, &u, &err);
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "  '%s': %s\n", url, err.message);
        return;
    }
    CHECK_STR(u.host, host);
    CHECK(u.port == port);
    CHECK_STR(u.user, user);
    CHECK_STR(u.password, password);
    CHECK(u.db == db);
}

/* Fails with EINVAL; the message never holds `secret` and names `shown`. */
static void url_fails(const char *url, const char *secret, const char *shown)
{
    bc_redis_url u;
    ossc_error err = {0};
    CHECK(bc_redis_url_parse(url, &u, &err) == -1);
    CHECK(err.code == EINVAL);
    if (secret && strstr(err.message, secret)) {
        fprintf(stderr, "  message for '%s' shows the password: %s\n", url, err.message);
        CHECK(0);
    }
    if (shown && !strstr(err.message, shown)) {
        fprintf(stderr, "  message for '%s' does not name '%s': %s\n", url, shown,
                err.message);
        CHECK(0);
    }
}

static void test_url(void)
{
    url_ok("redis://127.0.0.1", "127.0.0.1", 6379, "", "", 0);
    url_ok("redis://r.example:6380/3", "r.example", 6380, "", "", 3);
    url_ok("redis://:pw@h:1/", "h", 1, "", "pw", 0);
    url_ok("REDIS://alice:p%40ss%3Aw%2Fd@h/15", "h", 6379, "alice", "p@ss:w/d", 15);
    url_ok("redis://:a@b@h", "h", 6379, "", "a@b", 0); /* the last '@' ends the userinfo */
    url_ok("redis://[::1]:7000/2", "::1", 7000, "", "", 2);
    url_ok("redis://u:@h", "h", 6379, "u", "", 0);

    url_fails("", NULL, NULL);
    url_fails("127.0.0.1:6379", NULL, "URL ***: no scheme");
    url_fails("rediss://:topsecret@h:6380", "topsecret", "rediss://:***@h:6380");
    url_fails("unix:///run/redis.sock", NULL, "unix");
    url_fails("redis://:topsecret@h:notaport", "topsecret", "redis://:***@h:notaport");
    url_fails("redis://user:topsecret@h:0", "topsecret", "redis://user:***@h:0");
    url_fails("redis://h:65536", NULL, "h:65536");
    url_fails("redis://h/x", NULL, "h/x");
    url_fails("redis://h?db=1", NULL, "h?db=1");
    url_fails("redis://topsecret@h", "topsecret", "redis://***@h");
    url_fails("redis://:top%zzsecret@h", "top%zzsecret", "***@h");
    url_fails("redis://:top%00secret@h", "top%00secret", "***@h");
    url_fails("redis://:pw@", "pw", NULL);
    url_fails("redis://[::1:7000", NULL, "[::1:7000");
}

/* A password written with a raw '/', '?', '#' or '@', or in a URL without
 * a proper "scheme://": every message hides all of it (each fragment is
 * checked, so a mask that stops at the first '/' is caught). */
static void test_url_masks_raw_passwords(void)
{
    static const struct {
        const char *url, *frag[3], *shown;
    } cases[] = {
        {"redis://:pA5s/w0Rd@host:6379/0", {"pA5s", "w0Rd"}, "redis://:***@host:6379/0"},
        {"redis://user:pQ?wZ#xY@h:1/2", {"pQ", "wZ", "xY"}, "redis://user:***@h:1/2"},
        {"redis://u:Pw#zK/Zq@h", {"Pw", "zK", "Zq"}, "redis://u:***@h"},
        {"redis://sEkR/Et@h/0", {"sEkR", "Et@"}, "redis://***@h/0"},
        {"redis://:a@bQ/cV@h:1", {"bQ", "cV"}, "redis://:***@h:1"},
        {"rediss://:sEkR?Et@h", {"sEkR", "Et"}, "rediss://:***@h"},
        {":sEkREt@h:6379", {"sEkREt"}, "URL ***: no scheme"},
        {"x:sEkR@z://h", {"sEkR"}, "URL ***:"},
        {"us:sEkR/x://h@h", {"sEkR"}, "URL ***:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t f = 0; f < 3 && cases[i].frag[f]; f++)
            url_fails(cases[i].url, cases[i].frag[f], cases[i].shown);
}

/* ---- a real redis-server -------------------------------------------------- */

typedef struct server {
    pid_t pid;
    int port;
    char dir[64];
    char url[160];
} server;

/* A port nothing listens on right now (bound, read, closed). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("free_port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* A raw hiredis context to the server (for checks the API does not make). */
static redisContext *raw(const server *s, const char *password, int db)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r;
    if (password) {
        r = redisCommand(c, "AUTH %s", password);
        freeReplyObject(r);
    }
    r = redisCommand(c, "SELECT %d", db);
    freeReplyObject(r);
    return c;
}

/* Starts redis-server; 0, 77 when it is not installed, 1 on failure.
 * Ready once it answers PING (polled, with a deadline). */
static int server_start(server *s, const char *password)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/ossc-test-redis-XXXXXX");
    if (!mkdtemp(s->dir)) {
        perror("mkdtemp");
        return 1;
    }
    s->port = free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    char *argv[20];
    int i = 0;
    argv[i++] = "redis-server";
    argv[i++] = "--port";
    argv[i++] = port;
    argv[i++] = "--bind";
    argv[i++] = "127.0.0.1";
    argv[i++] = "--save";
    argv[i++] = "";
    argv[i++] = "--appendonly";
    argv[i++] = "no";
    argv[i++] = "--dir";
    argv[i++] = s->dir;
    argv[i++] = "--logfile";
    argv[i++] = "";
    argv[i++] = "--loglevel";
    argv[i++] = "warning";
    if (password) {
        argv[i++] = "--requirepass";
        argv[i++] = (char *)password;
    }
    argv[i] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&s->pid, "redis-server", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc == ENOENT) {
        rmdir(s->dir);
        return 77;
    }
    if (rc != 0) {
        fprintf(stderr, "redis-server: %s\n", strerror(rc));
        return 1;
    }
    if (password)
        snprintf(s->url, sizeof s->url, "redis://:%s@127.0.0.1:%d", password, s->port);
    else
        snprintf(s->url, sizeof s->url, "redis://127.0.0.1:%d", s->port);
    for (double deadline = now_s() + 60; now_s() < deadline;) {
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            fprintf(stderr, "redis-server exited before answering (status %d)\n", status);
            return 1;
        }
        redisContext *c = raw(s, password, 0);
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            int up = r && r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "PONG");
            freeReplyObject(r);
            redisFree(c);
            if (up)
                return 0;
        }
        struct timespec ts = {0, 20 * 1000 * 1000}; /* poll interval, not a wait for an event */
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "redis-server on port %d did not answer PING within 60 s\n", s->port);
    return 1;
}

static void server_stop(server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", s->dir); /* our own mkdtemp dir */
    if (s->dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s->dir);
}

static bc_registry *connect_url(const char *url, int timeout_ms, ossc_error *err)
{
    bc_redis_url u;
    if (bc_redis_url_parse(url, &u, err) < 0)
        return NULL;
    return bc_registry_connect(&u, timeout_ms, err);
}

static bc_node_info node(const char *id, const char *addr, const char *upstream)
{
    bc_node_info n;
    memset(&n, 0, sizeof n);
    snprintf(n.id, sizeof n.id, "%s", id);
    snprintf(n.addr, sizeof n.addr, "%s", addr);
    snprintf(n.hostname, sizeof n.hostname, "host-%s", id);
    snprintf(n.upstream, sizeof n.upstream, "%s", upstream);
    n.pid = 4242;
    n.total = 1000;
    return n;
}

static long long ttl_of(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "TTL %s", key);
    long long t = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -100;
    freeReplyObject(r);
    return t;
}

static void test_join_order_and_keys(const server *s)
{
    ossc_error err = {0};
    bc_registry *r = connect_url(s->url, 2000, &err);
    CHECK(r != NULL);
    if (!r) {
        fprintf(stderr, "  connect: %s\n", err.message);
        return;
    }
    const char *vid = "aaaa0000aaaa0000aaaa0000aaaa0000";
    bc_node_info a = node("node-a", "127.0.0.2:7001", "");
    bc_node_info b = node("node-b", "127.0.0.3:7001", "127.0.0.2:7001");
    bc_node_info c = node("node-c", "127.0.0.4:7001", "127.0.0.3:7001");
    CHECK(bc_registry_join(r, vid, "oss://bkt/model/", 3, &a, 30, &err) == 0);
    CHECK(bc_registry_join(r, vid, "oss://bkt/model/", 3, &b, 30, &err) == 0);
    CHECK(bc_registry_join(r, vid, "oss://bkt/model/", 3, &c, 30, &err) == 0);
    CHECK(a.seq == 1 && b.seq == 2 && c.seq == 3);

    b.recv_peer = 600;
    b.forwarded = 300;
    b.files_done = 2;
    CHECK(bc_registry_heartbeat(r, vid, &b, 30, &err) == 0);

    bc_node_info *m = NULL;
    size_t n = 0;
    CHECK(bc_registry_members(r, vid, &m, &n, &err) == 0);
    CHECK(n == 3);
    if (n == 3) {
        CHECK_STR(m[0].id, "node-a");
        CHECK_STR(m[1].id, "node-b");
        CHECK_STR(m[2].id, "node-c");
        CHECK(m[0].seq == 1 && m[1].seq == 2 && m[2].seq == 3);
        CHECK_STR(m[1].addr, "127.0.0.3:7001");
        CHECK_STR(m[1].upstream, "127.0.0.2:7001");
        CHECK_STR(m[1].hostname, "host-node-b");
        CHECK(m[1].pid == 4242 && m[1].total == 1000 && m[1].recv_peer == 600);
        CHECK(m[1].forwarded == 300 && m[1].files_done == 2 && !m[1].complete);
        CHECK(m[0].upstream[0] == '\0');
        /* the chain over what the registry returned */
        CHECK(bc_chain_upstream(m, n, "node-c", 1, NULL, NULL) == 1);
    }
    free(m);

    /* the path index, with or without the trailing '/' */
    char **vids = NULL;
    size_t nv = 0;
    CHECK(bc_registry_versions(r, "oss://bkt/model", &vids, &nv, &err) == 0);
    CHECK(nv == 1 && !strcmp(vids[0], vid));
    bc_strings_free(vids, nv);
    CHECK(bc_registry_versions(r, "oss://bkt/other/", &vids, &nv, &err) == 0 && nv == 0);
    bc_strings_free(vids, nv);
    char path[256];
    uint32_t nfiles;
    uint64_t total;
    CHECK(bc_registry_info(r, vid, path, sizeof path, &nfiles, &total, &err) == 0);
    CHECK_STR(path, "oss://bkt/model/");
    CHECK(nfiles == 3 && total == 1000);

    /* every key expires */
    redisContext *rc = raw(s, NULL, 0);
    CHECK(rc != NULL);
    if (rc) {
        const char *keys[] = {"ossc:bc:aaaa0000aaaa0000aaaa0000aaaa0000:seq",
                              "ossc:bc:aaaa0000aaaa0000aaaa0000aaaa0000:members",
                              "ossc:bc:aaaa0000aaaa0000aaaa0000aaaa0000:info",
                              "ossc:bc:path:oss://bkt/model"};
        for (size_t i = 0; i < 4; i++) {
            long long t = ttl_of(rc, keys[i]);
            if (!(t > 3600 && t <= 86400))
                fprintf(stderr, "  TTL %s = %lld\n", keys[i], t);
            CHECK(t > 3600 && t <= 86400);
        }
        long long t = ttl_of(rc, "ossc:bc:aaaa0000aaaa0000aaaa0000aaaa0000:node:node-b");
        CHECK(t > 0 && t <= 30);
        redisFree(rc);
    }

    /* leave: gone from the members, its hash deleted */
    bc_registry_leave(r, vid, "node-b");
    CHECK(bc_registry_members(r, vid, &m, &n, &err) == 0);
    CHECK(n == 2 && !strcmp(m[0].id, "node-a") && !strcmp(m[1].id, "node-c"));
    free(m);
    /* a late joiner goes to the tail */
    bc_node_info d = node("node-d", "127.0.0.5:7001", "");
    CHECK(bc_registry_join(r, vid, "oss://bkt/model/", 3, &d, 30, &err) == 0);
    CHECK(d.seq == 4);
    CHECK(bc_registry_members(r, vid, &m, &n, &err) == 0);
    CHECK(n == 3 && !strcmp(m[2].id, "node-d"));
    CHECK(bc_chain_upstream(m, n, "node-d", 1, NULL, NULL) == 1);
    free(m);
    bc_registry_free(r);
}

/* Writes member `id` of vid as another writer of the registry could: its
 * hash with `addr` (length addr_len, so it may hold a NUL), its score. */
static void write_member(redisContext *rc, const char *vid, const char *id, const char *addr,
                         size_t addr_len, const char *score)
{
    char k_node[160], k_members[160];
    snprintf(k_node, sizeof k_node, "ossc:bc:%s:node:%s", vid, id);
    snprintf(k_members, sizeof k_members, "ossc:bc:%s:members", vid);
    redisReply *x = redisCommand(rc, "HSET %s id %s addr %b hostname h pid 1", k_node, id, addr,
                                 addr_len);
    CHECK(x && x->type == REDIS_REPLY_INTEGER);
    freeReplyObject(x);
    x = redisCommand(rc, "ZADD %s %s %s", k_members, score, id);
    CHECK(x && x->type == REDIS_REPLY_INTEGER);
    freeReplyObject(x);
}

/* The whole text of a file (malloc'd), "" when it cannot be read. */
static char *slurp(const char *path)
{
    char *buf = calloc(1, 65536);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, 65535, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

/* Members written by someone else with an address that is not host:port
 * (a newline in it, no port, port 0, a name too long for bc_node_info,
 * a NUL, an unbracketed IPv6 address, URL delimiters) or a score of +inf/-inf (a cast to
 * long long would be undefined) are left out, each with one log line
 * holding no control character; the valid ones stay, in order. */
static void test_members_validated(const server *s)
{
    ossc_error err = {0};
    bc_registry *r = connect_url(s->url, 2000, &err);
    redisContext *rc = raw(s, NULL, 0);
    CHECK(r != NULL && rc != NULL);
    if (!r || !rc) {
        bc_registry_free(r);
        if (rc)
            redisFree(rc);
        return;
    }
    char log_path[128];
    snprintf(log_path, sizeof log_path, "%s/members.log", s->dir);
    ossc_log_init(OSSC_LOG_WARN, log_path);

    const char *vid = "dddd0000dddd0000dddd0000dddd0000";
    bc_node_info a = node("good-a", "127.0.0.2:7001", "");
    CHECK(bc_registry_join(r, vid, "oss://bkt/v/", 1, &a, 30, &err) == 0);
    char long_name[200];
    memset(long_name, 'n', sizeof long_name);
    snprintf(long_name + 150, 50, ".example:7070");
    write_member(rc, vid, "bad-newline", "evil\nhost:1", 11, "2");
    write_member(rc, vid, "bad-noport", "no-port-here", 12, "3");
    write_member(rc, vid, "bad-port0", "127.0.0.9:0", 11, "4");
    write_member(rc, vid, "bad-long", long_name, strlen(long_name), "5");
    write_member(rc, vid, "bad-nul", "127.0.0.9:7\0001", 13, "6");
    write_member(rc, vid, "bad-v6", "::1:7070", 8, "7");
    write_member(rc, vid, "bad-url", "h.example/x?y@evil:80", 21, "7");
    write_member(rc, vid, "good-b", "[::1]:7002", 10, "8");
    write_member(rc, vid, "bad-inf", "127.0.0.9:7003", 14, "+inf");
    write_member(rc, vid, "bad-ninf", "127.0.0.9:7004", 14, "-inf");

    bc_node_info *m = NULL;
    size_t n = 0;
    CHECK(bc_registry_members(r, vid, &m, &n, &err) == 0);
    CHECK(n == 2);
    if (n == 2) {
        CHECK_STR(m[0].id, "good-a");
        CHECK(m[0].seq == 1);
        CHECK_STR(m[1].id, "good-b");
        CHECK_STR(m[1].addr, "[::1]:7002");
        CHECK(m[1].seq == 8);
    }
    free(m);

    ossc_log_init(OSSC_LOG_WARN, NULL);
    char *log = slurp(log_path);
    const char *skipped[] = {"bad-newline", "bad-noport", "bad-port0", "bad-long",
                             "bad-nul",     "bad-v6",     "bad-url",   "bad-inf",
                             "bad-ninf"};
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "member '%s'", skipped[i]);
        const char *at = strstr(log, want);
        CHECK(at != NULL && strstr(at + 1, want) == NULL); /* one line each */
    }
    CHECK(strstr(log, "'evil?host:1'") != NULL);
    CHECK(strstr(log, "good-") == NULL);
    size_t lines = 0, unprintable = 0;
    for (const char *p = log; *p; p++) {
        lines += *p == '\n';
        unprintable += *p != '\n' && (*p < 0x20 || *p >= 0x7f);
    }
    CHECK(lines == sizeof skipped / sizeof skipped[0]);
    CHECK(unprintable == 0);
    free(log);
    redisFree(rc);
    bc_registry_free(r);
}

static void test_heartbeat_expiry(const server *s)
{
    ossc_error err = {0};
    bc_registry *r = connect_url(s->url, 2000, &err);
    CHECK(r != NULL);
    if (!r)
        return;
    const char *vid = "bbbb0000bbbb0000bbbb0000bbbb0000";
    bc_node_info live = node("live", "127.0.0.2:7002", "");
    bc_node_info dying = node("dying", "127.0.0.3:7002", "127.0.0.2:7002");
    CHECK(bc_registry_join(r, vid, "oss://bkt/m2", 1, &live, 60, &err) == 0);
    CHECK(bc_registry_join(r, vid, "oss://bkt/m2", 1, &dying, 1, &err) == 0);

    /* Wait for "dying" to drop (its hash expires after 1 s, no heartbeat). */
    bc_node_info *m = NULL;
    size_t n = 2;
    double t0 = now_s();
    while (n != 1 && now_s() - t0 < 30) {
        free(m);
        m = NULL;
        CHECK(bc_registry_members(r, vid, &m, &n, &err) == 0);
        if (n != 1) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    CHECK(n == 1 && !strcmp(m[0].id, "live"));
    free(m);
    /* members() removed it from the set for everyone */
    redisContext *rc = raw(s, NULL, 0);
    CHECK(rc != NULL);
    if (rc) {
        redisReply *z = redisCommand(rc, "ZSCORE ossc:bc:%s:members dying", vid);
        CHECK(z && z->type == REDIS_REPLY_NIL);
        freeReplyObject(z);
        redisFree(rc);
    }
    /* a node that beats again is a member again, at its own seq */
    CHECK(bc_registry_heartbeat(r, vid, &dying, 60, &err) == 0);
    CHECK(bc_registry_members(r, vid, &m, &n, &err) == 0);
    CHECK(n == 2 && !strcmp(m[1].id, "dying") && m[1].seq == 2);
    free(m);
    bc_registry_free(r);
}

static void test_db_selection(const server *s)
{
    char url[200];
    snprintf(url, sizeof url, "%s/3", s->url);
    ossc_error err = {0};
    bc_registry *r = connect_url(url, 2000, &err);
    CHECK(r != NULL);
    if (!r)
        return;
    bc_node_info a = node("db3-node", "127.0.0.2:7003", "");
    CHECK(bc_registry_join(r, "cccc", "oss://bkt/db3/", 1, &a, 30, &err) == 0);
    bc_registry_free(r);
    redisContext *c0 = raw(s, NULL, 0), *c3 = raw(s, NULL, 3);
    CHECK(c0 && c3);
    if (c0 && c3) {
        redisReply *x0 = redisCommand(c0, "EXISTS ossc:bc:cccc:node:db3-node");
        redisReply *x3 = redisCommand(c3, "EXISTS ossc:bc:cccc:node:db3-node");
        CHECK(x0 && x0->integer == 0);
        CHECK(x3 && x3->integer == 1);
        freeReplyObject(x0);
        freeReplyObject(x3);
    }
    if (c0)
        redisFree(c0);
    if (c3)
        redisFree(c3);

    /* the status JSON sees it in db 3 only */
    char *json = NULL;
    CHECK(ossc_broadcast_status(url, "oss://bkt/db3", 2000, &json, &err) == 0);
    json_t *root = json ? json_loads(json, 0, NULL) : NULL;
    json_t *versions = json_object_get(root, "versions");
    CHECK(json_array_size(versions) == 1);
    json_t *nodes = json_object_get(json_array_get(versions, 0), "nodes");
    CHECK(json_array_size(nodes) == 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(nodes, 0), "source")), "oss");
    json_decref(root);
    ossc_string_free(json);
    CHECK(ossc_broadcast_status(s->url, "oss://bkt/db3", 2000, &json, &err) == 0);
    CHECK(json && strstr(json, "\"versions\":[]"));
    ossc_string_free(json);

    /* a database the server does not have */
    snprintf(url, sizeof url, "%s/9999", s->url);
    CHECK(connect_url(url, 2000, &err) == NULL);
    CHECK(err.code == EINVAL && strstr(err.message, "db 9999"));
}

/* The server dies under a connected registry: every call fails at once
 * with words naming it (the agent then carries on without Redis). */
static void test_server_dies(void)
{
    server s;
    int rc = server_start(&s, NULL);
    CHECK(rc == 0);
    if (rc != 0) {
        server_stop(&s);
        return;
    }
    ossc_error err = {0};
    bc_registry *r = connect_url(s.url, 2000, &err);
    CHECK(r != NULL);
    bc_node_info a = node("survivor", "127.0.0.2:7004", "");
    CHECK(r && bc_registry_join(r, "dddd", "oss://bkt/dies/", 1, &a, 30, &err) == 0);
    kill(s.pid, SIGKILL);
    waitpid(s.pid, NULL, 0);
    s.pid = 0;
    if (r) {
        double t0 = now_s();
        CHECK(bc_registry_heartbeat(r, "dddd", &a, 30, &err) == -1);
        CHECK(err.code != 0 && strstr(err.message, "127.0.0.1:") != NULL);
        bc_node_info *m = NULL;
        size_t n = 0;
        CHECK(bc_registry_members(r, "dddd", &m, &n, &err) == -1 && m == NULL && n == 0);
        bc_registry_leave(r, "dddd", a.id); /* best effort: returns */
        CHECK(now_s() - t0 < 5.0);
        bc_registry_free(r);
    }
    server_stop(&s);
}

static void test_password(void)
{
    server s;
    int rc = server_start(&s, "right-pw-Q7");
    CHECK(rc == 0);
    if (rc != 0) {
        server_stop(&s);
        return;
    }
    ossc_error err = {0};
    char url[200];
    CHECK(ossc_broadcast_ping(s.url, 2000, &err) == 0);
    snprintf(url, sizeof url, "redis://default:right-pw-Q7@127.0.0.1:%d/1", s.port);
    CHECK(ossc_broadcast_ping(url, 2000, &err) == 0);

    snprintf(url, sizeof url, "redis://:wrong-pw-Z9@127.0.0.1:%d", s.port);
    CHECK(ossc_broadcast_ping(url, 2000, &err) == -1);
    CHECK(err.code == EACCES);
    CHECK(strstr(err.message, "wrong-pw-Z9") == NULL);
    CHECK(strstr(err.message, "right-pw-Q7") == NULL);
    char where[64];
    snprintf(where, sizeof where, "127.0.0.1:%d", s.port);
    CHECK(strstr(err.message, where) != NULL);
    if (err.code != EACCES)
        fprintf(stderr, "  wrong password: %s\n", err.message);

    /* no password: NOAUTH, said in words */
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", s.port);
    CHECK(ossc_broadcast_ping(url, 2000, &err) == -1);
    CHECK(err.code == EACCES && strstr(err.message, "password"));
    server_stop(&s);
}

static void test_unreachable(void)
{
    ossc_error err = {0};
    char url[128];

    /* a closed port: refused at once */
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", free_port());
    double t0 = now_s();
    CHECK(ossc_broadcast_ping(url, 3000, &err) == -1);
    CHECK(now_s() - t0 < 3.0);
    CHECK(err.code == ECONNREFUSED);
    CHECK(strstr(err.message, url + strlen("redis://")) != NULL);

    /* a server that accepts (the kernel does) but never answers: the reply
     * timeout bounds the wait */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 16) == 0 &&
          getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/2", ntohs(a.sin_port));
    t0 = now_s();
    CHECK(ossc_broadcast_ping(url, 300, &err) == -1);
    double took = now_s() - t0;
    CHECK(took >= 0.25 && took < 5.0);
    CHECK(err.code == ETIMEDOUT);
    CHECK(strstr(err.message, "300 ms") != NULL);
    close(fd);
}

/* Joins from many connections at once: a node that reads the members right
 * after its join sees every lower seq as a member (the join is one atomic
 * step; with the seq taken apart from the ZADD, a node could see a gap and
 * take itself for the head of the chain). */
#define RACE_VID "eeee0000eeee0000eeee0000eeee0000"
#define RACE_THREADS 8
#define RACE_JOINS 10

typedef struct race_arg {
    const char *url;
    int id;
    int gaps, errors;
} race_arg;

static void *race_joiner(void *p)
{
    race_arg *a = p;
    ossc_error err = {0};
    bc_registry *r = connect_url(a->url, 10000, &err);
    if (!r) {
        a->errors++;
        return NULL;
    }
    for (int j = 0; j < RACE_JOINS; j++) {
        char id[32];
        snprintf(id, sizeof id, "race-%d-%d", a->id, j);
        bc_node_info n = node(id, "127.0.0.9:7001", "");
        bc_node_info *m = NULL;
        size_t k = 0;
        if (bc_registry_join(r, RACE_VID, "oss://bkt/race/", 1, &n, 60, &err) < 0 ||
            bc_registry_members(r, RACE_VID, &m, &k, &err) < 0) {
            a->errors++;
            continue;
        }
        long long below = 0;
        for (size_t i = 0; i < k; i++)
            below += m[i].seq < n.seq;
        a->gaps += below != n.seq - 1;
        free(m);
    }
    bc_registry_free(r);
    return NULL;
}

static void test_concurrent_joins(const server *s)
{
    pthread_t t[RACE_THREADS];
    race_arg a[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++) {
        a[i] = (race_arg){.url = s->url, .id = i};
        CHECK(pthread_create(&t[i], NULL, race_joiner, &a[i]) == 0);
    }
    int gaps = 0, errors = 0;
    for (int i = 0; i < RACE_THREADS; i++) {
        pthread_join(t[i], NULL);
        gaps += a[i].gaps;
        errors += a[i].errors;
    }
    CHECK(errors == 0);
    CHECK(gaps == 0);
    if (gaps)
        fprintf(stderr, "  %d of %d joins saw a lower seq missing from the members\n", gaps,
                RACE_THREADS * RACE_JOINS);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_url();
    test_url_masks_raw_passwords();
    server s;
    int rc = server_start(&s, NULL);
    if (rc == 77) {
        fprintf(stderr, "redis-server is not on PATH: the server tests are skipped "
                        "(scripts/install-deps.sh installs it)\n");
        check_summary("test_registry");
        return check_failures ? 1 : 77;
    }
    CHECK(rc == 0);
    if (rc == 0) {
        test_join_order_and_keys(&s);
        test_members_validated(&s);
        test_concurrent_joins(&s);
        test_heartbeat_expiry(&s);
        test_db_selection(&s);
    }
    server_stop(&s);
    test_server_dies();
    test_password();
    test_unreachable();
    return check_summary("test_registry");
}
