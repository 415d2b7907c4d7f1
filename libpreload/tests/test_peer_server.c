/* test_peer_server.c - the chunk server (broadcast/server.c) with a fake
 * cache view over temp files, fetched from by the engine's peer client
 * (engine/peer_client.c) and by raw sockets: bytes and CRC, the long-poll
 * and its 503, refusals (401 naming the peer, 404, 416, 400, 405),
 * connection bounds and an oversized request; the peer client against a
 * hostile peer (a huge error body); and the pure pieces,
 * OSSC-PEER (peer_auth.c) and the request parser (peer_request.c).
 *
 * Waits are on events (a condition variable the fake signals, a reply, a
 * closed socket) with generous deadlines, never fixed sleeps. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "deadline.h"
#include "ossc.h"
#include "peer_auth.h"
#include "peer_client.h"
#include "peer_request.h"
#include "server.h"
#include "tmpfiles.h"

#define VID "0123456789abcdef0123456789abcdef"
#define OTHER_VID "ffffffffffffffffffffffffffffffff"
#define SECRET "deployment secret: s3cr3t-value"
#define NFILES 2
#define WAIT_EVENT_MS 60000 /* deadline of every wait for an event */

static const uint64_t file_sizes[NFILES] = {3 * 1024 * 1024 + 123, 1000};

/* The fake node cache: files [0, landed) have landed; `gone` = released. */
typedef struct fake_view {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int fds[NFILES];
    unsigned char *bytes[NFILES];
    uint64_t landed[NFILES];
    bool gone;
    int hold_calls, holds, fd_calls, refused_n, thread_enters;
    uint64_t served;
    char refused_addr[64];
    char refused_why[256];
} fake_view;

static fake_view fv;

static uint64_t fake_size(void *ctx, uint32_t file)
{
    (void)ctx;
    return file_sizes[file];
}

static int fake_hold(void *ctx, uint32_t file, uint64_t off, uint64_t len, int wait_ms)
{
    fake_view *v = ctx;
    struct timespec until;
    ossc_deadline_in(&until, CLOCK_REALTIME, wait_ms);
    pthread_mutex_lock(&v->lock);
    v->hold_calls++;
    pthread_cond_broadcast(&v->cond);
    int rc = 0;
    while (!v->gone && off + len > v->landed[file]) {
        if (pthread_cond_timedwait(&v->cond, &v->lock, &until) == ETIMEDOUT)
            break;
    }
    if (v->gone)
        rc = -1;
    else if (off + len <= v->landed[file])
        rc = 1;
    if (rc == 1)
        v->holds++;
    pthread_mutex_unlock(&v->lock);
    return rc;
}

static void fake_unhold(void *ctx, uint32_t file)
{
    (void)file;
    fake_view *v = ctx;
    pthread_mutex_lock(&v->lock);
    v->holds--;
    pthread_cond_broadcast(&v->cond);
    pthread_mutex_unlock(&v->lock);
}

static int fake_fd(void *ctx, uint32_t file)
{
    fake_view *v = ctx;
    pthread_mutex_lock(&v->lock);
    v->fd_calls++;
    pthread_mutex_unlock(&v->lock);
    return v->fds[file];
}

static void fake_served(void *ctx, uint64_t bytes)
{
    fake_view *v = ctx;
    pthread_mutex_lock(&v->lock);
    v->served += bytes;
    pthread_cond_broadcast(&v->cond);
    pthread_mutex_unlock(&v->lock);
}

static void fake_refused(void *ctx, const char *peer_addr, const char *why)
{
    fake_view *v = ctx;
    pthread_mutex_lock(&v->lock);
    v->refused_n++;
    snprintf(v->refused_addr, sizeof v->refused_addr, "%s", peer_addr);
    snprintf(v->refused_why, sizeof v->refused_why, "%s", why);
    pthread_cond_broadcast(&v->cond);
    pthread_mutex_unlock(&v->lock);
}

static void fake_thread_enter(void *ctx)
{
    fake_view *v = ctx;
    pthread_mutex_lock(&v->lock);
    v->thread_enters++;
    pthread_mutex_unlock(&v->lock);
}

static const bc_cache_view view = {
    .ctx = &fv,
    .vid = VID,
    .nfiles = NFILES,
    .file_size = fake_size,
    .hold = fake_hold,
    .unhold = fake_unhold,
    .fd = fake_fd,
    .served = fake_served,
    .refused = fake_refused,
    .thread_enter = fake_thread_enter,
};

/* Sets what has landed and whether the files are gone, waking holders. */
static void fake_set(uint64_t landed0, uint64_t landed1, bool gone)
{
    pthread_mutex_lock(&fv.lock);
    fv.landed[0] = landed0;
    fv.landed[1] = landed1;
    fv.gone = gone;
    pthread_cond_broadcast(&fv.cond);
    pthread_mutex_unlock(&fv.lock);
}

/* Waits until *counter >= want (under the fake's lock); false on timeout. */
static bool fake_wait_at_least(const int *counter, int want)
{
    struct timespec until;
    ossc_deadline_in(&until, CLOCK_REALTIME, WAIT_EVENT_MS);
    pthread_mutex_lock(&fv.lock);
    int rc = 0;
    while (*counter < want && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&fv.cond, &fv.lock, &until);
    bool ok = *counter >= want;
    pthread_mutex_unlock(&fv.lock);
    return ok;
}

/* Waits until no file is held (every 206 completed). */
static bool fake_wait_unheld(void)
{
    struct timespec until;
    ossc_deadline_in(&until, CLOCK_REALTIME, WAIT_EVENT_MS);
    pthread_mutex_lock(&fv.lock);
    int rc = 0;
    while (fv.holds != 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&fv.cond, &fv.lock, &until);
    bool ok = fv.holds == 0;
    pthread_mutex_unlock(&fv.lock);
    return ok;
}

static int fake_count(const int *counter)
{
    pthread_mutex_lock(&fv.lock);
    int n = *counter;
    pthread_mutex_unlock(&fv.lock);
    return n;
}

static void make_files(void)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    pthread_mutex_init(&fv.lock, NULL);
    pthread_cond_init(&fv.cond, NULL);
    for (int f = 0; f < NFILES; f++) {
        fv.bytes[f] = malloc(file_sizes[f]);
        for (uint64_t i = 0; i < file_sizes[f]; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            fv.bytes[f][i] = (unsigned char)x;
        }
        char path[128];
        snprintf(path, sizeof path, "%s/data.%d", tmpdir, f);
        int w = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        CHECK(w >= 0 && write(w, fv.bytes[f], file_sizes[f]) == (ssize_t)file_sizes[f]);
        close(w);
        fv.fds[f] = open(path, O_RDONLY | O_CLOEXEC);
        CHECK(fv.fds[f] >= 0);
    }
}

static bc_server *start_server_slots(int wait_ms, int max_connections, int per_ip,
                                     int send_slots)
{
    bc_server_options o = {
        .listen = "127.0.0.1:0",
        .secret = (const uint8_t *)SECRET,
        .secret_len = strlen(SECRET),
        .max_connections = max_connections,
        .per_ip = per_ip,
        .wait_ms = wait_ms,
        .timeout_s = 60,
        .send_slots = send_slots,
    };
    ossc_error err;
    bc_server *s = bc_server_start(&o, &view, &err);
    if (!s)
        fprintf(stderr, "bc_server_start: %s\n", err.message);
    CHECK(s != NULL && bc_server_port(s) > 0);
    return s;
}

static bc_server *start_server(int wait_ms, int max_connections, int per_ip)
{
    return start_server_slots(wait_ms, max_connections, per_ip, 0);
}

static ossc_client *peer_client(const bc_server *s, const char *secret, uint64_t part_size)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", bc_server_port(s));
    ossc_peer_options o = {
        .addr = addr,
        .secret = (const uint8_t *)secret,
        .secret_len = strlen(secret),
        .concurrency = 4,
        .stall_s = 60,
        .part_size = part_size,
    };
    ossc_error err;
    ossc_client *c = ossc_peer_client_new(&o, &err);
    if (!c)
        fprintf(stderr, "ossc_peer_client_new: %s\n", err.message);
    CHECK(c != NULL);
    return c;
}

/* A fresh output file for a fetch. */
static int out_file(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    return fd;
}

/* Fetches [off, off+len) of file `key` of vid into out at 0: bytes read or
 * -1 with *err; *crc the future's CRC. */
static int64_t fetch(ossc_client *c, const char *vid, const char *key, uint64_t off, uint64_t len,
                     int out, uint64_t *crc, ossc_error *err)
{
    ossc_future *f = ossc_get_async_fd(c, vid, key, off, len, out, 0, err);
    if (!f)
        return -1;
    int64_t n = ossc_future_wait(f, err);
    if (n >= 0 && crc)
        CHECK(ossc_future_crc64(f, crc, NULL) >= 0);
    ossc_future_free(f);
    return n;
}

/* True when out holds exactly `want` (len bytes). */
static bool file_holds(int out, const unsigned char *want, uint64_t len)
{
    struct stat st;
    if (fstat(out, &st) < 0 || (uint64_t)st.st_size < len)
        return false;
    unsigned char *got = malloc(len ? len : 1);
    bool same = pread(out, got, len, 0) == (ssize_t)len && memcmp(got, want, len) == 0;
    free(got);
    return same;
}

/* Fetches [off, off+len) of file number `file` (key "0", "1", ...) into a
 * fresh output file `name` and checks that the bytes and the CRC as they
 * arrived are the file's. */
static void fetch_and_check(ossc_client *c, const char *name, int file, uint64_t off,
                            uint64_t len)
{
    char key[16];
    snprintf(key, sizeof key, "%d", file);
    ossc_error err;
    uint64_t crc = 0;
    int out = out_file(name);
    int64_t n = fetch(c, VID, key, off, len, out, &crc, &err);
    if (n < 0)
        fprintf(stderr, "fetch %s: %s\n", name, err.message);
    CHECK(n == (int64_t)len);
    CHECK(file_holds(out, fv.bytes[file] + off, len));
    CHECK(crc == ossc_crc64(0, fv.bytes[file] + off, len));
    close(out);
}

/* --- raw HTTP over a plain socket --- */

/* The host:port raw requests are signed for: the last raw_connect's. */
static char raw_target[64];

static int raw_connect(const char *src_ip, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = WAIT_EVENT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (src_ip) {
        inet_pton(AF_INET, src_ip, &sa.sin_addr);
        CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    }
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    snprintf(raw_target, sizeof raw_target, "127.0.0.1:%d", port);
    return fd;
}

/* Sends one request; auth_secret NULL sends none; extra is raw header
 * lines ("Name: value\r\n...") or NULL.  -1 when the send failed (the
 * server closed first). */
static int raw_send(int fd, const char *method, const char *path, const char *range,
                    const char *auth_secret, const char *extra)
{
    char auth[BC_AUTH_VALUE_MAX] = "";
    if (auth_secret)
        CHECK(bc_auth_make((const uint8_t *)auth_secret, strlen(auth_secret), method, path,
                           range, raw_target, time(NULL), auth, sizeof auth) == 0);
    size_t cap = 4096 + (extra ? strlen(extra) : 0);
    char *req = malloc(cap);
    int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: peer\r\n%s%s%s%s%s%s%s\r\n", method, path,
                     range ? "Range: " : "", range ? range : "", range ? "\r\n" : "",
                     auth_secret ? "Authorization: " : "", auth, auth_secret ? "\r\n" : "",
                     extra ? extra : "");
    ssize_t sent = 0;
    while (sent < n) {
        ssize_t w = send(fd, req + sent, (size_t)(n - sent), MSG_NOSIGNAL);
        if (w <= 0)
            break;
        sent += w;
    }
    free(req);
    return sent == n ? 0 : -1;
}

/* Reads one reply: its status (its head in head), 0 when the server closed
 * the connection without a reply, -1 on a receive error or timeout. */
static int raw_reply(int fd, char *head, size_t cap)
{
    size_t have = 0;
    char *end = NULL;
    head[0] = '\0';
    while (!end) {
        if (have + 1 >= cap)
            return -1;
        ssize_t r = recv(fd, head + have, cap - 1 - have, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return have ? -1 : 0;
        if (r < 0)
            return -1;
        have += (size_t)r;
        head[have] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    int status = 0;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    const char *cl = strcasestr(head, "\r\nContent-Length:");
    long long body = cl ? atoll(cl + 17) : 0;
    long long got = (long long)(have - (size_t)(end + 4 - head));
    char sink[4096];
    while (got < body) {
        ssize_t r = recv(fd, sink, sizeof sink, 0);
        if (r <= 0)
            return -1;
        got += r;
    }
    return status;
}

/* One request on a fresh connection: the reply's status. */
static int raw_request(int port, const char *method, const char *path, const char *range,
                       const char *secret, char *head, size_t cap)
{
    int fd = raw_connect(NULL, port);
    int st = raw_send(fd, method, path, range, secret, NULL) < 0 ? -1 : raw_reply(fd, head, cap);
    close(fd);
    return st;
}

/* --- the cases --- */

static void peer_auth_rules(void)
{
    const uint8_t *k = (const uint8_t *)SECRET;
    size_t kl = strlen(SECRET);
    char v[BC_AUTH_VALUE_MAX];
    time_t now = 1700000000;
    const char *T = "10.0.0.1:7070"; /* the node the requests are for */
    CHECK(bc_auth_make(k, kl, "GET", "/" VID "/0", "bytes=0-9", T, now, v, sizeof v) == 0);
    CHECK(strncmp(v, "OSSC-PEER 28333333:", 19) == 0 && strlen(v) == 19 + 64);
    CHECK(bc_auth_check(k, kl, "GET", "/" VID "/0", "bytes=0-9", T, v, now));
    /* The neighbouring windows (clock skew), not two away. */
    CHECK(bc_auth_check(k, kl, "GET", "/" VID "/0", "bytes=0-9", T, v, now + 60));
    CHECK(bc_auth_check(k, kl, "GET", "/" VID "/0", "bytes=0-9", T, v, now - 60));
    CHECK(!bc_auth_check(k, kl, "GET", "/" VID "/0", "bytes=0-9", T, v, now + 120));
    CHECK(!bc_auth_check(k, kl, "GET", "/" VID "/0", "bytes=0-9", T, v, now - 121));
    /* Every signed part counts. */
    CHECK(!bc_auth_check(k, kl, "HEAD", "/" VID "/0", "bytes=0-9", T, v, now));
    CHECK(!bc_auth_check(k, kl, "GET", "/" VID "/1", "bytes=0-9", T, v, now));
    CHECK(!bc_auth_check(k, kl, "GET", "/" VID "/0", "bytes=0-10", T, v, now));
    CHECK(!bc_auth_check(k, kl, "GET", "/" VID "/0", NULL, T, v, now));
    CHECK(!bc_auth_check((const uint8_t *)"other", 5, "GET", "/" VID "/0", "bytes=0-9", T, v, now));
    CHECK(!bc_auth_check(k, 0, "GET", "/" VID "/0", "bytes=0-9", T, v, now));
    /* A request for one node is refused by every other (no replay). */
    CHECK(!bc_auth_check(k, kl, "GET", "/" VID "/0", "bytes=0-9", "10.0.0.2:7070", v, now));
    CHECK(!bc_auth_check(k, kl, "GET", "/" VID "/0", "bytes=0-9", "10.0.0.1:7071", v, now));
    CHECK(!bc_auth_check(k, kl, "GET", "/" VID "/0", "bytes=0-9", "", v, now));
    /* Malformed values. */
    char bad[BC_AUTH_VALUE_MAX + 8];
    const char *malformed[] = {"", "OSSC-PEER", "OSSC-PEER :", "ossc-peer 28333333:",
                               "OSSC-PEER 28333333", "OSSC-PEER -1:00", "Bearer x"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
        CHECK(!bc_auth_check(k, kl, "GET", "/" VID "/0", "bytes=0-9", T, malformed[i], now));
    snprintf(bad, sizeof bad, "%sx", v); /* trailing byte */
    CHECK(!bc_auth_check(k, kl, "GET", "/" VID "/0", "bytes=0-9", T, bad, now));
    snprintf(bad, sizeof bad, "%s", v);
    for (char *p = bad + 19; *p; p++) /* upper-case hex is not the MAC's spelling */
        *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
    CHECK(!bc_auth_check(k, kl, "GET", "/" VID "/0", "bytes=0-9", T, bad, now));
    snprintf(bad, sizeof bad, "OSSC-PEER 99999999999999999999999:%.64s", v + 19);
    CHECK(!bc_auth_check(k, kl, "GET", "/" VID "/0", "bytes=0-9", T, bad, now));
    /* A value that does not fit is refused, not cut. */
    CHECK(bc_auth_make(k, kl, "GET", "/" VID "/0", "bytes=0-9", T, now, v, 40) == -1);
    CHECK(bc_auth_make(k, 0, "GET", "/" VID "/0", "bytes=0-9", T, now, v, sizeof v) == -1);

    /* Replies: bound to the request's value, the status and the headers. */
    char r[BC_REPLY_AUTH_MAX];
    const char *cr = "bytes 0-9/100";
    CHECK(bc_reply_auth_make(k, kl, v, 206, cr, NULL, r) == 0 && strlen(r) == 64);
    CHECK(bc_reply_auth_check(k, kl, v, 206, cr, NULL, r));
    CHECK(!bc_reply_auth_check(k, kl, v, 200, cr, NULL, r));
    CHECK(!bc_reply_auth_check(k, kl, v, 206, "bytes 0-9/101", NULL, r));
    CHECK(!bc_reply_auth_check(k, kl, v, 206, cr, "5", r));
    CHECK(!bc_reply_auth_check((const uint8_t *)"other", 5, v, 206, cr, NULL, r));
    char v2[BC_AUTH_VALUE_MAX];
    CHECK(bc_auth_make(k, kl, "GET", "/" VID "/0", "bytes=0-9", "10.0.0.2:7070", now, v2,
                       sizeof v2) == 0);
    CHECK(!bc_reply_auth_check(k, kl, v2, 206, cr, NULL, r)); /* another request's */
    CHECK(bc_reply_auth_make(k, kl, v, 503, NULL, "4096", r) == 0);
    CHECK(bc_reply_auth_check(k, kl, v, 503, NULL, "4096", r));
    CHECK(!bc_reply_auth_check(k, kl, v, 503, NULL, "8192", r));
    CHECK(!bc_reply_auth_check(k, kl, v, 503, NULL, NULL, r));
    CHECK(!bc_reply_auth_check(k, kl, v, 503, NULL, "4096", ""));
    CHECK(!bc_reply_auth_check(k, kl, v, 503, NULL, "4096", NULL));
    CHECK(bc_reply_auth_make(k, 0, v, 206, cr, NULL, r) == -1);
}

static void request_parsing(void)
{
    char vid[BC_VID_LEN + 1];
    uint32_t idx = 99;
    uint64_t off, len;
    CHECK(bc_request_parse_path("/" VID "/1", 2, vid, &idx) == 0 && idx == 1);
    CHECK_STR(vid, VID);
    CHECK(bc_request_parse_path("/" VID "/2", 2, vid, &idx) == 404);
    CHECK(bc_request_parse_path("/" VID "/4294967295", 2, vid, &idx) == 404);
    const char *bad_paths[] = {
        "", "/", "/" VID, "/" VID "/", "/" VID "/01", "/" VID "/1/", "/" VID "/1/../x",
        "/../../etc/passwd", "/" VID "/-1", "/" VID "/+1", "/" VID "/4294967296",
        "/0123456789ABCDEF0123456789abcdef/0", "//" VID "/0", "/" VID "/0 ", "/" VID "/%30",
        "/" VID "x/0", "/" VID "/99999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad_paths / sizeof bad_paths[0]; i++)
        CHECK(bc_request_parse_path(bad_paths[i], 2, vid, &idx) == 400);
    CHECK(bc_request_parse_path(NULL, 2, vid, &idx) == 400);

    CHECK(bc_request_parse_range("bytes=0-0", 1, &off, &len) == 0 && off == 0 && len == 1);
    CHECK(bc_request_parse_range("bytes=10-19", 20, &off, &len) == 0 && off == 10 && len == 10);
    CHECK(bc_request_parse_range("bytes=10-20", 20, &off, &len) == 416);
    CHECK(bc_request_parse_range("bytes=20-20", 20, &off, &len) == 416);
    CHECK(bc_request_parse_range("bytes=0-0", 0, &off, &len) == 416);
    CHECK(bc_request_parse_range("bytes=0-18446744073709551615", UINT64_MAX, &off, &len) ==
          416);
    const char *bad_ranges[] = {
        "", "bytes=", "bytes=5", "bytes=5-", "bytes=-5", "bytes=9-5", "bytes=0-1,3-4",
        "bytes= 0-1", "Bytes=0-1", "bytes=0-18446744073709551616", "bytes=01-2", "items=0-1",
        "bytes=0-1 ",
    };
    for (size_t i = 0; i < sizeof bad_ranges / sizeof bad_ranges[0]; i++)
        CHECK(bc_request_parse_range(bad_ranges[i], 100, &off, &len) == 400);
    CHECK(bc_request_parse_range(NULL, 100, &off, &len) == 400);
}

/* The whole of file 0 in four parts, and a slice of file 1: the bytes and
 * the CRC as they arrived; the files are unheld once the replies are done. */
static void fetch_whole_and_slice(void)
{
    fake_set(file_sizes[0], file_sizes[1], false);
    bc_server *s = start_server(2000, 64, 16);
    ossc_client *c = peer_client(s, SECRET, 1024 * 1024);
    fetch_and_check(c, "whole", 0, 0, file_sizes[0]);
    fetch_and_check(c, "slice", 1, 100, 500);

    CHECK(fake_wait_unheld());
    pthread_mutex_lock(&fv.lock);
    CHECK(fv.served == file_sizes[0] + 500);
    CHECK(fv.refused_n == 0);
    CHECK(fv.thread_enters > 0);
    pthread_mutex_unlock(&fv.lock);
    ossc_client_free(c);
    bc_server_stop(s);
}

/* A destination open with O_APPEND is refused before any request (its
 * writes would all land at the end of the file, the future succeeding):
 * EINVAL naming the descriptor and O_APPEND, the file untouched, nothing
 * served.  Checked on this test's folder and on /dev/shm (where the bytes
 * would have gone through the mapping and by pwrite). */
static void append_descriptor_refused(void)
{
    fake_set(file_sizes[0], file_sizes[1], false);
    pthread_mutex_lock(&fv.lock);
    uint64_t served0 = fv.served;
    pthread_mutex_unlock(&fv.lock);
    bc_server *s = start_server(2000, 64, 16);
    ossc_client *c = peer_client(s, SECRET, 1024 * 1024);
    char shm[64];
    snprintf(shm, sizeof shm, "/dev/shm/ossc-test-append-%d", (int)getpid());
    char here[160];
    snprintf(here, sizeof here, "%s/append", tmpdir);
    const char *paths[] = {here, shm};
    for (int i = 0; i < 2; i++) {
        int fd = open(paths[i], O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        ossc_error err;
        CHECK(ossc_get_async_fd(c, VID, "0", 0, file_sizes[0], fd, 0, &err) == NULL);
        CHECK(err.code == EINVAL && strstr(err.message, "O_APPEND") != NULL);
        char want[32];
        snprintf(want, sizeof want, "descriptor %d", fd);
        CHECK(strstr(err.message, want) != NULL);
        struct stat st;
        CHECK(fstat(fd, &st) == 0 && st.st_size == 0);
        close(fd);
        unlink(paths[i]);
    }
    pthread_mutex_lock(&fv.lock);
    CHECK(fv.served == served0);
    pthread_mutex_unlock(&fv.lock);
    ossc_client_free(c);
    bc_server_stop(s);
}

/* One body at a time (send gate with one slot): a range fetched in 13
 * parts over 4 connections still arrives whole and right, every part in
 * its turn (none waits out the gate's 2 s: the test would take 6 s). */
static void one_body_at_a_time(void)
{
    fake_set(file_sizes[0], file_sizes[1], false);
    pthread_mutex_lock(&fv.lock);
    uint64_t served0 = fv.served; /* counted since the start */
    pthread_mutex_unlock(&fv.lock);
    bc_server *s = start_server_slots(2000, 64, 16, 1);
    ossc_client *c = peer_client(s, SECRET, 256 * 1024);
    fetch_and_check(c, "gated", 0, 0, file_sizes[0]);
    CHECK(fake_wait_unheld());
    pthread_mutex_lock(&fv.lock);
    CHECK(fv.served - served0 == file_sizes[0]);
    pthread_mutex_unlock(&fv.lock);
    ossc_client_free(c);
    bc_server_stop(s);
}

/* Another secret: 401 to the client, the refusal told to the view with the
 * peer's address and without the secret; nothing held, nothing sent. */
static void wrong_secret(void)
{
    fake_set(file_sizes[0], file_sizes[1], false);
    bc_server *s = start_server(2000, 64, 16);
    ossc_client *c = peer_client(s, "not the deployment's secret", 1024 * 1024);
    int holds_before = fake_count(&fv.hold_calls), fds_before = fake_count(&fv.fd_calls);
    int refused_before = fake_count(&fv.refused_n);
    ossc_error err;
    int out = out_file("refused");
    CHECK(fetch(c, VID, "1", 0, file_sizes[1], out, NULL, &err) == -1);
    CHECK(err.http_status == 401);
    struct stat st;
    CHECK(fstat(out, &st) == 0 && st.st_size == 0);
    close(out);
    CHECK(fake_wait_at_least(&fv.refused_n, refused_before + 1));
    pthread_mutex_lock(&fv.lock);
    CHECK(strncmp(fv.refused_addr, "127.0.0.1:", 10) == 0);
    CHECK(strstr(fv.refused_why, "does not verify") != NULL);
    CHECK(strstr(fv.refused_why, "s3cr3t") == NULL && strstr(fv.refused_why, "OSSC-PEER 2") == NULL);
    CHECK(fv.hold_calls == holds_before && fv.fd_calls == fds_before);
    pthread_mutex_unlock(&fv.lock);

    /* No Authorization at all: refused too, saying so. */
    char head[4096];
    CHECK(raw_request(bc_server_port(s), "GET", "/" VID "/1", "bytes=0-9", NULL, head,
                      sizeof head) == 401);
    CHECK(fake_wait_at_least(&fv.refused_n, refused_before + 2));
    pthread_mutex_lock(&fv.lock);
    CHECK(strstr(fv.refused_why, "no Authorization header") != NULL);
    CHECK(fv.hold_calls == holds_before && fv.fd_calls == fds_before);
    pthread_mutex_unlock(&fv.lock);
    ossc_client_free(c);
    bc_server_stop(s);
}

/* A peer client bound to a local address connects from it (the refusal
 * names it); one bound to an address this host lacks (TEST-NET-1) or to a
 * name connects from the kernel's choice, and still works. */
static void source_address(void)
{
    fake_set(file_sizes[0], file_sizes[1], false);
    bc_server *s = start_server(2000, 64, 16);
    const char *binds[] = {"127.0.0.7", "192.0.2.1", "localhost"};
    const char *seen[] = {"127.0.0.7:", "127.0.0.1:", "127.0.0.1:"};
    for (int i = 0; i < 3; i++) {
        char addr[64];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", bc_server_port(s));
        ossc_peer_options o = {.addr = addr, .secret = (const uint8_t *)"another secret!!",
                               .secret_len = 16, .concurrency = 1, .bind_host = binds[i]};
        ossc_error err;
        ossc_client *c = ossc_peer_client_new(&o, &err);
        CHECK(c != NULL);
        int refused_before = fake_count(&fv.refused_n);
        int out = out_file("bound");
        CHECK(fetch(c, VID, "1", 0, 10, out, NULL, &err) == -1 && err.http_status == 401);
        close(out);
        CHECK(fake_wait_at_least(&fv.refused_n, refused_before + 1));
        pthread_mutex_lock(&fv.lock);
        CHECK(strncmp(fv.refused_addr, seen[i], strlen(seen[i])) == 0);
        pthread_mutex_unlock(&fv.lock);
        ossc_client_free(c);
    }
    bc_server_stop(s);
}

typedef struct fetch_job {
    ossc_client *c;
    int out;
    uint64_t len;
    int64_t n;
    uint64_t crc;
    ossc_error err;
} fetch_job;

static void *fetch_thread(void *arg)
{
    fetch_job *j = arg;
    j->n = fetch(j->c, VID, "0", 0, j->len, j->out, &j->crc, &j->err);
    return NULL;
}

/* Not landed yet: the request waits in hold() and gets its bytes once they
 * land; with a short wait_ms it gets 503, not retried. */
static void long_poll(void)
{
    uint64_t half = file_sizes[0] / 2;
    fake_set(half, file_sizes[1], false);
    bc_server *s = start_server(WAIT_EVENT_MS, 64, 16);
    ossc_client *c = peer_client(s, SECRET, file_sizes[0]); /* one request */
    fetch_job j = {.c = c, .out = out_file("longpoll"), .len = file_sizes[0]};
    int holds_before = fake_count(&fv.hold_calls);
    pthread_t t;
    pthread_create(&t, NULL, fetch_thread, &j);
    CHECK(fake_wait_at_least(&fv.hold_calls, holds_before + 1)); /* it waits there */
    fake_set(file_sizes[0], file_sizes[1], false);               /* lands */
    pthread_join(t, NULL);
    if (j.n < 0)
        fprintf(stderr, "long-poll fetch: %s\n", j.err.message);
    CHECK(j.n == (int64_t)file_sizes[0]);
    CHECK(file_holds(j.out, fv.bytes[0], file_sizes[0]));
    CHECK(j.crc == ossc_crc64(0, fv.bytes[0], file_sizes[0]));
    close(j.out);
    CHECK(fake_wait_unheld());
    ossc_client_free(c);
    bc_server_stop(s);

    fake_set(half, file_sizes[1], false);
    s = start_server(300, 64, 16);
    c = peer_client(s, SECRET, file_sizes[0]);
    holds_before = fake_count(&fv.hold_calls);
    ossc_error err;
    int out = out_file("unavailable");
    CHECK(fetch(c, VID, "0", 0, file_sizes[0], out, NULL, &err) == -1);
    CHECK(err.http_status == 503);
    CHECK(fake_count(&fv.hold_calls) == holds_before + 1); /* asked once: no retry */
    /* What has landed is served at once. */
    CHECK(fetch(c, VID, "0", 0, half, out, NULL, &err) == (int64_t)half);
    CHECK(file_holds(out, fv.bytes[0], half));
    close(out);
    CHECK(fake_wait_unheld());
    ossc_client_free(c);
    bc_server_stop(s);
}

/* 404 for another vid, an index past the files and released files; 416,
 * 400 and 405 from raw requests, none of which reaches the view's files. */
static void refusals(void)
{
    fake_set(file_sizes[0], file_sizes[1], false);
    bc_server *s = start_server(2000, 64, 16);
    int port = bc_server_port(s);
    ossc_client *c = peer_client(s, SECRET, 1024 * 1024);
    ossc_error err;
    int out = out_file("refusals");
    CHECK(fetch(c, OTHER_VID, "0", 0, 10, out, NULL, &err) == -1 && err.http_status == 404);
    CHECK(fetch(c, VID, "2", 0, 10, out, NULL, &err) == -1 && err.http_status == 404);

    int holds_before = fake_count(&fv.hold_calls), fds_before = fake_count(&fv.fd_calls);
    char head[4096];
    char range[64];
    snprintf(range, sizeof range, "bytes=%" PRIu64 "-%" PRIu64, file_sizes[1], file_sizes[1] + 9);
    CHECK(raw_request(port, "GET", "/" VID "/1", range, SECRET, head, sizeof head) == 416);
    CHECK(strstr(head, "Content-Range: bytes */1000") != NULL);
    /* Signed as sent: MHD hands the handler the path unescaped, so an
     * escaped one no longer matches its MAC (401); the others are 400. */
    const char *paths[] = {"/../../etc/passwd", "/" VID "/1/../x", "/" VID "/../" VID "/1",
                           "/" VID "/%2e%2e"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int st = raw_request(port, "GET", paths[i], "bytes=0-9", SECRET, head, sizeof head);
        if (st != (i < 3 ? 400 : 401))
            fprintf(stderr, "%s: HTTP %d\n", paths[i], st);
        CHECK(st == (i < 3 ? 400 : 401));
    }
    CHECK(raw_request(port, "GET", "/" VID "/1", "bytes=0-", SECRET, head, sizeof head) == 400);
    CHECK(raw_request(port, "GET", "/" VID "/1", NULL, SECRET, head, sizeof head) == 400);
    CHECK(raw_request(port, "DELETE", "/" VID "/1", "bytes=0-9", SECRET, head, sizeof head) ==
          405);
    CHECK(fake_count(&fv.hold_calls) == holds_before);
    CHECK(fake_count(&fv.fd_calls) == fds_before);

    /* Released and not coming back: 404 from hold(). */
    fake_set(file_sizes[0], file_sizes[1], true);
    CHECK(fetch(c, VID, "1", 0, 10, out, NULL, &err) == -1 && err.http_status == 404);
    CHECK(fake_count(&fv.fd_calls) == fds_before);
    close(out);
    ossc_client_free(c);
    bc_server_stop(s);
    fake_set(file_sizes[0], file_sizes[1], false);
}

/* A connection that got a reply and stays open (keep-alive). */
static int open_served(const char *src_ip, int port)
{
    int fd = raw_connect(src_ip, port);
    char head[4096];
    CHECK(raw_send(fd, "GET", "/" VID "/1", "bytes=0-9", SECRET, NULL) == 0);
    CHECK(raw_reply(fd, head, sizeof head) == 206);
    return fd;
}

/* A connection the server closes without a reply. */
static bool closed_unanswered(const char *src_ip, int port)
{
    int fd = raw_connect(src_ip, port);
    char head[4096];
    int st = raw_send(fd, "GET", "/" VID "/1", "bytes=0-9", SECRET, NULL) < 0
                 ? 0
                 : raw_reply(fd, head, sizeof head);
    close(fd);
    if (st != 0)
        fprintf(stderr, "expected a closed connection from %s, got %d\n", src_ip, st);
    return st == 0;
}

/* max_connections 3, per_ip 2: a third connection from one address and a
 * fourth in all are closed unanswered; once one closes, a new one is
 * served. */
static void connection_limits(void)
{
    fake_set(file_sizes[0], file_sizes[1], false);
    bc_server *s = start_server(2000, 3, 2);
    int port = bc_server_port(s);
    int a1 = open_served("127.0.0.1", port);
    int a2 = open_served("127.0.0.1", port);
    CHECK(closed_unanswered("127.0.0.1", port)); /* per address */
    int b1 = open_served("127.0.0.2", port);
    CHECK(closed_unanswered("127.0.0.3", port)); /* in all */
    close(b1);
    /* The server sees the close when it reads: until then a new
     * connection may still be refused, so try until one is served. */
    bool served = false;
    for (int i = 0; i < 200 && !served; i++) {
        int fd = raw_connect("127.0.0.3", port);
        char head[4096];
        served = raw_send(fd, "GET", "/" VID "/1", "bytes=0-9", SECRET, NULL) == 0 &&
                 raw_reply(fd, head, sizeof head) == 206;
        close(fd);
    }
    CHECK(served);
    close(a1);
    close(a2);
    bc_server_stop(s);
}

/* 64 KiB of headers: refused (431 or closed), nothing held; the server
 * still serves the next request. */
static void oversized_request(void)
{
    fake_set(file_sizes[0], file_sizes[1], false);
    bc_server *s = start_server(2000, 64, 16);
    int port = bc_server_port(s);
    size_t pad = 64 * 1024;
    char *extra = malloc(pad + 32);
    memcpy(extra, "X-Pad: ", 7);
    memset(extra + 7, 'a', pad);
    memcpy(extra + 7 + pad, "\r\n", 3);
    int holds_before = fake_count(&fv.hold_calls);
    int fd = raw_connect(NULL, port);
    char head[4096];
    int st = raw_send(fd, "GET", "/" VID "/1", "bytes=0-9", SECRET, extra) < 0
                 ? 0
                 : raw_reply(fd, head, sizeof head);
    close(fd);
    free(extra);
    if (st != 0 && st != 431 && st != 413 && st != 400)
        fprintf(stderr, "oversized request: HTTP %d\n", st);
    CHECK(st == 0 || st == 431 || st == 413 || st == 400);
    CHECK(fake_count(&fv.hold_calls) == holds_before);
    CHECK(raw_request(port, "GET", "/" VID "/1", "bytes=0-9", SECRET, head, sizeof head) == 206);
    bc_server_stop(s);
}

/* A peer that hangs up in the middle of a reply (a small receive window
 * keeps the server inside sendfile): the file is unheld, the bytes are not
 * counted as served, this process gets no SIGPIPE (its default action would
 * end the test here), and the server goes on serving. */
static void peer_hangs_up(void)
{
    fake_set(file_sizes[0], file_sizes[1], false);
    bc_server *s = start_server(2000, 64, 16);
    int port = bc_server_port(s);
    pthread_mutex_lock(&fv.lock);
    uint64_t served_before = fv.served;
    int holds_before = fv.hold_calls;
    pthread_mutex_unlock(&fv.lock);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 4096;
    CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    snprintf(raw_target, sizeof raw_target, "127.0.0.1:%d", port);
    char range[64], head[256];
    snprintf(range, sizeof range, "bytes=0-%" PRIu64, file_sizes[0] - 1);
    CHECK(raw_send(fd, "GET", "/" VID "/0", range, SECRET, NULL) == 0);
    CHECK(fake_wait_at_least(&fv.hold_calls, holds_before + 1));
    CHECK(recv(fd, head, sizeof head, 0) > 0); /* the reply has started */
    struct linger hard = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard); /* close = RST */
    close(fd);
    CHECK(fake_wait_unheld());
    pthread_mutex_lock(&fv.lock);
    CHECK(fv.served == served_before);
    pthread_mutex_unlock(&fv.lock);
    CHECK(raw_request(port, "GET", "/" VID "/1", "bytes=0-9", SECRET, head, sizeof head) == 206);
    bc_server_stop(s);
}

/* Stopping while a request waits in the long-poll: stop returns once it
 * ends, nothing stays held, the client gets a failure (503 or a closed
 * connection), never bytes. */
static void stop_during_long_poll(void)
{
    fake_set(0, file_sizes[1], false);
    bc_server *s = start_server(500, 64, 16);
    ossc_client *c = peer_client(s, SECRET, file_sizes[0]);
    fetch_job j = {.c = c, .out = out_file("stopped"), .len = file_sizes[0]};
    int holds_before = fake_count(&fv.hold_calls);
    pthread_t t;
    pthread_create(&t, NULL, fetch_thread, &j);
    CHECK(fake_wait_at_least(&fv.hold_calls, holds_before + 1));
    bc_server_stop(s);
    pthread_join(t, NULL);
    CHECK(j.n == -1);
    CHECK(fake_count(&fv.holds) == 0);
    close(j.out);
    ossc_client_free(c);
    fake_set(file_sizes[0], file_sizes[1], false);
}

/* --- a hostile peer: every request answered with a huge error body --- */

#define HUGE_ERROR_BODY (60ull << 20) /* under the engine's 64 MiB cap on other bodies */

typedef enum hostile_mode {
    HOSTILE_HUGE_ERROR,  /* 500 with a HUGE_ERROR_BODY-byte body */
    HOSTILE_FORGED_206,  /* 206 of the asked range, forged bytes, no (valid) reply MAC */
    HOSTILE_FORGED_503,  /* 503 with an OSSC-Arrived that grows, no reply MAC */
} hostile_mode;

typedef struct hostile_peer {
    int listen_fd, port;
    hostile_mode mode;
    pthread_t thread;
    uint64_t most_sent; /* body bytes one connection took before it was closed */
} hostile_peer;

/* A peer without the secret answering a chunk request as a chunk server
 * would, its reply unsigned (206: a made-up OSSC-Peer-Auth). */
static uint64_t forged_answer(int fd, const char *req, hostile_mode mode)
{
    static uint64_t arrived = 1 << 20;
    char head[400];
    int n;
    if (mode == HOSTILE_FORGED_503) {
        arrived += 1 << 20;
        n = snprintf(head, sizeof head, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0"
                     "\r\nOSSC-Arrived: %" PRIu64 "\r\n\r\n", arrived);
        (void)send(fd, head, (size_t)n, MSG_NOSIGNAL);
        return 0; /* no body */
    }
    unsigned long long a = 0, b = 0;
    const char *r = strcasestr(req, "\r\nRange: bytes=");
    if (!r || sscanf(r + 15, "%llu-%llu", &a, &b) != 2 || b < a || b - a > (1u << 20))
        return 0;
    uint64_t len = b - a + 1;
    n = snprintf(head, sizeof head, "HTTP/1.1 206 Partial Content\r\nContent-Length: %" PRIu64
                 "\r\nContent-Range: bytes %llu-%llu/%" PRIu64 "\r\n" BC_REPLY_AUTH_HEADER
                 ": %064d\r\n\r\n", len, a, b, file_sizes[0], 0);
    if (send(fd, head, (size_t)n, MSG_NOSIGNAL) != n)
        return 0;
    char *body = malloc(len);
    memset(body, 'F', len);
    ssize_t w = send(fd, body, len, MSG_NOSIGNAL);
    free(body);
    return w > 0 ? (uint64_t)w : 0;
}

/* Reads the request head, then answers 500 with a HUGE_ERROR_BODY-byte
 * body until it is all sent or the client closes (send fails).  A small
 * send buffer and a send timeout: what send() accepts is about what the
 * client took in, and a client that stops reading without closing ends
 * the loop instead of hanging the test. */
static uint64_t hostile_answer(int fd, hostile_mode mode)
{
    struct timeval tv = {.tv_sec = 30};
    int small = 64 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    char req[8192];
    size_t have = 0;
    req[0] = '\0';
    while (!strstr(req, "\r\n\r\n") && have + 1 < sizeof req) {
        ssize_t r = recv(fd, req + have, sizeof req - 1 - have, 0);
        if (r <= 0)
            return 0;
        have += (size_t)r;
        req[have] = '\0';
    }
    if (mode != HOSTILE_HUGE_ERROR)
        return forged_answer(fd, req, mode);
    char head[160];
    int n = snprintf(head, sizeof head, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: "
                     "text/plain\r\nContent-Length: %llu\r\n\r\n", HUGE_ERROR_BODY);
    if (send(fd, head, (size_t)n, MSG_NOSIGNAL) != n)
        return 0;
    static char chunk[64 * 1024];
    memset(chunk, 'x', sizeof chunk);
    uint64_t sent = 0;
    while (sent < HUGE_ERROR_BODY) {
        ssize_t w = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        sent += (uint64_t)w;
    }
    return sent;
}

static void *hostile_thread(void *arg)
{
    hostile_peer *h = arg;
    for (;;) {
        int fd = accept(h->listen_fd, NULL, NULL);
        if (fd < 0)
            return NULL; /* shut down by hostile_stop */
        uint64_t sent = hostile_answer(fd, h->mode);
        close(fd);
        if (sent > h->most_sent)
            h->most_sent = sent;
    }
}

static void hostile_start(hostile_peer *h, hostile_mode mode)
{
    memset(h, 0, sizeof *h);
    h->mode = mode;
    h->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    socklen_t len = sizeof sa;
    CHECK(bind(h->listen_fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(listen(h->listen_fd, 8) == 0);
    CHECK(getsockname(h->listen_fd, (struct sockaddr *)&sa, &len) == 0);
    h->port = ntohs(sa.sin_port);
    pthread_create(&h->thread, NULL, hostile_thread, h);
}

/* A peer client of one connection for the hostile peer (it holds the
 * right secret: the peer does not). */
static ossc_client *hostile_client(const hostile_peer *h)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", h->port);
    ossc_peer_options o = {.addr = addr, .secret = (const uint8_t *)SECRET,
                           .secret_len = strlen(SECRET), .concurrency = 1, .stall_s = 60};
    ossc_error err;
    ossc_client *c = ossc_peer_client_new(&o, &err);
    CHECK(c != NULL);
    return c;
}

/* Joins the thread; most_sent is read after it. */
static void hostile_stop(hostile_peer *h)
{
    shutdown(h->listen_fd, SHUT_RDWR); /* wakes accept() */
    pthread_join(h->thread, NULL);
    close(h->listen_fd);
}

/* A peer that answers a chunk request with a 60 MiB error body: the
 * client keeps at most OSSC_PEER_ERR_BODY_MAX (4 KiB) of it, stops the
 * transfer there and fails with the reply's status, saying the body was
 * cut.  Observable as what the peer got to send before the connection
 * closed: at most the socket buffers past 4 KiB, far from 60 MiB (which
 * a client that keeps reading takes whole). */
static void huge_peer_error_body(void)
{
    hostile_peer h;
    hostile_start(&h, HOSTILE_HUGE_ERROR);
    ossc_error err;
    ossc_client *c = hostile_client(&h);
    if (c) {
        int out = out_file("huge_error");
        CHECK(fetch(c, VID, "0", 0, 1000, out, NULL, &err) == -1);
        CHECK(err.http_status == 500);
        CHECK(strstr(err.message, "HTTP 500") != NULL);
        CHECK(strstr(err.message, "error body cut at 4096 bytes") != NULL);
        if (!strstr(err.message, "cut"))
            fprintf(stderr, "huge_peer_error_body: %s\n", err.message);
        close(out);
        ossc_client_free(c);
    }
    hostile_stop(&h);
    if (h.most_sent >= 16ull << 20)
        fprintf(stderr, "huge_peer_error_body: the client took %" PRIu64 " body bytes\n",
                h.most_sent);
    CHECK(h.most_sent < 16ull << 20);
}

/* A member of the chain that does not know the secret (registered in Redis
 * by whoever can write there) answers with forged bytes and an unsigned
 * 206, or keeps a node waiting with unsigned 503s: refused at the reply's
 * headers, not one byte written, the fetch fails (the caller goes to OSS). */
static void forged_replies_refused(void)
{
    hostile_mode modes[] = {HOSTILE_FORGED_206, HOSTILE_FORGED_503};
    for (size_t m = 0; m < 2; m++) {
        hostile_peer h;
        hostile_start(&h, modes[m]);
        ossc_error err;
        ossc_client *c = hostile_client(&h);
        if (c) {
            int out = out_file("forged");
            CHECK(fetch(c, VID, "0", 0, 1000, out, NULL, &err) == -1);
            if (!strstr(err.message, BC_REPLY_AUTH_HEADER))
                fprintf(stderr, "forged_replies_refused: %s\n", err.message);
            CHECK(strstr(err.message, "without a valid " BC_REPLY_AUTH_HEADER) != NULL);
            char first = 0;
            CHECK(pread(out, &first, 1, 0) <= 0 || first != 'F'); /* no forged byte kept */
            close(out);
            ossc_client_free(c);
        }
        hostile_stop(&h);
    }
}

/* A request signed for another node (what a rogue member would replay at
 * a real one) is refused with 401; the same client reaches the server once
 * it is addressed as the server advertises itself. */
static void request_for_another_node_refused(void)
{
    fake_set(file_sizes[0], file_sizes[1], false);
    bc_server_options so = {.listen = "127.0.0.1:0", .advertise = "127.0.0.9:7070",
                            .secret = (const uint8_t *)SECRET, .secret_len = strlen(SECRET)};
    ossc_error err;
    bc_server *s = bc_server_start(&so, &view, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    ossc_client *c = peer_client(s, SECRET, file_sizes[0]); /* signs for 127.0.0.1:<port> */
    int out = out_file("another_node");
    CHECK(fetch(c, VID, "0", 0, 100, out, NULL, &err) == -1);
    CHECK(err.http_status == 401);
    close(out);
    ossc_client_free(c);
    bc_server_stop(s);
    /* The default target: the listen host and the bound port. */
    s = start_server(2000, 64, 16);
    c = peer_client(s, SECRET, file_sizes[0]);
    out = out_file("right_node");
    CHECK(fetch(c, VID, "0", 0, 100, out, NULL, &err) == 100);
    close(out);
    ossc_client_free(c);
    bc_server_stop(s);
}

/* A port in use and a malformed address: errors that name the address. */
static void start_errors(void)
{
    bc_server *s = start_server(2000, 64, 16);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", bc_server_port(s));
    bc_server_options o = {.listen = addr, .secret = (const uint8_t *)SECRET, .secret_len = 3};
    ossc_error err;
    CHECK(bc_server_start(&o, &view, &err) == NULL);
    CHECK(err.code == EADDRINUSE && strstr(err.message, addr) != NULL);
    o.listen = "no-port-here";
    CHECK(bc_server_start(&o, &view, &err) == NULL);
    CHECK(err.code == EINVAL && strstr(err.message, "no-port-here") != NULL);
    o.listen = "127.0.0.1:0";
    o.secret_len = 0;
    CHECK(bc_server_start(&o, &view, &err) == NULL && err.code == EINVAL);
    bc_server_stop(s);

    ossc_peer_options po = {.addr = "127.0.0.1:1", .secret = NULL};
    CHECK(ossc_peer_client_new(&po, &err) == NULL && err.code == EINVAL);
}

int main(void)
{
    if (make_tmpdir("peer_server") < 0)
        return 1;
    make_files();
    peer_auth_rules();
    request_parsing();
    fetch_whole_and_slice();
    append_descriptor_refused();
    one_body_at_a_time();
    wrong_secret();
    source_address();
    long_poll();
    refusals();
    connection_limits();
    oversized_request();
    peer_hangs_up();
    stop_during_long_poll();
    huge_peer_error_body();
    forged_replies_refused();
    request_for_another_node_refused();
    start_errors();
    for (int f = 0; f < NFILES; f++) {
        close(fv.fds[f]);
        free(fv.bytes[f]);
    }
    remove_tmpdir();
    return check_summary("test_peer_server");
}
